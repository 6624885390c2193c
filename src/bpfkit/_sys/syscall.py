"""The one chokepoint through which bpfkit calls bpf(2), and the errno table.

Everything that talks to the kernel goes through :func:`bpf` (or :func:`bpf_raw`
on hot paths that handle errno themselves); failures become exceptions of the
:mod:`bpfkit.errors` tree in :func:`error_for`, and nowhere else.
"""

from __future__ import annotations

import ctypes
import errno as E
import functools
import mmap
import os
import resource  # not lazily: an EPERM may come after the process dropped the rights to read it
from collections.abc import Callable

from .._uapi import Cmd
from ..arch import syscall_number
from ..errors import BpfPermissionError, KernelError, NotSupportedError
from . import privilege
from .libc import libc

__all__ = [
    "ENOTSUPP",
    "NR_BPF",
    "NR_PERF_EVENT_OPEN",
    "bpf",
    "bpf_bound",
    "bpf_raw",
    "error_for",
    "last_errno",
    "libc",
    "explain_eperm",
    "mmap_fd",
    "permission_hint",
    "syscall",
]

try:
    NR_BPF, NR_PERF_EVENT_OPEN = syscall_number("bpf"), syscall_number("perf_event_open")
except NotSupportedError as _exc:  # pragma: no cover - other architectures
    raise ImportError(f"bpfkit does not know the bpf(2) syscall number on {os.uname().machine}: {_exc}") from None

ENOTSUPP = 524  # kernel-internal errno that leaks to user space for unsupported operations

syscall = libc.syscall
syscall.restype = ctypes.c_long
syscall.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_ulong]
_get_errno = ctypes.get_errno

# Hot-path variants without argtypes (arguments are passed as ready ctypes objects, which
# skips per-call conversion). The PyDLL one keeps the GIL across the call: cheaper for the
# sub-microsecond element commands; the CDLL one releases it for commands that may sleep.
_syscall_gil = ctypes.PyDLL(None, use_errno=True).syscall
_syscall_gil.restype = ctypes.c_long
_syscall_nogil = ctypes.CDLL(None, use_errno=True).syscall
_syscall_nogil.restype = ctypes.c_long

last_errno: Callable[[], int] = ctypes.get_errno
"""The errno of the last failed call made through :func:`bpf_bound` (or any ctypes call) in this thread."""

# (command, errno) -> what that errno means for that command; (None, errno) for any command.
_MEANING: dict[tuple[int | None, int], str] = {
    (None, E.EBADF): "the file descriptor is closed or not a BPF object of the right kind",
    (None, E.E2BIG): "an argument is larger than the kernel accepts",
    (None, ENOTSUPP): "operation not supported for this object",
    (None, E.EOPNOTSUPP): "operation not supported for this object",
    (Cmd.MAP_CREATE, E.EINVAL): "the kernel rejected the map attributes (type, sizes, flags or BTF)",
    (Cmd.MAP_CREATE, E.ENOMEM): "not enough memory for the map (max_entries too large?)",
    (Cmd.MAP_UPDATE_ELEM, E.EEXIST): "the key already exists (NOEXIST)",
    (Cmd.MAP_UPDATE_ELEM, E.ENOENT): "the key does not exist (EXIST)",
    (Cmd.MAP_UPDATE_ELEM, E.E2BIG): "the map is full",
    (Cmd.MAP_UPDATE_ELEM, E.ENOSPC): "the map is full",
    (Cmd.MAP_UPDATE_ELEM, E.EINVAL): "invalid flags or value for this map type",
    (Cmd.MAP_UPDATE_ELEM, E.EPERM): "the map is frozen or not writable from user space",
    (Cmd.MAP_DELETE_ELEM, E.EINVAL): "elements of this map type cannot be deleted",
    (Cmd.MAP_DELETE_ELEM, E.ENOENT): "the key does not exist",
    (Cmd.MAP_LOOKUP_ELEM, E.ENOENT): "the key does not exist",
    (Cmd.MAP_LOOKUP_AND_DELETE_ELEM, E.ENOENT): "the map or key is empty",
    (Cmd.MAP_FREEZE, E.EBUSY): "the map is writable-mapped or already frozen",
    (Cmd.OBJ_GET, E.ENOENT): "no such pinned object",
    (Cmd.OBJ_PIN, E.EEXIST): "the path is already pinned",
    (Cmd.OBJ_PIN, E.EPERM): "the path is not on a bpf filesystem",
    (Cmd.MAP_GET_FD_BY_ID, E.ENOENT): "no map has this id",
    (Cmd.PROG_GET_FD_BY_ID, E.ENOENT): "no program has this id",
    (Cmd.LINK_GET_FD_BY_ID, E.ENOENT): "no link has this id",
    (Cmd.BTF_GET_FD_BY_ID, E.ENOENT): "no BTF object has this id",
    (Cmd.PROG_LOAD, E.EPERM): "the kernel refused to load this program",
    (Cmd.PROG_LOAD, E.EACCES): "the verifier rejected the program",
    (Cmd.PROG_LOAD, E.EINVAL): "the kernel rejected the program or its attributes",
}


def error_for(err: int, command: int, target: str | None = None, detail: str | None = None) -> KernelError:
    """Turn an errno of a bpf command into the right exception (the one errno table)."""
    try:
        cmd_name = "BPF_" + Cmd(command).name
    except ValueError:
        cmd_name = f"bpf command {command}"
    if detail is None:
        detail = _MEANING.get((command, err)) or _MEANING.get((None, err))
    # EACCES from BPF_PROG_LOAD is the verifier's verdict whoever loads (the kernel refuses a missing capability,
    # lockdown or a token's scope with EPERM): the loader retries it with a log, for any user
    verdict = (command, err) == (Cmd.PROG_LOAD, E.EACCES)
    if err in (E.EPERM, E.EACCES) and not verdict and (not _privileged() or (command, err) not in _MEANING):
        if err == E.EACCES and command in (Cmd.OBJ_PIN, Cmd.OBJ_GET):
            hint: str | None = _PIN_ACCESS_HINT  # file permissions on the bpffs, not a capability or lockdown
        else:
            hint = permission_hint(cmd_name, _CMD_CAPS.get(command, (_CAP_BPF,))) if err == E.EPERM else None
        return BpfPermissionError(err, command=cmd_name, target=target, detail=detail, hint=hint)
    return KernelError(err, command=cmd_name, target=target, detail=detail)


def _privileged() -> bool:
    """Root of the initial user namespace (whose EPERM is about the object, not a missing privilege)."""
    return os.geteuid() == 0 and privilege.in_initial_user_namespace()


_PIN_ACCESS_HINT = ("this process may not use that path of the bpffs (file permissions: /sys/fs/bpf is mode 700, "
                    "root's, by default): pin under a directory this user owns (made and chowned by root), or "
                    "mount a bpffs it may write")
_CAP_BPF, _CAP_SYS_ADMIN = 39, 21
# commands the kernel checks against CAP_SYS_ADMIN rather than CAP_BPF (walking every object of the system)
_CMD_CAPS: dict[int, tuple[int, ...]] = {
    c: (_CAP_SYS_ADMIN,) for c in (
        Cmd.MAP_GET_NEXT_ID, Cmd.PROG_GET_NEXT_ID, Cmd.LINK_GET_NEXT_ID, Cmd.BTF_GET_NEXT_ID,
        Cmd.MAP_GET_FD_BY_ID, Cmd.PROG_GET_FD_BY_ID, Cmd.LINK_GET_FD_BY_ID, Cmd.BTF_GET_FD_BY_ID,
    )
}


def explain_eperm(what: str, caps: tuple[int, ...], *, token_applies: bool = True) -> tuple[str, str]:
    """Why ``what`` was refused with EPERM: ("capability" | "lockdown" | "refused", the reason as a sentence).

    A capability in ``caps`` (those the kernel checks for it) this process lacks is
    the answer; with all of them, kernel lockdown is the likely one; else something
    bpfkit cannot see (an LSM, seccomp, a sysctl). ``token_applies=False``: the check
    is not bpf(2)'s (perf_event_open), so a BPF token grants nothing.
    """
    held = privilege.bpf_capable if token_applies else privilege.has_capability
    missing = [c for c in caps if not held(c)]
    if missing:
        names = " and ".join(privilege.capability_name(c) for c in missing)
        if not token_applies and not privilege.in_initial_user_namespace():
            return "capability", (f"{what} needs {names} in the initial user namespace, which a BPF token does not "
                                  "stand in for (the kernel checks it outside bpf(2)): run it outside the user "
                                  "namespace; BPF ring buffers and raw_tp, tp_btf and uprobe.multi attachments do "
                                  "without perf_event_open")
        if not privilege.in_initial_user_namespace() and privilege.token_in_use():
            return "capability", (f"{what} needs {names} in the initial user namespace, which the BPF token this "
                                  "process uses does not grant (a token stands in for CAP_BPF, CAP_PERFMON and "
                                  "CAP_NET_ADMIN only): run it outside the user namespace")
        if not privilege.in_initial_user_namespace():
            return "capability", (f"{what} needs {names} in the initial user namespace; this process runs in a user "
                                  "namespace, whose capabilities count only through a BPF token from a delegated "
                                  "bpffs (token=, $BPFKIT_BPF_TOKEN_PATH)")
        return "capability", (f"{what} needs {names}, which this process lacks: grant it (setcap, systemd "
                              "AmbientCapabilities=, a container's capabilities) or run as root")
    have = ", ".join(privilege.capability_name(c) for c in caps)
    mode = privilege.lockdown_mode()
    if mode not in (None, "none"):
        return "lockdown", (f"the kernel refuses {what} to this process, which has {have}: the kernel is locked down "
                            f"(lockdown={mode}, as under Secure Boot), the likely cause; a kernel booted without "
                            "lockdown allows it")
    return "refused", (f"the kernel refuses {what} though this process has {have} and the kernel is not locked "
                       "down: an LSM (SELinux, AppArmor), a seccomp filter or kernel.unprivileged_bpf_disabled "
                       "refuses it")


def permission_hint(what: str, caps: tuple[int, ...], *, token_applies: bool = True) -> str | None:
    """The fix to name in an EPERM error of ``what``: a missing capability or lockdown (None: no better guess)."""
    try:
        cause, why = explain_eperm(what, caps, token_applies=token_applies)
    except OSError:
        return None
    return None if cause == "refused" else why


def bpf_raw(cmd: int, attr_addr: int, size: int) -> int:
    """bpf(2) returning the result or ``-errno``; for hot paths that judge errno themselves."""
    r: int = syscall(NR_BPF, cmd, attr_addr, size)
    if r < 0:
        return -_get_errno()
    return r


def bpf_bound(cmd: int, attr: ctypes.Structure, *, hold_gil: bool = True) -> Callable[[], int]:
    """A zero-argument ``bpf(cmd, &attr, sizeof attr)`` for hot paths.

    Returns the raw result: >= 0 on success, -1 on failure with the errno in
    :func:`last_errno`. The caller keeps ``attr`` alive and fills it between calls.
    """
    f = _syscall_gil if hold_gil else _syscall_nogil
    return functools.partial(
        f,
        ctypes.c_long(NR_BPF),
        ctypes.c_long(cmd),
        ctypes.c_void_p(ctypes.addressof(attr)),
        ctypes.c_ulong(ctypes.sizeof(attr)),
    )


def mmap_fd(fd: int, length: int, *, writable: bool = True, offset: int = 0) -> mmap.mmap:
    """mmap(MAP_SHARED) ``length`` bytes of a BPF object fd (mmapable array, arena, ring buffer)."""
    prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
    return mmap.mmap(fd, length, flags=mmap.MAP_SHARED, prot=prot, offset=offset)


# commands whose memory kernels before 5.11 charge to RLIMIT_MEMLOCK (EPERM when it runs out)
_MEMLOCK_CHARGED = frozenset({Cmd.MAP_CREATE, Cmd.PROG_LOAD, Cmd.BTF_LOAD})
_memlock_raised = False


def _raise_memlock() -> bool:
    """Lift RLIMIT_MEMLOCK to infinity once, as libbpf does on kernels that charge BPF memory to it."""
    global _memlock_raised
    if _memlock_raised:
        return False
    _memlock_raised = True
    soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY:
        return False
    for limit in (resource.RLIM_INFINITY, hard):  # without CAP_SYS_RESOURCE, at least the hard limit
        if limit != soft:
            try:
                resource.setrlimit(resource.RLIMIT_MEMLOCK, (limit, limit))
                return True
            except (OSError, ValueError):
                pass
    return False


def bpf(cmd: int, attr: ctypes.Structure, *, target: str | None = None, retry_eagain: int = 0) -> int:
    """bpf(2) with a ctypes attr struct; raise a :class:`KernelError` on failure.

    An EPERM from creating a map, program or BTF object lifts RLIMIT_MEMLOCK
    and retries once: kernels before 5.11 charge BPF memory to that limit.
    """
    addr = ctypes.addressof(attr)
    size = ctypes.sizeof(attr)
    while True:
        r: int = syscall(NR_BPF, cmd, addr, size)
        if r >= 0:
            return r
        err = _get_errno()
        if err == E.EINTR or (err == E.EAGAIN and retry_eagain > 0):
            retry_eagain -= 1 if err == E.EAGAIN else 0
            continue
        if err == E.EPERM and cmd in _MEMLOCK_CHARGED and _raise_memlock():
            continue
        raise error_for(err, cmd, target)
