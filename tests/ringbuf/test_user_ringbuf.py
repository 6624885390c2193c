"""UserRingBuffer on the real kernel: Python writes, a raw_tp program drains with bpf_user_ringbuf_drain."""

from __future__ import annotations

import ctypes
import struct
import threading
from collections.abc import Iterator

import pytest
import rb_progs as P

from bpfkit._sys import Fd
from bpfkit._uapi import MapType
from bpfkit.programs import Program
from bpfkit.ringbuf import UserRingBuffer
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


@pytest.fixture
def setup() -> Iterator[tuple[Fd, Fd, Program]]:
    """A 4 KiB user ring, the accumulator array (sum, count) and the draining program."""
    require("map:user_ringbuf")
    with P.create_map(MapType.USER_RINGBUF, 0, 0, 4096, "urb") as m, P.counter_map(2, "acc") as acc, \
            P.user_ringbuf_drain(m.fd, acc.fd) as prog:
        yield m, acc, prog


def drain(prog: Program) -> int:
    return prog.test_run(ctx=b"\0" * 8, ctx_out_size=0).retval


def test_written_samples_reach_the_program(setup: tuple[Fd, Fd, Program]) -> None:
    m, acc, prog = setup
    with UserRingBuffer(m) as urb:
        values = [3, 1 << 40, 12345, 7]
        for v in values:
            urb.write(struct.pack("<Q", v))
        assert urb.submitted == 4
        assert drain(prog) == 4
        assert P.read_counters(acc) == [sum(values), 4]
        assert drain(prog) == 0
        assert urb.available == urb.size


def test_reserve_submit_discard_in_any_order(setup: tuple[Fd, Fd, Program]) -> None:
    m, acc, prog = setup
    with UserRingBuffer(m) as urb:
        a = urb.reserve(8)
        b = urb.reserve(16)
        c = urb.reserve(8)
        a[:] = struct.pack("<Q", 100)
        b[:8] = struct.pack("<Q", 20)
        c[:] = struct.pack("<Q", 3)
        urb.submit(c)
        assert drain(prog) == 0  # a is still reserved (BUSY): nothing behind it is consumed
        urb.discard(b)
        urb.submit(a)
        assert drain(prog) == 2  # b was discarded: skipped by the kernel
        assert P.read_counters(acc) == [103, 2]
        with pytest.raises(ValueError):
            a[0] = 1  # released on submit
        with pytest.raises(ValueError):
            urb.submit()  # nothing reserved


def test_submit_without_argument_takes_the_oldest(setup: tuple[Fd, Fd, Program]) -> None:
    m, acc, prog = setup
    with UserRingBuffer(m) as urb:
        first = urb.reserve(8)
        second = urb.reserve(8)
        first[:] = struct.pack("<Q", 5)
        second[:] = struct.pack("<Q", 6)
        urb.submit()
        assert drain(prog) == 1
        urb.submit()
        assert drain(prog) == 1
        assert P.read_counters(acc) == [11, 2]


def test_wrap_around_in_rounds(setup: tuple[Fd, Fd, Program]) -> None:
    m, acc, prog = setup
    total = 0
    count = 0
    with UserRingBuffer(m) as urb:
        for rnd in range(100):
            for i in range(9):  # 9 samples of 40 bytes (48 in the ring) per round
                v = rnd * 100 + i
                urb.write(struct.pack("<Q", v) + bytes(32))
                total += v
                count += 1
            assert drain(prog) == 9
        assert P.read_counters(acc) == [total, count]
        assert count * 48 > 10 * urb.size


def test_full_ring_times_out(setup: tuple[Fd, Fd, Program]) -> None:
    m, _, _ = setup
    with UserRingBuffer(m) as urb:
        n = 0
        while urb.available >= 64:
            urb.write(bytes(56))
            n += 1
        assert n == 4096 // 64
        with pytest.raises(TimeoutError):
            urb.reserve(56)
        with pytest.raises(TimeoutError):
            urb.reserve(56, timeout=0.05)
        with pytest.raises(ValueError):
            urb.reserve(4096)  # could never fit


def test_waiting_for_space_wakes_when_the_program_drains(setup: tuple[Fd, Fd, Program]) -> None:
    m, acc, prog = setup
    with UserRingBuffer(m) as urb:
        while urb.available >= 16:
            urb.write(struct.pack("<Q", 1))
        filled = urb.submitted
        start = threading.Event()

        def consumer() -> None:
            start.wait()
            drain(prog)

        worker = threading.Thread(target=consumer)
        worker.start()
        start.set()
        view = urb.reserve(8, timeout=30.0)  # blocks in epoll until the drain frees space
        view[:] = struct.pack("<Q", 1)
        urb.submit(view)
        worker.join()
        assert drain(prog) >= 1
        assert P.read_counters(acc) == [filled + 1, filled + 1]


def test_write_accepts_buffers(setup: tuple[Fd, Fd, Program]) -> None:
    m, acc, prog = setup

    class Sample(ctypes.Structure):
        _fields_ = [("value", ctypes.c_uint64), ("pad", ctypes.c_uint32)]

    with UserRingBuffer(m) as urb:
        urb.write(Sample(41, 0))
        urb.write(bytearray(struct.pack("<Q", 1)))
        urb.write(memoryview(struct.pack("<QQ", 100, 0)).cast("Q"))
        assert drain(prog) == 3
        assert P.read_counters(acc) == [142, 3]


def test_close_discards_pending_reservations(setup: tuple[Fd, Fd, Program]) -> None:
    m, acc, prog = setup
    urb = UserRingBuffer(m)
    urb.reserve(8)
    urb.close()
    urb.close()
    with pytest.raises(ValueError):
        urb.reserve(8)
    with UserRingBuffer(m) as again:
        again.write(struct.pack("<Q", 9))
    assert drain(prog) == 1  # the abandoned reservation was discarded, not left BUSY
    assert P.read_counters(acc) == [9, 1]


def test_wrong_map_type() -> None:
    with P.ringbuf_map(4096) as m, pytest.raises(TypeError):
        UserRingBuffer(m)
