"""Helpers for map tests: trivial programs, perf events, sockets, cgroups, BTF (all closed after use)."""

from __future__ import annotations

import ctypes
import os
import socket
import struct

import pytest

from bpfkit._sys import Fd
from bpfkit._sys import commands as C
from bpfkit._sys.attrs import ProgLoadAttr
from bpfkit._sys.syscall import NR_PERF_EVENT_OPEN
from bpfkit._uapi import ProgType
from bpfkit.features import TRIVIAL_PROGRAM


def load_raw(prog_type: ProgType, insns: bytes, name: str = "test") -> Fd:
    """Load raw instruction bytes (the asm package is someone else's); the caller closes the Fd."""
    buf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)
    a = ProgLoadAttr(prog_type=int(prog_type), insn_cnt=len(insns) // 8, insns=ctypes.addressof(buf),
                     license=ctypes.addressof(lic), prog_name=name.encode(), log_level=1, log_size=len(log),
                     log_buf=ctypes.addressof(log))
    return Fd(C.prog_load(a), "program")


def load_trivial(prog_type: ProgType = ProgType.SOCKET_FILTER, name: str = "trivial") -> Fd:
    """Load ``r0 = 0; exit`` as ``prog_type``; the caller closes the Fd."""
    return load_raw(prog_type, TRIVIAL_PROGRAM, name)


class Prog:
    """A stand-in for bpfkit.Program: anything with ``.fd`` works as a prog array value."""

    def __init__(self, fd: Fd) -> None:
        self._fd = fd

    @property
    def fd(self) -> int:
        return self._fd.fd

    def close(self) -> None:
        self._fd.close()


def prog_id(fd: int) -> int:
    from bpfkit._sys.attrs import ProgInfo

    info = ProgInfo()
    C.obj_get_info_by_fd(fd, info)
    return int(info.id)


_libc = ctypes.CDLL(None, use_errno=True)


def perf_event_open_bpf_output(cpu: int) -> Fd:
    """A PERF_COUNT_SW_BPF_OUTPUT event on ``cpu`` (what perf event arrays hold)."""
    # struct perf_event_attr: type, size, config, sample_period, sample_type, read_format, flags ... (128 B)
    PERF_TYPE_SOFTWARE, PERF_COUNT_SW_BPF_OUTPUT, PERF_SAMPLE_RAW = 1, 10, 1 << 10
    attr = bytearray(128)
    struct.pack_into("=IIQQQQQ", attr, 0, PERF_TYPE_SOFTWARE, 128, PERF_COUNT_SW_BPF_OUTPUT, 1, PERF_SAMPLE_RAW, 0, 0)
    buf = ctypes.create_string_buffer(bytes(attr), 128)
    fd = _libc.syscall(NR_PERF_EVENT_OPEN, buf, -1, cpu, -1, ctypes.c_ulong(8))  # PERF_FLAG_FD_CLOEXEC
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return Fd(fd, "perf event")


def tcp_pair() -> tuple[socket.socket, socket.socket, socket.socket]:
    """(listener, client, server) connected over loopback; close all three."""
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    cli = socket.create_connection(lst.getsockname())
    srv, _ = lst.accept()
    return lst, cli, srv


def socket_cookie(s: socket.socket) -> int:
    SO_COOKIE = 57
    return int.from_bytes(s.getsockopt(socket.SOL_SOCKET, SO_COOKIE, 8), "little")


def cgroup2_root() -> str:
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if parts[2] == "cgroup2":
                return parts[1]
    pytest.skip("no cgroup2 mount on this machine")
    raise AssertionError
