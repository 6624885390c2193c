"""Kernel ``#define``s that BCC programs use and BTF cannot carry, rebuilt for the running kernel.

Three sources, in order of preference:

* the kernel's BTF, where the value shows in a type: an array length
  (``DNAME_INLINE_LEN`` is the size of ``dentry.d_iname``/``d_shortname``,
  ``DISK_NAME_LEN`` of ``gendisk.disk_name``), the first value of an enum that
  starts where another field ends (``REQ_OP_BITS`` is ``__REQ_FAILFAST_DEV``),
  bit numbers that name flags (``REQ_SYNC`` is ``1 << __REQ_SYNC``);
* the machine's UAPI headers (/usr/include: errno values, mount, IPC, socket
  options, ``AT_FDCWD`` ...), whose ``#define NAME value`` lines are copied when
  the value is a constant expression of numbers and names already known;
* :data:`TABLE`, for kernel-internal macros that are neither (``WRITE``,
  ``SCM_RIGHTS``): each entry is checked by a test.

:func:`kernel_defines` is pure: the BTF and the header texts come in as arguments.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

from .._uapi import BtfKind
from ..btf import Array, Btf, Enum, Enum64, Struct, Union_

__all__ = ["TABLE", "TAG_ALIASES", "UAPI_HEADERS", "btf_defines", "kernel_defines", "read_uapi_headers", "uapi_defines"]

# kernel-internal macros (not in BTF, not in UAPI headers): name -> (value, where the kernel defines it)
TABLE: dict[str, tuple[str, str]] = {
    "READ": ("0", "include/linux/kernel.h"),
    "WRITE": ("1", "include/linux/kernel.h"),
    "SCM_RIGHTS": ("0x01", "include/linux/socket.h"),
    "SCM_CREDENTIALS": ("0x02", "include/linux/socket.h"),
    "SCM_SECURITY": ("0x03", "include/linux/socket.h"),
    "SCM_PIDFD": ("0x04", "include/linux/socket.h"),
    "U8_MAX": ("((u8)~0U)", "include/linux/limits.h"),
    "U16_MAX": ("((u16)~0U)", "include/linux/limits.h"),
    "U32_MAX": ("((u32)~0U)", "include/linux/limits.h"),
    "U64_MAX": ("((u64)~0ULL)", "include/linux/limits.h"),
    "S32_MAX": ("((s32)(U32_MAX >> 1))", "include/linux/limits.h"),
    "S64_MAX": ("((s64)(U64_MAX >> 1))", "include/linux/limits.h"),
    "PAGE_ALLOC_COSTLY_ORDER": ("3", "include/linux/mmzone.h"),
    "FMODE_CREATED": ("((fmode_t)(1 << 20))", "include/linux/fs.h"),
    "SG_END": ("0x02UL", "include/linux/scatterlist.h"),
    "SG_CHAIN": ("0x01UL", "include/linux/scatterlist.h"),
}

# struct tags the kernel's headers rename with a #define (include/linux/socket.h): tag -> the tag BTF has
TAG_ALIASES: dict[str, str] = {"sockaddr_storage": "__kernel_sockaddr_storage"}

# UAPI headers whose #defines are offered, relative to /usr/include (the first existing of each alternative)
UAPI_HEADERS: tuple[tuple[str, ...], ...] = (
    ("asm-generic/errno-base.h",), ("asm-generic/errno.h",), ("linux/fcntl.h",), ("linux/mount.h",),
    ("linux/in.h",), ("linux/in6.h",), ("linux/if.h",), ("linux/ipc.h",), ("linux/shm.h",), ("linux/sched.h",),
    ("linux/capability.h",), ("linux/limits.h",), ("linux/stat.h",), ("linux/falloc.h",), ("linux/tcp.h",),
    ("x86_64-linux-gnu/asm/signal.h", "aarch64-linux-gnu/asm/signal.h", "asm/signal.h", "asm-generic/signal.h"),
    ("x86_64-linux-gnu/asm/mman.h", "aarch64-linux-gnu/asm/mman.h", "asm-generic/mman-common.h"),
    ("x86_64-linux-gnu/asm/socket.h", "aarch64-linux-gnu/asm/socket.h", "asm-generic/socket.h"),
)

_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)[ \t]+(.*?)[ \t]*(?:/\*.*?\*/[ \t]*)?$", re.M)
_CONST_EXPR = re.compile(r"^[\s()|&<>~+\-*xXa-fA-F0-9uUlL_A-Za-z]*$")


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    return text.replace("\\\n", " ")


def uapi_defines(texts: Iterable[str], taken: Callable[[str], bool]) -> dict[str, str]:
    """``#define NAME value`` of the header texts whose value is a constant expression of numbers and earlier names.

    ``taken(name)`` says a name the kernel's BTF already defines (an enumerator or a type): those are left out.
    """
    out: dict[str, str] = {}
    for text in texts:
        for m in _DEFINE.finditer(_strip_comments(text)):
            name, value = m.group(1), m.group(2).strip()
            if not value or name.startswith("_") or name in out or taken(name):
                continue
            if not _CONST_EXPR.match(value) or not re.search(r"\d|[A-Za-z_]", value):
                continue
            words = re.findall(r"\b[A-Za-z_]\w*\b", re.sub(r"\b0[xX][0-9a-fA-F]+[uUlL]*|\b\d+[uUlL]*", "", value))
            if any(w not in out for w in words):
                continue  # refers to a macro we do not have (or is not an expression)
            out[name] = value
    return out


def _members(btf: Btf, struct: str) -> dict[str, int]:
    for tid in btf.find(struct, BtfKind.STRUCT):
        t = btf[tid]
        if isinstance(t, Struct):
            return {m.name: m.type for m in t.members if m.name}
    return {}


def _array_len(btf: Btf, struct: str, *members: str) -> int | None:
    """Length of the first of ``members`` of ``struct`` that exists (an array, or the size of a union/struct)."""
    ms = _members(btf, struct)
    for name in members:
        tid = ms.get(name)
        if tid is None:
            continue
        t = btf[btf.skip_modifiers(tid)]
        if isinstance(t, Array):
            return t.nelems
        if isinstance(t, (Union_, Struct)):
            return t.size
    return None


def _enum_values(btf: Btf, enum: str) -> dict[str, int]:
    for kind in (BtfKind.ENUM, BtfKind.ENUM64):
        for tid in btf.find(enum, kind):
            t = btf[tid]
            if isinstance(t, (Enum, Enum64)):
                return {v.name: v.value for v in t.values}
    return {}


def btf_defines(btf: Btf) -> dict[str, str]:
    """The #defines the kernel's BTF implies (see the module docstring)."""
    out: dict[str, str] = {}
    for name, struct, members in (("DNAME_INLINE_LEN", "dentry", ("d_iname", "d_shortname")),
                                  ("DISK_NAME_LEN", "gendisk", ("disk_name",)),
                                  ("IFNAMSIZ", "net_device", ("name",)),
                                  ("TASK_COMM_LEN", "task_struct", ("comm",)),
                                  ("MODULE_NAME_LEN", "module", ("name",))):
        n = _array_len(btf, struct, *members)
        if n is not None:
            out[name] = str(n)
    if any(btf.find(f"{prefix}_sys_openat") for prefix in ("__x64", "__arm64", "__s390x", "__riscv")):
        out["CONFIG_ARCH_HAS_SYSCALL_WRAPPER"] = "1"  # syscalls take a pt_regs: their wrappers are in the BTF
    req = _enum_values(btf, "req_flag_bits")
    if "__REQ_FAILFAST_DEV" in req:  # the flag bits start right after the operation bits
        out["REQ_OP_BITS"] = str(req["__REQ_FAILFAST_DEV"])
        out["REQ_OP_MASK"] = "((1U << REQ_OP_BITS) - 1)"
        for flag in req:
            short = flag[len("__REQ_"):]
            if flag.startswith("__REQ_") and short != "NR_BITS":
                out[f"REQ_{short}"] = f"(1ULL << {flag})"
    return out


def read_uapi_headers(root: str = "/usr/include") -> list[str]:
    """Texts of :data:`UAPI_HEADERS` found under ``root`` (missing ones are skipped)."""
    texts = []
    for alternatives in UAPI_HEADERS:
        for rel in alternatives:
            path = os.path.join(root, rel)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    texts.append(f.read())
                break
    return texts


def _enumerators(btf: Btf) -> set[str]:
    names: set[str] = set()
    for tid in btf.own_ids():
        if btf.kind_of(tid) in (BtfKind.ENUM, BtfKind.ENUM64):
            t = btf[tid]
            assert isinstance(t, (Enum, Enum64))
            names.update(v.name for v in t.values)
    return names


def kernel_defines(btf: Btf, uapi_texts: Iterable[str]) -> str:
    """C text of every #define above, each guarded by #ifndef (a program's own definition wins)."""
    enumerators = _enumerators(btf)

    def taken(name: str) -> bool:
        return name in enumerators or bool(btf.find(name))

    defs = dict(uapi_defines(uapi_texts, taken))
    for name, (value, _) in TABLE.items():
        defs.setdefault(name, value)
    defs.update(btf_defines(btf))  # the running kernel's own facts win over headers and the table
    for tag, real in TAG_ALIASES.items():
        if not btf.find(tag, BtfKind.STRUCT) and btf.find(real, BtfKind.STRUCT):
            defs[tag] = real
    lines = ["/* kernel #defines for BCC programs (bpfkit.bcc._kdefs): BTF, UAPI headers, table */"]
    for name, value in defs.items():
        lines.append(f"#ifndef {name}\n#define {name} {value}\n#endif")
    return "\n".join(lines) + "\n"
