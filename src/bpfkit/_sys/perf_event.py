"""perf_event_open(2), its ioctls, and mmap of perf/BPF ring pages."""

from __future__ import annotations

import ctypes
import errno as E
import functools
import mmap
import os

from .._uapi import PerfFlags
from ..errors import BpfPermissionError, KernelError, NotSupportedError
from . import privilege
from .attrs import PerfEventAttr
from .mounts import ensure_tracefs
from .syscall import NR_PERF_EVENT_OPEN, libc

__all__ = [
    "PerfEventAttr",
    "disable",
    "enable",
    "kprobe_missing",
    "kprobe_support",
    "map_pages",
    "open_kprobe_event",
    "current_paranoid",
    "paranoid_refusal",
    "perf_event_open",
    "pmu_type",
    "retprobe_bit",
    "set_bpf",
    "set_output",
]

# ioctl numbers of linux/perf_event.h
IOC_ENABLE = 0x2400
IOC_DISABLE = 0x2401
IOC_RESET = 0x2403
IOC_SET_OUTPUT = 0x2405
IOC_SET_BPF = 0x40042408
IOC_PAUSE_OUTPUT = 0x40042409


_syscall5 = libc["syscall"]  # a separate function object: argtypes differ from bpf(2)'s
_syscall5.argtypes = [ctypes.c_long, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_ulong]
_syscall5.restype = ctypes.c_long
_ioctl = libc["ioctl"]
_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong]
_ioctl.restype = ctypes.c_int


def perf_event_open(
    attr: PerfEventAttr, pid: int, cpu: int, group_fd: int = -1, flags: int = PerfFlags.FD_CLOEXEC,
    *, target: str = "perf event",
) -> int:
    """perf_event_open(2); returns the event fd or raises KernelError."""
    attr.size = ctypes.sizeof(PerfEventAttr)
    r = _syscall5(NR_PERF_EVENT_OPEN, ctypes.addressof(attr), pid, cpu, group_fd, flags)
    if r < 0:
        err = ctypes.get_errno()
        if err == E.EPERM and attr.type == pmu_type("kprobe") and privilege.lockdown_mode() == "confidentiality":
            # LOCKDOWN_KPROBES is a confidentiality reason: no kprobe is created for anyone, root included
            raise NotSupportedError(f"cannot open {target}: kernel lockdown=confidentiality refuses kprobes; "
                                    "attach to a tracepoint, raw tracepoint or tp_btf instead, or boot without "
                                    "lockdown (Secure Boot off, or lockdown=integrity)", feature="kprobe",
                                    cause="lockdown")
        if err in (E.EPERM, E.EACCES):
            detail = paranoid_refusal(_paranoid(), _sys_admin())
            if not _sys_admin() and attr.type == pmu_type("uprobe"):  # paranoid or not, uprobes want CAP_SYS_ADMIN
                raise BpfPermissionError(err, command="perf_event_open", target=target, detail=detail,
                                         hint=_UPROBE_REFUSAL)
            raise BpfPermissionError(err, command="perf_event_open", target=target, detail=detail)
        raise KernelError(err, command="perf_event_open", target=target)
    return int(r)


PARANOID_PATH = "/proc/sys/kernel/perf_event_paranoid"


def current_paranoid() -> int | None:
    """kernel.perf_event_paranoid, or None when it cannot be read."""
    return _paranoid()


def _paranoid() -> int | None:
    try:
        with open(PARANOID_PATH) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _sys_admin() -> bool:
    return privilege.has_capability(privilege.CAP_SYS_ADMIN)


_UPROBE_REFUSAL = ("the kernel creates uprobe perf events only for CAP_SYS_ADMIN (CAP_PERFMON allowed it from Linux 5.8 "
                  "until a security fix took that back; current and stable kernels carry the fix): grant "
                  "CAP_SYS_ADMIN or run as root to attach uprobes and USDT probes; a uprobe.multi link "
                  "(SEC(\"uprobe.multi/...\"), Linux 6.6) needs only CAP_BPF and CAP_PERFMON")


def paranoid_refusal(paranoid: int | None, sys_admin: bool) -> str | None:
    """Why perf_event_open was refused when kernel.perf_event_paranoid explains it, and the way out.

    Debian and Ubuntu kernels add levels above mainline's 2: from 3 on, perf_event_open
    needs CAP_SYS_ADMIN (CAP_PERFMON is not enough), so kprobes, uprobes and tracepoints
    attached through perf events are refused to a capabilities-only process.
    """
    if paranoid is None or paranoid <= 2 or sys_admin:
        return None
    return (f"kernel.perf_event_paranoid={paranoid} (a Debian/Ubuntu level above mainline's 2) refuses "
            "perf_event_open without CAP_SYS_ADMIN, whatever CAP_PERFMON allows: set "
            "kernel.perf_event_paranoid=2, grant CAP_SYS_ADMIN, or attach with raw_tp, tp_btf or fentry, "
            "which need no perf event")


def _do_ioctl(fd: int, req: int, arg: int, what: str) -> None:
    if _ioctl(fd, req, arg) < 0:
        err = ctypes.get_errno()
        raise KernelError(err, command=what, target=f"perf event fd {fd}")


def enable(fd: int) -> None:
    """PERF_EVENT_IOC_ENABLE."""
    _do_ioctl(fd, IOC_ENABLE, 0, "PERF_EVENT_IOC_ENABLE")


def disable(fd: int) -> None:
    """PERF_EVENT_IOC_DISABLE."""
    _do_ioctl(fd, IOC_DISABLE, 0, "PERF_EVENT_IOC_DISABLE")


def set_bpf(fd: int, prog_fd: int) -> None:
    """PERF_EVENT_IOC_SET_BPF: attach a program the legacy way (before bpf_link for perf events)."""
    _do_ioctl(fd, IOC_SET_BPF, prog_fd, "PERF_EVENT_IOC_SET_BPF")


def set_output(fd: int, target_fd: int) -> None:
    """PERF_EVENT_IOC_SET_OUTPUT: send this event's records into another event's ring."""
    _do_ioctl(fd, IOC_SET_OUTPUT, target_fd, "PERF_EVENT_IOC_SET_OUTPUT")


def pause_output(fd: int, pause: bool) -> None:
    """PERF_EVENT_IOC_PAUSE_OUTPUT."""
    _do_ioctl(fd, IOC_PAUSE_OUTPUT, int(pause), "PERF_EVENT_IOC_PAUSE_OUTPUT")


def map_pages(fd: int, length: int, *, writable: bool = True, offset: int = 0, what: str = "ring") -> mmap.mmap:
    """mmap ``length`` bytes of an fd shared (perf ring, BPF ring buffer, mmapable array)."""
    prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
    try:
        return mmap.mmap(fd, length, mmap.MAP_SHARED, prot, offset=offset)
    except OSError as exc:
        raise KernelError(exc.errno or E.EINVAL, command="mmap", target=f"{what} (fd {fd}, {length} bytes)") from None


def set_cloexec(fd: int) -> None:
    """Mark an fd close-on-exec."""
    os.set_inheritable(fd, False)  # FD_CLOEXEC, without importing fcntl


# ---- kprobe and uprobe PMUs ---------------------------------------------------------------

PMU_DIR = "/sys/bus/event_source/devices"


@functools.cache
def pmu_type(name: str) -> int | None:
    """The type number of PMU ``name`` (``kprobe``, ``uprobe``) for perf_event_open; None without it."""
    try:
        with open(f"{PMU_DIR}/{name}/type") as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


@functools.cache
def retprobe_bit(name: str) -> int:
    """The config bit of ``retprobe`` in a PMU's format directory (``config:0``)."""
    try:
        with open(f"{PMU_DIR}/{name}/format/retprobe") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return 0
    if not text.startswith("config:"):
        return 0
    digits = ""
    for c in text[len("config:"):]:  # the bit, maybe followed by "-last": "config:0"
        if not ("0" <= c <= "9"):
            break
        digits += c
    return int(digits) if digits else 0


@functools.cache
def kprobe_support() -> str | None:
    """How this kernel offers kprobes: 'pmu', 'tracefs', or None when it has none."""
    if pmu_type("kprobe") is not None:
        return "pmu"
    try:
        root = ensure_tracefs()
    except OSError:
        return None
    return "tracefs" if os.path.exists(os.path.join(root, "kprobe_events")) else None


def open_kprobe_event(func: str, *, retprobe: bool, offset: int = 0) -> int:
    """A perf event fd of a kprobe (kretprobe) on ``func``+``offset`` from the kprobe PMU."""
    pmu = pmu_type("kprobe")
    if pmu is None:
        raise kprobe_missing(func, retprobe)
    target = f"{'kretprobe' if retprobe else 'kprobe'} {func}" + (f"+{offset}" if offset else "")
    name = ctypes.create_string_buffer(func.encode())
    attr = PerfEventAttr(type=pmu, sample_period=1, wakeup_events=1)
    attr.config = (1 << retprobe_bit("kprobe")) if retprobe else 0
    attr.config1 = ctypes.addressof(name)
    attr.config2 = offset
    return perf_event_open(attr, -1, 0, target=target)


def kprobe_missing(func: str, retprobe: bool) -> NotSupportedError:
    """The error of a kprobe asked of a kernel without kprobes."""
    kind = "kretprobe" if retprobe else "kprobe"
    return NotSupportedError(
        f"cannot attach {kind} to {func!r}: this kernel has no kprobes (CONFIG_KPROBES / "
        "CONFIG_KPROBE_EVENTS are off: no kprobe PMU and no tracefs kprobe_events); attach to a "
        "tracepoint, raw tracepoint or tp_btf instead, or fentry/fexit where trampolines are allowed",
        feature="kprobe",
    )
