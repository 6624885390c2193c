"""USDT probes: find them in binaries or processes and attach programs that read their arguments.

A program built with libbpf's ``usdt.bpf.h`` reads arguments through two maps
of its object: ``__bpf_usdt_specs`` (spec id -> ``struct __bpf_usdt_spec``)
and ``__bpf_usdt_ip_to_spec_id`` (probe address -> spec id, for kernels
without BPF cookies). :func:`attach_usdt` fills them, attaches one uprobe per
probe site with the spec id as its BPF cookie, and keeps the probe's
semaphore counted: by the kernel (the uprobe's ``ref_ctr_offset``) when it
can, else by writing the target process's memory (/proc/PID/mem).
"""

from __future__ import annotations

import functools
import os
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from .._uapi import ProgType
from ..errors import BpfKeyError, BpfTypeError, NotSupportedError, ObjectFormatError
from ..obj._native import ET_EXEC
from ..obj._usdt import SPEC_SIZE, UsdtProbe, encode_spec, pt_regs_offsets, usdt_probes
from ._base import Link, close_links
from ._probes import LinkGroup, _open_uprobe, binary_path, elf_image, mapped_files, uprobe_ref_ctr_support

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..maps import Map
    from ..programs import Program

__all__ = ["SPECS_MAP", "IP_MAP", "UsdtTarget", "attach_usdt", "bpf_cookie_support", "find_usdt_probes"]

SPECS_MAP = "__bpf_usdt_specs"
IP_MAP = "__bpf_usdt_ip_to_spec_id"


@dataclass(frozen=True)
class UsdtTarget:
    """A USDT probe found in a file: the probe, the path the kernel opens, and the path as listed."""

    path: str  # what perf_event_open gets (through /proc/PID/root for another process)
    binary: str  # the path inside the process's mount namespace (the same as ``path`` for the caller's)
    machine: int
    probe: UsdtProbe

    @property
    def provider(self) -> str:
        """The probe's provider."""
        return self.probe.provider

    @property
    def name(self) -> str:
        """The probe's name."""
        return self.probe.name


@functools.cache
def bpf_cookie_support() -> bool:
    """Whether uprobe programs get a BPF cookie (bpf_get_attach_cookie through a perf-event link, Linux 5.15)."""
    from ..features import have_bpf_link_perf_event, have_helper

    return have_bpf_link_perf_event() and have_helper(ProgType.KPROBE, "get_attach_cookie")


def _probes_of(path: str, binary: str, provider: str | None, name: str | None) -> list[UsdtTarget]:
    try:
        elf = elf_image(path)
    except ObjectFormatError:
        return []
    found = usdt_probes(elf)
    return [UsdtTarget(path, binary, elf.machine, p) for p in found
            if (provider is None or p.provider == provider) and (name is None or p.name == name)]


def find_usdt_probes(target: str | int, provider: str | None = None, name: str | None = None, *,
                     pid: int = -1) -> list[UsdtTarget]:
    """The USDT probes of a binary or library (``target`` a path or name), or of every file a process maps
    (``target`` a pid); filtered by ``provider`` and ``name`` when given. Paths resolve in ``pid``'s root."""
    if isinstance(target, int):
        pid = target
        out: list[UsdtTarget] = []
        for f, handle in mapped_files(pid).items():
            if os.path.isfile(handle):
                out.extend(_probes_of(handle, f, provider, name))
        return out
    path = binary_path(target, pid)
    inside = path
    if path.startswith(f"/proc/{pid}/"):  # the file as the process lists it in its maps
        inside = path.removeprefix(f"/proc/{pid}/root")
        if inside.startswith(f"/proc/{pid}/map_files/"):
            inside = next((f for f, h in mapped_files(pid).items() if h == path), path)
    return _probes_of(path, inside, provider, name)


# ---- spec ids ---------------------------------------------------------------------------------

_ids_lock = threading.Lock()
_used_ids: dict[int, set[int]] = {}  # kernel id of a specs map -> spec ids in use


def _alloc_id(specs: Map) -> int:
    with _ids_lock:
        used = _used_ids.setdefault(specs.id, set())
        for i in range(specs.max_entries):
            if i not in used:
                used.add(i)
                return i
    raise NotSupportedError(f"USDT spec map {specs.name!r} is full ({specs.max_entries} specs); define "
                            "BPF_USDT_MAX_SPEC_CNT larger in the BPF program", feature="usdt_spec_count")


def _free_ids(map_id: int, ids: list[int]) -> None:
    with _ids_lock:
        used = _used_ids.get(map_id)
        if used is not None:
            used.difference_update(ids)
            if not used:
                del _used_ids[map_id]


# ---- semaphores in process memory ---------------------------------------------------------------


def _runtime_addresses(pid: int, path: str, file_offset: int) -> list[int]:
    """Where file offset ``file_offset`` of the file at ``path`` is mapped in process ``pid``.

    Mappings are matched by device and inode, not by name: the name a process's maps show
    depends on who reads them (chroots, mount namespaces).
    """
    st = os.stat(path)
    want = (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    out: list[int] = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) < 6:
                continue
            major, _, minor = parts[3].partition(":")
            if (int(major, 16), int(minor, 16), int(parts[4])) != want:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            off = int(parts[2], 16)
            if off <= file_offset < off + (hi - lo):
                out.append(lo + file_offset - off)
    return out


def _bump_semaphore(pid: int, addr: int, delta: int) -> None:
    """Add ``delta`` to the u16 semaphore at ``addr`` of process ``pid`` (/proc/PID/mem)."""
    fd = os.open(f"/proc/{pid}/mem", os.O_RDWR | os.O_CLOEXEC)
    try:
        (value,) = struct.unpack("<H", os.pread(fd, 2, addr))
        os.pwrite(fd, struct.pack("<H", max(0, value + delta) & 0xFFFF), addr)
    finally:
        os.close(fd)


# ---- attach -------------------------------------------------------------------------------------


def _object_map(prog: Program, given: Map | None, name: str) -> Map | None:
    if given is not None:
        return given
    maps: Mapping[str, Map] = getattr(prog, "object_maps", {}) or {}
    return maps.get(name)


def attach_usdt(
    prog: Program,
    target: str | int,
    provider: str,
    name: str,
    *,
    pid: int = -1,
    cookie: int = 0,
    specs_map: Map | None = None,
    ip_map: Map | None = None,
) -> LinkGroup:
    """Attach ``prog`` to every site of USDT probe ``provider:name`` in ``target`` (a binary or library
    path, or a pid: every file the process maps). ``cookie`` is what ``bpf_usdt_cookie()`` returns.

    The spec maps default to the program's object's ``__bpf_usdt_specs`` and
    ``__bpf_usdt_ip_to_spec_id``; a program without them attaches but cannot read arguments.
    """
    if prog.type != ProgType.KPROBE:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a uprobe (kprobe-type) program")
    if isinstance(target, int):
        pid = target
    sites = find_usdt_probes(target, provider, name, pid=pid)
    what = f"USDT probe {provider}:{name} in {target if isinstance(target, str) else f'process {target}'}"
    if not sites:
        raise BpfKeyError(f"no {what}")
    specs = _object_map(prog, specs_map, SPECS_MAP)
    ips = _object_map(prog, ip_map, IP_MAP)
    if specs is not None and specs.value_size != SPEC_SIZE:
        raise ObjectFormatError(f"map {specs.name!r} has {specs.value_size}-byte values; libbpf's "
                                f"struct __bpf_usdt_spec is {SPEC_SIZE} bytes")
    use_cookie = bpf_cookie_support()
    if specs is not None and not use_cookie:
        if ips is None:
            raise NotSupportedError(f"cannot attach {what}: this kernel has no BPF cookies and the program has no "
                                    f"{IP_MAP} map", feature="bpf_cookie")
        if pid < 0 and any(elf_image(s.path).type != ET_EXEC for s in sites):
            raise NotSupportedError(f"cannot attach {what} system-wide: without BPF cookies (Linux 5.15) a "
                                    "position-independent file's probe addresses are known only in one process; "
                                    "give pid=", feature="bpf_cookie")
    kernel_counts = uprobe_ref_ctr_support()
    links: list[Link] = []
    ids: list[int] = []
    ip_keys: list[bytes] = []
    semaphores: list[int] = []
    by_spec: dict[bytes, int] = {}
    map_id = specs.id if specs is not None else -1

    def cleanup() -> None:
        for addr in semaphores:
            try:
                _bump_semaphore(pid, addr, -1)
            except OSError:
                pass  # the process has gone
        if ips is not None and not ips.closed:
            for k in ip_keys:
                try:
                    ips.delete(k)
                except (KeyError, OSError):
                    pass
        _free_ids(map_id, ids)

    try:
        for site in sites:
            p = site.probe
            spec_id = 0
            if specs is not None:
                spec = encode_spec(p.args, cookie, pt_regs_offsets(site.machine))
                spec_id = by_spec.get(spec, -1)
                if spec_id < 0:
                    spec_id = _alloc_id(specs)
                    ids.append(spec_id)
                    by_spec[spec] = spec_id
                    specs.update(struct.pack("<i", spec_id), spec)
                if not use_cookie and ips is not None:
                    # a fixed-address executable runs at its link-time addresses; else ask the process
                    addrs = [p.address] if pid < 0 else _runtime_addresses(pid, site.path, p.offset)
                    for addr in addrs:
                        key = struct.pack("<q", addr)
                        ips.update(key, struct.pack("<I", spec_id))
                        ip_keys.append(key)
            ref_ctr = 0
            if p.semaphore:
                if kernel_counts:
                    ref_ctr = p.semaphore_offset
                elif pid >= 0:
                    for addr in _runtime_addresses(pid, site.path, p.semaphore_offset):
                        _bump_semaphore(pid, addr, +1)
                        semaphores.append(addr)
                else:
                    raise NotSupportedError(
                        f"cannot attach {what}: it has a semaphore, and this kernel's uprobes cannot count it "
                        "(no ref_ctr_offset, Linux 4.20); give pid= to set it in that process", feature="usdt_semaphore")
            links.append(_open_uprobe(prog, site.path, p.offset, f"{provider}:{name}", False, pid,
                                      spec_id if use_cookie else 0, ref_ctr))
    except BaseException:
        try:
            close_links(links)
        finally:
            cleanup()
        raise
    group = LinkGroup(links, program=prog, kind="usdt", target=what + (f" pid {pid}" if pid >= 0 else ""))
    group._after_close = cleanup
    return group
