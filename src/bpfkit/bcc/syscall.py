"""``bcc.syscall``: system call numbers and names of this machine (bpfkit.arch's tables of its architecture)."""

from __future__ import annotations

import functools

from ..arch import syscall_names
from ..errors import NotSupportedError

__all__ = ["syscall_name", "syscalls"]


@functools.cache
def _table() -> dict[int, bytes]:
    try:
        return {nr: name.encode() for nr, name in syscall_names().items()}
    except NotSupportedError:  # an architecture bpfkit has no table of: every name is unknown
        return {}


def syscall_name(syscall_num: int) -> bytes:
    """The name of system call ``syscall_num`` (b'[unknown: N]' when this architecture has no such number)."""
    return _table().get(int(syscall_num), f"[unknown: {syscall_num}]".encode())


syscalls: dict[int, bytes] = dict(_table())  # number -> name
