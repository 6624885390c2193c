"""Driving bench/bpf/producer.bpf.o from Python, as bench/c/producer_run.h does from C.

Repeated BPF_PROG_RUNs of a producer program (``produce_rb`` or ``produce_pb``),
each emitting ``batch`` 64-byte records; optionally in a process of its own and
throttled so that no more than ``window`` records wait for the consumer. Public API only:
``bpfkit.load``, ``Program.test_run``, the object's ``.bss`` map.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys
import traceback
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
    """Test runs of ``prog`` emitting ``n`` records in runs of ``batch``, throttled to ``window`` unconsumed.

    :meth:`run` produces in the calling thread (drain mode). For concurrent mode,
    :meth:`prepare` forks a producer process and :meth:`start` releases it: a
    separate process, as the kernel would be for a real tool, so the consumer's
    measurement is not a contest for the GIL with a Python producer thread (the
    C side's producer thread costs the consumer nothing either). The consumed
    count and the producer's counters live in a shared anonymous mapping.
    """

    _CONSUMED, _DONE, _RUNS, _RUN_NS, _THROTTLE_NS, _FAILED = range(6)

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
        self._shm = mmap.mmap(-1, 64)  # MAP_SHARED | MAP_ANONYMOUS: seen by a forked child
        self._slots = memoryview(self._shm).cast("Q")  # aligned 8-byte stores, no torn values
        self._pid: int | None = None
        self._go: int | None = None

    @property
    def consumed(self) -> int:
        return int(self._slots[self._CONSUMED])

    @consumed.setter
    def consumed(self, value: int) -> None:
        self._slots[self._CONSUMED] = value

    @property
    def done(self) -> bool:
        return bool(self._slots[self._DONE])

    @property
    def failed(self) -> bool:
        return bool(self._slots[self._FAILED])

    @property
    def runs(self) -> int:
        return int(self._slots[self._RUNS])

    @property
    def run_ns(self) -> int:
        return int(self._slots[self._RUN_NS])

    @property
    def throttle_ns(self) -> int:
        return int(self._slots[self._THROTTLE_NS])

    def run(self) -> None:
        """Produce everything in this thread.

        With ``cpu`` set, the thread steps off that CPU while it produces (when it
        can): the kernel then runs the program in an IPI on ``cpu`` with interrupts
        off and batches the perf buffer's per-record wakeups, instead of taking a
        self-IPI per record (~7 us each in this VM). Only the time to produce
        changes; the timed consumption happens after the affinity is restored.
        """
        if self.cpu is None:
            self._run({})
            return
        kw = {"flags": BPF_F_TEST_RUN_ON_CPU, "cpu": self.cpu}
        before = os.sched_getaffinity(0)
        others = before - {self.cpu}
        if others:
            os.sched_setaffinity(0, others)
        try:
            self._run(kw)
        finally:
            if others:
                os.sched_setaffinity(0, before)

    def _run(self, kw: dict[str, Any]) -> None:
        test_run = self.prog.test_run
        slots = self._slots
        produced = runs = run_ns = throttle_ns = 0
        while produced < self.n:
            count = min(self.batch, self.n - produced)
            if self.window:
                t = mono_ns()
                while produced + count - slots[self._CONSUMED] > self.window:
                    os.sched_yield()  # as the C producer
                throttle_ns += mono_ns() - t
            t = mono_ns()
            res = test_run(ctx=_ARGS.pack(count, runs), **kw)
            run_ns += mono_ns() - t
            if res.retval != count:
                raise RuntimeError(f"producer run {runs} returned {res.retval}, expected {count}")
            produced += count
            runs += 1
        slots[self._RUNS], slots[self._RUN_NS], slots[self._THROTTLE_NS] = runs, run_ns, throttle_ns
        slots[self._DONE] = 1

    def prepare(self) -> None:
        """Fork the producer process; it waits for :meth:`start`."""
        go_r, go_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the producer process: produce, then leave without running any cleanup
            code = 0
            try:
                os.close(go_w)
                if os.read(go_r, 1) == b"1":
                    self.run()
            except BaseException:
                traceback.print_exc()
                self._slots[self._FAILED] = 1
                self._slots[self._DONE] = 1
                code = 1
            finally:
                os._exit(code)
        os.close(go_r)
        self._pid, self._go = pid, go_w

    def start(self) -> None:
        """Let the forked producer go."""
        if self._go is None:
            raise RuntimeError("prepare() first")
        os.write(self._go, b"1")
        os.close(self._go)
        self._go = None

    def join(self) -> None:
        """Wait for the producer process; a failure there fails the benchmark."""
        if self._go is not None:  # never started: release it with a no-go
            os.write(self._go, b"0")
            os.close(self._go)
            self._go = None
        if self._pid is not None:
            _, status = os.waitpid(self._pid, 0)
            self._pid = None
            if status != 0 or self.failed:
                fail("producer", f"the producer process failed (wait status {status})")


def pow2_ceil(v: int) -> int:
    p = 1
    while p < v:
        p <<= 1
    return p


def consume_concurrent(p: Producer, step: Any, emitted: Any) -> tuple[int, int]:
    """Run ``p`` in its own process while ``step()`` consumes (returns records taken, waiting up to 1 ms when none).

    Stops once the producer is done and every record it emitted (``emitted()``, read
    once at the end) was consumed. Returns (records, elapsed_ns) where elapsed runs
    from the start of producing to the last record consumed, as on the C side.
    """
    records = 0
    final = -1
    p.prepare()
    t0 = t_last = mono_ns()
    p.start()
    while True:
        got = step()
        if got:
            records += got
            p.consumed = records
            t_last = mono_ns()
        elif p.done:
            if p.failed:
                break
            if final < 0:
                final = emitted()
            if records >= final:
                break
    p.join()
    return records, t_last - t0


def rate(records: int, elapsed_ns: int) -> float:
    return records * 1e9 / elapsed_ns if elapsed_ns else 0.0


def python_floor(n: int, stride: int, deliver: Any, *, cpu: bool = False) -> dict[str, Any]:
    """The Python floor of a per-record callback path, measured in the same process as the reader.

    A plain loop over a buffer of ``stride``-spaced records hands each one, as a bytes slice of
    RECORD_SIZE (a copy, as the reader's callback gets), to ``deliver(record)``: the least any
    pure-Python consumer pays per record. The buffer holds 1024 records (one reader run) and is
    walked until ``n`` records went through; records_per_s is comparable to the reader's.
    With ``cpu`` the call is ``deliver(0, record)``, as a perf buffer's callback is called.
    """
    per_run = 1024
    buf = bytes(stride * per_run)
    starts = range(stride - RECORD_SIZE, stride * per_run, stride)  # the payload after each record's header
    size = RECORD_SIZE
    runs = max(1, -(-n // per_run))
    t0 = mono_ns()
    if cpu:
        for _ in range(runs):
            for s in starts:
                deliver(0, buf[s:s + size])
    else:
        for _ in range(runs):
            for s in starts:
                deliver(buf[s:s + size])
    elapsed = mono_ns() - t0
    records = runs * per_run
    return {"records": records, "elapsed_ns": elapsed, "records_per_s": rate(records, elapsed),
            "ns_per_record": elapsed / records}
