"""Hand-assembled programs and map reads shared by the link tests (no compiler needed to attach something)."""

from __future__ import annotations

import ctypes
import struct

from bpfkit._sys import Fd
from bpfkit._sys import commands as C


def ins(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte BPF instruction."""
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


RET0 = ins(0xB7) + ins(0x95)


def counter_prog(map_fd: int, ret: int = 0) -> bytes:
    """Atomically add 1 to element 0 of an array map, return ``ret``."""
    return (
        ins(0xB7, 1) + ins(0x63, 10, 1, -4)
        + ins(0x18, 1, 1, 0, map_fd) + ins(0)
        + ins(0xBF, 2, 10) + ins(0x07, 2, 0, 0, -4)
        + ins(0x85, 0, 0, 0, 1)
        + ins(0x15, 0, 0, 2, 0)
        + ins(0xB7, 1, 0, 0, 1) + ins(0xDB, 0, 1, 0, 0)
        + ins(0xB7, 0, 0, 0, ret) + ins(0x95)
    )


def read0(fd: Fd) -> int:
    """The u64 in element 0 of an array map (what counter_prog counts)."""
    k = ctypes.c_uint32(0)
    v = ctypes.c_uint64()
    C.map_lookup_elem(fd.fd, ctypes.addressof(k), ctypes.addressof(v))
    return v.value
