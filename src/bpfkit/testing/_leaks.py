"""Find BPF objects a process leaves behind: fds of maps, programs, links, perf events, and pins.

Besides this process's own fds and pins, :func:`kernel_ids` and :func:`orphan_ids` look at the
kernel's side: objects created since a snapshot that are still alive but that no process holds.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

__all__ = ["KINDS", "LeakReport", "bpf_fds", "bpf_pins", "check_leaks", "held_ids", "kernel_ids", "object_name", "orphan_ids"]

KINDS = ("prog", "map", "link", "btf")
"""The kinds of kernel objects with ids (BPF_{PROG,MAP,LINK,BTF}_GET_NEXT_ID)."""

BTF_SETTLE = 15.0
"""How long an unheld BTF object must stay to count (seconds): it has no name to tell whose it is, and a
program of any process keeps its BTF until the program is freed, which for tracing and sleepable
programs waits for an RCU tasks grace period (seconds on a busy machine) after its id is gone."""

_FDINFO_KEYS = {"prog_id": "prog", "map_id": "map", "link_id": "link", "btf_id": "btf"}


def bpf_fds() -> dict[int, str]:
    """Open fds of this process that refer to anonymous kernel objects (bpf-map, bpf-prog, bpf_link, perf, epoll);
    not the ambient BPF token, which bpfkit keeps open for the life of the process on purpose."""
    from ..token import ambient_token_fds

    keep = ambient_token_fds()
    out = {}
    for name in os.listdir("/proc/self/fd"):
        if int(name) in keep:
            continue
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("anon_inode:"):
            out[int(name)] = target
    return out


# iterators the kernel itself pins at the root of every bpffs it mounts (bpf_preload, CONFIG_BPF_PRELOAD)
KERNEL_PRELOAD_PINS = ("maps.debug", "progs.debug")


def bpf_pins(root: str = "/sys/fs/bpf") -> set[str]:
    """Every path under a bpffs root, except the kernel's own bpf_preload iterators at its top."""
    found: set[str] = set()
    if not os.path.isdir(root):
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            if dirpath == root and n in KERNEL_PRELOAD_PINS:
                continue
            found.add(os.path.join(dirpath, n))
    return found


@dataclass
class LeakReport:
    """What appeared between two snapshots."""

    fds: dict[int, str] = field(default_factory=dict)
    pins: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.fds or self.pins)

    def __str__(self) -> str:
        parts = []
        if self.fds:
            parts.append("leaked fds: " + ", ".join(f"{fd} -> {t}" for fd, t in sorted(self.fds.items())))
        if self.pins:
            parts.append("leaked pins: " + ", ".join(sorted(self.pins)))
        return "; ".join(parts)


def check_leaks(fds_before: dict[int, str], pins_before: set[str], *, collect: bool = True) -> LeakReport:
    """Compare the current fds and pins with a snapshot (after a garbage collection unless ``collect=False``)."""
    if collect:
        gc.collect()
    fds = {fd: t for fd, t in bpf_fds().items() if fds_before.get(fd) != t}
    return LeakReport(fds, bpf_pins() - pins_before)


def kernel_ids() -> dict[str, set[int]]:
    """Ids of every program, map, link and BTF object in the kernel now (BPF_*_GET_NEXT_ID), by kind."""
    from .._sys import commands as C
    from .._uapi import Cmd

    cmds = {"prog": Cmd.PROG_GET_NEXT_ID, "map": Cmd.MAP_GET_NEXT_ID, "link": Cmd.LINK_GET_NEXT_ID,
            "btf": Cmd.BTF_GET_NEXT_ID}
    return {kind: set(C.ids_of(cmd)) for kind, cmd in cmds.items()}


def attached_program_ids() -> set[int]:
    """Ids of the programs some bpf_link of the system holds now: a process that stopped cleanly leaves
    none of its own among them (links listed by id, each opened only to read its program's id)."""
    from ..errors import KernelError
    from ..links import Link, link_ids

    held = set()
    for lid in link_ids():
        try:
            with Link.from_id(lid) as link:
                held.add(link.info().prog_id)
        except KernelError:  # detached meanwhile
            continue
    return held


def _fdinfo_ids(path: str, out: dict[str, set[int]]) -> None:
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return
    for line in text.splitlines():
        key, _, value = line.partition(":")
        kind = _FDINFO_KEYS.get(key)
        if kind is not None and value.strip().isdigit():
            out[kind].add(int(value))


def _pinned_ids(root: str, out: dict[str, set[int]]) -> None:
    from .._sys import commands as C
    from ..errors import BpfError

    for path in bpf_pins(root):
        if not os.path.isfile(path):
            continue
        try:
            fd = C.obj_get(path, target=f"pinned object {path!r}")
        except (BpfError, OSError):
            continue
        try:
            _fdinfo_ids(f"/proc/self/fdinfo/{fd}", out)
        finally:
            os.close(fd)


def held_ids(*, pin_root: str = "/sys/fs/bpf", ignore_pid: int | None = None) -> dict[str, set[int]]:
    """Ids of the objects some process holds by an fd or that a pin under ``pin_root`` holds, by kind.

    Read from every process's /proc/PID/fdinfo (root sees them all) but ``ignore_pid``'s; a link
    counts its program. What a held program or map holds in turn (its maps, its BTF) is added by
    :func:`orphan_ids`.
    """
    out: dict[str, set[int]] = {k: set() for k in KINDS}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or (ignore_pid is not None and int(pid) == ignore_pid):
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith(("anon_inode:bpf", "anon_inode:btf")):
                _fdinfo_ids(f"/proc/{pid}/fdinfo/{fd}", out)
    _pinned_ids(pin_root, out)
    return out


def _held_through(kind: str, obj_id: int, out: dict[str, set[int]]) -> None:
    """Add what a program (its maps and BTF) or a map (its BTF) holds; skip what vanished meanwhile."""
    from .._sys import attrs as A
    from .._sys import commands as C
    from ..errors import BpfError

    try:
        fd = C.prog_get_fd_by_id(obj_id) if kind == "prog" else C.map_get_fd_by_id(obj_id)
    except (BpfError, OSError):
        return
    try:
        if kind == "map":
            minfo = A.MapInfo()
            C.obj_get_info_by_fd(fd, minfo)
            if minfo.btf_id:
                out["btf"].add(int(minfo.btf_id))
            return
        import ctypes

        info = A.ProgInfo()
        C.obj_get_info_by_fd(fd, info)
        if info.btf_id:
            out["btf"].add(int(info.btf_id))
        if info.nr_map_ids:
            ids = (ctypes.c_uint32 * info.nr_map_ids)()
            again = A.ProgInfo(nr_map_ids=info.nr_map_ids, map_ids=ctypes.addressof(ids))
            C.obj_get_info_by_fd(fd, again)
            out["map"].update(int(i) for i in ids[: min(info.nr_map_ids, again.nr_map_ids)])
    except (BpfError, OSError):
        return
    finally:
        os.close(fd)


def object_name(kind: str, obj_id: int) -> str | None:
    """The kernel's name of a program or map (a link: its program's); None for BTF or an object gone."""
    from .._sys import attrs as A
    from .._sys import commands as C
    from ..errors import BpfError

    if kind == "btf":
        return None
    try:
        fd = {"prog": C.prog_get_fd_by_id, "map": C.map_get_fd_by_id, "link": C.link_get_fd_by_id}[kind](obj_id)
    except (BpfError, OSError):
        return None
    try:
        if kind == "link":
            linfo = A.LinkInfo()
            C.obj_get_info_by_fd(fd, linfo)
            return object_name("prog", int(linfo.prog_id))
        info: A.ProgInfo | A.MapInfo = A.ProgInfo() if kind == "prog" else A.MapInfo()
        C.obj_get_info_by_fd(fd, info)
        return bytes(info.name).split(b"\0", 1)[0].decode(errors="replace")
    except (BpfError, OSError):
        return None
    finally:
        os.close(fd)


def orphan_ids(
    before: Mapping[str, Collection[int]],
    *,
    names: Collection[str] | Callable[[str], bool] | None = None,
    settle: float = 3.0,
    pin_root: str = "/sys/fs/bpf",
    ignore_pid: int | None = None,
) -> dict[str, set[int]]:
    """Objects created since the :func:`kernel_ids` snapshot ``before`` that are alive and held by nobody.

    An object no fd, pin, link, program or map holds is one the kernel should have freed: a leak in the
    kernel's accounting or a reference kept where user space cannot see it. The kernel frees maps and
    programs after an RCU grace period, so this waits up to ``settle`` seconds for them to go, and an
    object counts only if it stayed unheld all that time (a BTF object: at least :data:`BTF_SETTLE`).
    Other processes create objects too: those they hold are left out, and ``names`` (a set of program
    and map names, or a predicate) limits programs, maps and links to the ones with a matching name
    (BTF objects have none).
    With ``ignore_pid`` (this process, say), what that process holds counts as left too.
    """
    start = time.monotonic()
    left: dict[str, set[int]] | None = None
    while True:
        found = _orphans_now(before, names, pin_root, ignore_pid)
        # an orphan must stay one: objects of other processes pass through unheld states while they are
        # freed (a map being torn down still holds its BTF), each only for a moment
        left = found if left is None else {k: left[k] & found[k] for k in KINDS}
        waited = time.monotonic() - start
        if not any(left.values()) or (waited >= settle and (not left["btf"] or waited >= max(settle, BTF_SETTLE))):
            return {k: v for k, v in left.items() if v}
        time.sleep(0.1)


def _orphans_now(
    before: Mapping[str, Collection[int]],
    names: Collection[str] | Callable[[str], bool] | None,
    pin_root: str,
    ignore_pid: int | None,
) -> dict[str, set[int]]:
    """One look: objects made since ``before``, alive, held by nobody (and named as asked)."""
    now = kernel_ids()
    fresh = {k: now[k] - set(before.get(k, ())) for k in KINDS}
    if not any(fresh.values()):
        return fresh
    held = held_ids(pin_root=pin_root, ignore_pid=ignore_pid)
    for kind in ("prog", "map"):  # what a live program or map holds is not an orphan itself
        for obj_id in fresh[kind]:
            _held_through(kind, obj_id, held)
    fresh = {k: fresh[k] - held[k] for k in KINDS}
    if names is not None:
        keep = names if callable(names) else (lambda n, s=frozenset(names): n in s)
        for kind in ("prog", "map", "link"):
            fresh[kind] = {i for i in fresh[kind] if (n := object_name(kind, i)) is not None and keep(n)}
    return fresh
