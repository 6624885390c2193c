"""kprobes, uprobes (by binary and symbol) and perf-event sampling."""

from __future__ import annotations

import ctypes
import errno as E
import functools
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._sys import Fd
from .._sys import perf_event as P
from .._sys.mounts import ensure_tracefs, tracefs_access
from .._uapi import PerfType, ProgType
from ..errors import AccessError, KernelError, NotSupportedError
from .base import Link
from .tracing import attach_perf_event_fd

if TYPE_CHECKING:
    from ..programs import Program

__all__ = [
    "LinkGroup",
    "attach_kprobe",
    "attach_perf_event",
    "attach_uprobe",
    "find_library",
    "kprobe_support",
    "open_kprobe_event",
    "resolve_symbol",
]

_PMU_DIR = "/sys/bus/event_source/devices"


class LinkGroup(Link):
    """Several links that act as one (a perf event on every CPU); closing closes all."""

    def __init__(self, links: list[Link], *, program: Program, kind: str, target: str) -> None:
        self.links = links

        def close_all() -> None:
            errors: list[BaseException] = []
            for link in self.links:
                try:
                    link.close()
                except Exception as exc:
                    errors.append(exc)
            if errors:
                raise errors[0]

        super().__init__(None, program=program, kind=kind, target=target, on_close=close_all)


def _pmu_type(name: str) -> int | None:
    try:
        with open(f"{_PMU_DIR}/{name}/type") as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def _retprobe_bit(name: str) -> int:
    """The config bit of ``retprobe`` in a PMU's format directory (``config:0``)."""
    try:
        with open(f"{_PMU_DIR}/{name}/format/retprobe") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return 0
    m = re.match(r"config:(\d+)", text)
    return int(m.group(1)) if m else 0


@functools.cache
def kprobe_support() -> str | None:
    """How this kernel offers kprobes: 'pmu', 'tracefs', or None when it has none."""
    if _pmu_type("kprobe") is not None:
        return "pmu"
    try:
        root = ensure_tracefs()
    except OSError:
        return None
    return "tracefs" if os.path.exists(os.path.join(root, "kprobe_events")) else None


def open_kprobe_event(func: str, *, retprobe: bool, offset: int = 0) -> int:
    """A perf event fd of a kprobe (kretprobe) on ``func``+``offset`` from the kprobe PMU."""
    pmu = _pmu_type("kprobe")
    if pmu is None:
        raise _kprobe_missing(func, retprobe)
    target = f"{'kretprobe' if retprobe else 'kprobe'} {func}" + (f"+{offset}" if offset else "")
    name = ctypes.create_string_buffer(func.encode())
    attr = P.PerfEventAttr(type=pmu, sample_period=1, wakeup_events=1)
    attr.config = (1 << _retprobe_bit("kprobe")) if retprobe else 0
    attr.config1 = ctypes.addressof(name)
    attr.config2 = offset
    return P.perf_event_open(attr, -1, 0, target=target)


def _kprobe_missing(func: str, retprobe: bool) -> NotSupportedError:
    kind = "kretprobe" if retprobe else "kprobe"
    return NotSupportedError(
        f"cannot attach {kind} to {func!r}: this kernel has no kprobes (CONFIG_KPROBES / "
        "CONFIG_KPROBE_EVENTS are off: no kprobe PMU and no tracefs kprobe_events); attach to a "
        "tracepoint, raw tracepoint or tp_btf instead, or fentry/fexit where trampolines are allowed",
        feature="kprobe",
    )


_legacy_seq = 0


def attach_kprobe(prog: Program, func: str, *, offset: int = 0, retprobe: bool = False, cookie: int = 0) -> Link:
    """Attach a kprobe program to kernel function ``func`` (+offset); kretprobe with ``retprobe``."""
    if prog.type != ProgType.KPROBE:
        raise TypeError(f"program {prog.name!r} is {prog.type!r}, not a kprobe program")
    how = kprobe_support()
    kind = "kretprobe" if retprobe else "kprobe"
    target = f"{kind} {func}" + (f"+{offset}" if offset else "")
    if how is None:
        raise _kprobe_missing(func, retprobe)
    if how == "pmu":
        pfd = Fd(open_kprobe_event(func, retprobe=retprobe, offset=offset), f"perf event of {target}")
        return attach_perf_event_fd(prog, pfd, kind=kind, target=target, cookie=cookie)
    return _attach_legacy_probe(prog, "kprobe", f"{func}+{offset}" if offset else func, retprobe, target, cookie)


def _append(path: str, line: str) -> None:
    """Write one line to a tracefs control file with O_APPEND and no seek.

    (Python's append mode seeks to the end, which tracefs' seq files refuse with EINVAL.)
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _attach_legacy_probe(prog: Program, kind: str, where: str, retprobe: bool, target: str, cookie: int) -> Link:
    """Create a probe through tracefs {k,u}probe_events, attach as a tracepoint, remove on close."""
    global _legacy_seq
    _legacy_seq += 1
    root = ensure_tracefs()
    events = os.path.join(root, f"{kind}_events")
    group = "bpfkit"
    event = re.sub(r"[^A-Za-z0-9_]", "_", f"{'r' if retprobe else 'p'}_{os.getpid()}_{_legacy_seq}_{where}")[:60]
    line = f"{'r' if retprobe else 'p'}:{group}/{event} {where}\n"
    try:
        with tracefs_access(f"creating {target} through tracefs {kind}_events"):
            _append(events, line)
    except AccessError:
        raise
    except OSError as exc:
        raise KernelError(exc.errno or E.EINVAL, command=f"write {kind}_events", target=target,
                          detail=f"the kernel refused {line.strip()!r}") from None

    def remove() -> None:
        try:
            _append(events, f"-:{group}/{event}\n")
        except OSError:
            pass

    try:
        with open(os.path.join(root, "events", group, event, "id")) as f:
            tp_id = int(f.read().strip())
        attr = P.PerfEventAttr(type=PerfType.TRACEPOINT, config=tp_id, sample_period=1, wakeup_events=1)
        pfd = Fd(P.perf_event_open(attr, -1, 0, target=target), f"perf event of {target}")
        link = attach_perf_event_fd(prog, pfd, kind=f"{kind[0]}ret{kind[1:]}" if retprobe else kind, target=target,
                                    cookie=cookie)
    except BaseException:
        remove()
        raise
    link._after_close = remove  # the probe event can only go once its perf event fd is closed
    return link


# ---- uprobes ------------------------------------------------------------------

_LIB_DIRS = (
    "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
    "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib",
)


def find_library(name: str) -> str | None:
    """Path of shared library ``name`` ("c", "libc", "libc.so.6") as the dynamic linker finds it."""
    import shutil
    import subprocess

    base = name[3:] if name.startswith("lib") else name
    base = base.split(".so")[0]
    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if os.path.exists("/sbin/ldconfig") else None)
    if ldconfig:
        try:
            out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=False, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        for line in out.splitlines():
            m = re.match(rf"\s*(lib{re.escape(base)}\.so[.\d]*)\s.*=>\s*(\S+)", line)
            if m and os.path.exists(m.group(2)):
                return m.group(2)
    for d in _LIB_DIRS:
        if not os.path.isdir(d):
            continue
        for entry in sorted(os.listdir(d)):
            if re.fullmatch(rf"lib{re.escape(base)}\.so(\.\d+)*", entry):
                return os.path.join(d, entry)
    return None


def _binary_path(name: str) -> str:
    import shutil

    if "/" in name:
        if not os.path.exists(name):
            raise FileNotFoundError(f"uprobe target {name!r} does not exist")
        return os.path.realpath(name)
    lib = find_library(name)
    if lib is not None:
        return os.path.realpath(lib)
    exe = shutil.which(name)
    if exe is not None:
        return os.path.realpath(exe)
    raise FileNotFoundError(f"no binary or shared library named {name!r} found")


@dataclass(frozen=True)
class ResolvedSymbol:
    """A function symbol of an ELF file: virtual address and file offset."""

    name: str
    address: int
    offset: int
    size: int


def resolve_symbol(path: str, symbol: str) -> ResolvedSymbol:
    """Find ``symbol`` in the ELF symbol tables of ``path``; its file offset is what uprobes take."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    want = symbol.split("@", maxsplit=1)[0]
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            found = None
            for secname in (".symtab", ".dynsym"):
                sec = elf.get_section_by_name(secname)
                if sec is None:
                    continue
                for sym in sec.iter_symbols():  # type: ignore[attr-defined]
                    if sym["st_value"] == 0 or sym["st_info"]["type"] not in ("STT_FUNC", "STT_GNU_IFUNC", "STT_LOOS"):
                        continue
                    if sym.name == symbol or sym.name.split("@")[0] == want:
                        found = sym
                        break
                if found is not None:
                    break
            if found is None:
                raise KeyError(f"symbol {symbol!r} not found in {path}")
            addr = int(found["st_value"])
            for seg in elf.iter_segments():
                if seg["p_type"] != "PT_LOAD" or not seg["p_flags"] & 1:  # PF_X
                    continue
                if seg["p_vaddr"] <= addr < seg["p_vaddr"] + seg["p_memsz"]:
                    return ResolvedSymbol(found.name, addr, addr - seg["p_vaddr"] + seg["p_offset"], int(found["st_size"]))
            return ResolvedSymbol(found.name, addr, addr, int(found["st_size"]))
    except ELFError as exc:
        raise ValueError(f"{path} is not a readable ELF file: {exc}") from None


def attach_uprobe(
    prog: Program,
    binary: str,
    symbol: str | None = None,
    *,
    offset: int = 0,
    address: int | None = None,
    retprobe: bool = False,
    pid: int = -1,
    cookie: int = 0,
) -> Link:
    """Attach a uprobe/uretprobe to ``symbol`` (or a raw file ``offset``) of a binary or library."""
    if prog.type != ProgType.KPROBE:
        raise TypeError(f"program {prog.name!r} is {prog.type!r}, not a uprobe (kprobe-type) program")
    path = _binary_path(binary)
    if symbol is not None:
        sym = resolve_symbol(path, symbol)
        file_off = sym.offset + offset
    elif address is not None:
        file_off = address
    else:
        file_off = offset
    kind = "uretprobe" if retprobe else "uprobe"
    target = f"{kind} {path}:{symbol or hex(file_off)}" + (f" pid {pid}" if pid >= 0 else "")
    pmu = _pmu_type("uprobe")
    if pmu is None:
        return _attach_legacy_probe(prog, "uprobe", f"{path}:{file_off:#x}", retprobe, target, cookie)
    pbuf = ctypes.create_string_buffer(os.fsencode(path))
    attr = P.PerfEventAttr(type=pmu, sample_period=1, wakeup_events=1)
    attr.config = (1 << _retprobe_bit("uprobe")) if retprobe else 0
    attr.config1 = ctypes.addressof(pbuf)
    attr.config2 = file_off
    pfd = Fd(
        P.perf_event_open(attr, pid if pid >= 0 else -1, 0 if pid < 0 else -1, target=target),
        f"perf event of {target}",
    )
    return attach_perf_event_fd(prog, pfd, kind=kind, target=target, cookie=cookie)


# ---- perf events (sampling) ----------------------------------------------------


def attach_perf_event(
    prog: Program,
    *,
    type: PerfType | int = PerfType.SOFTWARE,
    config: int = 0,
    sample_freq: int | None = None,
    sample_period: int | None = None,
    cpus: list[int] | None = None,
    pid: int = -1,
) -> LinkGroup:
    """Open a sampling perf event on every CPU (or ``cpus``) and attach ``prog`` to each."""
    from ..host import online_cpus

    if prog.type != ProgType.PERF_EVENT:
        raise TypeError(f"program {prog.name!r} is {prog.type!r}, not a perf_event program")
    if (sample_freq is None) == (sample_period is None):
        raise ValueError("give exactly one of sample_freq and sample_period")
    links: list[Link] = []
    target = f"perf event type {int(type)} config {config}"
    try:
        for cpu in cpus if cpus is not None else online_cpus():
            attr = P.PerfEventAttr(type=int(type), config=config)
            if sample_freq is not None:
                attr.sample_period = sample_freq
                attr.flags = P.FLAG_FREQ
            else:
                attr.sample_period = sample_period or 1
            what = f"{target} on cpu {cpu}"
            pfd = Fd(P.perf_event_open(attr, pid, cpu, target=what), f"perf event {what}")
            links.append(attach_perf_event_fd(prog, pfd, kind="perf_event", target=what))
    except BaseException:
        for link in links:
            link.close()
        raise
    return LinkGroup(links, program=prog, kind="perf_event", target=target)
