"""Helpers of the bpfkit side of the benchmarks: paths, clocks, JSON out, "not available" answers.

Each bench/py/bN_*.py script is the bpfkit counterpart of bench/c/bN_*.c: the same
work, the same sizes, one JSON object on stdout. They use bpfkit's public API only.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

mono_ns = time.monotonic_ns  # CLOCK_MONOTONIC, like the C side's mono_ns()


def build_dir() -> Path:
    """Where ``make -C bench/c`` put the BPF objects (the runner passes BENCH_BUILD)."""
    env = os.environ.get("BENCH_BUILD")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "build"


def emit(obj: dict[str, Any]) -> None:
    """Print the result object as one line of JSON."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def unavailable(bench: str, reason: str) -> NoReturn:
    """Answer "not available: reason" (an API has not landed yet) and stop; never a made-up number."""
    emit({"bench": bench, "unavailable": reason})
    sys.exit(0)


def missing_api(*names: str) -> str | None:
    """The first of ``bpfkit.<name>`` (dotted paths allowed) that does not exist, as a message; None if all do."""
    import bpfkit

    for name in names:
        obj: Any = bpfkit
        for part in name.split("."):
            if not hasattr(obj, part):
                return f"bpfkit.{name} has not landed"
            obj = getattr(obj, part)
    return None


def numpy_missing() -> str | None:
    """Why the NumPy path cannot run here, or None."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return "NumPy is not installed"
    return None


def peak_rss_kib() -> int:
    """getrusage ru_maxrss of this process (KiB on Linux)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def median_min(samples: list[float]) -> dict[str, float]:
    """{"median", "min"} of samples, as the C programs print them."""
    return {"median": statistics.median(samples), "min": min(samples)}


def fail(bench: str, msg: str) -> NoReturn:
    """A check failed: the numbers would be wrong, so no numbers."""
    print(f"{bench}: {msg}", file=sys.stderr)
    sys.exit(1)
