"""Namespaces and the new mount API (fsopen/fsconfig/fsmount/move_mount): what BPF tokens are set up with.

A BPF token comes from a bpffs whose ``delegate_*`` options say which commands,
map and program types and attach types a user namespace may use. Only a process
privileged in the initial user namespace may set those options, so the usual
setup (the kernel selftests' prog_tests/token.c) is: the namespaced process
fsopen()s bpffs, hands the fs fd to a privileged one that fsconfig()s the
delegation and fsmount()s it, and gets the mount fd back.
"""

from __future__ import annotations

import ctypes
import os

from ..errors import KernelError
from .syscall import libc

__all__ = [
    "CLONE_NEWNS", "CLONE_NEWPID", "CLONE_NEWUSER", "delegate_bpffs", "fsconfig_create", "fsconfig_set_string",
    "fsmount", "fsopen", "move_mount", "unshare", "write_id_maps",
]

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000

# the same numbers on x86-64 and arm64 (added to every architecture's table at once in Linux 5.2)
_NR_MOVE_MOUNT, _NR_FSOPEN, _NR_FSCONFIG, _NR_FSMOUNT = 429, 430, 431, 432
_FSOPEN_CLOEXEC = 1
_FSMOUNT_CLOEXEC = 1
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6
_MOVE_MOUNT_F_EMPTY_PATH = 4
_AT_FDCWD = -100

_syscall = ctypes.CDLL(None, use_errno=True).syscall  # its own function object: variadic, no argtypes
_syscall.restype = ctypes.c_long


def _check(r: int, what: str, target: str | None) -> int:
    if r < 0:
        err = ctypes.get_errno()
        raise KernelError(err, command=what, target=target)
    return r


def unshare(flags: int) -> None:
    """unshare(2): move this process (this thread) into new namespaces."""
    fn = libc.unshare
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    _check(fn(flags), "unshare", f"namespaces {flags:#x}")


def write_id_maps(uid: int, gid: int) -> None:
    """Map root of a new user namespace to ``uid``/``gid`` outside (the self-mapping an unprivileged process may write)."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def fsopen(fstype: str) -> int:
    """fsopen(2): a filesystem context fd of ``fstype``, owned by this process's user namespace."""
    return _check(_syscall(ctypes.c_long(_NR_FSOPEN), ctypes.c_char_p(fstype.encode()),
                           ctypes.c_uint(_FSOPEN_CLOEXEC)), "fsopen", fstype)


def fsconfig_set_string(fs_fd: int, key: str, value: str) -> None:
    """fsconfig(FSCONFIG_SET_STRING): set mount option ``key`` to ``value``."""
    _check(_syscall(ctypes.c_long(_NR_FSCONFIG), ctypes.c_int(fs_fd), ctypes.c_uint(_FSCONFIG_SET_STRING),
                    ctypes.c_char_p(key.encode()), ctypes.c_char_p(value.encode()), ctypes.c_int(0)),
           "fsconfig", f"{key}={value}")


def fsconfig_create(fs_fd: int) -> None:
    """fsconfig(FSCONFIG_CMD_CREATE): create the superblock with the options set so far."""
    _check(_syscall(ctypes.c_long(_NR_FSCONFIG), ctypes.c_int(fs_fd), ctypes.c_uint(_FSCONFIG_CMD_CREATE),
                    ctypes.c_void_p(None), ctypes.c_void_p(None), ctypes.c_int(0)), "fsconfig", "create")


def fsmount(fs_fd: int) -> int:
    """fsmount(2): a detached mount of the created filesystem; returns its fd (the mount's root)."""
    return _check(_syscall(ctypes.c_long(_NR_FSMOUNT), ctypes.c_int(fs_fd), ctypes.c_uint(_FSMOUNT_CLOEXEC),
                           ctypes.c_uint(0)), "fsmount", None)


def move_mount(mnt_fd: int, path: str) -> None:
    """move_mount(2): attach the detached mount ``mnt_fd`` at ``path`` (in this mount namespace)."""
    _check(_syscall(ctypes.c_long(_NR_MOVE_MOUNT), ctypes.c_int(mnt_fd), ctypes.c_char_p(b""),
                    ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(os.fsencode(path)),
                    ctypes.c_uint(_MOVE_MOUNT_F_EMPTY_PATH)), "move_mount", path)


def delegate_bpffs(fs_fd: int, *, cmds: str = "any", maps: str = "any", progs: str = "any",
                   attachs: str = "any") -> int:
    """Set the delegate_* options of a bpffs context (needs privilege in the initial user namespace), create and
    mount it; returns the mount fd. Each option is ``any`` or a ``:``-separated list of names (``map_create:prog_load``)."""
    for key, value in (("delegate_cmds", cmds), ("delegate_maps", maps), ("delegate_progs", progs),
                       ("delegate_attachs", attachs)):
        if value:
            fsconfig_set_string(fs_fd, key, value)
    fsconfig_create(fs_fd)
    return fsmount(fs_fd)
