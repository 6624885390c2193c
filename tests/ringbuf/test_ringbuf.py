"""RingBuffer on the real kernel: records produced by hand-assembled raw_tp programs run with test_run."""

from __future__ import annotations

import asyncio
import ctypes
import struct
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import rb_progs as P

from bpfkit import _bufreader as bufreader
from bpfkit import features
from bpfkit import ringbuf as RB
from bpfkit._sys import Fd
from bpfkit._uapi import MapType
from bpfkit.maps import as_plain, make_codec
from bpfkit.programs import Program
from bpfkit.ringbuf import RingBuffer
from bpfkit.testing import require

pytestmark = pytest.mark.kernel

REC = 64
STRIDE = 72  # 8-byte header + 64 bytes


class Record(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("words", ctypes.c_uint64 * 7)]


@pytest.fixture
def counters() -> Iterator[Fd]:
    with P.counter_map() as fd:
        yield fd


def small_ring(size: int = 4096, name: str = "rb") -> Fd:
    return P.ringbuf_map(size, name)


def seqs(records: list[Any]) -> list[int]:
    return [struct.unpack_from("<Q", r)[0] for r in records]


def check_records(records: list[Any], first: int, size: int = REC) -> None:
    assert [bytes(r) for r in records] == [P.expected_record(first + i, size) for i in range(len(records))]


@pytest.mark.quick
def test_exactly_n_records_in_order(counters: Fd) -> None:
    got: list[bytes] = []
    with small_ring(1 << 16) as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, \
            RingBuffer(m, got.append) as rb:
        assert P.run(prog, 500) == 500
        assert rb.consume() == 500
        assert rb.consume() == 0
        check_records(got, 0)
        assert rb.records == 500 and rb.rings[0].records == 500
        assert rb.discarded == 0
        assert rb.rings[0].pending == 0
        assert P.read_counters(counters) == [0, 0]


def test_poll_delivers_and_times_out(counters: Fd) -> None:
    got: list[bytes] = []
    with small_ring() as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, RingBuffer(m, got.append) as rb:
        assert rb.poll(timeout=0) == 0
        assert rb.poll(timeout=0.05) == 0
        P.run(prog, 10)
        assert rb.poll(timeout=1.0) == 10
        check_records(got, 0)


def test_wrap_around_in_rounds(counters: Fd) -> None:
    """4 KiB ring, 72-byte records (which do not divide 4096): records straddle the end and are whole."""
    got: list[bytes] = []
    with small_ring(4096) as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, RingBuffer(m, got.append) as rb:
        seq = 0
        for rnd in range(25):
            n = 20 + rnd % 7
            assert P.run(prog, n, seq) == n
            assert rb.poll(timeout=1.0) == n
            seq += n
        assert rb.rings[0].consumer_pos == seq * STRIDE > 10 * 4096
        check_records(got, 0)
        assert P.read_counters(counters)[0] == 0


def test_overfill_counts_failed_outputs(counters: Fd) -> None:
    got: list[bytes] = []
    with small_ring(4096) as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, RingBuffer(m, got.append) as rb:
        assert P.run(prog, 200) == 200
        fits = 4096 // STRIDE
        failed = P.read_counters(counters)[0]
        assert failed == 200 - fits
        assert rb.consume() == fits
        check_records(got, 0)
        P.run(prog, 30, 1000)  # room again once consumed
        assert rb.consume() == 30
        check_records(got[fits:], 1000)
        assert P.read_counters(counters)[0] == failed


def test_discarded_records_are_skipped(counters: Fd) -> None:
    got: list[bytes] = []
    with small_ring(4096) as m, P.ringbuf_reserve_producer(m.fd, counters.fd, discard_every=3) as prog, \
            RingBuffer(m, got.append) as rb:
        for rnd in range(6):  # several rounds so that discarded records also wrap
            assert P.run(prog, 30, rnd * 30) == 30
            rb.consume()
        expected = [s for s in range(180) if s % 3]
        assert seqs(got) == expected
        assert [bytes(r) for r in got] == [P.expected_record(s, REC) for s in expected]
        assert rb.discarded == 60 and rb.records == 120
        assert rb.rings[0].pending == 0


def test_busy_record_holds_back_later_ones() -> None:
    """A reserved, uncommitted record (BUSY) stops the reader even though the next one is committed."""
    require("helper:loop")  # the producer spins in bpf_loop while user space looks at the ring
    with small_ring() as m, P.counter_map(1, "flag") as flag, P.ringbuf_busy_producer(m.fd, flag.fd) as prog, \
            RingBuffer(m) as rb:
        ring = rb.rings[0]
        early_polled: list[bytes] = []
        result: list[int] = []
        worker = threading.Thread(target=lambda: result.append(prog.test_run(ctx=b"\0" * 8, ctx_out_size=0).retval))
        worker.start()
        try:
            while ring.producer_pos < 2 * 24:  # both records reserved; A still busy, B committed
                pass
            early = rb.read_batch()
            ring.callback = early_polled.append
            polled = rb.poll(timeout=0.02)  # readable (data reserved) yet nothing to deliver
            still_busy = worker.is_alive()
        finally:
            P.write_counters(flag, [1])
            worker.join()
        assert result == [1], "the program must have been released by the flag, not by its spin running out"
        assert still_busy
        assert len(early) == 0 and polled == 0 and early_polled == []
        after = rb.read_batch()
        assert [struct.unpack_from("<Q", bytes(r))[0] for r in after] == [0, 1]


def test_several_rings_on_one_reader(counters: Fd) -> None:
    a_got: list[bytes] = []
    b_got: list[bytes] = []
    with small_ring(1 << 14, "rb_a") as ma, small_ring(1 << 14, "rb_b") as mb, \
            P.ringbuf_output_producer(ma.fd, counters.fd) as pa, P.ringbuf_output_producer(mb.fd, counters.fd, 24) as pb, \
            RingBuffer(ma, a_got.append) as rb:
        ring_b = rb.add(mb, b_got.append)
        assert [r.name for r in rb.rings] == ["rb_a", "rb_b"]
        P.run(pa, 7)
        P.run(pb, 11, 100)
        total = 0
        while total < 18:
            total += rb.poll(timeout=1.0)
        assert total == 18
        check_records(a_got, 0)
        check_records(b_got, 100, 24)
        assert ring_b.records == 11 and rb.records == 18
        with pytest.raises(ValueError):
            rb.add(ma)


def test_callback_true_result_stops_and_exception_propagates(counters: Fd) -> None:
    got: list[bytes] = []

    def stop_at_5(rec: bytes) -> int:
        got.append(rec)
        return 1 if len(got) == 5 else 0

    with small_ring() as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, RingBuffer(m, stop_at_5) as rb:
        P.run(prog, 20)
        assert rb.consume() == 5
        assert rb.consume() == 15
        check_records(got, 0)

        def boom(rec: bytes) -> None:
            got.append(rec)
            if len(got) == 23:
                raise RuntimeError("stop here")

        rb.rings[0].callback = boom
        P.run(prog, 10, 20)
        with pytest.raises(RuntimeError):
            rb.consume()
        assert rb.records == 23  # the record that raised counts as consumed
        assert rb.consume() == 7
        check_records(got, 0)


def test_iteration_resumes_without_loss(counters: Fd) -> None:
    with small_ring() as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, RingBuffer(m) as rb:
        P.run(prog, 10)
        first = []
        for rec in rb:
            first.append(rec)
            if len(first) == 4:
                break
        rest = []
        for rec in rb:
            rest.append(rec)
            if len(rest) == 6:
                break
        check_records(first + rest, 0)
        assert rb.rings[0].pending == 0


def test_iteration_waits_for_a_producer(counters: Fd) -> None:
    with small_ring() as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, RingBuffer(m) as rb:
        worker = threading.Thread(target=P.run, args=(prog, 3))
        worker.start()
        got = []
        for rec in rb:
            got.append(rec)
            if len(got) == 3:
                break
        worker.join()
        check_records(got, 0)


def test_asyncio_iteration(counters: Fd) -> None:
    async def main(rb: RingBuffer, prog: Program) -> list[bytes]:
        loop = asyncio.get_running_loop()
        got: list[bytes] = []
        producer = loop.run_in_executor(None, P.run, prog, 40)
        async for rec in rb:
            got.append(rec)
            if len(got) == 40:
                break
        await producer
        P.run(prog, 5, 40)
        async for rec in rb.aiter():
            got.append(rec)
            if len(got) == 45:
                break
        return got

    with small_ring() as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, RingBuffer(m) as rb:
        check_records(asyncio.run(main(rb, prog)), 0)


def test_typed_records(counters: Fd) -> None:
    with small_ring(1 << 14) as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog:
        cases: list[tuple[object, Any]] = [
            (Record, lambda v, s: v.seq == s and list(v.words) == [(s << 8) | k for k in range(1, 8)]),
            ("<Q56x", lambda v, s: v == s),  # one field: a scalar, as for map values
            (struct.Struct("<QQ"), lambda v, s: v == (s, (s << 8) | 1)),
            ("u64", lambda v, s: v == s),
            (ctypes.c_uint32, lambda v, s: v == s),
            (np.dtype([("seq", "<u8"), ("w1", "<u8")]), lambda v, s: int(v["seq"]) == s and int(v["w1"]) == (s << 8) | 1),
            (lambda b: len(b) * 1000 + b[0], lambda v, s: v == 64000 + s),
        ]
        for rtype, ok in cases:
            got: list[Any] = []
            with RingBuffer(m, got.append, type=rtype) as rb:
                P.run(prog, 12)
                assert rb.consume() == 12
                assert all(ok(v, s) for s, v in enumerate(got)), rtype


def test_record_types_are_the_map_types(counters: Fd) -> None:
    """RingBuffer(type=X) decodes a record as make_codec(X) decodes a map value (one grammar)."""
    specs: list[object] = ["u32[4]", "char[16]", "int", "s64", "u64[2][3]", "u8[6]", "double", "<Q56x",
                           ctypes.c_uint32 * 4, ctypes.c_char * 16, b"<QQ", np.dtype("<u8"), Record]
    with small_ring(1 << 14) as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog:
        raw: list[bytes] = []
        with RingBuffer(m, raw.append) as rb:
            P.run(prog, 5)
            assert rb.consume() == 5
        for spec in specs:
            codec = make_codec(spec)
            got: list[Any] = []
            with RingBuffer(m, got.append, type=spec) as rb:
                P.run(prog, 5)
                assert rb.consume() == 5
                P.run(prog, 5)
                batch = rb.read_batch()  # the bulk path: records of the codec's size, as its NumPy dtype says
                assert batch.dtype.itemsize == codec.size, spec
                assert [bytes(x) for x in batch.view(f"V{codec.size}")] == [r[:codec.size] for r in raw], spec
            want = [as_plain(codec.decode(r)) for r in raw]
            assert [as_plain(v) for v in got[:5]] == want, spec
            assert type(got[0]) is type(codec.decode(raw[0])), spec


def test_record_shorter_than_type_is_an_error(counters: Fd) -> None:
    got: list[Any] = []
    with small_ring() as m, P.ringbuf_output_producer(m.fd, counters.fd, 16) as prog, \
            RingBuffer(m, got.append, type=Record) as rb:
        P.run(prog, 2)
        with pytest.raises(ValueError):
            rb.consume()
        with pytest.raises(ValueError):
            rb.consume()
        assert rb.consume() == 0 and got == []


def test_zero_copy_views_are_released_after_the_callback(counters: Fd) -> None:
    kept: list[memoryview] = []
    seen: list[bytes] = []

    def keep(rec: memoryview) -> None:
        assert isinstance(rec, memoryview) and rec.readonly
        seen.append(bytes(rec))
        kept.append(rec)

    with small_ring() as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, \
            RingBuffer(m, keep, zero_copy=True) as rb:
        P.run(prog, 1)
        P.run(prog, 6, 1)
        assert rb.consume() == 7
        check_records(seen, 0)
        for view in kept:
            with pytest.raises(ValueError):
                bytes(view)


def test_variable_sizes_and_alignment(counters: Fd) -> None:
    """20-byte records (padded to 32 in the ring) mixed with 64-byte ones keep their exact lengths."""
    got: list[bytes] = []
    with small_ring(4096) as m, P.ringbuf_output_producer(m.fd, counters.fd, 20) as small, \
            P.ringbuf_output_producer(m.fd, counters.fd, 64) as big, RingBuffer(m, got.append) as rb:
        plan = [(small, 5), (big, 3), (small, 1), (big, 4), (small, 6)]
        seq = 0
        expected = []
        for prog, n in plan:
            P.run(prog, n, seq)
            size = 20 if prog is small else 64
            expected += [P.expected_record(seq + i, size) for i in range(n)]
            seq += n
        assert rb.consume() == seq
        assert got == expected
        for prog, n in plan * 3:  # raw batches stop where the size changes
            P.run(prog, n, 500)
        sizes = []
        while (batch := rb.read_batch()).size:
            sizes.append((batch.dtype.itemsize, len(batch)))
        expected_sizes: list[tuple[int, int]] = []
        for p, n in plan * 3:
            size = 20 if p is small else 64
            if expected_sizes and expected_sizes[-1][0] == size:
                expected_sizes[-1] = (size, expected_sizes[-1][1] + n)
            else:
                expected_sizes.append((size, n))
        assert sizes == expected_sizes


def test_read_batch_numpy(counters: Fd) -> None:
    with small_ring(1 << 16) as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog:
        with RingBuffer(m, type=Record) as rb:
            assert len(rb.read_batch()) == 0
            P.run(prog, 300)
            arr = rb.read_batch(max_records=100)
            assert isinstance(arr, np.recarray) and len(arr) == 100
            rest = rb.read_batch()
            assert len(rest) == 200
            assert list(arr.seq) + list(rest.seq) == list(range(300))
            assert int(rest.words[5][6]) == (105 << 8) | 7
            assert rb.records == 300
        with RingBuffer(m) as rb:
            P.run(prog, 50, 7)
            raw = rb.read_batch()
            assert raw.dtype == np.dtype("V64")
            check_records([bytes(x) for x in raw], 7)
        with RingBuffer(m, type="<Q56x") as rb:
            P.run(prog, 50, 9)
            assert list(rb.read_batch().f0) == list(range(9, 59))


def test_read_batch_without_numpy(counters: Fd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RB, "numpy_or_none", lambda: None)
    monkeypatch.setattr(bufreader, "numpy_or_none", lambda: None)  # the reader base shared with perf
    with small_ring() as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, RingBuffer(m) as rb:
        P.run(prog, 25)
        out = rb.read_batch(max_records=10)
        assert isinstance(out, list) and len(out) == 10
        out += rb.read_batch()
        check_records(out, 0)


def test_misuse_is_reported(counters: Fd) -> None:
    with P.counter_map() as array, pytest.raises(TypeError):
        RingBuffer(array)
    with small_ring() as m:
        with RingBuffer(m) as rb, pytest.raises(ValueError):
            rb.poll(0)  # no callback
        with pytest.raises(TypeError):
            RingBuffer(m, type=3.5)
    rb2 = RingBuffer()
    rb2.close()
    rb2.close()
    with pytest.raises(ValueError):
        rb2.consume()


def test_reader_keeps_its_own_reference_to_the_map(counters: Fd) -> None:
    got: list[bytes] = []
    m = small_ring()
    prog = P.ringbuf_output_producer(m.fd, counters.fd)
    with RingBuffer(m, got.append) as rb:
        m.close()
        P.run(prog, 3)
        assert rb.consume() == 3
    prog.close()
    check_records(got, 0)


def test_map_of_the_future_bpfkit_map_shape(counters: Fd) -> None:
    """Anything with .fd works as the map (what bpfkit.Map offers), as does a raw int fd."""

    class MapLikeObject:
        def __init__(self, fd: Fd) -> None:
            self.fd = fd.fd

    with small_ring() as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog:
        for handle in (MapLikeObject(m), m.fd):
            got: list[bytes] = []
            with RingBuffer(handle, got.append) as rb:  # type: ignore[arg-type]
                P.run(prog, 2)
                rb.consume()
            check_records(got, 0)


def test_map_type_check_uses_the_kernel() -> None:
    shapes = [(MapType.ARRAY, 4, 4, 1)]
    if features.have_map_type(MapType.USER_RINGBUF):  # the ring most like a ring buffer (Linux 6.1)
        shapes.append((MapType.USER_RINGBUF, 0, 0, 4096))
    for t, key, value, entries in shapes:
        with P.create_map(t, key, value, entries, "notrb") as m, pytest.raises(TypeError):
            RingBuffer(m)


def test_long_runs_decode_in_groups_and_stop_exactly(counters: Fd) -> None:
    """Runs longer than one unpack group (32 records) deliver every record once, stopping where asked."""
    got: list[bytes] = []

    def stop_at_45(rec: bytes) -> bool:
        got.append(rec)
        return len(got) == 45

    with small_ring(1 << 16) as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog:
        with RingBuffer(m, stop_at_45) as rb:
            P.run(prog, 100)
            assert rb.consume() == 45
            assert rb.consume() == 55
            check_records(got, 0)
        with RingBuffer(m, type="u64") as rb:  # one value per record, in groups too
            P.run(prog, 70, 1000)
            assert list(rb._iter_once()) == list(range(1000, 1070))
        seen: list[int] = []
        with RingBuffer(m, seen.append, type=lambda b: int.from_bytes(b[:8], "little")) as rb:
            P.run(prog, 77, 5)
            assert rb.consume() == 77
            assert seen == list(range(5, 82))


def test_read_batch_into_out(counters: Fd, monkeypatch: pytest.MonkeyPatch) -> None:
    with small_ring(1 << 16) as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog:
        with RingBuffer(m, type=Record) as rb:
            out = np.zeros(80, np.dtype(Record))
            P.run(prog, 50)
            got = rb.read_batch(out=out)
            assert len(got) == 50 and np.shares_memory(got, out)
            assert got["seq"].tolist() == list(range(50))
            P.run(prog, 100, 50)
            assert rb.read_batch(out=out)["seq"].tolist() == list(range(50, 130))  # at most len(out)
            assert rb.read_batch(max_records=5, out=out)["seq"].tolist() == list(range(130, 135))
            assert rb.read_batch(out=out)["seq"].tolist() == list(range(135, 150))
            assert len(rb.read_batch(out=out)) == 0
            P.run(prog, 3, 150)
            with pytest.raises(ValueError):  # 32-byte items cannot take 64-byte records: nothing consumed
                rb.read_batch(out=np.zeros(8, "V32"))
            with pytest.raises(TypeError):
                rb.read_batch(out=bytearray(640))
            with pytest.raises(TypeError):
                rb.read_batch(out=np.zeros((4, 2), np.dtype(Record))[:, 0])
            raw = rb.read_batch(out=np.zeros(8, "V64"))  # any dtype of the record's size
            check_records([bytes(x) for x in raw], 150)
        with RingBuffer(m, type=lambda b: b) as rb, pytest.raises(TypeError):
            rb.read_batch(out=np.zeros(8, "V64"))
        monkeypatch.setattr(RB, "numpy_or_none", lambda: None)
        monkeypatch.setattr(bufreader, "numpy_or_none", lambda: None)
        with RingBuffer(m) as rb, pytest.raises(ModuleNotFoundError):
            rb.read_batch(out=np.zeros(8, "V64"))


def test_zero_copy_views_in_long_runs_are_released(counters: Fd) -> None:
    kept: list[memoryview] = []
    with small_ring(1 << 16) as m, P.ringbuf_output_producer(m.fd, counters.fd) as prog, \
            RingBuffer(m, kept.append, zero_copy=True) as rb:
        P.run(prog, 100)
        assert rb.consume() == 100
        assert len(kept) == 100
        for view in kept:
            with pytest.raises(ValueError):
                view.tobytes()
