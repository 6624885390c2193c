"""B5, bpfkit side of bench/c/b5_perfbuf.c: perf event array throughput with bpfkit.PerfBuffer.

usage: b5_perfbuf.py [--n=N] [--batch=B] [--pages=P] [--wakeup=W]

Producer: produce_pb of producer.bpf.o under BPF_PROG_RUN (raw_tp; ctx args[0] =
count, args[1] = run), B 64-byte records per run with bpf_perf_event_output.
Consumers and modes as in b4_ringbuf.py (batch reads into one reused out= array), with PerfBuffer(map, callback,
lost_callback, page_count=P, wakeup_events=W) -- the C side's P pages per CPU
and wakeup_events (1: what perf_buffer__new asks for).
  concurrent: the producer thread runs where the scheduler puts it; it waits
              while more than half of one CPU buffer's worth is unconsumed.
  drain:      runs on CPU 0 (BPF_F_TEST_RUN_ON_CPU); each CPU buffer holds N records.
The Python floor (floor.callback, floor.trivial) as in b4_ringbuf.py, with callback(0, record).
Variants in drain mode as in b4_ringbuf.py (zero_copy callback, untyped
read_batch). "lost" counts PERF_RECORD_LOST records, "dropped" the producer's
failed outputs.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from _common import emit, fail, missing_api, numpy_missing, peak_rss_kib, unavailable
from _producer import RECORD_SIZE, Producer, bss_counter, consume_concurrent, load_producer, pow2_ceil, python_floor, rate, record_dtype
from b4_ringbuf import batch_step, out_buffer, produce_then_drain

BENCH = "b5_perfbuf"
PB_RECORD_BYTES = 80  # perf header, size, 64 bytes of data, padding
PAGE = 4096


def make_reader(coll: Any, batch: int, kind: str, pages: int, wakeup: int) -> tuple[Any, list[int]]:
    """A PerfBuffer on the object's "pb" (kinds as in b4_ringbuf.py); the list holds [malformed, lost]."""
    import bpfkit

    tally = [0, 0]

    def on_lost(cpu: int, count: int) -> None:
        tally[1] += count

    common: dict[str, Any] = {"page_count": pages, "wakeup_events": wakeup}
    if kind == "batch":
        return bpfkit.PerfBuffer(coll.maps["pb"], None, on_lost, type=record_dtype(), **common), tally
    if kind == "raw":  # raw samples are padded to 68 bytes: ask for the 64 of the record
        return bpfkit.PerfBuffer(coll.maps["pb"], None, on_lost, size=RECORD_SIZE, **common), tally
    return bpfkit.PerfBuffer(coll.maps["pb"], checker(batch, tally), on_lost, zero_copy=kind == "zero_copy", **common), tally


def checker(batch: int, tally: list[int]) -> Any:
    """The per-sample callback: checks the record's size and seq, as the C callback does."""
    import struct

    seq_of = struct.Struct("<8xQ").unpack_from

    def on_sample(cpu: int, rec: Any) -> None:
        if len(rec) < RECORD_SIZE or seq_of(rec)[0] >= batch:
            tally[0] += 1

    return on_sample


def trivial(cpu: int, rec: Any) -> None:
    """A callback that does nothing: the floor of the floor."""


def run_concurrent(n: int, batch: int, pages: int, wakeup: int, kind: str) -> dict[str, Any]:
    with load_producer() as coll:
        p = Producer(coll.programs["produce_pb"], n, batch, window=pages * PAGE // PB_RECORD_BYTES // 2)
        pb, tally = make_reader(coll, batch, kind, pages, wakeup)
        with pb:
            if kind in ("batch", "raw"):  # room for every CPU's buffer
                step = batch_step(pb, batch, tally, out_buffer(kind, len(pb.cpus) * pages * PAGE // PB_RECORD_BYTES + 1))
            else:
                step = lambda: pb.poll(0.001)  # noqa: E731
            records, elapsed = consume_concurrent(p, step, lambda: bss_counter(coll, "pb_emitted"))
        dropped = bss_counter(coll, "pb_dropped")
    if tally[0]:
        fail(BENCH, f"{tally[0]} malformed records")
    if records + dropped != n:
        fail(BENCH, f"consumed {records} + dropped {dropped} != {n}")
    return {"pages_per_cpu": pages, "records": records, "lost": tally[1], "dropped": dropped, "test_runs": p.runs,
            "elapsed_ns": elapsed, "produce_ns": p.run_ns, "throttle_ns": p.throttle_ns, "records_per_s": rate(records, elapsed)}


def run_drain(n: int, batch: int, wakeup: int, kind: str) -> dict[str, Any]:
    pages = pow2_ceil((n * PB_RECORD_BYTES + PAGE - 1) // PAGE + 1)
    with load_producer() as coll:
        pb, tally = make_reader(coll, batch, kind, pages, wakeup)
        out = out_buffer(kind, n) if kind in ("batch", "raw") else None
        with pb:
            p = Producer(coll.programs["produce_pb"], n, batch, cpu=0)
            records, produce_ns, elapsed = produce_then_drain(BENCH, pb, p, "pb_dropped", coll, kind, out, tally)
    if tally[0]:
        fail(BENCH, f"{tally[0]} malformed records")
    if records != n or tally[1]:
        fail(BENCH, f"drained {records} records and {tally[1]} lost, expected {n} and 0")
    return {"pages_per_cpu": pages, "records": records, "lost": 0, "dropped": 0, "test_runs": p.runs, "elapsed_ns": elapsed,
            "produce_ns": produce_ns, "throttle_ns": 0, "records_per_s": rate(records, elapsed)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--pages", type=int, default=256)
    ap.add_argument("--wakeup", type=int, default=1)
    args = ap.parse_args()
    n, batch, pages, wakeup = args.n, args.batch, args.pages, args.wakeup
    if n < 1 or pages < 1 or pow2_ceil(pages) != pages or wakeup < 1:
        ap.error("--n and --wakeup must be >= 1, --pages a power of 2")
    if batch * PB_RECORD_BYTES > pages * PAGE // 2:
        ap.error(f"--batch {batch} records do not fit in half of a {pages}-page buffer")

    why = missing_api("load", "PerfBuffer")
    if why:
        unavailable(BENCH, why)
    out: dict[str, Any] = {"bench": BENCH, "n": n, "record_size": RECORD_SIZE, "run_batch": batch, "wakeup_events": wakeup}
    out["callback"] = {"concurrent": run_concurrent(n, batch, pages, wakeup, "callback"),
                       "drain": run_drain(n, batch, wakeup, "callback")}
    out["variants"] = {"zero_copy": {"drain": run_drain(n, batch, wakeup, "zero_copy")}}
    # the Python floor, in this process: the same callback (and a trivial one) on bytes slices of a buffer
    out["floor"] = {"callback": python_floor(n, PB_RECORD_BYTES, checker(batch, [0, 0]), cpu=True),
                    "trivial": python_floor(n, PB_RECORD_BYTES, trivial, cpu=True)}
    np_why = numpy_missing() or missing_api("PerfBuffer.read_batch")
    if np_why:
        out["unavailable_metrics"] = {"batch": np_why}
    else:
        out["batch"] = {"concurrent": run_concurrent(n, batch, pages, wakeup, "batch"), "drain": run_drain(n, batch, wakeup, "batch")}
        out["variants"]["raw"] = {"drain": run_drain(n, batch, wakeup, "raw")}
    out["dropped_concurrent"] = sum(out[k]["concurrent"]["dropped"] for k in ("callback", "batch") if k in out)
    out["lost_concurrent"] = sum(out[k]["concurrent"]["lost"] for k in ("callback", "batch") if k in out)
    out["peak_rss_kib"] = peak_rss_kib()
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
