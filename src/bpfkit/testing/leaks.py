"""Find BPF objects a process leaves behind: fds of maps, programs, links, perf events, and pins."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field

__all__ = ["LeakReport", "bpf_fds", "bpf_pins", "check_leaks"]


def bpf_fds() -> dict[int, str]:
    """Open fds of this process that refer to anonymous kernel objects (bpf-map, bpf-prog, bpf_link, perf, epoll)."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
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
