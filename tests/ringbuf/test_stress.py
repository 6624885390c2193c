"""Ring and perf buffers under concurrency: producers on several CPUs while the consumer reads.

The producers run their programs on chosen CPUs (BPF_F_TEST_RUN_ON_CPU) from threads that hold no GIL
while the kernel runs them, so the kernel writes records on several CPUs while the reader, in the main
thread, takes them. Every record is checked whole (no torn record: each word is a function of its
sequence number) and counted exactly: what the reader got plus what the producers failed to write is
what they were asked to write. This is the test that holds the readers' memory ordering on weakly
ordered CPUs (the matrix runs it in the arm64 guests).
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Iterator

import pytest
import rb_progs as P

from bpfkit import host
from bpfkit._sys import Fd
from bpfkit._sys import ring as R
from bpfkit._uapi import MapType
from bpfkit.perf import PerfBuffer
from bpfkit.programs import Program
from bpfkit.ringbuf import RingBuffer
from bpfkit.testing import require

pytestmark = pytest.mark.kernel

ROUNDS = 40
BATCH = 100
SPAN = 1 << 24  # sequence numbers of producer k start at k * SPAN


def producer_cpus() -> list[int]:
    """Up to four online CPUs to produce on (two producers share the one CPU of a single-CPU machine)."""
    cpus = host.online_cpus()[:4]
    return cpus if len(cpus) > 1 else cpus * 2


def race(produce: Callable[[int, int], None], consume: Callable[[], object], producers: int) -> None:
    """Run ``produce(k, round)`` for ROUNDS rounds in one thread per producer while ``consume()`` runs
    in this thread until every producer has finished."""
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for rnd in range(ROUNDS):
                produce(k, rnd)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,), name=f"producer-{k}") for k in range(producers)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        consume()
    for t in threads:
        t.join()
    consume()
    if errors:
        raise errors[0]


def check(records: list[bytes], size_of: Callable[[int], int], wanted: set[int]) -> dict[int, list[int]]:
    """Every record whole and wanted, none twice; returns the sequence numbers by producer, in arrival order."""
    seen: set[int] = set()
    by_producer: dict[int, list[int]] = {}
    for data in records:
        (seq,) = struct.unpack_from("<Q", data)
        assert seq in wanted, f"record {seq:#x} was never written"
        assert seq not in seen, f"record {seq:#x} delivered twice"
        seen.add(seq)
        assert bytes(data) == P.expected_record(seq, size_of(seq)), f"record {seq:#x} torn or corrupt"
        by_producer.setdefault(seq // SPAN, []).append(seq)
    return by_producer


@pytest.fixture
def counters() -> Iterator[Fd]:
    with P.counter_map() as fd:
        yield fd


def test_fences_are_in_place() -> None:
    """The reader has its barriers where the CPU needs them: no libatomic lookup through ld.so.cache."""
    if R.TSO:
        assert (R.ACQUIRE_FENCE, R.RELEASE_FENCE) == (None, None)
    else:
        assert R.ACQUIRE_FENCE is not None and R.RELEASE_FENCE is not None, R.FENCE_SOURCE


def test_libatomic_is_found_without_the_loader_cache() -> None:
    """libatomic opens by soname or path, never through ctypes.util.find_library (which needs ld.so.cache or gcc)."""
    lib = R.open_libatomic(find_library=lambda name: None)
    installed = any(os.path.exists(os.path.join(d, R.LIBATOMIC)) for d in R._library_dirs())
    assert (lib is not None) == installed
    if lib is not None:
        pair = R.libatomic_fences(lib)
        assert pair is not None
        pair[0]()
        pair[1]()


@pytest.mark.parametrize("fences", ["default", "code"])
def test_ring_buffer_producers_on_several_cpus(counters: Fd, fences: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Producers of two record sizes race on several CPUs into one small ring (it wraps, fills up and
    refuses records) while it is read."""
    if fences == "code":  # bpfkit's own barrier instructions instead of libatomic's (what runs without it)
        pair = R.code_fences()
        assert pair is not None, "this process may not map executable memory"
        monkeypatch.setattr(R, "ACQUIRE_FENCE", pair[0])
        monkeypatch.setattr(R, "RELEASE_FENCE", pair[1])
    cpus = producer_cpus()
    sizes = [64 if k % 2 == 0 else 40 for k in range(len(cpus))]
    got: list[bytes] = []
    with P.ringbuf_map(1 << 15) as m, RingBuffer(m, lambda data: got.append(bytes(data))) as rb:
        progs: list[Program] = []
        try:
            progs += [P.ringbuf_output_producer(m.fd, counters.fd, size) for size in sizes]

            def produce(k: int, rnd: int) -> None:
                P.run(progs[k], BATCH, k * SPAN + rnd * BATCH, cpu=cpus[k])

            race(produce, lambda: rb.poll(timeout=0.01), len(cpus))
        finally:
            for p in progs:
                p.close()
        wanted = {k * SPAN + i for k in range(len(cpus)) for i in range(ROUNDS * BATCH)}
        by_producer = check(got, lambda seq: sizes[seq // SPAN], wanted)
        for seqs in by_producer.values():  # one producer's records are committed, and so read, in order
            assert seqs == sorted(seqs)
        failed = P.read_counters(counters)[0]  # records a producer found no room for
        assert len(got) + failed == len(wanted)
        assert rb.records == len(got)
        assert rb.rings[0].pending == 0


def test_perf_buffer_producers_on_several_cpus(counters: Fd) -> None:
    """One producer per CPU writes into its CPU's perf ring while the reader drains them all."""
    require("perf_events")
    cpus = producer_cpus()
    lost: list[int] = []
    got: dict[int, list[bytes]] = {}
    with P.create_map(MapType.PERF_EVENT_ARRAY, 4, 4, host.possible_cpus(), "events") as m, \
            P.perf_output_producer(m.fd, counters.fd, 64) as prog, \
            PerfBuffer(m, lambda cpu, data: got.setdefault(cpu, []).append(bytes(data)),
                       lambda cpu, n: lost.append(n), page_count=2, size=64) as pb:

        def produce(k: int, rnd: int) -> None:
            P.run(prog, BATCH, k * SPAN + rnd * BATCH, cpu=cpus[k])

        race(produce, lambda: pb.poll(timeout=0.01), len(cpus))
        records = [r for cpu_records in got.values() for r in cpu_records]
        wanted = {k * SPAN + i for k in range(len(cpus)) for i in range(ROUNDS * BATCH)}
        check(records, lambda seq: 64, wanted)
        for cpu, cpu_records in got.items():  # a CPU's ring holds each producer's records in the order written
            seqs = [struct.unpack_from("<Q", r)[0] for r in cpu_records]
            assert {s // SPAN for s in seqs} <= {k for k, c in enumerate(cpus) if c == cpu}, f"cpu {cpu}"
            for k in {s // SPAN for s in seqs}:
                mine = [s for s in seqs if s // SPAN == k]
                assert mine == sorted(mine), f"cpu {cpu}, producer {k}"
        failed = P.read_counters(counters)[0]
        assert len(records) + failed == len(wanted)
        assert sum(lost) <= failed and pb.lost == sum(lost)
