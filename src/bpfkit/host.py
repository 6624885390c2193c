"""Facts of the running host (kernel version, CPUs, vmlinux BTF), read once and cached."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from typing import overload

from .btf import Btf

__all__ = [
    "active_lsms",
    "kernel_release",
    "kernel_version",
    "module_btf",
    "online_cpus",
    "page_size",
    "parse_cpu_list",
    "possible_cpus",
    "vmlinux_btf",
    "VMLINUX_BTF_PATH",
]

VMLINUX_BTF_PATH = "/sys/kernel/btf/vmlinux"


@functools.cache
def kernel_release() -> str:
    """``uname -r``."""
    return os.uname().release


@functools.cache
def kernel_version() -> tuple[int, int, int]:
    """(major, minor, patch) of the running kernel."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", kernel_release())
    if not m:
        return (0, 0, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def kernel_version_code() -> int:
    """LINUX_VERSION_CODE of the running kernel (patch clamped to 255)."""
    a, b, c = kernel_version()
    return (a << 16) | (b << 8) | min(c, 255)


def parse_cpu_list(text: str) -> list[int]:
    """Parse a kernel CPU list such as ``0-3,5``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.extend(range(int(lo), int(hi) + 1))
        else:
            cpus.append(int(part))
    return cpus


@functools.cache
def possible_cpus() -> int:
    """Number of possible CPUs (the per-CPU map value count)."""
    with open("/sys/devices/system/cpu/possible") as f:
        return max(parse_cpu_list(f.read())) + 1


@functools.cache
def online_cpu_list() -> tuple[int, ...]:
    """Ids of the online CPUs."""
    with open("/sys/devices/system/cpu/online") as f:
        return tuple(parse_cpu_list(f.read()))


def online_cpus() -> list[int]:
    """Ids of the online CPUs."""
    return list(online_cpu_list())


@functools.cache
def page_size() -> int:
    """The MMU page size."""
    return os.sysconf("SC_PAGE_SIZE")


@functools.cache
def vmlinux_btf() -> Btf:
    """The running kernel's BTF, indexed lazily (cached for the process)."""
    with open(VMLINUX_BTF_PATH, "rb") as f:
        return Btf.from_bytes(f.read())


@functools.cache
def module_btf(name: str) -> Btf:
    """Split BTF of a loaded kernel module, on top of vmlinux."""
    with open(os.path.join(os.path.dirname(VMLINUX_BTF_PATH), name), "rb") as f:
        return Btf.from_bytes(f.read(), base=vmlinux_btf())


def module_btf_names() -> list[str]:
    """Names of kernel modules that have BTF loaded."""
    d = os.path.dirname(VMLINUX_BTF_PATH)
    try:
        return sorted(n for n in os.listdir(d) if n != "vmlinux")
    except FileNotFoundError:
        return []


@functools.cache
def kernel_config_text() -> str | None:
    """The running kernel's build configuration (/proc/config.gz or /boot/config-$(uname -r)), if readable."""
    import gzip

    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return f.read()
    except OSError:
        pass
    for path in (f"/boot/config-{kernel_release()}", f"/lib/modules/{kernel_release()}/config"):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            continue
    return None


@functools.cache
def kallsyms() -> dict[str, int]:
    """Kernel symbol addresses from /proc/kallsyms (module symbols included, first one wins)."""
    out: dict[str, int] = {}
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            name = parts[2]
            if name not in out:
                out[name] = int(parts[0], 16)
    return out


def ksym_address(name: str) -> int | None:
    """Address of kernel symbol ``name``, or None."""
    return kallsyms().get(name)


@functools.cache
def active_lsms() -> tuple[str, ...] | None:
    """The active Linux security modules (securityfs ``lsm``, mounted when needed); None if unknowable."""
    from ._sys.mounts import ensure_securityfs

    try:
        root = ensure_securityfs()
        with open(os.path.join(root, "lsm")) as f:
            text = f.read()
    except OSError:
        return None
    return tuple(x for x in text.strip().split(",") if x)


class KernelBtfs(Sequence[Btf]):
    """vmlinux BTF then every module's split BTF, each read and indexed only when first used."""

    def __init__(self) -> None:
        self._names = ["vmlinux", *module_btf_names()]

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, i: int) -> Btf: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Btf]: ...

    def __getitem__(self, i: int | slice) -> Btf | Sequence[Btf]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        name = self._names[i]
        return vmlinux_btf() if name == "vmlinux" else module_btf(name)


def kernel_btfs() -> KernelBtfs:
    """The running kernel's BTF: vmlinux first, then modules (CO-RE's target order)."""
    return KernelBtfs()
