"""Records per second consumed from ring and perf buffers: bpfkit (Python) against C libbpf.

A hand-assembled raw_tp producer fills the buffer with N 64-byte records
(bpf_ringbuf_output / bpf_perf_event_output in a bpf_loop, run with
BPF_PROG_TEST_RUN on CPU 0); then the consumer drains it. Only the draining is
timed, over several rounds, for: libbpf's ring_buffer__consume /
perf_buffer__consume with a C callback that reads the first u64 of each
record (a small C program built here against Debian's libbpf-dev), bpfkit's
per-record Python callback (``consume()``; also with a zero-copy memoryview
and with a ctypes type), and bpfkit's ``read_batch()`` (NumPy). The machine may be shared:
the table gives the best and the median round of each. Prints a table with the ratios
bpfkit / C and optionally writes JSON.

    PYTHONPATH=src python bench/bufs_rate.py [--rounds 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ringbuf"))

import rb_progs as P  # the tests' hand-assembled producers

from bpfkit import host
from bpfkit._uapi import MapType
from bpfkit.perf import PerfBuffer
from bpfkit.ringbuf import RingBuffer

RECORD = 64
C_SOURCE = r"""
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned long long sum, cnt;

static int rb_cb(void *ctx, void *data, size_t size) { sum += *(unsigned long long *)data; cnt++; return 0; }
static void pb_cb(void *ctx, int cpu, void *data, __u32 size) { sum += *(unsigned long long *)data; cnt++; }
static void lost_cb(void *ctx, int cpu, __u64 n) { fprintf(stderr, "lost %llu on cpu %d\n", (unsigned long long)n, cpu); }
static double now(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec * 1e-9; }

int main(int argc, char **argv)
{
    if (argc != 7) return 2;
    int map_fd = atoi(argv[2]), prog_fd = atoi(argv[3]), rounds = atoi(argv[4]), pages = atoi(argv[6]);
    unsigned long long per = strtoull(argv[5], NULL, 0);
    struct ring_buffer *rb = NULL;
    struct perf_buffer *pb = NULL;
    if (!strcmp(argv[1], "ringbuf"))
        rb = ring_buffer__new(map_fd, rb_cb, NULL, NULL);
    else
        pb = perf_buffer__new(map_fd, pages, pb_cb, lost_cb, NULL, NULL);
    if (!rb && !pb) { perror("ring_buffer__new/perf_buffer__new"); return 1; }
    for (int r = 0; r < rounds; r++) {
        unsigned long long ctx[2] = { per, (unsigned long long)r * per };
        LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = ctx, .ctx_size_in = sizeof(ctx),
                .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = 0);
        if (bpf_prog_test_run_opts(prog_fd, &opts)) { perror("test_run"); return 1; }
        unsigned long long before = cnt;
        double t0 = now();
        int err = rb ? ring_buffer__consume(rb) : perf_buffer__consume(pb);
        double t1 = now();
        if (err < 0) { fprintf(stderr, "consume: %d\n", err); return 1; }
        printf("%llu %.9f\n", cnt - before, t1 - t0);
    }
    ring_buffer__free(rb);
    perf_buffer__free(pb);
    return 0;
}
"""


def build_c(tmp: str) -> str:
    src = os.path.join(tmp, "consume.c")
    exe = os.path.join(tmp, "consume")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    subprocess.run(["cc", "-O2", "-o", exe, src, "-lbpf"], check=True)
    return exe


Rounds = list[tuple[int, float]]  # (records, seconds) of each timed round


def run_c(exe: str, kind: str, map_fd: int, prog_fd: int, rounds: int, per: int, pages: int) -> Rounds:
    out = subprocess.run(
        [exe, kind, str(map_fd), str(prog_fd), str(rounds + 1), str(per), str(pages)],
        pass_fds=(map_fd, prog_fd), check=True, capture_output=True, text=True,
    ).stdout.splitlines()
    return [(int(line.split()[0]), float(line.split()[1])) for line in out[1:]]  # round 0 is the warm-up


class Record(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("words", ctypes.c_uint64 * 7)]


def timed_rounds(produce: Callable[[int], None], drain: Callable[[], int], rounds: int) -> Rounds:
    produce(rounds)  # one untimed warm-up round: first touches of the mapping, caches
    drain()
    out = []
    for r in range(rounds):
        produce(r)
        t0 = time.perf_counter()
        n = drain()
        out.append((n, time.perf_counter() - t0))
    return out


def best_rate(rounds: Rounds) -> float:
    return max(n / t for n, t in rounds)


def median_rate(rounds: Rounds) -> float:
    rates = sorted(n / t for n, t in rounds)
    return rates[len(rates) // 2]


def bench_ringbuf(exe: str, rounds: int) -> dict[str, Rounds]:
    size = 4 << 20
    per = 50_000
    out: dict[str, Rounds] = {}
    with P.ringbuf_map(size, "bench_rb") as m, P.counter_map() as ctr, \
            P.ringbuf_output_producer(m.fd, ctr.fd, RECORD) as prog:
        def produce(r: int) -> None:
            assert P.run(prog, per, r * per, cpu=0) == per

        out["C libbpf ring_buffer__consume"] = run_c(exe, "ringbuf", m.fd, prog.fd, rounds, per, 0)

        def noop(rec: Any) -> None:
            pass

        with RingBuffer(m, noop) as rb:
            out["bpfkit callback (bytes)"] = timed_rounds(produce, rb.consume, rounds)
        with RingBuffer(m, noop, zero_copy=True) as rb:
            out["bpfkit callback (zero-copy memoryview)"] = timed_rounds(produce, rb.consume, rounds)
        with RingBuffer(m, noop, type=Record) as rb:
            out["bpfkit callback (ctypes Record)"] = timed_rounds(produce, rb.consume, rounds)
        with RingBuffer(m) as rb:
            out["bpfkit read_batch (NumPy V64)"] = timed_rounds(produce, lambda: len(rb.read_batch()), rounds)
        with RingBuffer(m, type=Record) as rb:
            out["bpfkit read_batch (NumPy Record)"] = timed_rounds(produce, lambda: len(rb.read_batch()), rounds)
        assert P.read_counters(ctr)[0] == 0, "the producer lost records"
    return out


def bench_perf(exe: str, rounds: int) -> dict[str, Rounds]:
    pages = 1024
    per = 50_000
    out: dict[str, Rounds] = {}
    with P.create_map(MapType.PERF_EVENT_ARRAY, 4, 4, host.possible_cpus(), "bench_perf") as m, \
            P.counter_map() as ctr, P.perf_output_producer(m.fd, ctr.fd, RECORD) as prog:
        def produce(r: int) -> None:
            assert P.run(prog, per, r * per, cpu=0) == per

        out["C libbpf perf_buffer__consume"] = run_c(exe, "perf", m.fd, prog.fd, rounds, per, pages)

        def noop(cpu: int, rec: Any) -> None:
            pass

        with PerfBuffer(m, noop, page_count=pages, size=RECORD) as pb:
            out["bpfkit callback (bytes)"] = timed_rounds(produce, pb.consume, rounds)
        with PerfBuffer(m, noop, page_count=pages, size=RECORD, zero_copy=True) as pb:
            out["bpfkit callback (zero-copy memoryview)"] = timed_rounds(produce, pb.consume, rounds)
        with PerfBuffer(m, noop, page_count=pages, type=Record) as pb:
            out["bpfkit callback (ctypes Record)"] = timed_rounds(produce, pb.consume, rounds)
        with PerfBuffer(m, page_count=pages, size=RECORD) as pb:
            out["bpfkit read_batch (NumPy V64)"] = timed_rounds(produce, lambda: len(pb.read_batch()), rounds)
        with PerfBuffer(m, page_count=pages, type=Record) as pb:
            out["bpfkit read_batch (NumPy Record)"] = timed_rounds(produce, lambda: len(pb.read_batch()), rounds)
        assert P.read_counters(ctr)[0] == 0, "the producer lost records"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    try:
        import numpy  # noqa: F401  (import time is not consumption time)
    except ImportError:
        print("NumPy is not installed: read_batch returns lists", file=sys.stderr)
    os.sched_setaffinity(0, {0})  # producer and consumer on CPU 0, for C and Python alike
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_c(tmp)
        for name, fn in (("ringbuf", bench_ringbuf), ("perf", bench_perf)):
            rows = fn(exe, args.rounds)
            stats = {label: (sum(n for n, _ in r), best_rate(r), median_rate(r)) for label, r in rows.items()}
            _, c_best, c_median = next(iter(stats.values()))
            print(f"\n{name}: {RECORD}-byte records, {args.rounds} rounds of {rows[next(iter(rows))][0][0]}")
            print(f"  {'consumer':40s} {'records':>8s} {'best M/s':>9s} {'vs C':>6s} {'median M/s':>11s} {'vs C':>6s}")
            table = {}
            for label, (n, best, median) in stats.items():
                print(f"  {label:40s} {n:8d} {best / 1e6:9.2f} {best / c_best:6.1%} {median / 1e6:11.2f} "
                      f"{median / c_median:6.1%}")
                table[label] = {"records": n, "best_records_per_s": best, "median_records_per_s": median,
                                "best_ratio_vs_c": best / c_best, "median_ratio_vs_c": median / c_median}
            results[name] = table
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
