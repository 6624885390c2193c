"""kprobe.multi and uprobe.multi links: one program on many functions through one bpf_link.

BPF_TRACE_KPROBE_MULTI (Linux 5.18, fprobe-based: needs CONFIG_FPROBE) attaches a
kprobe program to many kernel functions, named or matched by a glob against the
functions ftrace can trace; BPF_TRACE_UPROBE_MULTI (Linux 6.6) attaches one to
many offsets of one binary. Each attach point may carry a cookie the program
reads with bpf_get_attach_cookie(). The program must have been loaded for the
link (expected attach type, as SEC("kprobe.multi/...") and SEC("uprobe.multi/...")
make it).
"""

from __future__ import annotations

import ctypes
import errno as E
import fnmatch
import functools
import os
from collections.abc import Sequence

from .._sys import Fd
from .._sys import attrs as A
from .._sys import commands as C
from .._sys.mounts import ensure_tracefs, tracefs_access
from .._uapi import AttachType, ProgType
from ..errors import BpfPermissionError, BpfTypeError, BpfValueError, KernelError, NotSupportedError
from ..obj._sections import find_section_def
from ._base import Link, holds_program, new_link_fd
from ._probes import binary_path, elf_image, resolve_symbols

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..programs import Program

__all__ = [
    "attach_kprobe_multi",
    "attach_uprobe_multi",
    "kernel_functions",
    "kprobe_multi_support",
    "uprobe_multi_support",
]

_RETURN = 1  # BPF_F_KPROBE_MULTI_RETURN, BPF_F_UPROBE_MULTI_RETURN
_KPROBE_TYPES = (AttachType.TRACE_KPROBE_MULTI, AttachType.TRACE_KPROBE_SESSION)
_UPROBE_TYPES = (AttachType.TRACE_UPROBE_MULTI, AttachType.TRACE_UPROBE_SESSION)


def _u64_array(values: Sequence[int]) -> ctypes.Array[ctypes.c_uint64]:
    return (ctypes.c_uint64 * len(values))(*values)


def _check_cookies(cookies: Sequence[int] | None, n: int, what: str) -> None:
    if cookies is not None and len(cookies) != n:
        raise BpfValueError(f"{what}: {len(cookies)} cookies for {n} attach points (one cookie per point)")


def _check_program(prog: Program, allowed: tuple[AttachType, ...], section: str) -> AttachType:
    """The link's attach type: the program's expected one, which must be one of ``allowed``."""
    if prog.type != ProgType.KPROBE:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a kprobe-type program")
    at = prog.expected_attach_type
    if at not in allowed:
        raise BpfValueError(
            f"program {prog.name!r} was loaded for {at!r}, not {allowed[0].name}: load it from a "
            f"SEC(\"{section}/...\") section (or with expected_attach_type={allowed[0].name})"
        )
    return AttachType(at)


def _is_return(prog: Program, retprobe: bool | None) -> bool:
    if retprobe is not None:
        return retprobe
    d = find_section_def(prog.section) if prog.section else None
    return d is not None and d.is_return_probe


def kernel_functions(pattern: str) -> list[str]:
    """Kernel functions ftrace can trace whose name matches the glob ``pattern`` (available_filter_functions)."""
    path = os.path.join(ensure_tracefs(), "available_filter_functions")
    try:
        with tracefs_access("listing the kernel functions a kprobe.multi pattern may match"), open(path, "rb") as f:
            text = f.read().decode(errors="replace")
    except FileNotFoundError:  # an empty tracefs: lockdown=confidentiality, or a kernel without ftrace
        from ..host import lockdown_mode

        locked = lockdown_mode() == "confidentiality"
        raise NotSupportedError(
            f"cannot match kprobe.multi pattern {pattern!r}: {path} is missing"
            + (" (kernel lockdown=confidentiality empties tracefs)" if locked else " (no function tracer)")
            + "; name the functions with syms= instead", feature="kprobe_multi_pattern",
            cause="lockdown" if locked else "config") from None
    seen: dict[str, None] = {}
    for line in text.splitlines():
        name = line.split(maxsplit=1)[0] if line.strip() else ""
        if name and not name.startswith("__ftrace_invalid_address__") and fnmatch.fnmatchcase(name, pattern):
            seen.setdefault(name)
    return list(seen)


@holds_program
def attach_kprobe_multi(
    prog: Program,
    pattern: str | None = None,
    *,
    syms: Sequence[str] | None = None,
    addrs: Sequence[int] | None = None,
    cookies: Sequence[int] | None = None,
    retprobe: bool | None = None,
) -> Link:
    """Attach ``prog`` to every kernel function matching the glob ``pattern``, or to ``syms`` / ``addrs``.

    ``cookies`` (one per symbol or address) are what bpf_get_attach_cookie() returns there.
    ``retprobe`` defaults to the section's (kretprobe.multi). One bpf_link holds every function.
    """
    at = _check_program(prog, _KPROBE_TYPES, "kprobe.multi")
    given = [x for x in (pattern, syms, addrs) if x is not None]
    if len(given) != 1:
        raise BpfTypeError("attach_kprobe_multi takes exactly one of pattern, syms= and addrs=")
    if pattern is not None:
        if not kprobe_multi_support():
            raise _kprobe_multi_missing()
        syms = kernel_functions(pattern)
        if not syms:
            raise BpfValueError(f"no traceable kernel function matches {pattern!r} (available_filter_functions)")
        if cookies is not None:
            raise BpfTypeError("cookies= needs syms= or addrs= (a pattern's functions have no fixed order)")
    if syms is not None and (isinstance(syms, str) or not all(isinstance(s, str) and s for s in syms)):
        raise BpfTypeError("syms= is a sequence of kernel function names")
    n = len(syms) if syms is not None else len(addrs or ())
    if n == 0:
        raise BpfValueError("attach_kprobe_multi needs at least one function")
    _check_cookies(cookies, n, f"kprobe.multi link of {prog.name!r}")
    target = pattern or (f"{n} functions" if n > 1 else str((syms or [hex(a) for a in addrs or ()])[0]))
    names = [ctypes.c_char_p(s.encode()) for s in syms] if syms is not None else []
    name_ptrs = (ctypes.c_char_p * len(names))(*names) if names else None
    addr_arr = _u64_array(addrs) if addrs is not None else None
    cookie_arr = _u64_array(cookies) if cookies is not None else None

    def fill(a: A.LinkCreateAttr) -> Any:
        v = a.kprobe_multi
        v.flags = _RETURN if _is_return(prog, retprobe) else 0
        v.cnt = n
        v.syms = ctypes.addressof(name_ptrs) if name_ptrs is not None else 0
        v.addrs = ctypes.addressof(addr_arr) if addr_arr is not None else 0
        v.cookies = ctypes.addressof(cookie_arr) if cookie_arr is not None else 0
        return (names, name_ptrs, addr_arr, cookie_arr)

    return _link(prog, at, fill, kprobe_multi_support, _kprobe_multi_missing, kind="kprobe.multi", target=target)


def _link(prog: Program, at: AttachType, fill: Any, supported: Any, missing: Any, *, kind: str, target: str) -> Link:
    """BPF_LINK_CREATE of a multi link; a refusal of a kernel without the link type becomes ``missing()``."""
    try:
        fd = new_link_fd(prog.fd, 0, at, what=f"{kind} link of {prog.name!r} on {target}", extra=fill)
    except BpfPermissionError:
        raise
    except KernelError as exc:
        if exc.errno in (E.EOPNOTSUPP, E.EINVAL) and not supported():
            raise missing() from exc
        raise
    return Link(fd, program=prog, kind=kind, target=target)


def _kprobe_multi_missing() -> NotSupportedError:
    return NotSupportedError(
        "kprobe.multi links are not available on this kernel: they need Linux 5.18 built with CONFIG_FPROBE "
        "(and kprobes); attach each function with attach_kprobe() where kprobes exist",
        feature="kprobe_multi", min_kernel="5.18",
    )


def _uprobe_offsets(path: str, pattern: str | None, syms: Sequence[str] | None,
                    offsets: Sequence[int] | None) -> tuple[list[int], str]:
    """File offsets of the attach points, and how to name them in messages."""
    given = [x for x in (pattern, syms, offsets) if x is not None]
    if len(given) != 1:
        raise BpfTypeError("attach_uprobe_multi takes exactly one of pattern, syms= and offsets=")
    if offsets is not None:
        return [int(o) for o in offsets], f"{len(offsets)} offsets"
    if pattern is not None:
        names = sorted({f.name for f in elf_image(path).iter_functions() if fnmatch.fnmatchcase(f.name, pattern)})
        if not names:
            raise BpfValueError(f"no function of {path} matches {pattern!r}")
        syms, label = names, pattern
    else:
        if isinstance(syms, str) or not syms or not all(isinstance(s, str) and s for s in syms):
            raise BpfTypeError("syms= is a non-empty sequence of function names")
        label = ",".join(syms) if len(syms) <= 3 else f"{len(syms)} functions"
    found = resolve_symbols(path, list(syms))
    return [found[s].offset for s in syms], label


@holds_program
def attach_uprobe_multi(
    prog: Program,
    binary: str,
    pattern: str | None = None,
    *,
    syms: Sequence[str] | None = None,
    offsets: Sequence[int] | None = None,
    cookies: Sequence[int] | None = None,
    ref_ctr_offsets: Sequence[int] | None = None,
    pid: int = -1,
    retprobe: bool | None = None,
) -> Link:
    """Attach ``prog`` to the functions of ``binary`` matching the glob ``pattern``, or to ``syms`` / file ``offsets``.

    ``pid`` restricts the probes to one process; ``cookies`` (one per point, with syms= or offsets=) are what
    bpf_get_attach_cookie() returns; ``retprobe`` defaults to the section's (uretprobe.multi).
    """
    at = _check_program(prog, _UPROBE_TYPES, "uprobe.multi")
    path = binary_path(binary, pid)
    offs, label = _uprobe_offsets(path, pattern, syms, offsets)
    if pattern is not None and cookies is not None:
        raise BpfTypeError("cookies= needs syms= or offsets= (a pattern's functions have no fixed order)")
    _check_cookies(cookies, len(offs), f"uprobe.multi link of {prog.name!r}")
    if ref_ctr_offsets is not None and len(ref_ctr_offsets) != len(offs):
        raise BpfValueError(f"{len(ref_ctr_offsets)} ref_ctr_offsets for {len(offs)} attach points")
    if pid != -1 and (isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0):
        raise BpfValueError(f"pid must be a positive process id or -1 (every process), not {pid!r}")
    target = f"{path}:{label}"
    cpath = ctypes.create_string_buffer(path.encode())
    off_arr = _u64_array(offs)
    ref_arr = _u64_array(ref_ctr_offsets) if ref_ctr_offsets is not None else None
    cookie_arr = _u64_array(cookies) if cookies is not None else None

    def fill(a: A.LinkCreateAttr) -> Any:
        v = a.uprobe_multi
        v.path = ctypes.addressof(cpath)
        v.offsets = ctypes.addressof(off_arr)
        v.ref_ctr_offsets = ctypes.addressof(ref_arr) if ref_arr is not None else 0
        v.cookies = ctypes.addressof(cookie_arr) if cookie_arr is not None else 0
        v.cnt = len(offs)
        v.flags = _RETURN if _is_return(prog, retprobe) else 0
        v.pid = pid if pid > 0 else 0
        return (cpath, off_arr, ref_arr, cookie_arr)

    return _link(prog, at, fill, uprobe_multi_support, _uprobe_multi_missing, kind="uprobe.multi", target=target)


def _uprobe_multi_missing() -> NotSupportedError:
    return NotSupportedError("uprobe.multi links are not available on this kernel (Linux 6.6, CONFIG_UPROBES); "
                             "attach each function with attach_uprobe()", feature="uprobe_multi", min_kernel="6.6")


def attach_kprobe_multi_section(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("kprobe.multi/PATTERN"), kretprobe.multi, kprobe.session (the dispatch of bpfkit.links)."""
    if not where:
        raise BpfValueError(f"program {prog.name!r} has no kprobe.multi pattern (section {prog.section!r}); "
                            "attach with attach_kprobe_multi(prog, syms=[...])")
    return attach_kprobe_multi(prog, where, **options)


def attach_uprobe_multi_section(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("uprobe.multi/PATH:PATTERN") and its return and session forms (the dispatch of bpfkit.links)."""
    binary, _, pattern = (where or "").rpartition(":")
    if not binary or not pattern:
        raise BpfValueError(f"program {prog.name!r}: a uprobe.multi target is 'path:pattern', got {where!r}")
    return attach_uprobe_multi(prog, binary, pattern, **options)


def _probe_link(attach_type: AttachType, fill: Any, expect: int) -> bool:
    """Load ``r0 = 0; exit`` for ``attach_type`` and create a link that must fail with ``expect`` if supported."""
    from ..features import TRIVIAL_PROGRAM

    insns = ctypes.create_string_buffer(TRIVIAL_PROGRAM, len(TRIVIAL_PROGRAM))
    lic = ctypes.create_string_buffer(b"GPL")
    a = A.ProgLoadAttr(prog_type=int(ProgType.KPROBE), insn_cnt=len(TRIVIAL_PROGRAM) // 8,
                       insns=ctypes.addressof(insns), license=ctypes.addressof(lic),
                       expected_attach_type=int(attach_type))
    try:
        prog = Fd(C.prog_load(a, target=f"probe program ({attach_type.name.lower()})"), "probe program")
    except BpfPermissionError:
        raise
    except KernelError:
        return False  # the kernel does not know the attach type
    with prog:
        try:
            new_link_fd(prog.fd, 0, attach_type, what=f"probe {attach_type.name.lower()} link", extra=fill).close()
        except BpfPermissionError:
            raise
        except KernelError as exc:
            return exc.errno == expect
        return True  # pragma: no cover - the probes' targets cannot exist


@functools.cache
def kprobe_multi_support() -> bool:
    """Whether the kernel creates kprobe.multi links: a link on a function that cannot exist fails with ESRCH."""
    name = ctypes.c_char_p(b"__bpfkit_no_such_function")
    syms = (ctypes.c_char_p * 1)(name)

    def fill(a: A.LinkCreateAttr) -> Any:
        v = a.kprobe_multi
        v.cnt, v.syms = 1, ctypes.addressof(syms)
        return syms

    return _probe_link(AttachType.TRACE_KPROBE_MULTI, fill, E.ESRCH)


@functools.cache
def uprobe_multi_support() -> bool:
    """Whether the kernel creates uprobe.multi links: one on the directory '/' fails with EBADF."""
    path = ctypes.create_string_buffer(b"/")
    offs = _u64_array([0])

    def fill(a: A.LinkCreateAttr) -> Any:
        v = a.uprobe_multi
        v.path, v.offsets, v.cnt = ctypes.addressof(path), ctypes.addressof(offs), 1
        return (path, offs)

    return _probe_link(AttachType.TRACE_UPROBE_MULTI, fill, E.EBADF)
