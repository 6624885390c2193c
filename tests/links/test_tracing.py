"""Tracing links on the real kernel: tracepoint, raw tracepoint, tp_btf, fentry refusal, iterators."""

from __future__ import annotations

import ctypes
import struct
import subprocess
from collections.abc import Iterator

import pytest

from bpfkit import host
from bpfkit._sys import Fd
from bpfkit._sys import commands as C
from bpfkit._uapi import LinkType, MapType
from bpfkit.btf import BtfKind
from bpfkit.errors import NotSupportedError
from bpfkit.links import Iterator_, attach_iter, attach_program, attach_tracepoint, attach_trampoline
from bpfkit.programs import Program

pytestmark = pytest.mark.kernel


def ins(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


RET0 = ins(0xB7) + ins(0x95)


def counter_prog(map_fd: int) -> bytes:
    """Atomically add 1 to element 0 of an array map."""
    return (
        ins(0xB7, 1) + ins(0x63, 10, 1, -4)
        + ins(0x18, 1, 1, 0, map_fd) + ins(0)
        + ins(0xBF, 2, 10) + ins(0x07, 2, 0, 0, -4)
        + ins(0x85, 0, 0, 0, 1)
        + ins(0x15, 0, 0, 2, 0)
        + ins(0xB7, 1, 0, 0, 1) + ins(0xDB, 0, 1, 0, 0)
        + ins(0xB7, 0) + ins(0x95)
    )


@pytest.fixture
def counter() -> Iterator[Fd]:
    with Fd(C.map_create(MapType.ARRAY, 4, 8, 1, name="cnt"), "map") as fd:
        yield fd


def read0(fd: Fd) -> int:
    k = ctypes.c_uint32(0)
    v = ctypes.c_uint64()
    C.map_lookup_elem(fd.fd, ctypes.addressof(k), ctypes.addressof(v))
    return v.value


def run_true(n: int) -> None:
    for _ in range(n):
        subprocess.run(["/bin/true"], check=True)


def test_tracepoint_counts_execs(counter: Fd) -> None:
    with Program.load("tracepoint", counter_prog(counter.fd), name="cnt_exec") as p:
        with attach_tracepoint(p, "sched", "sched_process_exec") as link:
            run_true(5)
            assert link.info().type == LinkType.PERF_EVENT
        run_true(2)
    assert read0(counter) >= 5
    assert read0(counter) < 5 + 50  # detached: later execs of this test are not counted


def test_raw_tracepoint_counts_execs(counter: Fd) -> None:
    with Program.load("raw_tracepoint", counter_prog(counter.fd), name="cnt_raw") as p:
        p.attach_target = "sched_process_exec"
        with attach_program(p) as link:
            run_true(3)
            assert link.info().type == LinkType.RAW_TRACEPOINT
    before = read0(counter)
    assert before >= 3
    run_true(2)
    assert read0(counter) == before


def test_missing_tracepoint_is_enoent() -> None:
    with Program.load("tracepoint", RET0, name="nope") as p:
        with pytest.raises(OSError) as ei:
            attach_tracepoint(p, "sched", "no_such_tracepoint")
        assert ei.value.errno == 2


def test_tp_btf_attaches() -> None:
    btf = host.vmlinux_btf()
    tid = btf.find("btf_trace_sched_process_exec", BtfKind.TYPEDEF)[0]
    with Program.load("tracing", RET0, name="tpbtf", expected_attach_type="trace_raw_tp", attach_btf_id=tid) as p:
        with attach_trampoline(p) as link:
            assert link.info().type == LinkType.RAW_TRACEPOINT


def test_iterator_link_reads() -> None:
    btf = host.vmlinux_btf()
    fid = btf.find("bpf_iter_task", BtfKind.FUNC)[0]
    with Program.load("tracing", RET0, name="it", expected_attach_type="trace_iter", attach_btf_id=fid) as p:
        with Iterator_(attach_iter(p)) as it:
            assert it.read() == b""
            assert it.link.info().type == LinkType.ITER


def test_fentry_refusal_is_clear() -> None:
    btf = host.vmlinux_btf()
    fid = btf.find("do_nanosleep", BtfKind.FUNC)[0]
    try:
        p = Program.load("tracing", RET0, name="fent", expected_attach_type="trace_fentry", attach_btf_id=fid)
    except NotSupportedError as exc:
        assert exc.feature == "trampoline"
        return
    with p, attach_trampoline(p) as link:  # a kernel with trampolines attaches for real
        assert link.info().type == LinkType.TRACING
