#!/usr/bin/env python3
"""B9's harness: start a tool-like process, wait until it says it is attached, stop it, time the stop.

usage: stopwatch.py --side c|bpfkit [--rounds N]

For each scenario of the side (bootstrap.bpf.o with its ring buffer, stop16.bpf.o
with 16 tracepoint links; on the C side both again with the links destroyed concurrently,
one thread each (b9_stop -j); on the bpfkit side also the ``bpfkit bootstrap`` tool)
it starts the process, reads its "ready" line (the tool: its "Tracing ..." line
on stderr), waits 0.2 s so that it sits in its wait loop, sends SIGINT and times
from the kill() to the end of waitpid(): stop_ns. It also times the spawn to the
ready line (start_ns) and, for ``bpfkit bootstrap --duration 0``, spawn to exit.
After each exit it checks that no bpf_link of the kernel still holds one of the
process's programs (the ids its ready line gave): a stop that leaves a program
attached fails the run instead of giving a number. The bpfkit side also measures the kernel's floor
(b9_floor.py: 2 and 16 tracepoint perf events without BPF, closed at once). Prints one JSON object.
The same harness runs both sides, so its own costs cancel out in the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SETTLE_S = 0.2
TIMEOUT_S = 60.0  # a hang guard, stretched by bpfkit.testing.patience() in an emulated guest


def _build() -> Path:
    env = os.environ.get("BENCH_BUILD")
    return Path(env) if env else HERE / "build"


def scenarios(side: str) -> dict[str, tuple[list[str], str]]:
    """name -> (argv, where the ready line comes: "stdout" or "stderr")."""
    b = _build()
    py = sys.executable
    if side == "c":
        return {
            "bootstrap": ([str(b / "b9_stop"), "-r", "rb", str(b / "bootstrap.bpf.o")], "stdout"),
            "stop16": ([str(b / "b9_stop"), str(b / "stop16.bpf.o")], "stdout"),
            # the best stop a C program can get: its links destroyed concurrently, one thread each (-j)
            "bootstrap_concurrent": ([str(b / "b9_stop"), "-j", "-r", "rb", str(b / "bootstrap.bpf.o")], "stdout"),
            "stop16_concurrent": ([str(b / "b9_stop"), "-j", str(b / "stop16.bpf.o")], "stdout"),
        }
    script = str(HERE / "py" / "b9_stop.py")
    return {
        "bootstrap": ([py, script, "-r", "rb", str(b / "bootstrap.bpf.o")], "stdout"),
        "stop16": ([py, script, str(b / "stop16.bpf.o")], "stdout"),
        "tool": ([*bpfkit_command(), "bootstrap"], "stderr"),
        "tool_duration0": ([*bpfkit_command(), "bootstrap", "--duration", "0"], "stderr"),
    }


def bpfkit_command() -> list[str]:
    """``bpfkit`` as a user runs it: the console script installed next to this Python (a venv's bin/), else
    ``python -m bpfkit`` (which also imports runpy's importlib.util and contextlib)."""
    script = Path(sys.executable).parent / "bpfkit"
    return [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "bpfkit"]


def wait_exit(proc: subprocess.Popen[str], timeout: float) -> int:
    """Block in waitpid() until ``proc`` exits; CLOCK_MONOTONIC (ns) at its exit. Not ``Popen.wait(timeout=...)``:
    that polls with sleeps growing to 50 ms, so every stop it timed read as 113.5, 163.5, 213.5 ... ms. A timer
    kills a process that outlives ``timeout``, and the run fails."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        proc.wait()
        t_exit = time.monotonic_ns()
    finally:
        timer.cancel()
    if proc.returncode == -signal.SIGKILL:
        raise SystemExit(f"stopwatch: {proc.args!r} did not exit within {timeout:.0f} s")
    return t_exit


def measure(argv: list[str], ready_on: str, *, kill: bool) -> dict[str, Any]:
    """One run: spawn, wait for the ready line, (SIGINT), wait for the exit; the times and checks."""
    from bpfkit.testing import patience

    t_spawn = time.monotonic_ns()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stream = proc.stdout if ready_on == "stdout" else proc.stderr
    assert stream is not None
    line = stream.readline()
    t_ready = time.monotonic_ns()
    ready = line.startswith("ready ") if ready_on == "stdout" else line.startswith("Tracing")
    if not ready:
        proc.kill()
        out, err = proc.communicate()
        raise SystemExit(f"stopwatch: {argv} did not say it was ready: {line!r}\n{out[-1000:]}\n{err[-2000:]}")
    ids = json.loads(line[len("ready "):])["prog_ids"] if ready_on == "stdout" else []
    result: dict[str, Any] = {"start_ns": t_ready - t_spawn}
    if kill:
        time.sleep(SETTLE_S)
        t_kill = time.monotonic_ns()
        proc.send_signal(signal.SIGINT)
        result["stop_ns"] = wait_exit(proc, patience(TIMEOUT_S)) - t_kill
    else:
        result["exit_ns"] = wait_exit(proc, patience(TIMEOUT_S)) - t_spawn
    err_tail = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"stopwatch: {argv} exited with {proc.returncode}\n{err_tail[-2000:]}")
    from bpfkit.testing import attached_program_ids

    left = set(ids) & attached_program_ids()
    if left:
        raise SystemExit(f"stopwatch: {argv} exited with programs {sorted(left)} still attached")
    result["links"] = json.loads(line[len("ready "):])["links"] if ids else None
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--side", choices=("c", "bpfkit"), required=True)
    args = ap.parse_args()
    out: dict[str, Any] = {"bench": "b9_stop", "side": args.side}
    for name, (argv, ready_on) in scenarios(args.side).items():
        out[name] = measure(argv, ready_on, kill=name != "tool_duration0")
    if args.side == "bpfkit":  # the kernel's floor, in the same run (see b9_floor.py)
        from b9_floor import close_concurrent, open_events

        for n in (2, 16):
            fds = open_events(n)
            t0 = time.monotonic_ns()
            close_concurrent(fds)
            out[f"floor{n}"] = {"close_ns": time.monotonic_ns() - t0}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
