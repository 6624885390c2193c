"""Tracepoint argument structs from tracefs ``format`` files, as BCC names them (pure).

``TRACEPOINT_PROBE(cat, ev)`` gives its body ``struct tracepoint__cat__ev *args``
whose fields are the ones tracefs lists, so ``args->filename`` works for
``syscalls:sys_enter_openat`` although the kernel's BTF only knows the generic
``trace_event_raw_sys_enter`` with ``args[6]``.  ``__data_loc`` fields become
``int data_loc_<name>`` as in BCC (read them with ``TP_DATA_LOC_READ*``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TracepointField", "parse_format", "syscall_arg_count", "tracepoint_struct", "tracepoint_struct_name"]

_FIELD_RE = re.compile(r"field:(?P<decl>[^;]*);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);(?:\s*signed:(?P<signed>\d+);)?")
_C_SCALARS = {
    "char", "signed char", "unsigned char", "short", "unsigned short", "int", "unsigned int", "unsigned", "signed",
    "long", "unsigned long", "long long", "unsigned long long", "short int", "short unsigned int", "long int",
    "long unsigned int", "long long int", "long long unsigned int", "_Bool", "bool", "void",
}
_KEYWORDS = {"const", "volatile", "unsigned", "signed", "char", "short", "int", "long", "void", "_Bool", "struct",
             "union", "enum", "__user", "__rcu", "__percpu", "__iomem", "__kernel", "__force"}


@dataclass(frozen=True)
class TracepointField:
    """One ``field:`` line of a tracefs format file."""

    type: str
    name: str
    offset: int
    size: int
    signed: bool
    array: str | None = None  # the text between [] when the field is an array


def parse_format(text: str) -> list[TracepointField]:
    """The fields of a tracefs ``events/<cat>/<ev>/format`` file, in order."""
    out: list[TracepointField] = []
    for line in text.splitlines():
        m = _FIELD_RE.search(line)
        if m is None:
            continue
        decl = m.group("decl").strip()
        array = None
        am = re.search(r"\[([^\]]*)\]\s*$", decl)
        if am is not None:
            array = am.group(1).strip()
            decl = decl[: am.start()].rstrip()
        nm = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", decl)
        if nm is None:
            continue
        name = nm.group(1)
        ftype = decl[: nm.start()].strip()
        if not ftype:
            continue
        out.append(
            TracepointField(ftype, name, int(m.group("off")), int(m.group("size")), m.group("signed") == "1", array)
        )
    return out


def tracepoint_struct_name(category: str, event: str) -> str:
    """BCC's struct name for a tracepoint's arguments."""
    return f"tracepoint__{category}__{event}"


def syscall_arg_count(format_text: str) -> int:
    """How many arguments a ``syscalls:sys_enter_*`` tracepoint records (fields after ``__syscall_nr``)."""
    return sum(1 for f in parse_format(format_text) if not f.name.startswith("common_") and f.name != "__syscall_nr")


def _int_type(size: int, signed: bool) -> str | None:
    return {1: "s8", 2: "s16", 4: "s32", 8: "s64"}.get(size) if signed else {1: "u8", 2: "u16", 4: "u32", 8: "u64"}.get(size)


def _c_type_ok(ftype: str, known_type: Callable[[str], bool]) -> bool:
    """Whether a format's type text compiles against vmlinux.h (C scalars, tags, known typedefs)."""
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", ftype)
    prev = ""
    for w in words:
        if prev in ("struct", "union", "enum"):
            prev = w
            continue  # any tag name is fine behind a pointer or already known
        if w not in _KEYWORDS and not known_type(w):
            return False
        prev = w
    return True


def _field_decl(f: TracepointField, known_type: Callable[[str], bool]) -> str:
    """One member declaration with the same size as the format says."""
    if "__data_loc" in f.type:
        return f"int data_loc_{f.name}" if f.size == 4 else f"u{f.size * 8} data_loc_{f.name}"
    is_ptr = "*" in f.type
    if f.array is not None:
        base = f.type
        if not _c_type_ok(base, known_type) or "*" in base:
            return f"char {f.name}[{f.size}]"
        return _array_decl(f, base)
    if is_ptr:
        if f.size == 8 and _c_type_ok(f.type, known_type):
            return f"{f.type} {f.name}"
        return f"{_int_type(f.size, False) or 'u64'} {f.name}"
    scalar = " ".join(f.type.split())
    natural = {"char": 1, "signed char": 1, "unsigned char": 1, "short": 2, "unsigned short": 2, "int": 4,
               "unsigned int": 4, "unsigned": 4, "long": 8, "unsigned long": 8, "long long": 8,
               "unsigned long long": 8, "bool": 1, "_Bool": 1}.get(scalar)
    if natural is not None and natural == f.size:
        return f"{scalar} {f.name}"
    if natural is None and f.size in (1, 2, 4, 8) and _c_type_ok(f.type, known_type) and scalar not in _C_SCALARS:
        return f"{f.type} {f.name}"  # a kernel typedef (pid_t, umode_t ...) of the format's size
    it = _int_type(f.size, f.signed)
    return f"{it} {f.name}" if it is not None else f"char {f.name}[{f.size}]"


def _array_decl(f: TracepointField, base: str) -> str:
    """An array member sized from the format (the dimension may be a macro such as TASK_COMM_LEN)."""
    elem = {"char": 1, "signed char": 1, "unsigned char": 1, "u8": 1, "s8": 1, "__u8": 1, "short": 2, "u16": 2,
            "__u16": 2, "int": 4, "unsigned int": 4, "u32": 4, "__u32": 4, "s32": 4, "long": 8, "unsigned long": 8,
            "u64": 8, "__u64": 8, "s64": 8}.get(" ".join(base.split()))
    if elem is None or f.size % elem:
        return f"char {f.name}[{f.size}]"
    return f"{base} {f.name}[{f.size // elem}]"


def tracepoint_struct(category: str, event: str, format_text: str, known_type: Callable[[str], bool]) -> str:
    """C definition of ``struct tracepoint__<cat>__<ev>`` laid out at the format's offsets.

    ``known_type(name)`` says whether a typedef name exists in the kernel's BTF
    (so vmlinux.h declares it); unknown types become integers of the same size.
    Each field's offset is checked by a static assertion.
    """
    name = tracepoint_struct_name(category, event)
    fields = parse_format(format_text)
    if not fields:
        raise ValueError(f"tracepoint {category}:{event}: the format file lists no fields")
    lines = [f"struct {name} {{"]
    asserts = []
    cur = 0
    for f in fields:
        if f.offset < cur:
            continue  # overlapping (never seen); keep the first
        if f.offset > cur:
            lines.append(f"\tchar __pad_{cur}[{f.offset - cur}];")
        decl = _field_decl(f, known_type)
        lines.append(f"\t{decl};")
        member = decl.split()[-1].split("[")[0]
        asserts.append(
            f'_Static_assert(__builtin_offsetof(struct {name}, {member}) == {f.offset}, '
            f'"bpfkit.bcc: field {f.name} of tracepoint {category}:{event} is not at offset {f.offset}");'
        )
        cur = f.offset + f.size
    lines.append("};")
    return "\n".join(lines + asserts) + "\n"
