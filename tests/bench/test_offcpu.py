"""bench/offcpu.py records where a command's threads sleep in the kernel, with the kernel stacks (B9's evidence)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bpfkit.testing import patience, require
from bpfkit.testing.compile import compile_bpf

ROOT = Path(__file__).resolve().parents[2]
OFFCPU = ROOT / "bench" / "offcpu.py"


def _run(*args: str) -> dict[str, object]:
    obj = compile_bpf(ROOT / "bench" / "bpf" / "offcpu.bpf.c", cflags=["-Werror"])
    out = subprocess.run([sys.executable, str(OFFCPU), "--json", "--object", str(obj), *args], capture_output=True,
                         text=True, timeout=patience(60), check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    data: dict[str, object] = json.loads(out.stdout)
    return data


@pytest.mark.kernel
def test_a_sleep_is_an_interval_in_nanosleep() -> None:
    require("kallsyms")  # the stacks are named from /proc/kallsyms
    data = _run("--min-ms", "5", "--", sys.executable, "-c", "import time; time.sleep(0.3)")
    assert data["origin"] == "start"
    intervals = data["intervals"]
    assert isinstance(intervals, list)
    sleeps = [iv for iv in intervals if any("nanosleep" in f for f in iv["stack"])]
    assert sleeps, intervals
    (iv,) = [iv for iv in sleeps if iv["end_ns"] - iv["start_ns"] >= 250e6]
    assert 0 <= iv["start_ms"] < iv["end_ms"] and iv["tid"] > 0
    assert all(iv["end_ns"] - iv["start_ns"] >= 5e6 for iv in intervals)  # --min-ms


@pytest.mark.kernel
def test_after_sigint_the_wait_it_ends_comes_first() -> None:
    require("kallsyms")
    code = ("import signal, time\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored\n"
            "print('ready', flush=True)\ntry:\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    pass\n")
    data = _run("--sigint-after-ready", "--", sys.executable, "-c", code)
    assert data["origin"] == "SIGINT"
    intervals = data["intervals"]
    assert isinstance(intervals, list) and intervals
    first = intervals[0]
    assert first["start_ms"] == 0 and any("nanosleep" in f for f in first["stack"]), intervals  # clipped to the signal
    assert first["end_ms"] < 1000
