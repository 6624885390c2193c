"""PerfBuffer on the real kernel: samples from a hand-assembled raw_tp program run with test_run on each CPU."""

from __future__ import annotations

import asyncio
import ctypes
import os
import select
import struct
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ringbuf"))
import rb_progs as P  # the shared hand-assembled producers

from bpfkit import host
from bpfkit._sys import Fd
from bpfkit._uapi import MapType
from bpfkit.perf import PerfBuffer
from bpfkit.programs import Program
from bpfkit.testing import require

pytestmark = pytest.mark.kernel

REC = 64
RAW = 68  # 64 bytes + the u32 size, padded to 8: the kernel's raw size is 68
CPUS = host.online_cpus()


class Record(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("words", ctypes.c_uint64 * 7)]


@pytest.fixture
def env() -> Iterator[tuple[Fd, Fd, Program]]:
    """The perf event array (one slot per possible CPU), failure counters and the producer."""
    require("perf_events")  # a perf buffer is one perf event per CPU
    with P.create_map(MapType.PERF_EVENT_ARRAY, 4, 4, host.possible_cpus(), "events") as m, \
            P.counter_map() as ctr, P.perf_output_producer(m.fd, ctr.fd, REC) as prog:
        yield m, ctr, prog


def by_cpu(got: list[tuple[int, Any]]) -> dict[int, list[bytes]]:
    out: dict[int, list[bytes]] = {}
    for cpu, data in got:
        out.setdefault(cpu, []).append(bytes(data))
    return out


def expected(first: int, n: int, size: int = REC) -> list[bytes]:
    return [P.expected_record(first + i, size) for i in range(n)]


@pytest.mark.quick
def test_exact_records_per_cpu_in_order(env: tuple[Fd, Fd, Program]) -> None:
    m, ctr, prog = env
    got: list[tuple[int, bytes]] = []
    with PerfBuffer(m, lambda cpu, data: got.append((cpu, data)), size=REC) as pb:
        assert pb.cpus == CPUS
        for cpu in CPUS:
            assert P.run(prog, 40 + cpu, 1000 * cpu, cpu=cpu) == 40 + cpu
        assert pb.consume() == sum(40 + c for c in CPUS)
        assert by_cpu(got) == {c: expected(1000 * c, 40 + c) for c in CPUS}
        assert pb.records == len(got) and pb.lost == 0
        assert [r.records for r in pb.rings] == [40 + c for c in CPUS]
        assert P.read_counters(ctr)[0] == 0


def test_raw_samples_keep_the_kernel_padding(env: tuple[Fd, Fd, Program]) -> None:
    m, _, prog = env
    got: list[bytes] = []
    with PerfBuffer(m, lambda cpu, data: got.append(data)) as pb:
        P.run(prog, 3, cpu=CPUS[0])
        pb.consume()
    assert [len(d) for d in got] == [RAW] * 3
    assert [d[:REC] for d in got] == expected(0, 3)
    assert all(d[REC:] == b"\0\0\0\0" for d in got)


def test_lost_samples_are_reported(env: tuple[Fd, Fd, Program]) -> None:
    m, ctr, prog = env
    got: list[bytes] = []
    lost: list[tuple[int, int]] = []
    cpu = CPUS[-1]
    with PerfBuffer(m, lambda c, d: got.append(d), lambda c, n: lost.append((c, n)), page_count=1, size=REC) as pb:
        assert P.run(prog, 200, cpu=cpu) == 200
        failed = P.read_counters(ctr)[0]
        fits = host.page_size() // (8 + 4 + RAW)
        assert failed == 200 - fits
        assert pb.consume() == fits
        assert lost == []  # the kernel reports the loss with the next sample that fits
        P.run(prog, 1, 500, cpu=cpu)
        assert pb.consume() == 1
        assert lost == [(cpu, failed)]
        assert pb.lost == failed and pb.rings[CPUS.index(cpu)].lost == failed
        assert got == expected(0, fits) + expected(500, 1)


def test_lost_callback_exception_reports_once(env: tuple[Fd, Fd, Program]) -> None:
    m, ctr, prog = env
    cpu = CPUS[0]
    calls: list[int] = []

    def lost_cb(c: int, n: int) -> None:
        calls.append(n)
        raise RuntimeError("lost")

    with PerfBuffer(m, page_count=1, size=REC, lost_callback=lost_cb) as pb:
        P.run(prog, 100, cpu=cpu)
        assert len(pb.read_batch()) == host.page_size() // 80
        P.run(prog, 1, 500, cpu=cpu)
        with pytest.raises(RuntimeError):
            pb.read_batch()
        batch = pb.read_batch()  # the LOST record is behind us: reported once, then the sample
        assert [bytes(x) for x in batch] == expected(500, 1)
        assert calls == [P.read_counters(ctr)[0]] and pb.lost == calls[0]


def test_wrap_around_in_rounds(env: tuple[Fd, Fd, Program]) -> None:
    """One 4 KiB page per CPU and 80-byte records: records straddle the end and are copied whole."""
    m, ctr, prog = env
    got: list[bytes] = []
    with PerfBuffer(m, lambda c, d: got.append(d), page_count=1, size=REC) as pb:
        seq = 0
        for rnd in range(30):
            n = 17 + rnd % 5
            P.run(prog, n, seq, cpu=CPUS[0])
            assert pb.consume() == n
            seq += n
        assert got == expected(0, seq)
        assert seq * 80 > 10 * host.page_size()
        assert P.read_counters(ctr)[0] == 0


def test_poll_waits_for_a_producer(env: tuple[Fd, Fd, Program]) -> None:
    m, _, prog = env
    got: list[bytes] = []
    with PerfBuffer(m, lambda c, d: got.append(d), size=REC) as pb:
        assert pb.poll(timeout=0.02) == 0
        worker = threading.Thread(target=P.run, args=(prog, 5), kwargs={"cpu": CPUS[0]})
        worker.start()
        n = 0
        while n < 5:
            n += pb.poll(timeout=5.0)
        worker.join()
        assert got == expected(0, 5)


def test_callback_stop_and_exception(env: tuple[Fd, Fd, Program]) -> None:
    m, _, prog = env
    got: list[bytes] = []

    def cb(cpu: int, data: bytes) -> bool:
        got.append(data)
        if len(got) == 7:
            raise KeyError("boom")
        return len(got) == 3

    with PerfBuffer(m, cb, size=REC) as pb:
        P.run(prog, 10, cpu=CPUS[0])
        assert pb.consume() == 3
        with pytest.raises(KeyError):
            pb.consume()
        assert pb.consume() == 3
        assert got == expected(0, 10)


def test_iteration_and_asyncio(env: tuple[Fd, Fd, Program]) -> None:
    m, _, prog = env
    with PerfBuffer(m, type=Record) as pb:
        for cpu in CPUS:
            P.run(prog, 6, 100 * cpu, cpu=cpu)
        got = []
        for item in pb:
            got.append(item)
            if len(got) == 6 * len(CPUS):
                break
        assert sorted((cpu, rec.seq) for cpu, rec in got) == sorted((c, 100 * c + i) for c in CPUS for i in range(6))

        async def main() -> list[tuple[int, Any]]:
            # Several rounds: registering the epoll fd with the event loop polls the perf rings, which
            # consumes their wakeup; records that came just before must still be seen (a past hang).
            loop = asyncio.get_running_loop()
            out = []
            for rnd in range(10):
                producer = loop.run_in_executor(None, lambda r=rnd: P.run(prog, 8, 50 + 8 * r, cpu=CPUS[0]))
                async for item in pb:
                    out.append(item)
                    if len(out) == 8 * (rnd + 1):
                        break
                await producer
            return out

        items = asyncio.run(main())
        assert [(c, r.seq) for c, r in items] == [(CPUS[0], 50 + i) for i in range(80)]


def test_read_batch(env: tuple[Fd, Fd, Program]) -> None:
    m, _, prog = env
    with PerfBuffer(m, type=Record, page_count=2) as pb:
        for cpu in CPUS:
            P.run(prog, 30, 1000 * cpu, cpu=cpu)
        cpus, arr = pb.read_batch(with_cpu=True)
        assert isinstance(arr, np.recarray) and len(arr) == 30 * len(CPUS)
        assert list(zip(cpus.tolist(), arr.seq.tolist(), strict=True)) == [
            (c, 1000 * c + i) for c in CPUS for i in range(30)
        ]
        assert len(pb.read_batch()) == 0
    with PerfBuffer(m, page_count=1, size=REC) as pb:  # raw records across the end of a 1-page ring
        seq = 0
        for _ in range(12):
            P.run(prog, 21, seq, cpu=CPUS[0])
            batch = pb.read_batch()
            assert batch.dtype == np.dtype("V64")
            assert [bytes(x) for x in batch] == expected(seq, 21)
            seq += 21


def test_close_removes_the_cpus_from_the_map(env: tuple[Fd, Fd, Program]) -> None:
    m, ctr, prog = env
    with PerfBuffer(m) as pb:
        P.run(prog, 2, cpu=CPUS[0])
        assert pb.read_batch(max_records=5).size == 2
    assert P.read_counters(ctr)[0] == 0
    P.run(prog, 4, cpu=CPUS[0])
    assert P.read_counters(ctr)[0] == 4  # no event in the slot any more: every output fails


def test_wakeup_events_and_watermark(env: tuple[Fd, Fd, Program]) -> None:
    m, _, prog = env
    cpu = CPUS[0]

    def readable(pb: PerfBuffer, timeout: float) -> bool:
        return bool(select.select([pb.fileno()], [], [], timeout)[0])

    with PerfBuffer(m, wakeup_events=5, size=REC) as pb:
        P.run(prog, 4, cpu=cpu)
        assert not readable(pb, 0)
        P.run(prog, 1, 4, cpu=cpu)
        assert readable(pb, 10.0)
        assert len(pb.read_batch()) == 5
    with PerfBuffer(m, watermark=1024, size=REC) as pb:
        P.run(prog, 10, cpu=cpu)  # 800 bytes
        assert not readable(pb, 0)
        P.run(prog, 3, 10, cpu=cpu)  # 1040 bytes
        assert readable(pb, 10.0)
        assert len(pb.read_batch()) == 13


def test_options_are_checked(env: tuple[Fd, Fd, Program]) -> None:
    m, _, _ = env
    for bad in ({"page_count": 3}, {"page_count": 0}, {"watermark": 1 << 20}, {"wakeup_events": 0},
                {"cpus": [host.possible_cpus()]}, {"type": Record, "size": 8}):
        with pytest.raises(ValueError):
            PerfBuffer(m, **bad)  # type: ignore[arg-type]
    with P.ringbuf_map(4096) as rb, pytest.raises(TypeError):
        PerfBuffer(rb)
    with PerfBuffer(m, cpus=[CPUS[0]]) as pb:
        assert pb.cpus == [CPUS[0]]
        with pytest.raises(ValueError):
            pb.poll(0)  # no callback


def test_typed_sample_decoding(env: tuple[Fd, Fd, Program]) -> None:
    m, _, prog = env
    for rtype, check in ((Record, lambda v, s: v.seq == s), ("<QQ", lambda v, s: v == (s, (s << 8) | 1)),
                         ("u64", lambda v, s: v == s), (lambda b: struct.unpack_from("<Q", b)[0], lambda v, s: v == s),
                         # the type grammar of map keys and values (maps/codec.py), nothing less
                         ("u32[4]", lambda v, s: v == [s, 0, (s << 8) | 1, 0]), ("int", lambda v, s: v == s),
                         ("char[16]", lambda v, s: v == struct.pack("<QQ", s, (s << 8) | 1).rstrip(b"\0"))):
        got: list[Any] = []
        with PerfBuffer(m, lambda c, v: got.append(v), type=rtype) as pb:
            P.run(prog, 9, cpu=CPUS[0])
            assert pb.consume() == 9
        assert all(check(v, s) for s, v in enumerate(got)), rtype


def test_read_batch_into_out(env: tuple[Fd, Fd, Program]) -> None:
    m, _, prog = env
    out = np.zeros(100, np.dtype(Record))
    with PerfBuffer(m, type=Record, page_count=2) as pb:
        for cpu in CPUS:
            P.run(prog, 30, 1000 * cpu, cpu=cpu)
        cpus, arr = pb.read_batch(with_cpu=True, out=out)
        assert np.shares_memory(arr, out) and len(arr) == len(cpus) == 30 * len(CPUS)
        assert list(zip(cpus.tolist(), arr["seq"].tolist(), strict=True)) == [
            (c, 1000 * c + i) for c in CPUS for i in range(30)
        ]
        with pytest.raises(ValueError):
            P.run(prog, 1, cpu=CPUS[0])
            pb.read_batch(out=np.zeros(4, "V8"))
        assert pb.read_batch(out=out)["seq"].tolist() == [0]


def test_long_runs_stop_exactly_and_zero_copy_views_are_released(env: tuple[Fd, Fd, Program]) -> None:
    m, _, prog = env
    got: list[tuple[int, bytes]] = []

    def stop_at_45(cpu: int, rec: bytes) -> bool:
        got.append((cpu, rec[:REC]))
        return len(got) == 45

    with PerfBuffer(m, stop_at_45, page_count=4) as pb:
        P.run(prog, 100, cpu=CPUS[0])
        assert pb.consume() == 45
        assert pb.consume() == 55
        assert [r for _, r in got] == expected(0, 100)
    kept: list[memoryview] = []
    with PerfBuffer(m, lambda cpu, rec: kept.append(rec), page_count=4, zero_copy=True, size=REC) as pb:
        P.run(prog, 90, 7, cpu=CPUS[0])
        assert pb.consume() == 90
        assert len(kept) == 90
        for view in kept:
            with pytest.raises(ValueError):
                view.tobytes()
