#!/usr/bin/env python3
"""bpfkit's benchmark suite: bpfkit against C libbpf, side by side, in one run (issue 7).

    python bench/run.py [--quick] [--only B1,B3] [--rounds N] [--json bench/results.json]

Builds the C reference programs (``make -C bench/c``) and a small process
launcher (bench/spawn.c), then runs every benchmark interleaved, C first:
C, bpfkit, C, bpfkit ... for several rounds, each measurement in its own
process: a fresh process per measurement for the start-up benchmarks (B1, B6);
for the others one process per side per round, which sets up and measures
inside (start-up excluded). Prints a table (best and median per side, ratio
bpfkit/C of the medians, the target, PASS/MISS) and writes JSON with the
machine's facts. A benchmark whose bpfkit API has not landed reports
"not available: <what is missing>", never a number.

Only ratios taken in the same run mean anything: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY_DIR = HERE / "py"
DEFAULT_BUILD = HERE / "build"
SPAWN_ENV = "BENCH_SPAWN_MONO_NS"
B1_MIN_DURATION_NS = 100_000_000  # the .rodata constant both B1 sides set before load (bootstrap -d 100)

Mode = Literal["full", "quick", "tiny"]
Json = dict[str, Any]


# ---- definitions --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A goal: on the ratio bpfkit/C of the medians (``<=``/``>=``) or on bpfkit's own worst value (``==``)."""

    op: Literal["<=", ">=", "=="]
    value: float

    def __str__(self) -> str:
        if self.op == "==":
            return f"== {self.value:g}"
        return f"{self.op} {self.value:g}"


@dataclass(frozen=True)
class Metric:
    """One row of the table: where its value is in each side's output, its unit, which way is better."""

    key: str
    label: str
    unit: str
    better: Literal["lower", "higher"]
    py: str  # dotted path into {"out": <process JSON>, "spawn": <launcher report>}
    c: str | None  # likewise for the C side; None: bpfkit-only row
    scale: float = 1.0  # raw value * scale = value in `unit`
    target: Target | None = None


@dataclass(frozen=True)
class Sizes:
    """Problem sizes and rounds of one benchmark in one mode."""

    rounds: int
    params: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Bench:
    """A benchmark: how to start each side, the rows it yields, its sizes per mode."""

    id: str
    title: str
    fresh: bool  # about start-up: every measurement is a fresh process, timed from its spawn
    sizes: dict[str, Sizes]
    c_argv: Callable[[Ctx, dict[str, int]], list[str]]
    py_argv: Callable[[Ctx, dict[str, int]], list[str]]
    metrics: tuple[Metric, ...]
    output_file: bool = False  # the side's stdout is its product (B6): to a file, not parsed
    needs: tuple[str, ...] = ()  # kernel features both sides need, as bpfkit.features.require() names them


@dataclass(frozen=True)
class Ctx:
    """Paths and interpreter the sides are started with."""

    build: Path
    python: str
    tmp: Path


def _py_script(name: str) -> Callable[[Ctx, dict[str, int]], list[str]]:
    def argv(ctx: Ctx, p: dict[str, int]) -> list[str]:
        return [ctx.python, str(PY_DIR / name), *[f"--{k.replace('_', '-')}={v}" for k, v in sorted(p.items())]]

    return argv


def _b1_c(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return [str(ctx.build / "b1_start"), "-d", str(p["min_duration_ns"]), str(ctx.build / "bootstrap.bpf.o")]


def _b1_py(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return [ctx.python, str(PY_DIR / "b1_start.py"), "-d", str(p["min_duration_ns"]), str(ctx.build / "bootstrap.bpf.o")]


def _b2_c(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return [str(ctx.build / "b2_mapops"), str(p["n"]), str(p["inner_rounds"])]


def _b3_c(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return [str(ctx.build / "b3_dump"), str(p["n"]), str(p["batch"]), str(p["inner_rounds"])]


def _b4_c(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return [str(ctx.build / "b4_ringbuf"), "-b", str(p["batch"]), "-r", str(p["ring_kib"]), str(p["n"])]


def _b5_c(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return [str(ctx.build / "b5_perfbuf"), "-b", str(p["batch"]), "-p", str(p["pages"]), "-w", str(p["wakeup"]), str(p["n"])]


def _b6_c(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return ["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"]


def _b6_py(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return [ctx.python, "-m", "bpfkit", "btf", "dump", "--format", "c"]


def _libc() -> str:
    """The libc both B7 sides probe (the one this runner's interpreter maps)."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split(None, 5)[-1].strip()
            if os.path.basename(path).startswith("libc.so") or os.path.basename(path).startswith("libc-"):
                return path
    raise SystemExit("bench: cannot find the libc this process maps")


def _b7_c(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return [str(ctx.build / "b7_uprobes"), str(ctx.build / "uprobe_nop.bpf.o"), _libc(), str(p["n"])]


def _b7_py(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return [ctx.python, str(PY_DIR / "b7_uprobes.py"), str(ctx.build / "uprobe_nop.bpf.o"), _libc(), str(p["n"])]


def _b8_py(ctx: Ctx, p: dict[str, int]) -> list[str]:
    sizes = ",".join(str(n) for n in (1000, 10_000, 100_000)[: p["nsizes"]])
    return [ctx.python, str(Path(__file__).parent / "py" / "b8_export.py"), f"--sizes={sizes}"]


def _b9(side: str) -> Callable[[Ctx, dict[str, int]], list[str]]:
    def argv(ctx: Ctx, p: dict[str, int]) -> list[str]:
        return [ctx.python, str(HERE / "stopwatch.py"), "--side", side]

    return argv


def _no_c(ctx: Ctx, p: dict[str, int]) -> list[str]:
    return []  # a bpfkit-only benchmark: no C counterpart


NS_MS = 1e-6
KIB_MIB = 1 / 1024
PER_S_M = 1e-6

# B4 and B5 (ring and perf buffer) report the same consumer kinds and modes, against C's concurrent and drain runs
_STREAM_METRICS: tuple[Metric, ...] = (
    Metric("callback.concurrent", "callback, concurrent (poll)", "Mrec/s", "higher", "out.callback.concurrent.records_per_s",
           "out.concurrent.records_per_s", PER_S_M, Target(">=", 0.10)),
    Metric("callback.drain", "callback, drain (consume)", "Mrec/s", "higher", "out.callback.drain.records_per_s",
           "out.drain.records_per_s", PER_S_M, Target(">=", 0.10)),
    Metric("batch.concurrent", "batch/NumPy, concurrent", "Mrec/s", "higher", "out.batch.concurrent.records_per_s",
           "out.concurrent.records_per_s", PER_S_M, Target(">=", 0.5)),
    Metric("batch.drain", "batch/NumPy, drain", "Mrec/s", "higher", "out.batch.drain.records_per_s",
           "out.drain.records_per_s", PER_S_M, Target(">=", 0.5)),
    Metric("zero_copy.drain", "callback zero_copy=True, drain", "Mrec/s", "higher",
           "out.variants.zero_copy.drain.records_per_s", "out.drain.records_per_s", PER_S_M),
    Metric("raw.drain", "read_batch() untyped (V64), drain", "Mrec/s", "higher",
           "out.variants.raw.drain.records_per_s", "out.drain.records_per_s", PER_S_M),
    # issue 18: the callback path against the Python floor measured in the same bpfkit process (the "C" columns
    # hold the floor): a loop handing each record as a bytes slice to the same callback; >= 0.67: at most 1.5x its time per record
    Metric("callback.drain.floor", "callback, drain [ref: Python floor, same callback]", "Mrec/s", "higher",
           "out.callback.drain.records_per_s", "py:out.floor.callback.records_per_s", PER_S_M, Target(">=", 0.67)),
    Metric("floor.trivial", "Python floor, trivial callback [ref: same, checking callback]", "Mrec/s", "higher",
           "out.floor.trivial.records_per_s", "py:out.floor.callback.records_per_s", PER_S_M),
)

BENCHES: tuple[Bench, ...] = (
    Bench(
        id="B1",
        title="start to attached: load + attach bootstrap.bpf.o in a fresh process",
        fresh=True,
        sizes={
            "full": Sizes(10, {"min_duration_ns": B1_MIN_DURATION_NS}),
            "quick": Sizes(3, {"min_duration_ns": B1_MIN_DURATION_NS}),
            "tiny": Sizes(1, {"min_duration_ns": B1_MIN_DURATION_NS}),
        },
        c_argv=_b1_c,
        py_argv=_b1_py,
        metrics=(
            Metric("time", "spawn to attached", "ms", "lower", "out.since_spawn_ns", "out.since_spawn_ns", NS_MS, Target("<=", 2.0)),
            Metric("rss", "peak RSS", "MiB", "lower", "out.peak_rss_kib", "out.peak_rss_kib", KIB_MIB, Target("<=", 4.0)),
            Metric("main", "first line to attached", "ms", "lower", "out.main_to_attached_ns", "out.main_to_attached_ns", NS_MS),
        ),
    ),
    Bench(
        id="B2",
        title="single-element map ops, u32 -> u64, m[k] / m[k] = v / del m[k]",
        fresh=False,
        sizes={
            "full": Sizes(5, {"n": 100_000, "inner_rounds": 3}),
            "quick": Sizes(2, {"n": 10_000, "inner_rounds": 3}),
            "tiny": Sizes(1, {"n": 1_000, "inner_rounds": 1}),
        },
        c_argv=_b2_c,
        py_argv=_py_script("b2_mapops.py"),
        metrics=tuple(
            Metric(f"{m}.{op}", f"{m} {op}", "ns/op", "lower", f"out.{m}.{op}.median", f"out.{m}.{op}.median", 1.0, Target("<=", 2.0))
            for m, op in (("hash", "insert"), ("hash", "lookup"), ("hash", "update"), ("hash", "delete"),
                          ("array", "update"), ("array", "lookup"))
        ) + tuple(
            Metric(f"floor.{m}.{op}", f"{m} {op} [bare ctypes loop]", "ns/op", "lower", f"out.floor.{m}.{op}.median",
                   f"out.{m}.{op}.median")
            for m, op in (("hash", "lookup"), ("array", "lookup"))
        ),
    ),
    Bench(
        id="B3",
        title="dump a u32 -> u64 hash map into Python vs bpf_map_lookup_batch",
        fresh=False,
        sizes={
            "full": Sizes(5, {"n": 1_000_000, "batch": 4096, "inner_rounds": 1}),
            "quick": Sizes(2, {"n": 100_000, "batch": 4096, "inner_rounds": 1}),
            "tiny": Sizes(1, {"n": 5_000, "batch": 1024, "inner_rounds": 1}),
        },
        c_argv=_b3_c,
        py_argv=_py_script("b3_dump.py"),
        metrics=(
            Metric("items", "dict(m.items())", "ms", "lower", "out.items.median_ns", "out.batch.median_ns", NS_MS, Target("<=", 1.5)),
            Metric("numpy", "NumPy path", "ms", "lower", "out.numpy.median_ns", "out.batch.median_ns", NS_MS, Target("<=", 1.1)),
            Metric("next_key", "items(batch=False) vs get_next_key+lookup", "ms", "lower", "out.next_key.median_ns",
                   "out.next_key.median_ns", NS_MS),
        ),
    ),
    Bench(
        id="B4",
        title="ring buffer: 64-byte records from a bpf_loop producer (BPF_PROG_RUN)",
        fresh=False,
        sizes={
            "full": Sizes(5, {"n": 1_000_000, "batch": 1024, "ring_kib": 1024}),
            "quick": Sizes(2, {"n": 100_000, "batch": 1024, "ring_kib": 1024}),
            "tiny": Sizes(1, {"n": 10_000, "batch": 1024, "ring_kib": 1024}),
        },
        c_argv=_b4_c,
        py_argv=_py_script("b4_ringbuf.py"),
        needs=("prog:syscall", "helper:bpf_loop@syscall", "helper:bpf_loop@raw_tracepoint"),  # producer.bpf.o
        metrics=(
            *_STREAM_METRICS,
            # the C program prints the producer's failed reserves (rb_dropped) as "lost"
            Metric("dropped", "records dropped, concurrent", "records", "lower", "out.dropped_concurrent", "out.concurrent.lost", 1.0,
                   Target("==", 0)),
        ),
    ),
    Bench(
        id="B5",
        title="perf buffer: 64-byte records from a bpf_loop producer (BPF_PROG_RUN)",
        fresh=False,
        sizes={
            "full": Sizes(5, {"n": 1_000_000, "batch": 1024, "pages": 256, "wakeup": 1}),
            "quick": Sizes(2, {"n": 100_000, "batch": 1024, "pages": 256, "wakeup": 1}),
            "tiny": Sizes(1, {"n": 10_000, "batch": 1024, "pages": 256, "wakeup": 1}),
        },
        c_argv=_b5_c,
        py_argv=_py_script("b5_perfbuf.py"),
        needs=("prog:syscall", "helper:bpf_loop@syscall", "helper:bpf_loop@raw_tracepoint"),  # the same object
        metrics=(
            *_STREAM_METRICS,
            Metric("dropped", "records dropped, concurrent", "records", "lower", "out.dropped_concurrent", "out.concurrent.dropped", 1.0,
                   Target("==", 0)),
            Metric("lost", "PERF_RECORD_LOST, concurrent", "records", "lower", "out.lost_concurrent", "out.concurrent.lost", 1.0),
        ),
    ),
    Bench(
        id="B6",
        title="vmlinux.h: bpfkit btf dump --format c vs bpftool btf dump ... format c",
        fresh=True,
        sizes={"full": Sizes(5), "quick": Sizes(2), "tiny": Sizes(1)},
        c_argv=_b6_c,
        py_argv=_b6_py,
        metrics=(
            Metric("time", "wall time", "s", "lower", "spawn.wall_ns", "spawn.wall_ns", 1e-9, Target("<=", 10.0)),
            Metric("rss", "peak RSS", "MiB", "lower", "spawn.maxrss_kib", "spawn.maxrss_kib", KIB_MIB, Target("<=", 4.0)),
            Metric("cpu", "user+sys CPU", "s", "lower", "spawn.cpu_us", "spawn.cpu_us", 1e-6),
        ),
        output_file=True,
    ),
    Bench(
        id="B7",
        title="attach then detach 20 uprobes + 20 uretprobes on libc functions",
        fresh=False,
        sizes={"full": Sizes(7, {"n": 20}), "quick": Sizes(3, {"n": 20}), "tiny": Sizes(1, {"n": 2})},
        c_argv=_b7_c,
        py_argv=_b7_py,
        needs=("prog:kprobe",),
        metrics=(
            Metric("attach", "attach (symbol lookup + perf_event_open + link)", "ms", "lower", "out.attach_ns",
                   "out.attach_ns", NS_MS, Target("<=", 1.5)),
            Metric("detach", "detach every link", "ms", "lower", "out.detach_ns", "out.detach_ns", NS_MS,
                   Target("<=", 1.0)),
        ),
    ),
    Bench(
        id="B9",
        title="stop: SIGINT to process exit (links closed), and the bootstrap tool as a user runs it",
        fresh=True,
        sizes={"full": Sizes(5), "quick": Sizes(2), "tiny": Sizes(1)},
        c_argv=_b9("c"),
        py_argv=_b9("bpfkit"),
        needs=("tracefs",),
        metrics=(
            Metric("stop.bootstrap", "SIGINT to exit, bootstrap.bpf.o (2 tracepoints, ring buffer)", "ms", "lower",
                   "out.bootstrap.stop_ns", "out.bootstrap.stop_ns", NS_MS, Target("<=", 0.5)),
            Metric("stop.stop16", "SIGINT to exit, 16 tracepoint links", "ms", "lower",
                   "out.stop16.stop_ns", "out.stop16.stop_ns", NS_MS, Target("<=", 0.5)),
            Metric("floor.bootstrap", "kernel floor: 2 tracepoint perf events (no BPF) closed at once (C: stop above)",
                   "ms", "lower", "out.floor2.close_ns", "out.bootstrap.stop_ns", NS_MS),
            Metric("floor.stop16", "kernel floor: 16 tracepoint perf events (no BPF) closed at once (C: stop above)",
                   "ms", "lower", "out.floor16.close_ns", "out.stop16.stop_ns", NS_MS),
            Metric("stop16.vs.floor", "SIGINT to exit, 16 links [ref: kernel floor, 16 perf events closed]", "ms", "lower",
                   "out.stop16.stop_ns", "py:out.floor16.close_ns", NS_MS),
            Metric("best_c.bootstrap", "the best stop of a C program: libbpf's links destroyed concurrently, bootstrap "
                   "[bpfkit column: that C program]", "ms", "lower", "c:out.bootstrap_concurrent.stop_ns",
                   "out.bootstrap.stop_ns", NS_MS),
            Metric("best_c.stop16", "the best stop of a C program: libbpf's links destroyed concurrently, 16 links "
                   "[bpfkit column: that C program]", "ms", "lower", "c:out.stop16_concurrent.stop_ns",
                   "out.stop16.stop_ns", NS_MS),
            Metric("bootstrap.vs.best_c", "SIGINT to exit, bootstrap [ref: C destroying its links concurrently]", "ms",
                   "lower", "out.bootstrap.stop_ns", "out.bootstrap_concurrent.stop_ns", NS_MS),
            Metric("stop16.vs.best_c", "SIGINT to exit, 16 links [ref: C destroying its links concurrently]", "ms",
                   "lower", "out.stop16.stop_ns", "out.stop16_concurrent.stop_ns", NS_MS),
            Metric("tool.stop", "`bpfkit bootstrap`: SIGINT to exit (C: as above)", "ms", "lower",
                   "out.tool.stop_ns", "out.bootstrap.stop_ns", NS_MS),
            Metric("start.bootstrap", "spawn to attached (ready line), bootstrap.bpf.o", "ms", "lower",
                   "out.bootstrap.start_ns", "out.bootstrap.start_ns", NS_MS),
            Metric("tool.start", "B1 as a user runs it: `bpfkit bootstrap --duration 0`, spawn to ready (C: b9_stop)",
                   "ms", "lower", "out.tool_duration0.start_ns", "out.bootstrap.start_ns", NS_MS, Target("<=", 2.5)),
        ),
    ),
    Bench(
        id="B8",
        title="bpfkit export: /metrics scrape of a map of 1k/10k/100k series (two labels each), idle RSS",
        fresh=False,
        sizes={"full": Sizes(1, {"nsizes": 3}), "quick": Sizes(1, {"nsizes": 2}), "tiny": Sizes(1, {"nsizes": 1})},
        c_argv=_no_c,
        py_argv=_b8_py,
        metrics=(
            Metric("idle_rss", "exporter idle RSS", "MiB", "lower", "out.idle_rss_kib", None, KIB_MIB),
            *(Metric(f"rss.{n}", f"exporter RSS serving {n} series", "MiB", "lower", f"out.{n}.rss_kib", None, KIB_MIB)
              for n in (10_000, 100_000)),
            *(Metric(f"scrape.{n}", f"scrape wall, {n} series", "s", "lower", f"out.{n}.scrape_s", None, 1.0)
              for n in (1000, 10_000, 100_000)),
            *(Metric(f"cpu.{n}", f"exporter CPU per scrape, {n} series", "s", "lower", f"out.{n}.cpu_s", None, 1.0)
              for n in (1000, 10_000, 100_000)),
        ),
    ),
)
BENCH_IDS = tuple(b.id for b in BENCHES)


# ---- running one side -----------------------------------------------------------------------------


class SideError(Exception):
    """A side's process failed or printed something that is not its JSON."""


@dataclass
class Run:
    """One process: its JSON (None for output-file benchmarks) and the launcher's report."""

    out: Json | None
    spawn: Json

    def as_json(self) -> Json:
        return {"out": self.out, "spawn": self.spawn}


def _spawn(ctx: Ctx, argv: list[str], *, env: dict[str, str], output: Path | None, timeout: float) -> Run:
    """Start ``argv`` through the launcher; return its parsed stdout JSON and the launcher's measurements."""
    cmd = [str(ctx.build / "spawn"), "-e", SPAWN_ENV]
    if output is not None:
        cmd += ["-o", str(output)]
    cmd += ["--", *argv]
    try:
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SideError(f"timed out after {timeout:.0f} s: {shlex.join(argv)}") from None
    lines = proc.stderr.splitlines()
    reports = [ln for ln in lines if ln.startswith("@spawn ")]
    stderr = "\n".join(ln for ln in lines if not ln.startswith("@spawn "))
    if not reports:
        raise SideError(f"launcher failed ({proc.returncode}): {shlex.join(argv)}\n{stderr.strip()}")
    spawn = json.loads(reports[-1][len("@spawn "):])
    spawn["cpu_us"] = spawn["utime_us"] + spawn["stime_us"]
    if spawn["status"] != 0 or spawn["signal"]:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise SideError(f"exit status {spawn['status']}, signal {spawn['signal']}: {shlex.join(argv)}\n{tail}")
    if output is not None:
        spawn["output_bytes"] = output.stat().st_size
        if spawn["output_bytes"] == 0:
            raise SideError(f"wrote nothing: {shlex.join(argv)}")
        return Run(None, spawn)
    text = proc.stdout.strip()
    try:
        out = json.loads(text.splitlines()[-1]) if text else None
    except json.JSONDecodeError:
        out = None
    if not isinstance(out, dict):
        raise SideError(f"no JSON object on stdout: {shlex.join(argv)}\n{text[-2000:]}\n{stderr.strip()[-2000:]}")
    return Run(out, spawn)


def _pick(run: Json, path: str) -> float | None:
    cur: Any = run
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    if isinstance(cur, bool) or not isinstance(cur, (int, float)):
        return None
    return float(cur)


def _stats(values: list[float], better: str) -> Json:
    return {
        "samples": values,
        "min": min(values),
        "max": max(values),
        "median": statistics.median(values),
        "best": min(values) if better == "lower" else max(values),
    }


# ---- one benchmark --------------------------------------------------------------------------------


@dataclass
class Side:
    """What one side of a benchmark produced over the rounds."""

    argv: list[str]
    runs: list[Run] = field(default_factory=list)
    unavailable: str | None = None
    unavailable_metrics: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def _note_unavailable(side: Side, run: Run) -> bool:
    """Record a bpfkit side's "not available" answer; True when the whole side is unavailable."""
    if run.out is None:
        return False
    if isinstance(run.out.get("unavailable"), str):
        side.unavailable = run.out["unavailable"]
        return True
    parts = run.out.get("unavailable_metrics")
    if isinstance(parts, dict):
        side.unavailable_metrics.update({str(k): str(v) for k, v in parts.items()})
    return False


def run_bench(bench: Bench, ctx: Ctx, mode: Mode, rounds: int | None, warmup: int, env: dict[str, str],
              log: Callable[[str], None]) -> Json:
    """Run ``bench`` interleaved (C, bpfkit, C, bpfkit ...) and return its JSON entry."""
    sizes = bench.sizes[mode]
    n_rounds = rounds if rounds is not None else sizes.rounds
    params = dict(sizes.params)
    c = Side(bench.c_argv(ctx, params))
    py = Side(bench.py_argv(ctx, params))
    if not c.argv:
        c.unavailable = "no C counterpart (bpfkit-only benchmark)"
    from bpfkit.testing import patience  # an emulated guest (the kernel matrix sets the slowdown)

    timeout = patience({"full": 900.0, "quick": 180.0, "tiny": 120.0}[mode])
    t0 = time.monotonic()
    lacking = _kernel_lacks(ctx, bench.needs)
    if lacking:  # neither side can run here: say why instead of failing on both
        c.unavailable = py.unavailable = lacking
        log(f"  {bench.id}: not available on this kernel: {lacking}")

    def one(side: Side, label: str, keep: bool) -> None:
        if side.error or side.unavailable:
            return
        output = ctx.tmp / f"{bench.id}-{label}.out" if bench.output_file else None
        try:
            run = _spawn(ctx, side.argv, env=env, output=output, timeout=timeout)
        except SideError as exc:
            side.error = str(exc)
            log(f"  {bench.id} {label}: ERROR {str(exc).splitlines()[0]}")
            return
        finally:
            if output is not None and output.exists():
                output.unlink()
        if label == "bpfkit" and _note_unavailable(side, run):
            log(f"  {bench.id} bpfkit: not available: {side.unavailable}")
            return
        if keep:
            side.runs.append(run)

    for _ in range(warmup):
        one(c, "C", keep=False)
        one(py, "bpfkit", keep=False)
    for r in range(n_rounds):
        one(c, "C", keep=True)
        one(py, "bpfkit", keep=True)
        log(f"  {bench.id} round {r + 1}/{n_rounds} done ({time.monotonic() - t0:.1f} s)")

    metrics = [_metric_entry(m, c, py) for m in bench.metrics]
    status = "ok"
    if c.error or py.error:
        status = "error"
    elif lacking:
        status = "kernel lacks"
    elif py.unavailable or any(m["verdict"] == "n/a" for m in metrics):
        status = "partial" if any(m["bpfkit"] is not None for m in metrics) else "not available"
    return {
        "title": bench.title,
        "fresh_process_per_measurement": bench.fresh,
        "params": params,
        "rounds": n_rounds,
        "warmup_rounds": warmup,
        "status": status,
        "seconds": round(time.monotonic() - t0, 3),
        "c": _side_json(c),
        "bpfkit": _side_json(py),
        "metrics": metrics,
    }


def _kernel_lacks(ctx: Ctx, needs: tuple[str, ...]) -> str | None:
    """What the running kernel lacks of ``needs``, by bpfkit's feature probes (None when it has them all)."""
    if not needs:
        return None
    code = ("import sys\nfrom bpfkit import features\nfrom bpfkit.errors import NotSupportedError\n"
            "try:\n    [features.require(n) for n in sys.argv[1:]]\n"
            "except NotSupportedError as e:\n    print(e)\n")
    res = subprocess.run([ctx.python, "-c", code, *needs], capture_output=True, text=True, check=False, timeout=60)
    if res.returncode != 0:
        raise SystemExit(f"bench: probing the kernel for {', '.join(needs)} failed: {res.stderr.strip()}")
    return res.stdout.strip() or None


def _side_json(side: Side) -> Json:
    out: Json = {"command": side.argv, "runs": [r.as_json() for r in side.runs]}
    if side.unavailable:
        out["not_available"] = side.unavailable
    if side.unavailable_metrics:
        out["not_available_metrics"] = side.unavailable_metrics
    if side.error:
        out["error"] = side.error
    return out


def _values(runs: list[Run], path: str, scale: float) -> list[float] | None:
    vals = []
    for r in runs:
        v = _pick(r.as_json(), path)
        if v is None or not math.isfinite(v):
            return None
        vals.append(v * scale)
    return vals or None


def _metric_entry(m: Metric, c: Side, py: Side) -> Json:
    entry: Json = {
        "key": m.key, "label": m.label, "unit": m.unit, "better": m.better,
        "target": None if m.target is None else {"op": m.target.op, "value": m.target.value},
        "c": None, "bpfkit": None, "ratio": None, "verdict": "n/a",
    }
    ref = py if m.c and m.c.startswith("py:") else c  # "py:": the reference is measured by the bpfkit side
    cv = _values(ref.runs, m.c.removeprefix("py:"), m.scale) if m.c else None
    if cv:
        entry["c"] = _stats(cv, m.better)
    elif ref.error:
        entry["c_error"] = ref.error.splitlines()[0]
    src = c if m.py.startswith("c:") else py  # "c:": the bpfkit column shows a second C measurement
    path = m.py.removeprefix("c:")
    head = path.split(".")[1] if path.startswith("out.") else ""
    reason = src.unavailable or src.unavailable_metrics.get(head)
    pv = None if reason else _values(src.runs, path, m.scale)
    if reason:
        entry["not_available"] = reason
    elif src.error:
        entry["bpfkit_error"] = src.error.splitlines()[0]
    elif not pv and src.runs:
        entry["not_available"] = f"the bpfkit side reported no {path[4:] if head else path}"
    if pv:
        entry["bpfkit"] = _stats(pv, m.better)
    if entry["c"] and entry["bpfkit"] and entry["c"]["median"]:
        entry["ratio"] = entry["bpfkit"]["median"] / entry["c"]["median"]
    entry["verdict"] = _verdict(m, entry)
    if entry["verdict"] == "MISS" and m.target is not None and m.target.op != "==" and entry["ratio"]:
        # how far off: the factor by which bpfkit would have to improve to meet the target
        r, t = entry["ratio"], m.target.value
        entry["miss_factor"] = r / t if m.target.op == "<=" else t / r
    return entry


def _verdict(m: Metric, e: Json) -> str:
    if e["bpfkit"] is None:
        return "n/a"
    t = m.target
    if t is None:
        return "info"
    if t.op == "==":
        return "PASS" if e["bpfkit"]["max"] == t.value else "MISS"
    if e["ratio"] is None:
        return "n/a"
    ok = e["ratio"] <= t.value if t.op == "<=" else e["ratio"] >= t.value
    return "PASS" if ok else "MISS"


# ---- import report (issue 18) ---------------------------------------------------------------------

# The three starts the import report compares: a bare interpreter, `import bpfkit`, and what B1 does.
_IMPORT_CASES: dict[str, str] = {
    "python -c pass": "",
    "import bpfkit": "import bpfkit",
    "import bpfkit + load + attach bootstrap.bpf.o": (
        "import bpfkit\n"
        "with bpfkit.load(sys.argv[1], constants={'min_duration_ns': 0}) as obj:\n"
        "    obj.attach()\n"
    ),
}
_WATCH = ("typing", "dataclasses", "inspect", "enum", "ctypes", "bpfkit._uapi._generated_lazy")


def _importtime(python: str, code: str, env: dict[str, str], obj: Path) -> tuple[dict[str, float], list[str]]:
    """One ``python -X importtime`` run of ``code``: {module: self µs} and the modules loaded at its end."""
    prog = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))\n"
    proc = subprocess.run([python, "-X", "importtime", "-c", prog, str(obj)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise SideError(f"importtime run failed: {proc.stderr.strip()[-2000:]}")
    selfs: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _cum, name = (part.strip() for part in line[len("import time:"):].split("|"))
        selfs[name] = float(own)
    return selfs, proc.stdout.split()


def import_report(ctx: Ctx, env: dict[str, str], rounds: int) -> Json:
    """``-X importtime`` of the three starts of _IMPORT_CASES, ``rounds`` times each (interleaved): module
    counts, the summed self time of every import (median over the rounds), the heaviest modules, and which
    of _WATCH each start imports. A report, not a target: the B1 row is the timed start."""
    obj = ctx.build / "bootstrap.bpf.o"
    runs: dict[str, list[tuple[dict[str, float], list[str]]]] = {k: [] for k in _IMPORT_CASES}
    for _ in range(rounds):
        for label, code in _IMPORT_CASES.items():
            runs[label].append(_importtime(ctx.python, code, env, obj))
    out: Json = {"rounds": rounds, "cases": {}}
    for label, rs in runs.items():
        modules = rs[-1][1]
        names = sorted({n for selfs, _ in rs for n in selfs})
        per_module = {n: statistics.median([selfs.get(n, 0.0) for selfs, _ in rs]) for n in names}
        out["cases"][label] = {
            "modules": len(modules),
            "imports_ms": statistics.median([sum(selfs.values()) for selfs, _ in rs]) / 1000,
            "heaviest_ms": {n: round(v / 1000, 3) for n, v in sorted(per_module.items(), key=lambda kv: -kv[1])[:8]},
            "imported": [w for w in _WATCH if w in modules],
        }
    return out


def _error_gist(error: str) -> str:
    """A side's failure in one line: what ran and how it ended, and the last line it printed (its reason)."""
    lines = [ln.strip() for ln in error.splitlines() if ln.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else error
    return f"{lines[0]} ... {lines[-1]}"


def format_import_report(rep: Json) -> str:
    """The import report as text: one line per start, then the heaviest modules of a load."""
    lines = [f"imports (python -X importtime, median of {rep['rounds']} runs; 'import time' = the summed self time "
             "of every module imported):"]
    base = None
    for label, c in rep["cases"].items():
        extra = "" if base is None else f" (+{c['modules'] - base})"
        base = c["modules"] if base is None else base
        watched = ", ".join(c["imported"]) or "none"
        lines.append(f"  {label:<48} {c['modules']:>4} modules{extra:<7} {c['imports_ms']:6.1f} ms   of {', '.join(_WATCH)}: "
                     f"{watched}")
    last = list(rep["cases"].values())[-1]
    lines.append("  heaviest modules of the load (self ms): "
                 + ", ".join(f"{n} {v:.2f}" for n, v in last["heaviest_ms"].items()))
    return "\n".join(lines)


# ---- machine facts ------------------------------------------------------------------------------


def _first_line(cmd: Sequence[str]) -> str | None:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0] if out else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _meminfo_kib(name: str) -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_facts(python: str) -> Json:
    """CPU, cores, kernel, Python and the tools' versions: what a reader needs to weigh the numbers."""
    u = os.uname()
    py_version = _first_line([python, "-c", "import sys, platform; print(platform.python_implementation(), sys.version.split()[0])"])
    commit = _first_line(["git", "-C", str(ROOT), "rev-parse", "HEAD"])
    dirty = _first_line(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_kib": _meminfo_kib("MemTotal"),
        "kernel": u.release,
        "kernel_version": u.version,
        "arch": u.machine,
        "python": py_version,
        "python_executable": python,
        "numpy": _first_line([python, "-c", "import numpy; print(numpy.__version__)"]),
        "pyelftools": _package_version("pyelftools"),
        "libbpf": _libbpf_version(),
        "bpftool": _first_line(["bpftool", "version"]),
        "clang": _first_line(["clang", "--version"]),
        "cc": _first_line(["cc", "--version"]),
        "bpfkit_commit": commit + ("+dirty" if dirty else "") if commit else None,
        "loadavg_start": os.getloadavg(),
    }


def _libbpf_version() -> str | None:
    """The version of the libbpf the C side builds against: pkg-config's, else its header's (a minimal
    userland, such as the arm64 matrix guests', has libbpf-dev but no pkg-config)."""
    version = _first_line(["pkg-config", "--modversion", "libbpf"])
    if version:
        return version
    try:
        header = Path("/usr/include/bpf/libbpf_version.h").read_text()
    except OSError:
        return None
    parts = dict(re.findall(r"#define\s+LIBBPF_(MAJOR|MINOR)_VERSION\s+(\d+)", header))
    return f"{parts['MAJOR']}.{parts['MINOR']}" if len(parts) == 2 else None


# ---- table ----------------------------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def format_table(results: Json) -> str:
    """The benchmark table: per metric the best and median of each side, ratio of medians, target, verdict."""
    head = ("bench", "metric", "unit", "C best", "C median", "bpfkit best", "bpfkit median", "ratio", "target", "verdict")
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for bid, b in results["benchmarks"].items():
        for m in b["metrics"]:
            c, p = m["c"], m["bpfkit"]
            target = m["target"]
            tgt = "-" if target is None else (f"{target['op']} {target['value']:g}")
            if p is None:
                verdict = "n/a"
                if b["bpfkit"].get("not_available"):
                    notes.append(f"{bid}: bpfkit side not available: {b['bpfkit']['not_available']}")
                elif b["bpfkit"].get("error"):
                    notes.append(f"{bid}: bpfkit side failed: {_error_gist(b['bpfkit']['error'])}")
                elif m.get("not_available"):
                    notes.append(f"{bid} {m['label']}: not available: {m['not_available']}")
            else:
                verdict = m["verdict"]
                if m.get("miss_factor"):
                    verdict += f" x{m['miss_factor']:.2f}"
            ratio = "-" if m["ratio"] is None else f"{m['ratio']:.2f}"
            rows.append((bid, m["label"], m["unit"], _fmt(c and c["best"]), _fmt(c and c["median"]),
                         _fmt(p and p["best"]), _fmt(p and p["median"]), ratio, tgt, verdict))
        if b["c"].get("error"):
            notes.append(f"{bid} C side failed: {_error_gist(b['c']['error'])}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    right = {3, 4, 5, 6, 7}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [line(head), line(["-" * w for w in widths])]
    last = None
    for r in rows:
        if last is not None and r[0] != last:
            out.append("")
        out.append(line(r))
        last = r[0]
    out.append("")
    out.append("best = min for times and sizes, max for rates; ratio = bpfkit median / C median; "
               "a '== 0' target is on bpfkit's worst round;")
    out.append("MISS xF: bpfkit would have to get F times better to meet the target.")
    out.append("[ref: ...] rows: the C columns hold that reference, measured in the same run; [bpfkit column: ...] rows: "
               "the bpfkit columns hold a second C program.")
    seen = set()
    for n in notes:
        if n not in seen:
            out.append(n)
            seen.add(n)
    return "\n".join(out)


def format_machine(m: Json) -> str:
    return (f"machine: {m['cpu_model']}, {m['cores']} cores ({m['usable_cores']} usable), "
            f"{(m['memory_kib'] or 0) / 1048576:.1f} GiB; Linux {m['kernel']} {m['arch']}; {m['python']}; "
            f"NumPy {m['numpy'] or 'absent'}; libbpf {m['libbpf']}; {m['bpftool']}; bpfkit {m['bpfkit_commit']}")


# ---- main -----------------------------------------------------------------------------------------


def build(build_dir: Path, log: Callable[[str], None]) -> None:
    """``make -C bench/c`` and the launcher; a failure stops the run (nothing to compare against)."""
    jobs = str(max(1, len(os.sched_getaffinity(0))))
    log(f"building the C references: make -C bench/c -j{jobs} BUILD={build_dir}")
    proc = subprocess.run(["make", "-s", "-C", str(HERE / "c"), f"-j{jobs}", f"BUILD={build_dir}"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench: building the C references failed:\n{proc.stdout}{proc.stderr}")
    spawn_src, spawn_exe = HERE / "spawn.c", build_dir / "spawn"
    if not spawn_exe.exists() or spawn_exe.stat().st_mtime < spawn_src.stat().st_mtime:
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", str(spawn_src), "-o", str(spawn_exe)], check=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sizes = ap.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="small sizes and few rounds: under a minute")
    sizes.add_argument("--tiny", action="store_true", help="smallest sizes, one round, no warm-up (the test suite's mode)")
    ap.add_argument("--only", metavar="B1,B3", help="run only these benchmarks")
    ap.add_argument("--rounds", type=int, metavar="N", help="rounds per benchmark (default: per benchmark and mode)")
    ap.add_argument("--warmup", type=int, metavar="N", help="untimed rounds first (default 1; 0 with --tiny)")
    ap.add_argument("--json", default=str(HERE / "results.json"), metavar="PATH",
                    help="write the results here (default bench/results.json; '' for none)")
    ap.add_argument("--python", default=sys.executable, help="interpreter of the bpfkit side (default: this one)")
    ap.add_argument("--build-dir", default=str(DEFAULT_BUILD), help="where the C side is built (default bench/build)")
    ap.add_argument("--no-build", action="store_true", help="use the C programs already built")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        ap.error("--rounds must be >= 1")
    if args.warmup is not None and args.warmup < 0:
        ap.error("--warmup must be >= 0")
    if args.only:
        wanted = [s.strip().upper() for s in args.only.split(",") if s.strip()]
        bad = [s for s in wanted if s not in BENCH_IDS]
        if bad or not wanted:
            ap.error(f"--only takes a comma-separated list of {', '.join(BENCH_IDS)}; got {args.only!r}")
        args.only = wanted
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    mode: Mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    warmup = args.warmup if args.warmup is not None else (0 if mode == "tiny" else 1)

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    if os.geteuid() != 0:
        log("bench: not root; loading BPF programs will most likely fail")
    build_dir = Path(args.build_dir).resolve()
    if not args.no_build:
        build(build_dir, log)
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["BENCH_BUILD"] = str(build_dir)
    env.pop(SPAWN_ENV, None)
    # Start-up is measured with compiled bytecode, as an installed package has it: without it every
    # bpfkit process compiles ~100 modules first (~80 ms here). The cache lives in the build directory.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(build_dir / "pycache")
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    results: Json = {
        "schema": 1,
        "command": [os.path.relpath(sys.argv[0], ROOT) if argv is None else "bench/run.py", *(sys.argv[1:] if argv is None else argv)],
        "mode": mode,
        "started": started.isoformat(timespec="seconds"),
        "machine": machine_facts(args.python),
        "benchmarks": {},
    }
    results["machine"]["python_bytecode_cache"] = env["PYTHONPYCACHEPREFIX"]
    with tempfile.TemporaryDirectory(prefix="bpfkit-bench-") as tmp:
        ctx = Ctx(build=build_dir, python=args.python, tmp=Path(tmp))
        for bench in BENCHES:
            if args.only and bench.id not in args.only:
                continue
            log(f"{bench.id}: {bench.title}")
            results["benchmarks"][bench.id] = run_bench(bench, ctx, mode, args.rounds, warmup, env, log)
        if not args.only or "B1" in args.only:
            log("imports: python -X importtime of import bpfkit and of a load")
            try:
                results["imports"] = import_report(ctx, env, {"full": 5, "quick": 3, "tiny": 1}[mode])
            except SideError as exc:
                results["imports"] = {"error": str(exc)}
    results["seconds"] = round(time.monotonic() - t0, 1)
    results["machine"]["loadavg_end"] = os.getloadavg()
    print(format_machine(results["machine"]))
    print(f"command: python {shlex.join(results['command'])}   ({results['seconds']} s)")
    print()
    print(format_table(results))
    if "imports" in results:
        print()
        imp = results["imports"]
        print(format_import_report(imp) if "error" not in imp else f"imports: {imp['error']}")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = path.with_name(path.name + ".tmp")
        tmp_path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        tmp_path.replace(path)
        log(f"wrote {path}")
    failed = [bid for bid, b in results["benchmarks"].items() if b["status"] == "error"]
    if failed:
        print(f"bench: errors in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
