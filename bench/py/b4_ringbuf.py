"""B4, bpfkit side of bench/c/b4_ringbuf.c: BPF ring buffer throughput with bpfkit.RingBuffer.

usage: b4_ringbuf.py [--n=N] [--batch=B] [--ring-kib=K]

Producer: produce_rb of producer.bpf.o under BPF_PROG_RUN, B 64-byte records per
run (the C side's producer, driven by bench/py/_producer.py). Two consumers,
each in two modes:
  callback: RingBuffer(map, callback); the callback checks each record's size
            and seq, as the C callback does.
  batch:    RingBuffer(map, type=<record dtype>).read_batch(out=buf) -> NumPy record
            array, checked with one vectorized comparison; buf is one array
            allocated (and touched) before timing and reused by every read, as a
            steady consumer would (a fresh array per read costs its page faults).
  floor:    the Python floor of the callback path, measured here: a plain loop handing each
            record of a buffer (72-byte stride) as a 64-byte bytes slice to the same callback
            (floor.callback), or to one that does nothing (floor.trivial).
  Variants, drain mode only (rows without a target): the callback with
  zero_copy=True (a memoryview into the ring) and an untyped read_batch() (V64).
  concurrent: ring of K KiB; a producer thread repeats test runs while this
            thread consumes (poll with 1 ms, like ring_buffer__poll(rb, 1)); the
            producer waits while more than half the ring's worth of records is
            unconsumed. records_per_s = records / (start of producing .. last record).
  drain:    the ring holds all N records; produce everything, then time one
            consume() / read_batch().
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import select
import struct
import sys
from typing import Any

from _common import emit, fail, missing_api, mono_ns, numpy_missing, peak_rss_kib, unavailable
from _producer import RECORD_SIZE, Producer, bss_counter, consume_concurrent, load_producer, pow2_ceil, python_floor, rate, record_dtype

BENCH = "b4_ringbuf"
RB_RECORD_BYTES = RECORD_SIZE + 8  # 8-byte ring buffer header


KINDS = ("callback", "zero_copy", "batch", "raw")  # the last two read with read_batch()


def out_buffer(kind: str, records: int) -> Any:
    """The reused destination of read_batch(out=): record dtype or V64 items, pages touched once."""
    import numpy as np

    out = np.empty(records, record_dtype() if kind == "batch" else np.dtype("V64"))
    out.view(np.uint8)[:] = 0  # written, so every page is mapped (np.zeros would leave that to the first read)
    return out


def make_reader(coll: Any, batch: int, kind: str) -> tuple[Any, list[int]]:
    """A RingBuffer on the object's "rb", and its tally of malformed records.

    callback: per-record callback on a bytes copy; zero_copy: the same on a
    memoryview into the ring; batch: typed for read_batch() (NumPy record array
    of the record struct); raw: untyped read_batch() (V64 items).
    """
    import bpfkit

    bad = [0]
    if kind == "batch":
        return bpfkit.RingBuffer(coll.maps["rb"], type=record_dtype()), bad
    if kind == "raw":
        return bpfkit.RingBuffer(coll.maps["rb"]), bad
    return bpfkit.RingBuffer(coll.maps["rb"], checker(batch, bad), zero_copy=kind == "zero_copy"), bad


def checker(batch: int, bad: list[int]) -> Any:
    """The per-record callback: checks the record's size and seq, as the C callback does."""
    seq_of = struct.Struct("<8xQ").unpack_from

    def on_record(rec: Any) -> None:
        if len(rec) != RECORD_SIZE or seq_of(rec)[0] >= batch:
            bad[0] += 1

    return on_record


def trivial(rec: Any) -> None:
    """A callback that does nothing: the floor of the floor."""


def check_batch(arr: Any, batch: int) -> bool:
    """True when every record of a read_batch() array has a seq below the run size."""
    recs = arr if arr.dtype.names else arr.view(record_dtype())
    return not (recs["seq"] >= batch).any()


def batch_step(rb: Any, batch: int, bad: list[int], out: Any) -> Any:
    """One read_batch(out=out), waiting up to 1 ms on the reader's fd when it was empty."""
    waiter = select.poll()
    waiter.register(rb.fileno(), select.POLLIN)

    def step() -> int:
        arr = rb.read_batch(out=out)
        k = len(arr)
        if k:
            if not check_batch(arr, batch):
                bad[0] += 1
            return k
        waiter.poll(1)
        return 0

    return step


def run_concurrent(n: int, batch: int, ring_bytes: int, kind: str) -> dict[str, Any]:
    with load_producer({"rb": ring_bytes}) as coll:
        p = Producer(coll.programs["produce_rb"], n, batch, window=ring_bytes // RB_RECORD_BYTES // 2)
        rb, bad = make_reader(coll, batch, kind)
        with rb:
            if kind in ("batch", "raw"):
                step = batch_step(rb, batch, bad, out_buffer(kind, ring_bytes // RB_RECORD_BYTES + 1))
            else:
                step = lambda: rb.poll(0.001)  # noqa: E731
            records, elapsed = consume_concurrent(p, step, lambda: bss_counter(coll, "rb_emitted"))
        dropped = bss_counter(coll, "rb_dropped")
    if bad[0]:
        fail(BENCH, f"{bad[0]} malformed records")
    if records + dropped != n:
        fail(BENCH, f"consumed {records} + dropped {dropped} != {n}")
    return {"ring_bytes": ring_bytes, "records": records, "dropped": dropped, "test_runs": p.runs, "elapsed_ns": elapsed,
            "produce_ns": p.run_ns, "throttle_ns": p.throttle_ns, "records_per_s": rate(records, elapsed)}


def produce_then_drain(bench: str, reader: Any, p: Producer, dropped_counter: str, coll: Any, kind: str, out: Any,
                       bad: list[int]) -> tuple[int, int, int]:
    """Drain mode of b4 and b5: every test run first (none may drop), then one read of all records.

    Returns (records, produce_ns, elapsed_ns); a malformed batch counts in ``bad[0]``."""
    t = mono_ns()
    p.run()
    produce_ns = mono_ns() - t
    dropped = bss_counter(coll, dropped_counter)
    if dropped:
        fail(bench, f"{dropped} records dropped although the buffer holds all {p.n}")
    t = mono_ns()
    if kind in ("batch", "raw"):
        arr = reader.read_batch(out=out)
        elapsed = mono_ns() - t
        records = len(arr)
        if not check_batch(arr, p.batch):
            bad[0] += 1
        del arr
    else:
        records = reader.consume()
        elapsed = mono_ns() - t
    return records, produce_ns, elapsed


def run_drain(n: int, batch: int, kind: str) -> dict[str, Any]:
    ring_bytes = max(4096, pow2_ceil(n * RB_RECORD_BYTES))
    with load_producer({"rb": ring_bytes}) as coll:
        rb, bad = make_reader(coll, batch, kind)
        out = out_buffer(kind, n) if kind in ("batch", "raw") else None
        with rb:
            p = Producer(coll.programs["produce_rb"], n, batch)
            records, produce_ns, elapsed = produce_then_drain(BENCH, rb, p, "rb_dropped", coll, kind, out, bad)
    if bad[0]:
        fail(BENCH, f"{bad[0]} malformed records")
    if records != n:
        fail(BENCH, f"drained {records} records, expected {n}")
    return {"ring_bytes": ring_bytes, "records": records, "dropped": 0, "test_runs": p.runs, "elapsed_ns": elapsed,
            "produce_ns": produce_ns, "throttle_ns": 0, "records_per_s": rate(records, elapsed)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--ring-kib", type=int, default=1024)
    args = ap.parse_args()
    n, batch, ring_bytes = args.n, args.batch, args.ring_kib * 1024
    if n < 1 or args.ring_kib < 4 or pow2_ceil(args.ring_kib) != args.ring_kib:
        ap.error("--n must be >= 1 and --ring-kib a power of 2 >= 4")
    if batch * RB_RECORD_BYTES > ring_bytes // 2:
        ap.error(f"--batch {batch} records do not fit in half of a {args.ring_kib} KiB ring")

    why = missing_api("load", "RingBuffer")
    if why:
        unavailable(BENCH, why)
    out: dict[str, Any] = {"bench": BENCH, "n": n, "record_size": RECORD_SIZE, "run_batch": batch}
    out["callback"] = {"concurrent": run_concurrent(n, batch, ring_bytes, "callback"), "drain": run_drain(n, batch, "callback")}
    out["variants"] = {"zero_copy": {"drain": run_drain(n, batch, "zero_copy")}}
    # the Python floor, in this process: the same callback (and a trivial one) on bytes slices of a buffer
    floor_bad = [0]
    out["floor"] = {"callback": python_floor(n, RB_RECORD_BYTES, checker(batch, floor_bad)),
                    "trivial": python_floor(n, RB_RECORD_BYTES, trivial)}
    np_why = numpy_missing() or missing_api("RingBuffer.read_batch")
    if np_why:
        out["unavailable_metrics"] = {"batch": np_why}
    else:
        out["batch"] = {"concurrent": run_concurrent(n, batch, ring_bytes, "batch"), "drain": run_drain(n, batch, "batch")}
        out["variants"]["raw"] = {"drain": run_drain(n, batch, "raw")}
    out["dropped_concurrent"] = sum(out[k]["concurrent"]["dropped"] for k in ("callback", "batch") if k in out)
    out["peak_rss_kib"] = peak_rss_kib()
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
