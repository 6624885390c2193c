"""``bcc.syscall``: system call numbers and names of this machine (from the C library's <asm/unistd*.h>)."""

from __future__ import annotations

import functools
import os
import re

__all__ = ["syscall_name", "syscalls"]

_HEADERS = ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/aarch64-linux-gnu/asm/unistd.h",
            "/usr/include/asm/unistd_64.h", "/usr/include/asm-generic/unistd.h")


@functools.cache
def _table() -> dict[int, bytes]:
    for path in _HEADERS:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            found = {int(m.group(2)): m.group(1).encode() for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)\b", text)}
            if found:
                return found
    return {}


def syscall_name(syscall_num: int) -> bytes:
    """The name of system call ``syscall_num`` (b'[unknown: N]' when the headers do not say)."""
    return _table().get(int(syscall_num), f"[unknown: {syscall_num}]".encode())


syscalls: dict[int, bytes] = dict(_table())  # number -> name
