"""B3, bpfkit side of bench/c/b3_dump.c: read a whole u32 -> u64 hash map into Python.

usage: b3_dump.py [--n=N] [--batch=B] [--inner-rounds=R]

Fills a hash map "b3_hash" (max_entries N) with keys 0..N-1, value = key * 7 + 1
(one batch update), then each round times:
  items:    dict(m.items())             (batch syscalls by default; C: bpf_map_lookup_batch)
  numpy:    m.items_numpy(), keys and values as arrays  (C: bpf_map_lookup_batch)
  next_key: dict(m.items(batch=False))  (C: get_next_key + lookup_elem per element)
Every dump is checked outside the timed region. --batch is the C side's batch
size, recorded only: bpfkit's calls use their own default, as a user's would.
Prints one JSON object with median and minimum ns per dump.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from typing import Any

from _common import emit, fail, missing_api, mono_ns, numpy_missing, peak_rss_kib, unavailable

BENCH = "b3_dump"


def expected(k: int) -> int:
    return k * 7 + 1


def check_dict(d: dict[Any, Any], n: int, how: str) -> None:
    if len(d) != n:
        fail(BENCH, f"{how} dump returned {len(d)} elements, expected {n}")
    for k in range(n):
        if d.get(k) != expected(k):
            fail(BENCH, f"{how} dump: key {k} has value {d.get(k)!r}")


def numpy_dumper(m: Any) -> tuple[Callable[[], Any] | None, str | None]:
    """The map's NumPy bulk read, ``Map.items_numpy``: a callable returning (keys, values) arrays."""
    why = numpy_missing()
    if why:
        return None, why
    return m.items_numpy, None


def check_arrays(res: Any, n: int) -> None:
    import numpy as np

    keys, values = res
    if len(keys) != n or len(values) != n:
        fail(BENCH, f"NumPy dump returned {len(keys)} keys and {len(values)} values, expected {n}")
    k = np.asarray(keys).astype(np.uint64)
    if not np.array_equal(np.sort(k), np.arange(n, dtype=np.uint64)):
        fail(BENCH, "NumPy dump: keys are not 0..N-1")
    if not np.array_equal(np.asarray(values).astype(np.uint64), k * 7 + 1):
        fail(BENCH, "NumPy dump: wrong values")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--inner-rounds", type=int, default=1)
    args = ap.parse_args()
    n, rounds = args.n, args.inner_rounds
    if n < 1 or rounds < 1:
        ap.error("--n and --inner-rounds must be >= 1")

    why = missing_api("Map.create")
    if why:
        unavailable(BENCH, why)
    import bpfkit

    out: dict[str, Any] = {"bench": BENCH, "n": n, "c_batch_size": args.batch, "rounds": rounds}
    times: dict[str, list[float]] = {"items": [], "numpy": [], "next_key": []}
    with bpfkit.Map.create("hash", 4, 8, n, name="b3_hash", key_type="u32", value_type="u64") as m:
        t = mono_ns()
        stored = m.update_batch([(k, expected(k)) for k in range(n)])
        out["fill_ns"] = mono_ns() - t
        if stored != n:
            fail(BENCH, f"update_batch stored {stored} of {n} elements")
        dump_np, np_why = numpy_dumper(m)
        if np_why:
            out["unavailable_metrics"] = {"numpy": np_why}
        for _ in range(rounds):
            t = mono_ns()
            d = dict(m.items())
            times["items"].append(mono_ns() - t)
            check_dict(d, n, "items()")
            del d

            if dump_np is not None:
                t = mono_ns()
                res = dump_np()
                times["numpy"].append(mono_ns() - t)
                check_arrays(res, n)
                del res

            t = mono_ns()
            d = dict(m.items(batch=False))
            times["next_key"].append(mono_ns() - t)
            check_dict(d, n, "items(batch=False)")
            del d

    for name, samples in times.items():
        if samples:
            med = statistics.median(samples)
            out[name] = {"median_ns": med, "min_ns": min(samples), "ns_per_elem": med / n}
    out["peak_rss_kib"] = peak_rss_kib()
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
