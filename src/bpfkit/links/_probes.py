"""kprobes, uprobes (by binary and symbol) and perf-event sampling."""

from __future__ import annotations

import ctypes
import errno as E
import functools
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from .._sys import Fd
from .._sys import perf_event as P
from .._sys.mounts import ensure_tracefs, tracefs_access
from .._uapi import PerfType, ProgType
from ..errors import AccessError, BpfKeyError, BpfTypeError, BpfValueError, KernelError, NotSupportedError, ObjectFormatError
from ._base import Link, close_links, holds_program
from ._tracing import attach_perf_event_fd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..obj._native import NativeElf
    from ..programs import Program

__all__ = [
    "LinkGroup",
    "attach_kprobe",
    "attach_perf_event",
    "attach_uprobe",
    "attach_uprobes",
    "binary_path",
    "elf_image",
    "find_library",
    "mapped_files",
    "resolve_symbol",
    "resolve_symbols",
    "uprobe_ref_ctr_support",
]

class LinkGroup(Link):
    """Several links that act as one (a perf event on every CPU); closing closes all."""

    def __init__(self, links: list[Link], *, program: Program, kind: str, target: str) -> None:
        self.links = links

        def close_all() -> None:
            close_links(self.links)

        super().__init__(None, program=program, kind=kind, target=target, on_close=close_all)


_legacy_seq = 0


@holds_program
def attach_kprobe(prog: Program, func: str, *, offset: int = 0, retprobe: bool = False, cookie: int = 0) -> Link:
    """Attach a kprobe program to kernel function ``func`` (+offset); kretprobe with ``retprobe``."""
    if prog.type != ProgType.KPROBE:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a kprobe program")
    how = P.kprobe_support()
    kind = "kretprobe" if retprobe else "kprobe"
    target = f"{kind} {func}" + (f"+{offset}" if offset else "")
    if how is None:
        raise P.kprobe_missing(func, retprobe)
    if how == "pmu":
        pfd = Fd(P.open_kprobe_event(func, retprobe=retprobe, offset=offset), f"perf event of {target}")
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
            if m and os.path.exists(m.group(2)) and _is_native_elf(m.group(2)):  # not i386's of a multiarch host
                return m.group(2)
    return find_in_library_dirs(base)


def find_in_library_dirs(base: str, dirs: tuple[str, ...] = _LIB_DIRS) -> str | None:
    """Library ``lib<base>.so*`` in ``dirs``, as the loader would find it without its cache (a minimal
    image where ldconfig never ran): the versioned soname first (libc.so.6), never a linker script
    (libc.so of libc6-dev is text), and only an ELF file of this machine's architecture."""
    for d in dirs:
        if not os.path.isdir(d):
            continue
        found = [e for e in os.listdir(d) if re.fullmatch(rf"lib{re.escape(base)}\.so(\.\d+)*", e)]
        for entry in sorted(found, key=lambda e: (e.count("."), e)):  # libc.so.6 before libc.so.6.0.1 ...
            if entry.endswith(".so") and len(found) > 1:
                continue  # the development name (a symlink or a linker script) when a soname is there
            path = os.path.join(d, entry)
            if _is_native_elf(path):
                return path
    return None


def _is_native_elf(path: str) -> bool:
    """Whether ``path`` is an ELF file of this machine's architecture (not a linker script, not another arch's)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return False
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    from ..arch import arch
    from ..errors import NotSupportedError

    try:
        return machine == arch().elf_machine
    except NotSupportedError:  # an architecture without tables: any ELF will do
        return True


def _in_root(pid: int, path: str) -> str:
    """``path`` as process ``pid`` sees it: through /proc/PID/root (its mount namespace, a container)."""
    if pid < 0 or pid == os.getpid():
        return path
    return f"/proc/{pid}/root{path}" if path.startswith("/") else path


def mapped_files(pid: int) -> dict[str, str]:
    """The files process ``pid`` maps, in /proc/PID/maps order: its path -> a path that opens that very file.

    The second is /proc/PID/map_files/START-END, which reaches the mapped file whatever mount
    namespace or chroot either process is in (the listed path may not resolve from here).
    """
    seen: dict[str, str] = {}
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    path = parts[5].rstrip("\n").removesuffix(" (deleted)")
                    if path not in seen:
                        handle = f"/proc/{pid}/map_files/{parts[0]}"
                        seen[path] = handle if pid != os.getpid() and os.path.exists(handle) else path
    except FileNotFoundError:
        raise BpfValueError(f"no process {pid} (/proc/{pid}/maps cannot be read)") from None
    return seen


def _library_in_process(name: str, pid: int) -> str | None:
    base = name[3:] if name.startswith("lib") else name
    base = base.split(".so")[0]
    pattern = re.compile(rf"lib{re.escape(base)}(\.so[.\d]*|-[\d.]+\.so)")
    for path, handle in mapped_files(pid).items():
        if pattern.fullmatch(os.path.basename(path)):
            return handle
    return None


def binary_path(name: str, pid: int = -1) -> str:
    """The path to open for binary or library ``name`` ("c", "/usr/bin/x"), inside process ``pid``'s root."""
    if pid >= 0 and pid != os.getpid():
        if "/" in name:
            path = _in_root(pid, name if name.startswith("/") else os.path.join(f"/proc/{pid}/cwd", name))
            if not os.path.exists(path):
                raise FileNotFoundError(f"uprobe target {name!r} does not exist in the mount namespace of process {pid}")
            return path
        found = _library_in_process(name, pid)
        if found is not None:
            return found
        # not mapped (yet): the library the dynamic linker would give it here, as BCC does
    if "/" in name:
        if not os.path.exists(name):
            raise FileNotFoundError(f"uprobe target {name!r} does not exist")
        # /proc/PID/root/...: realpath would leave that process's mount namespace
        return os.path.abspath(name) if name.startswith("/proc/") else os.path.realpath(name)
    lib = find_library(name)
    if lib is not None:
        return os.path.realpath(lib)
    import shutil  # only here: it costs ~10 ms to import (lzma, bz2 ...), more than a whole attach

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


_ELF_CACHE: OrderedDict[tuple[str, int, int, int, int], NativeElf] = OrderedDict()
_ELF_CACHE_SIZE = 32  # files
_ELF_CACHE_BYTES = 256 << 20  # and their bytes at most (a larger file is parsed but not kept)
_elf_lock = threading.Lock()


def elf_image(path: str) -> NativeElf:
    """The parsed ELF file at ``path``, cached per (path, device, inode, mtime, size): parsed once."""
    from ..obj._native import NativeElf

    try:
        st = os.stat(path)
    except OSError as exc:
        raise FileNotFoundError(exc.errno, f"cannot read ELF file {path!r}: {exc.strerror}") from None
    key = (path, st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    with _elf_lock:
        hit = _ELF_CACHE.get(key)
        if hit is not None:
            _ELF_CACHE.move_to_end(key)
            return hit
    import mmap

    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.pread(fd, 4, 0) != b"\x7fELF":  # a mapped data file (locale-archive ...): not read further
            raise ObjectFormatError(f"{path} is not an ELF file", offset=0)
        # mapped, not read: a lookup touches the headers and symbol tables only (libc: ~120 KiB of 2 MiB)
        data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
    elf = NativeElf(data, what=path)
    if len(data) > _ELF_CACHE_BYTES:
        return elf
    with _elf_lock:
        _ELF_CACHE[key] = elf
        while len(_ELF_CACHE) > _ELF_CACHE_SIZE or sum(len(e.data) for e in _ELF_CACHE.values()) > _ELF_CACHE_BYTES:
            _ELF_CACHE.popitem(last=False)
    return elf


def resolve_symbols(path: str, symbols: Sequence[str]) -> dict[str, ResolvedSymbol]:
    """Resolve many function symbols of ``path`` in one pass over its (cached) symbol tables.

    KeyError names the symbols that are missing.
    """
    elf = elf_image(path)
    found = elf.resolve(symbols)
    missing = [s for s in symbols if s not in found]
    if missing:
        raise BpfKeyError(f"symbol(s) {', '.join(map(repr, missing))} not found in {path}")
    out: dict[str, ResolvedSymbol] = {}
    for name, sym in found.items():
        seg = elf.load_segment(sym.address, executable=True)
        off = sym.address - seg.vaddr + seg.offset if seg is not None else sym.address
        out[name] = ResolvedSymbol(sym.name, sym.address, off, sym.size)
    return out


def resolve_symbol(path: str, symbol: str) -> ResolvedSymbol:
    """Find ``symbol`` in the ELF symbol tables of ``path``; its file offset is what uprobes take."""
    try:
        return resolve_symbols(path, [symbol])[symbol]
    except ObjectFormatError as exc:
        raise BpfValueError(f"{path} is not a readable ELF file: {exc}") from None


@functools.cache
def _ref_ctr_shift() -> int | None:
    """The config bit where the uprobe PMU takes ``ref_ctr_offset`` (Linux 4.20), None without it."""
    try:
        with open(f"{P.PMU_DIR}/uprobe/format/ref_ctr_offset") as f:
            m = re.match(r"config:(\d+)-\d+", f.read().strip())
    except FileNotFoundError:
        return None
    return int(m.group(1)) if m else None


def uprobe_ref_ctr_support() -> bool:
    """Whether the kernel increments USDT semaphores itself (the uprobe PMU's ``ref_ctr_offset``)."""
    return P.pmu_type("uprobe") is not None and _ref_ctr_shift() is not None


@holds_program
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
    ref_ctr_offset: int = 0,
) -> Link:
    """Attach a uprobe/uretprobe to ``symbol``, a virtual ``address`` or a raw file ``offset`` of a binary or library.

    With ``pid``, the binary is looked up inside that process's mount namespace
    (/proc/PID/root) and the probe fires only there. ``ref_ctr_offset`` is the
    file offset of a USDT semaphore the kernel keeps counted while attached.
    """
    if prog.type != ProgType.KPROBE:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a uprobe (kprobe-type) program")
    path = binary_path(binary, pid)
    if symbol is not None:
        file_off = resolve_symbol(path, symbol).offset + offset
    elif address is not None:  # a virtual address of the file, as BCC's addr=: through its segments
        try:
            file_off = elf_image(path).vaddr_to_offset(address) + offset
        except ObjectFormatError as exc:
            raise BpfValueError(f"cannot attach a uprobe at {address:#x} of {path}: {exc}") from None
    else:
        file_off = offset
    return _open_uprobe(prog, path, file_off, symbol, retprobe, pid, cookie, ref_ctr_offset)


def _open_uprobe(prog: Program, path: str, file_off: int, symbol: str | None, retprobe: bool, pid: int,
                 cookie: int, ref_ctr_offset: int) -> Link:
    kind = "uretprobe" if retprobe else "uprobe"
    target = f"{kind} {path}:{symbol or hex(file_off)}" + (f" pid {pid}" if pid >= 0 else "")
    pmu = P.pmu_type("uprobe")
    if pmu is None:
        where = f"{path}:{file_off:#x}" + (f"({ref_ctr_offset:#x})" if ref_ctr_offset else "")
        return _attach_legacy_probe(prog, "uprobe", where, retprobe, target, cookie)
    pbuf = ctypes.create_string_buffer(os.fsencode(path))
    attr = P.PerfEventAttr(type=pmu, sample_period=1, wakeup_events=1)
    attr.config = (1 << P.retprobe_bit("uprobe")) if retprobe else 0
    if ref_ctr_offset:
        shift = _ref_ctr_shift()
        if shift is None:
            raise NotSupportedError(f"cannot attach {target} with a USDT semaphore: this kernel's uprobe PMU "
                                    "has no ref_ctr_offset (Linux 4.20)", feature="uprobe_ref_ctr_offset")
        attr.config |= ref_ctr_offset << shift
    attr.config1 = ctypes.addressof(pbuf)
    attr.config2 = file_off
    pfd = Fd(
        P.perf_event_open(attr, pid if pid >= 0 else -1, 0 if pid < 0 else -1, target=target),
        f"perf event of {target}",
    )
    return attach_perf_event_fd(prog, pfd, kind=kind, target=target, cookie=cookie)


def attach_uprobes(
    prog: Program,
    binary: str,
    symbols: Sequence[str],
    *,
    retprobe: bool = False,
    pid: int = -1,
) -> LinkGroup:
    """Attach ``prog`` to many functions of one binary, resolved in one pass; one LinkGroup for all."""
    if prog.type != ProgType.KPROBE:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a uprobe (kprobe-type) program")
    path = binary_path(binary, pid)
    resolved = resolve_symbols(path, symbols)
    links: list[Link] = []
    try:
        for name in symbols:
            links.append(_open_uprobe(prog, path, resolved[name].offset, name, retprobe, pid, 0, 0))
    except BaseException:
        close_links(links)
        raise
    kind = "uretprobe" if retprobe else "uprobe"
    return LinkGroup(links, program=prog, kind=kind, target=f"{kind} {path}: {len(links)} functions")


# ---- perf events (sampling) ----------------------------------------------------


@holds_program
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
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a perf_event program")
    if (sample_freq is None) == (sample_period is None):
        raise BpfValueError("give exactly one of sample_freq and sample_period")
    links: list[Link] = []
    target = f"perf event type {int(type)} config {config}"
    try:
        for cpu in cpus if cpus is not None else online_cpus():
            attr = P.PerfEventAttr(type=int(type), config=config)
            if sample_freq is not None:
                attr.sample_period = sample_freq
                attr.freq = 1
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
