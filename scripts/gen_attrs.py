#!/usr/bin/env python3
"""Generate src/bpfkit/_sys/attrs.py (the ctypes layouts of the kernel's structs) from the kernel's BTF.

Every member of ``union bpf_attr`` that bpfkit uses becomes one Structure (``MapCreateAttr``
for BPF_MAP_CREATE ...), and so do ``struct bpf_map_info``, ``bpf_prog_info``,
``bpf_btf_info``, ``bpf_link_info`` and the other kernel structs bpfkit reads or writes
(perf_event_open's attr and ring page, the rtnetlink headers). Nested members follow the kernel: a named member
(``link_create.kprobe_multi``, ``bpf_link_info.tracing``) is a typed sub-structure of its
own class; an anonymous union or struct is an ``_anonymous_`` field, so its members are
reached by their kernel names (``attr.next_key``, ``attr.relative_id``).

The source is a BTF file (default /sys/kernel/btf/vmlinux; the checked-in files were made
from the newest kernel at hand, the matrix's 7.x, with --btf and --release, as the uapi
enums are). The generated modules do not read BTF: they are checked in. UAPI layouts only
grow at their end, so a file made from a newer kernel serves older ones (the kernel
requires the bytes it does not know to be zero); reserved padding that new fields are
carved from (``__reserved_1``) is the one part that may shrink, and is not compared.

--check regenerates in memory and compares with the checked-in file. When the BTF is not
the one the file was made from, it checks consistency instead: every field the BTF has must
be in the file at the same offset with the same size (the file may know more fields).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from bpfkit.btf import Array, Btf, Const, Enum, Enum64, Int, Struct, Typedef, Union_, Volatile  # noqa: E402

OUT = ROOT / "src" / "bpfkit" / "_sys" / "attrs.py"
OUT_LAZY = OUT.with_name("_attrs_lazy.py")

# classes written to OUT_LAZY (not needed to load and attach an object), imported on first use
# (ProgBindMapAttr stays eager: a load binds .rodata to its programs):
# building a ctypes class costs about 30 us, and bpf_link_info alone has 30 of them.
LAZY = frozenset({
    "ProgAttachAttr", "TestRunAttr", "ProgQueryAttr", "TaskFdQueryAttr", "LinkUpdateAttr", "LinkDetachAttr",
    "EnableStatsAttr", "IterCreateAttr", "TokenCreateAttr", "ProgInfo", "LinkInfo",
    "IterLinkInfo", "StackBuildId", "NlMsgHdr", "NlAttr", "IfInfoMsg", "TcMsg",
})

# (class, where in BTF, docstring). "attr:NAME" = the member NAME of union bpf_attr;
# "attr^FIELD" = its anonymous struct whose first field (through anonymous unions) is FIELD;
# "struct:NAME" = struct NAME.
TOP: list[tuple[str, str, str]] = [
    ("MapCreateAttr", "attr^map_type", "BPF_MAP_CREATE."),
    ("MapElemAttr", "attr^map_fd", "BPF_MAP_LOOKUP/UPDATE/DELETE_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, FREEZE."),
    ("MapBatchAttr", "attr:batch", "BPF_MAP_*_BATCH."),
    ("ProgLoadAttr", "attr^prog_type", "BPF_PROG_LOAD."),
    ("ObjPinAttr", "attr^pathname", "BPF_OBJ_PIN / BPF_OBJ_GET."),
    ("ProgAttachAttr", "attr^target_fd", "BPF_PROG_ATTACH / BPF_PROG_DETACH."),
    ("TestRunAttr", "attr:test", "BPF_PROG_TEST_RUN (a.k.a. BPF_PROG_RUN)."),
    ("GetIdAttr", "attr^start_id", "BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID."),
    ("InfoAttr", "attr:info", "BPF_OBJ_GET_INFO_BY_FD."),
    ("ProgQueryAttr", "attr:query", "BPF_PROG_QUERY."),
    ("RawTracepointOpenAttr", "attr:raw_tracepoint", "BPF_RAW_TRACEPOINT_OPEN."),
    ("BtfLoadAttr", "attr^btf", "BPF_BTF_LOAD."),
    ("TaskFdQueryAttr", "attr:task_fd_query", "BPF_TASK_FD_QUERY."),
    ("LinkCreateAttr", "attr:link_create", "BPF_LINK_CREATE; the per-attach-type union members are typed (``a.kprobe_multi.cnt``)."),
    ("LinkUpdateAttr", "attr:link_update", "BPF_LINK_UPDATE."),
    ("LinkDetachAttr", "attr:link_detach", "BPF_LINK_DETACH."),
    ("EnableStatsAttr", "attr:enable_stats", "BPF_ENABLE_STATS."),
    ("IterCreateAttr", "attr:iter_create", "BPF_ITER_CREATE."),
    ("ProgBindMapAttr", "attr:prog_bind_map", "BPF_PROG_BIND_MAP."),
    ("TokenCreateAttr", "attr:token_create", "BPF_TOKEN_CREATE."),
    ("MapInfo", "struct:bpf_map_info", "struct bpf_map_info."),
    ("ProgInfo", "struct:bpf_prog_info", "struct bpf_prog_info."),
    ("BtfInfo", "struct:bpf_btf_info", "struct bpf_btf_info."),
    ("LinkInfo", "struct:bpf_link_info", "struct bpf_link_info; the per-link-type union members are typed (``info.tracing.attach_type``)."),
    ("IterLinkInfo", "union:bpf_iter_link_info", "union bpf_iter_link_info: what LINK_CREATE's ``iter_info`` points to."),
    ("PerfEventAttr", "struct:perf_event_attr", "struct perf_event_attr of perf_event_open(2); ``size`` says which version."),
    ("PerfEventMmapPage", "struct:perf_event_mmap_page", "struct perf_event_mmap_page: the first page of a perf ring."),
    ("PerfEventHeader", "struct:perf_event_header", "struct perf_event_header: the start of each perf ring record."),
    ("StackBuildId", "struct:bpf_stack_build_id", "struct bpf_stack_build_id: one frame of a BPF_F_STACK_BUILD_ID stack."),
    ("NlMsgHdr", "struct:nlmsghdr", "struct nlmsghdr: the header of a netlink message."),
    ("NlAttr", "struct:nlattr", "struct nlattr: the header of a netlink attribute."),
    ("IfInfoMsg", "struct:ifinfomsg", "struct ifinfomsg: the body of RTM_*LINK messages."),
    ("TcMsg", "struct:tcmsg", "struct tcmsg: the body of RTM_*QDISC/TFILTER messages."),
]

HEADER = '''"""ctypes layouts of the kernel's structs{what}. GENERATED by scripts/gen_attrs.py: do not edit.

Source: BTF of Linux {release}. UAPI layouts only grow at their end and the kernel
requires the bytes it does not know to be zero, so these layouts serve older kernels
as long as the fields those kernels lack stay zero.
"""

# ruff: noqa: E501
from __future__ import annotations

{imports}

GENERATED_FROM = {release!r}
'''

LAZY_HOOK = '''

# the classes of _attrs_lazy (scripts/gen_attrs.py LAZY), imported on first use
_LAZY = frozenset({{
{names}
}})

TYPE_CHECKING = False
if TYPE_CHECKING:
{imports}

__getattr__ = lazy_getattr(globals(), "._attrs_lazy", _LAZY)
'''

_CTYPES = {(1, False): "c_uint8", (2, False): "c_uint16", (4, False): "c_uint32", (8, False): "c_uint64",
           (1, True): "c_int8", (2, True): "c_int16", (4, True): "c_int32", (8, True): "c_int64"}


def load_btf(path: str) -> Btf:
    """The BTF blob at ``path`` (a vmlinux BTF)."""
    with open(path, "rb") as f:
        return Btf.from_bytes(f.read())


def _strip(btf: Btf, tid: int) -> tuple[int, Any]:
    t = btf[tid]
    while isinstance(t, (Typedef, Const, Volatile)):
        tid = t.type
        t = btf[tid]
    return tid, t


def _first_leaf(btf: Btf, t: Struct | Union_) -> str:
    m = t.members[0]
    if m.name:
        return m.name
    _, inner = _strip(btf, m.type)
    return _first_leaf(btf, inner)


def find_tops(btf: Btf, *, required: bool = True) -> dict[str, Struct | Union_]:
    """The BTF type of each class of TOP (an older kernel's BTF may lack some: ``required=False`` skips them)."""
    named: dict[tuple[str, str], Struct | Union_] = {}
    for _tid, t in btf.items():
        if isinstance(t, (Struct, Union_)) and t.name:
            named.setdefault(("union" if isinstance(t, Union_) else "struct", t.name), t)
    attr = named.get(("union", "bpf_attr"))
    if not isinstance(attr, Union_):
        raise SystemExit("gen_attrs: union bpf_attr is not in this BTF")
    out: dict[str, Struct | Union_] = {}
    for cls, where, _doc in TOP:
        found: Struct | Union_ | None = None
        if where.startswith("attr:"):
            for m in attr.members:
                if m.name == where[5:]:
                    found = _strip(btf, m.type)[1]
        elif where.startswith("attr^"):
            for m in attr.members:
                inner = _strip(btf, m.type)[1]
                if not m.name and isinstance(inner, Struct) and _first_leaf(btf, inner) == where[5:]:
                    found = inner
        else:
            kind, _, name = where.partition(":")
            found = named.get((kind, name))
        if found is None and required:
            raise SystemExit(f"gen_attrs: {where} not found in BTF (for {cls})")
        if found is not None:
            out[cls] = found
    return out


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def _field_type(btf: Btf, tid: int, owner: str, public: str, member: str, classes: list[str]) -> str:
    """The ctypes expression of a member's type, defining the classes of nested structs and unions first.

    A named member's class is named after the nearest named owner (``LinkCreateKprobeMulti``),
    an anonymous one's after its parent class and its index (``_LinkCreateAttr_4``).
    """
    _, t = _strip(btf, tid)
    if isinstance(t, Int):
        if t.name == "char":
            return "c_char"
        return _CTYPES[(t.size, t.signed)]
    if isinstance(t, (Enum, Enum64)):  # an enum member holds the enum's int
        return _CTYPES[(t.size, t.signed)]
    if isinstance(t, Array):
        return f"{_field_type(btf, t.type, owner, public, member, classes)} * {t.nelems}"
    if isinstance(t, (Struct, Union_)):
        if member.startswith("_"):
            name = f"_{owner.lstrip('_')}{member}"
            _emit_class(btf, name, t, None, classes, public)
        else:
            name = f"{public}{_camel(member)}"
            _emit_class(btf, name, t, None, classes, name)
        return name
    raise SystemExit(f"gen_attrs: {owner}.{member}: BTF type {type(t).__name__} is not supported")


def _emit_class(btf: Btf, name: str, t: Struct | Union_, doc: str | None, classes: list[str], public: str) -> None:
    base = "ctypes.Union" if isinstance(t, Union_) else "ctypes.Structure"
    fields: list[str] = []
    anonymous: list[str] = []
    for i, m in enumerate(t.members):
        fname = m.name or f"_{i}"
        ctype = _field_type(btf, m.type, name, public, fname, classes)
        if not m.name:
            anonymous.append(fname)
        if m.bitfield_size:
            fields.append(f"        ({fname!r}, {ctype}, {m.bitfield_size}),\n")
        else:
            fields.append(f"        ({fname!r}, {ctype}),\n")
    text = f"\n\nclass {name}({base}):\n"
    text += f'    """{doc or _nested_doc(name)}"""\n\n'
    text += "    __slots__ = ()  # a misspelt field is an AttributeError, not a silent Python attribute\n"
    if anonymous:
        text += f"    _anonymous_ = {tuple(anonymous)!r}\n"
    text += "    _fields_ = [\n" + "".join(fields) + "    ]\n"
    classes.append(text)


def _nested_doc(name: str) -> str:
    if name.startswith("_"):
        return f"An anonymous member of {name.lstrip('_').rsplit('_', 1)[0]} (its fields are reached from there)."
    return "A named member of the kernel's layout."


def _module(release: str, what: str, body: str, imports: list[str], tail: str = "") -> str:
    names = ", ".join(repr(c) for c in re.findall(r"^class ([A-Z]\w*)\(", body, re.M))
    used = {m for m in re.findall(r"\bc_\w+", body) if hasattr(ctypes, m)}
    natural = sorted(used, key=lambda n: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", n)])
    lines = "\n".join(["import ctypes", f"from ctypes import {', '.join(natural)}", *imports])
    return HEADER.format(release=release, what=what, imports=lines) + f"\n__all__ = [{names}]\n" + body + tail


def render(btf: Btf, release: str) -> tuple[str, str]:
    """The texts of OUT and OUT_LAZY."""
    tops = find_tops(btf)
    eager: list[str] = []
    lazy: list[str] = []
    for cls, _where, doc in TOP:
        _emit_class(btf, cls, tops[cls], doc, lazy if cls in LAZY else eager, cls.removesuffix("Attr"))
    ordered = sorted(LAZY)
    hook = LAZY_HOOK.format(names="\n".join(f"    {c!r}," for c in ordered),
                            imports="\n".join(f"    from ._attrs_lazy import {c} as {c}" for c in ordered))
    main = _module(release, ": bpf_attr members, info structs, perf and rtnetlink", "".join(eager),
                   ["", "from .._uapi._base import lazy_getattr"], hook)
    rest = _module(release, " not needed to load an object (imported on first use by attrs.py)", "".join(lazy), [])
    return main, rest


# ---- layouts: what --check and the tests compare ---------------------------------------

Layout = dict[str, tuple[int, int, int]]
"""Field path -> (bit offset, bit size, 0 or bitfield width); anonymous members are flattened."""


def btf_layout(btf: Btf, t: Struct | Union_, prefix: str = "", base: int = 0) -> Layout:
    """Every leaf field of a BTF struct or union with its bit offset and size."""
    out: Layout = {}
    for m in t.members:
        _, mt = _strip(btf, m.type)
        off = base + m.offset
        path = f"{prefix}{m.name}" if m.name else prefix.rstrip(".")
        if isinstance(mt, (Struct, Union_)):
            out.update(btf_layout(btf, mt, f"{path}." if m.name else prefix, off))
        else:
            out[path] = (off, m.bitfield_size or _btf_size(btf, m.type) * 8, m.bitfield_size)
    return out


def _btf_size(btf: Btf, tid: int) -> int:
    _, t = _strip(btf, tid)
    if isinstance(t, Array):
        return t.nelems * _btf_size(btf, t.type)
    return int(t.size)


def ctypes_layout(cls: Any, prefix: str = "", base: int = 0) -> Layout:
    """Every leaf field of a generated ctypes class, as :func:`btf_layout` gives them."""
    out: Layout = {}
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for f in cls._fields_:
        fname, ftype = f[0], f[1]
        desc = getattr(cls, fname)
        off = base + desc.offset * 8
        path = prefix if fname in anonymous else f"{prefix}{fname}"
        if isinstance(ftype, type) and issubclass(ftype, (ctypes.Structure, ctypes.Union)):
            out.update(ctypes_layout(ftype, prefix if fname in anonymous else f"{path}.", off))
        elif len(f) == 3:
            bit = desc.size & 0xFFFF if sys.version_info < (3, 14) else desc.bit_offset
            out[path] = (off + bit, f[2], f[2])
        else:
            out[path.rstrip(".")] = (off, ctypes.sizeof(ftype) * 8, 0)
    return out


_RESERVED = re.compile(r"(^|\.)__|_res$")


def compare(btf: Btf, module: Any) -> list[str]:
    """What in ``module`` (the generated attrs) disagrees with the layouts of ``btf``; [] when consistent."""
    problems: list[str] = []
    for cls, t in find_tops(btf, required=False).items():
        have = getattr(module, cls, None)
        if have is None:
            problems.append(f"{cls} is missing")
            continue
        got = ctypes_layout(have)
        for path, want in btf_layout(btf, t).items():
            if _RESERVED.search(path):
                continue  # padding that newer kernels carve fields out of (perf_event_attr.__reserved_1)
            if path not in got:
                problems.append(f"{cls}.{path} is missing (the BTF is newer than the file)")
            elif got[path] != want:
                problems.append(f"{cls}.{path} is at bit {got[path][0]}, {got[path][1]} bits in the file;"
                                f" at bit {want[0]}, {want[1]} bits in the BTF")
        if ctypes.sizeof(have) < t.size:
            problems.append(f"{cls} is {ctypes.sizeof(have)} bytes in the file, {t.size} in the BTF")
    return problems


def _exec(texts: tuple[str, str]) -> Any:
    """A module holding the classes of both generated texts (the lazy hook left out)."""
    import types

    module = types.ModuleType("bpfkit._sys.gen_attrs_check")
    module.__package__ = "bpfkit._sys"
    for text, path in zip(texts, (OUT, OUT_LAZY), strict=True):
        code = text.split("\n# the classes of _attrs_lazy", 1)[0]
        exec(compile(code, str(path), "exec"), module.__dict__)
    return module


def _iter_check(btf: Btf, texts: tuple[str, str]) -> Iterator[str]:
    """Self-check of freshly generated texts: they must reproduce the BTF exactly, sizes included."""
    module = _exec(texts)
    yield from compare(btf, module)
    for cls, t in find_tops(btf).items():
        if ctypes.sizeof(getattr(module, cls)) != t.size:
            yield f"{cls}: ctypes lays out {ctypes.sizeof(getattr(module, cls))} bytes, the BTF {t.size}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--btf", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("--release", default=os.uname().release, help="the Linux release the BTF belongs to")
    ap.add_argument("--check", action="store_true", help="verify the checked-in file instead of writing it")
    args = ap.parse_args()
    btf = load_btf(args.btf)
    rel = OUT.relative_to(ROOT)
    currents = tuple(p.read_text() if p.exists() else "" for p in (OUT, OUT_LAZY))
    m = re.search(r"GENERATED_FROM = '([^']*)'", currents[0])
    made_from = m.group(1) if m else "?"
    if args.check and len(find_tops(btf, required=False)) < len(TOP):  # an older kernel: compare what it has
        texts = currents
    else:
        texts = render(btf, args.release)
        bad = list(_iter_check(btf, texts))
        if bad:
            print("gen_attrs: the generated layouts differ from the BTF:\n  " + "\n  ".join(bad))
            return 1
    if not args.check:
        for path, text in zip((OUT, OUT_LAZY), texts, strict=True):
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)} from Linux {args.release}")
        return 0
    if currents == texts and made_from == args.release:
        print(f"gen_attrs --check: {rel} and {OUT_LAZY.name} are up to date (Linux {args.release})")
        return 0
    if made_from == args.release:
        print(f"gen_attrs --check: {rel} differs from what Linux {args.release} generates; rerun scripts/gen_attrs.py")
        return 1
    problems = compare(btf, _exec(currents))
    if problems:
        print(f"gen_attrs --check: {rel} (made from {made_from}) disagrees with Linux {args.release}:\n  " + "\n  ".join(problems))
        return 1
    print(f"gen_attrs --check: consistent with Linux {args.release} (file made from {made_from})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
