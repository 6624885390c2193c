#!/usr/bin/env python3
"""Run a command in a new user namespace with a delegated bpffs, as a BPF-token user would.

    python3 matrix/token_launcher.py [--uid N] [--mount PATH] -- COMMAND...

Run as root (in the matrix guests). The child unshares a user and a mount namespace,
opens a bpffs context there (fsopen), and hands it to this parent, which alone may set
the delegate_* options (they need CAP_SYS_ADMIN in the initial namespace) and create the
superblock. The child mounts it over PATH (default /sys/fs/bpf), becomes uid 0 of its
namespace (uid N outside, default 65534), checks that BPF_TOKEN_CREATE works, and execs
COMMAND with LIBBPF_BPF_TOKEN_PATH and BPFKIT_BPF_TOKEN_PATH naming the mount. It has
every capability in its own namespace and none in the initial one: only the token lets
it use bpf(2). Exit status 125 (and one line on stderr) when the kernel cannot do this.

Only the standard library: this runs inside the guest before anything of bpfkit.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import socket
import struct
import sys
from collections.abc import Sequence

UNAVAILABLE = 125  # the environment could not be made (the matrix reports it as such)

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
# x86_64 syscall numbers of the new mount API (Linux 5.2) and bpf(2)
SYS_BPF, SYS_MOVE_MOUNT, SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 321, 429, 430, 431, 432
FSOPEN_CLOEXEC, FSMOUNT_CLOEXEC = 1, 1
FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE = 1, 6
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
BPF_TOKEN_CREATE = 36  # Linux 6.9
DELEGATE = ("delegate_cmds", "delegate_maps", "delegate_progs", "delegate_attachs")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class Unavailable(Exception):
    """The kernel (or this process) cannot set up the token environment; the message says why."""


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise Unavailable(f"{what}: {os.strerror(err)} (errno {err})")
    return ret


def _syscall(nr: int, *args: object, what: str) -> int:
    return _check(int(_libc.syscall(nr, *args)), what)


def _unshare(flags: int, what: str) -> None:
    _check(int(_libc.unshare(flags)), what)


def _send(sock: socket.socket, msg: bytes, fd: int | None = None) -> None:
    socket.send_fds(sock, [msg], [fd] if fd is not None else [])


def _recv(sock: socket.socket) -> tuple[bytes, int | None]:
    msg, fds, _flags, _addr = socket.recv_fds(sock, 4096, 1)
    return msg, (fds[0] if fds else None)


def _fail_over(sock: socket.socket, exc: Exception) -> None:
    _send(sock, b"E" + str(exc).encode())


def child(sock: socket.socket, mount: str, argv: Sequence[str]) -> int:
    """In the new namespaces: get the delegated bpffs mounted, check the token, exec argv."""
    try:
        _unshare(CLONE_NEWUSER, "unshare(CLONE_NEWUSER)")
        _send(sock, b"U")  # the parent writes our uid and gid maps
        msg, _ = _recv(sock)
        if msg != b"M":
            raise Unavailable(msg[1:].decode(errors="replace"))
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        _unshare(CLONE_NEWNS, "unshare(CLONE_NEWNS)")
        _check(int(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)), "make / private")
        fs_fd = _syscall(SYS_FSOPEN, b"bpf", FSOPEN_CLOEXEC,
                         what="fsopen('bpf') in a user namespace (bpffs is mountable there from Linux 6.9)")
        _send(sock, b"F", fs_fd)
        msg, mnt_fd = _recv(sock)
        if msg != b"T" or mnt_fd is None:
            raise Unavailable(msg[1:].decode(errors="replace"))
        _syscall(SYS_MOVE_MOUNT, mnt_fd, b"", AT_FDCWD, mount.encode(), MOVE_MOUNT_F_EMPTY_PATH,
                 what=f"move_mount of the delegated bpffs onto {mount}")
        os.close(mnt_fd)
        os.close(fs_fd)
        bpffs = os.open(mount, os.O_RDONLY | os.O_DIRECTORY)
        attr = struct.pack("=II", 0, bpffs) + bytes(8)
        token = _syscall(SYS_BPF, BPF_TOKEN_CREATE, attr, len(attr),
                         what=f"BPF_TOKEN_CREATE from {mount} (BPF tokens are in Linux 6.9)")
        os.close(token)
        os.close(bpffs)
    except (Unavailable, OSError) as exc:
        print(f"matrix-env token: {exc}", file=sys.stderr, flush=True)
        return UNAVAILABLE
    sock.close()
    env = dict(os.environ, LIBBPF_BPF_TOKEN_PATH=mount, BPFKIT_BPF_TOKEN_PATH=mount)
    os.execvpe(argv[0], list(argv), env)


def parent(sock: socket.socket, pid: int, uid: int) -> None:
    """Outside: map the child's uid 0 to ``uid``, set the delegation options, create the mount."""
    try:
        msg, _ = _recv(sock)
        if msg != b"U":
            return
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(f"0 {uid} 1\n")
        _send(sock, b"M")
        msg, fs_fd = _recv(sock)
        if msg != b"F" or fs_fd is None:
            return
        for key in DELEGATE:
            _syscall(SYS_FSCONFIG, fs_fd, FSCONFIG_SET_STRING, key.encode(), b"any", 0,
                     what=f"bpffs option {key}=any (delegation is in Linux 6.9)")
        _syscall(SYS_FSCONFIG, fs_fd, FSCONFIG_CMD_CREATE, None, None, 0, what="create the delegated bpffs")
        mnt_fd = _syscall(SYS_FSMOUNT, fs_fd, FSMOUNT_CLOEXEC, 0, what="fsmount the delegated bpffs")
        os.close(fs_fd)
        _send(sock, b"T", mnt_fd)
        os.close(mnt_fd)
    except (Unavailable, OSError) as exc:
        _fail_over(sock, exc)


def main(argv: Sequence[str]) -> int:
    """Entry point: fork, set up both sides, and return the command's exit status."""
    ap = argparse.ArgumentParser(prog="token_launcher.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--uid", type=int, default=65534, help="the uid (and gid) outside that is root inside")
    ap.add_argument("--mount", default="/sys/fs/bpf", help="where the delegated bpffs is mounted")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("matrix-env token: the launcher must run as root", file=sys.stderr)
        return UNAVAILABLE
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        ours.close()
        os._exit(child(theirs, args.mount, args.command))
    theirs.close()
    parent(ours, pid, args.uid)
    ours.close()
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # a signal, as a shell reports it


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
