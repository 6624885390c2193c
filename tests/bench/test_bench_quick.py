"""The benchmark suite runs end to end in its tiny mode, so its code cannot rot. No timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import bpfkit
import bpfkit.links  # so that has("links.x") sees the submodule
from bpfkit import features
from bpfkit.errors import NotSupportedError
from bpfkit.testing import patience, require, require_libbpf
from bpfkit.testing.compile import cache_root

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "bench" / "run.py"
BENCH_IDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9")


def load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", RUNNER)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = mod
    spec.loader.exec_module(mod)
    return mod


BPFKIT_ONLY = {"B8"}  # benchmarks without a C counterpart


def has(*names: str) -> bool:
    """True when every dotted ``bpfkit.<name>`` exists (the API a benchmark needs has landed)."""
    for name in names:
        obj: Any = bpfkit
        for part in name.split("."):
            if not hasattr(obj, part):
                return False
            obj = getattr(obj, part)
    return True


def map_has_numpy_path() -> bool:
    if not has("Map"):
        return False
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return hasattr(bpfkit.Map, "items_numpy")


def expected_available() -> dict[str, set[str]]:
    """Per benchmark, the metric keys whose bpfkit side must have produced numbers by now."""
    out: dict[str, set[str]] = {b: set() for b in BENCH_IDS}
    out["B6"] = {"time", "rss", "cpu"}
    out["B8"] = {"idle_rss", "scrape.1000", "cpu.1000"}  # --tiny stops at 1k series
    if has("load"):
        out["B1"] = {"time", "rss", "main"}
    if has("Map.create"):
        out["B2"] = {f"{m}.{op}" for m, op in (("hash", "insert"), ("hash", "lookup"), ("hash", "update"),
                                                ("hash", "delete"), ("array", "update"), ("array", "lookup"))}
        out["B3"] = {"items", "next_key"} | ({"numpy"} if map_has_numpy_path() else set())
    if has("load", "links.attach_uprobe", "links.close_links"):
        out["B7"] = {"attach", "detach"}
    if has("load"):
        out["B9"] = {"stop.bootstrap", "stop.stop16", "tool.stop", "start.bootstrap", "tool.start", "best_c.bootstrap",
                     "best_c.stop16", "bootstrap.vs.best_c", "stop16.vs.best_c"}
    for bid, cls in (("B4", "RingBuffer"), ("B5", "PerfBuffer")):
        if has("load", cls):
            out[bid] = {"callback.concurrent", "callback.drain", "dropped", "callback.drain.floor", "floor.trivial"}
            if has(f"{cls}.read_batch"):
                out[bid] |= {"batch.concurrent", "batch.drain"}
    return out


def check_stats(stats: Any, rounds: int, where: str) -> None:
    assert isinstance(stats, dict), where
    assert len(stats["samples"]) == rounds, where
    for key in ("min", "max", "median", "best"):
        assert isinstance(stats[key], float) and math.isfinite(stats[key]), f"{where}: {key}"
    assert stats["min"] <= stats["median"] <= stats["max"], where


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.timeout(patience(300))
def test_tiny_run_produces_every_available_number(tmp_path: Path) -> None:
    # what the whole suite needs of the host: B1, B9 and the import report attach bootstrap to tracepoints by
    # name (the probe also mounts tracefs, which the C side's libbpf does not), B8 exports every map by id
    require("tracefs")
    require("object_ids")
    require_libbpf("the benchmarks' C references")
    out = tmp_path / "results.json"
    # C references built in the test cache, per kernel: the checkout may be read-only (kernel matrix guests)
    build = cache_root() / "bench" / os.uname().release
    proc = subprocess.run(
        [sys.executable, str(RUNNER), "--tiny", "--quiet", "--json", str(out), "--build-dir", str(build)],
        cwd=ROOT, capture_output=True, text=True, timeout=patience(280), check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())

    assert data["schema"] == 1 and data["mode"] == "tiny"
    machine = data["machine"]
    for key in ("cpu_model", "cores", "kernel", "python", "libbpf", "bpftool"):
        assert machine[key], key
    assert set(data["benchmarks"]) == set(BENCH_IDS)

    # the import report of issue 18: module counts of the three starts (no timing is checked)
    cases = data["imports"]["cases"]
    assert list(cases) == ["python -c pass", "import bpfkit", "import bpfkit + load + attach bootstrap.bpf.o"]
    counts = [c["modules"] for c in cases.values()]
    assert counts[0] < counts[1] < counts[2]
    assert "typing" not in cases["import bpfkit"]["imported"]

    expected = expected_available()
    for bid, bench in data["benchmarks"].items():
        assert bench["status"] != "error", (bid, bench["c"].get("error"), bench["bpfkit"].get("error"))
        rounds = bench["rounds"]
        assert rounds == 1
        keys = {m["key"] for m in bench["metrics"]}
        if bench["status"] == "kernel lacks":  # a probe found the kernel without what both sides need
            assert bid in ("B4", "B5", "B9"), bid
            needs = ("tracefs",) if bid == "B9" else ("prog:syscall", "helper:bpf_loop@syscall",
                                                         "helper:bpf_loop@raw_tracepoint")
            with pytest.raises(NotSupportedError):  # the probes agree in this process
                for need in needs:
                    features.require(need)
            reason = bench["c"]["not_available"]
            assert reason and reason == bench["bpfkit"]["not_available"], bid
            assert all(m["c"] is None and m["bpfkit"] is None and m["not_available"] == reason
                       for m in bench["metrics"]), bid
            continue
        assert expected[bid] <= keys, bid
        for m in bench["metrics"]:
            where = f"{bid} {m['key']}"
            assert m["unit"] and m["label"] and m["better"] in ("lower", "higher"), where
            # the C side runs wherever a benchmark has one; B8 (bpfkit export) has none: its C side says so
            if bid in BPFKIT_ONLY:
                assert m["c"] is None and bench["c"]["not_available"], where
            else:
                check_stats(m["c"], rounds, where + " (C)")
            if m["key"] in expected[bid]:
                check_stats(m["bpfkit"], rounds, where + " (bpfkit)")
                assert m["verdict"] in ("PASS", "MISS", "info"), where
                if m["target"] is not None and m["target"]["op"] != "==":
                    assert isinstance(m["ratio"], float), where
            elif m["bpfkit"] is None:
                # not landed yet: a reason, never a number
                assert isinstance(m.get("not_available"), str) and m["not_available"], where
                assert m["verdict"] == "n/a" and m["ratio"] is None, where
        # every run kept its raw output for later analysis
        assert len(bench["c"]["runs"]) == (0 if bid in BPFKIT_ONLY else rounds), bid

    # the table names every benchmark and every metric
    for bid, bench in data["benchmarks"].items():
        for m in bench["metrics"]:
            assert any(line.startswith(bid) and m["label"] in line for line in proc.stdout.splitlines()), (bid, m["label"])


def test_ratios_and_verdicts() -> None:
    run = load_runner()
    lower = run.Metric("t", "time", "ms", "lower", "out.t", "out.t", 1.0, run.Target("<=", 2.0))
    higher = run.Metric("r", "rate", "rec/s", "higher", "out.r", "out.r", 1.0, run.Target(">=", 0.5))
    zero = run.Metric("lost", "lost", "records", "lower", "out.lost", "out.lost", 1.0, run.Target("==", 0))

    def side(values: list[float], key: str) -> Any:
        s = run.Side(["x"])
        s.runs = [run.Run({key: v}, {}) for v in values]
        return s

    e = run._metric_entry(lower, side([10, 11, 12], "t"), side([25, 19, 30], "t"))
    assert e["ratio"] == pytest.approx(25 / 11) and e["verdict"] == "MISS"
    assert e["miss_factor"] == pytest.approx(25 / 11 / 2.0)
    assert e["bpfkit"]["best"] == 19 and e["c"]["best"] == 10
    e = run._metric_entry(lower, side([10, 11, 12], "t"), side([20, 21, 22], "t"))
    assert e["ratio"] == pytest.approx(21 / 11) and e["verdict"] == "PASS" and "miss_factor" not in e
    e = run._metric_entry(higher, side([100, 90], "r"), side([40, 50], "r"))
    assert e["ratio"] == pytest.approx(45 / 95) and e["verdict"] == "MISS"
    assert e["miss_factor"] == pytest.approx(0.5 / (45 / 95))
    assert e["bpfkit"]["best"] == 50
    e = run._metric_entry(zero, side([0, 0], "lost"), side([0, 3], "lost"))
    assert e["verdict"] == "MISS"

    gone = run.Side(["x"])
    gone.unavailable = "bpfkit.load has not landed"
    e = run._metric_entry(lower, side([10], "t"), gone)
    assert e["bpfkit"] is None and e["ratio"] is None and e["verdict"] == "n/a"
    assert e["not_available"] == "bpfkit.load has not landed"

    partial = side([5], "t")
    partial.unavailable_metrics = {"t": "the NumPy path has not landed"}
    e = run._metric_entry(lower, side([10], "t"), partial)
    assert e["bpfkit"] is None and e["not_available"] == "the NumPy path has not landed"

    # "c:" puts a second C measurement in the bpfkit column (B9: the best stop a C program gets), "py:" a bpfkit-side
    # reference in the C column
    c_side = side([10, 12, 14], "t")
    c_side.runs = [run.Run({"t": t, "t2": t2}, {}) for t, t2 in ((10, 6), (12, 7), (14, 8))]
    best_c = run.Metric("b", "best C", "ms", "lower", "c:out.t2", "out.t", 1.0)
    e = run._metric_entry(best_c, c_side, gone)  # the bpfkit side plays no part
    assert e["bpfkit"]["median"] == 7 and e["c"]["median"] == 12 and e["ratio"] == pytest.approx(7 / 12)
    assert e["verdict"] == "info" and "not_available" not in e
    floor = run.Metric("f", "floor", "ms", "lower", "out.t", "py:out.t2", 1.0)
    py_side = side([0], "t")
    py_side.runs = [run.Run({"t": 9, "t2": 3}, {})]
    e = run._metric_entry(floor, c_side, py_side)
    assert e["c"]["median"] == 3 and e["bpfkit"]["median"] == 9


def test_benchmark_the_kernel_cannot_run_is_reported_not_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A benchmark whose needs a probe finds missing runs neither side and names what is missing."""
    run = load_runner()
    asked: list[tuple[str, ...]] = []

    def lacks(ctx: Any, needs: tuple[str, ...]) -> str:
        asked.append(needs)
        return "this kernel (5.10.0) does not support program type syscall (needs Linux 5.14 or newer)"

    monkeypatch.setattr(run, "_kernel_lacks", lacks)
    metric = run.Metric("r", "rate", "rec/s", "higher", "out.r", "out.r", 1.0, run.Target(">=", 0.5))
    bench = run.Bench("BX", "a bench", False, {"tiny": run.Sizes(1)}, lambda c, p: ["/nonexistent/c-side"],
                      lambda c, p: ["/nonexistent/py-side"], (metric,), needs=("prog:syscall",))
    ctx = run.Ctx(tmp_path, sys.executable, tmp_path)
    lines: list[str] = []
    out = run.run_bench(bench, ctx, "tiny", None, 1, {}, lines.append)
    assert asked == [("prog:syscall",)]
    assert out["status"] == "kernel lacks"
    assert out["c"]["runs"] == [] and out["bpfkit"]["runs"] == []
    assert out["c"]["not_available"] == out["bpfkit"]["not_available"] == lacks(ctx, ())
    (m,) = out["metrics"]
    assert m["c"] is None and m["bpfkit"] is None and m["verdict"] == "n/a" and "syscall" in m["not_available"]
    assert any("not available on this kernel" in line for line in lines)


def test_libbpf_version_without_pkg_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """A userland with libbpf-dev but no pkg-config (the arm64 matrix guests) still names its libbpf."""
    run = load_runner()
    full = run._libbpf_version()
    if full is None:
        pytest.skip("no libbpf-dev on this machine (neither pkg-config nor /usr/include/bpf/libbpf_version.h)")
    monkeypatch.setattr(run, "_first_line", lambda cmd: None)
    assert run._libbpf_version() == ".".join(full.split(".")[:2])
