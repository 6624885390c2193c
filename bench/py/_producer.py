"""Driving bench/bpf/producer.bpf.o from Python, as bench/c/producer_run.h does from C.

Repeated BPF_PROG_RUNs of a producer program (``produce_rb`` or ``produce_pb``),
each emitting ``batch`` 64-byte records; optionally in a thread and throttled so
that no more than ``window`` records wait for the consumer. Public API only:
``bpfkit.load``, ``Program.test_run``, the object's ``.bss`` map.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from typing import Any

from _common import build_dir, fail, mono_ns

RECORD_SIZE = 64
PRODUCER_MAX_COUNT = 1 << 23
BPF_F_TEST_RUN_ON_CPU = 1  # include/uapi/linux/bpf.h
_ARGS = struct.Struct("<QQ")  # struct produce_args {u64 count; u64 run;}


def producer_path() -> Path:
    return build_dir() / "producer.bpf.o"


def record_dtype() -> Any:
    """struct bench_record as a NumPy dtype: run, seq, 48 bytes of padding."""
    import numpy as np

    return np.dtype([("run", "<u8"), ("seq", "<u8"), ("pad", "V48")])


def load_producer(map_sizes: dict[str, int] | None = None) -> Any:
    """Load producer.bpf.o, with the max_entries of some maps changed first (the ring's size)."""
    import bpfkit

    spec = bpfkit.ObjectSpec.from_file(producer_path())
    for name, size in (map_sizes or {}).items():
        spec.maps[name].max_entries = size
    return bpfkit.load(spec)


def bss_counter(coll: Any, name: str) -> int:
    """A u64 global of the object's .bss, read through its map (Collection.variables)."""
    return int(coll.variables[name])


class Producer:
    """Test runs of ``prog`` emitting ``n`` records in runs of ``batch``, throttled to ``window`` unconsumed."""

    def __init__(self, prog: Any, n: int, batch: int, *, window: int = 0, cpu: int | None = None) -> None:
        if not 1 <= batch <= PRODUCER_MAX_COUNT:
            fail("producer", f"batch must be in 1..{PRODUCER_MAX_COUNT}")
        if window and batch > window:
            fail("producer", f"batch {batch} is larger than the window {window}")
        self.prog = prog
        self.n = n
        self.batch = batch
        self.window = window
        self.cpu = cpu
        self.consumed = 0  # written by the consumer (one int store: atomic under the GIL)
        self.done = False
        self.produced = 0
        self.runs = 0
        self.run_ns = 0
        self.throttle_ns = 0
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Produce everything in this thread."""
        kw: dict[str, Any] = {}
        if self.cpu is not None:
            kw = {"flags": BPF_F_TEST_RUN_ON_CPU, "cpu": self.cpu}
        test_run = self.prog.test_run
        while self.produced < self.n:
            count = min(self.batch, self.n - self.produced)
            if self.window:
                t = mono_ns()
                while self.produced + count - self.consumed > self.window:
                    os.sched_yield()  # as the C producer; releases the GIL while it yields
                self.throttle_ns += mono_ns() - t
            t = mono_ns()
            res = test_run(ctx=_ARGS.pack(count, self.runs), **kw)
            self.run_ns += mono_ns() - t
            if res.retval != count:
                raise RuntimeError(f"producer run {self.runs} returned {res.retval}, expected {count}")
            self.produced += count
            self.runs += 1
        self.done = True

    def _thread_main(self) -> None:
        try:
            self.run()
        except BaseException as exc:
            self.error = exc
            self.done = True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="producer", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self.error is not None:
            fail("producer", f"{type(self.error).__name__}: {self.error}")


def pow2_ceil(v: int) -> int:
    p = 1
    while p < v:
        p <<= 1
    return p


def consume_concurrent(p: Producer, step: Any, emitted: Any) -> tuple[int, int]:
    """Run ``p`` in a thread while ``step()`` consumes (returns records taken, waiting up to 1 ms when none).

    Stops once the producer is done and every record it emitted (``emitted()``, read
    once at the end) was consumed. Returns (records, elapsed_ns) where elapsed runs
    from the start of producing to the last record consumed, as on the C side.
    """
    records = 0
    final = -1
    t0 = t_last = mono_ns()
    p.start()
    while True:
        got = step()
        if got:
            records += got
            p.consumed = records
            t_last = mono_ns()
        elif p.done:
            if p.error is not None:
                break
            if final < 0:
                final = emitted()
            if records >= final:
                break
    p.join()
    return records, t_last - t0


def rate(records: int, elapsed_ns: int) -> float:
    return records * 1e9 / elapsed_ns if elapsed_ns else 0.0
