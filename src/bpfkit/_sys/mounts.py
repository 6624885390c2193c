"""Mount bpffs and tracefs when a feature needs them and they are missing."""

from __future__ import annotations

import ctypes
import errno as E
import os

from ..errors import AccessError
from .libc import libc

__all__ = [
    "BPFFS", "DEBUGFS", "SECURITYFS", "TRACEFS_DIRS", "TRACEFS_FIX", "ensure_bpffs", "ensure_bpffs_for",
    "ensure_debugfs_tracing", "ensure_securityfs", "ensure_tracefs", "mount_points", "tracefs_access",
]

BPFFS = "/sys/fs/bpf"
SECURITYFS = "/sys/kernel/security"
TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
DEBUGFS = "/sys/kernel/debug"
_mount = libc.mount
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_mount.restype = ctypes.c_int


def mount_points(fstype: str) -> list[str]:
    """Mount points of ``fstype`` from /proc/self/mounts."""
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[2] == fstype:
                out.append(parts[1].replace("\\040", " "))
    return out


TRACEFS_FIX = ("run as root, or let this user read tracefs (mount -o remount,gid=GID,mode=0750 /sys/kernel/tracing); "
               "raw_tp and tp_btf programs attach without tracefs")
"""What to do when tracefs (tracepoint ids, kprobe/uprobe events, trace_pipe) is unreadable."""

_MOUNT_FIX = {
    "tracefs": "mount it where the tool runs (mount -t tracefs tracefs /sys/kernel/tracing; in a container, "
               "bind the host's /sys/kernel/tracing); raw_tp and tp_btf programs attach without tracefs",
    "bpf": "mount it where the tool runs (mount -t bpf bpffs /sys/fs/bpf; in a container, bind the host's "
           "/sys/fs/bpf)",
    "securityfs": "mount it (mount -t securityfs securityfs /sys/kernel/security)",
}


def _do_mount(source: str, target: str, fstype: str) -> None:
    try:
        os.makedirs(target, exist_ok=True)
    except PermissionError as exc:
        raise AccessError(f"{fstype} is not mounted and this process may not create {target} to mount it",
                          path=target, fix=_MOUNT_FIX.get(fstype)) from exc
    if _mount(source.encode(), target.encode(), fstype.encode(), 0, None) != 0:
        err = ctypes.get_errno()
        if err in (E.EPERM, E.EACCES):
            raise AccessError(f"{fstype} is not mounted at {target} and this process may not mount it "
                              f"(mount: {os.strerror(err)}; mounting needs CAP_SYS_ADMIN)", path=target,
                              fix=_MOUNT_FIX.get(fstype))
        raise OSError(err, f"mount -t {fstype} {source} {target}: {os.strerror(err)}")


def in_initial_user_namespace() -> bool:
    """True unless this process runs in a user namespace (its uid_map is not the whole identity map)."""
    try:
        with open("/proc/self/uid_map") as f:
            lines = f.read().split("\n")
    except OSError:
        return True
    rows = [line.split() for line in lines if line.strip()]
    return rows == [["0", "0", "4294967295"]]


def tracefs_user() -> str:
    """Who this process is to tracefs, for a refusal: a uid, and whether it is root only of a user namespace."""
    if in_initial_user_namespace():
        return f"uid {os.getuid()}"
    return f"uid {os.getuid()} of a user namespace, which tracefs does not count as root"


class tracefs_access:  # named as the function it replaces: ``with tracefs_access(what):``
    """Turn a PermissionError on a tracefs file inside the block into an AccessError naming ``what`` and the fix.

    A class, not ``@contextlib.contextmanager``: importing contextlib costs every start ~0.4 ms (issue 18).
    """

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, PermissionError) and not isinstance(exc, AccessError):
            raise AccessError(f"{self.what}: cannot open {exc.filename}: tracefs is readable only by root here "
                              f"(this process is {tracefs_user()})", path=exc.filename, fix=TRACEFS_FIX) from None


def ensure_bpffs(path: str = BPFFS) -> str:
    """Make sure a bpf filesystem is mounted at ``path``; mount it if not."""
    path = os.path.realpath(path)
    if path not in mount_points("bpf"):
        _do_mount("bpffs", path, "bpf")
    return path


def ensure_bpffs_for(pin_path: str) -> None:
    """Mount bpffs at /sys/fs/bpf if ``pin_path`` lies under it and nothing is mounted there."""
    full = os.path.realpath(pin_path)
    if (full == BPFFS or full.startswith(BPFFS + "/")) and BPFFS not in mount_points("bpf"):
        _do_mount("bpffs", BPFFS, "bpf")


def ensure_tracefs() -> str:
    """The tracefs directory (mounting tracefs at /sys/kernel/tracing when needed)."""
    mounted = mount_points("tracefs")
    for d in TRACEFS_DIRS:
        if d in mounted:
            return d
    if mounted:
        return mounted[0]
    for d in mount_points("debugfs"):
        cand = os.path.join(d, "tracing")
        if os.path.isdir(cand) and os.path.exists(os.path.join(cand, "events")):
            return cand
    _do_mount("tracefs", TRACEFS_DIRS[0], "tracefs")
    return TRACEFS_DIRS[0]


def ensure_securityfs() -> str:
    """The securityfs directory (mounting it at /sys/kernel/security when needed)."""
    mounted = mount_points("securityfs")
    if SECURITYFS in mounted:
        return SECURITYFS
    if mounted:
        return mounted[0]
    _do_mount("securityfs", SECURITYFS, "securityfs")
    return SECURITYFS


def ensure_debugfs_tracing() -> str:
    """/sys/kernel/debug/tracing, the tracefs path of older tools: mount debugfs (which mounts tracefs there) if needed."""
    tracing = TRACEFS_DIRS[1]
    if os.path.exists(os.path.join(tracing, "events")):
        return tracing
    if DEBUGFS not in mount_points("debugfs"):
        _do_mount("debugfs", DEBUGFS, "debugfs")
    if not os.path.exists(os.path.join(tracing, "events")):
        _do_mount("tracefs", tracing, "tracefs")
    return tracing
