"""B2, bpfkit side of bench/c/b2_mapops.c: single-element map ops through ``m[k]``, ``m[k] = v``, ``del m[k]``.

usage: b2_mapops.py [--n=N] [--inner-rounds=R]

A hash map "b2_hash" and an array map "b2_array", u32 -> u64, max_entries N
(``bpfkit.Map.create``). Each round, over keys 0..N-1 in order, times the hash
insert (into the empty map), lookup, update, delete, then the array update and
lookup; values are checked (value = key * 3 + round), as in C. Prints the
median and minimum ns per op over the rounds, and the same lookups done by a
bare ctypes syscall loop on the same maps (preallocated attr, no bpfkit):
the floor of any Python binding on this machine.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import platform
import struct
import sys
from collections.abc import Callable
from typing import Any

from _common import emit, fail, median_min, missing_api, mono_ns, peak_rss_kib, unavailable

BENCH = "b2_mapops"
BPF_MAP_LOOKUP_ELEM = 1
SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}


def timed(fn: Callable[[], None], n: int) -> float:
    t = mono_ns()
    fn()
    return (mono_ns() - t) / n


def make_ops(h: Any, a: Any, n: int, salt: int) -> dict[str, Callable[[], None]]:
    """The six timed loops; each closes over its map and checks what it reads."""

    def h_insert() -> None:
        for k in range(n):
            h[k] = k * 3 + salt

    def h_lookup() -> None:
        for k in range(n):
            if h[k] != k * 3 + salt:
                fail(BENCH, f"hash lookup of key {k}: value {h[k]}, expected {k * 3 + salt}")

    def h_update() -> None:
        for k in range(n):
            h[k] = k * 3 + salt + 1

    def h_delete() -> None:
        for k in range(n):
            del h[k]

    def a_update() -> None:
        for k in range(n):
            a[k] = k * 3 + salt

    def a_lookup() -> None:
        for k in range(n):
            if a[k] != k * 3 + salt:
                fail(BENCH, f"array lookup of key {k}: value {a[k]}, expected {k * 3 + salt}")

    return {"hash.insert": h_insert, "hash.lookup": h_lookup, "hash.update": h_update, "hash.delete": h_delete,
            "array.update": a_update, "array.lookup": a_lookup}


class BareLookup:
    """BPF_MAP_LOOKUP_ELEM by libc syscall() over one preallocated attr: no bpfkit, no per-call ctypes objects."""

    def __init__(self, map_fd: int) -> None:
        nr = SYS_BPF.get(platform.machine())
        if nr is None:
            raise NotImplementedError(f"bpf(2) syscall number of {platform.machine()}")
        libc = ctypes.CDLL(None, use_errno=True)
        self.syscall = libc.syscall
        self.syscall.restype = ctypes.c_long
        self.nr = nr
        self.key = ctypes.create_string_buffer(4)
        self.value = ctypes.create_string_buffer(8)
        self.attr = ctypes.create_string_buffer(32)
        struct.pack_into("<IIQQQ", self.attr, 0, map_fd, 0, ctypes.addressof(self.key), ctypes.addressof(self.value), 0)

    def loop(self, n: int, salt: int) -> None:
        syscall, nr, attr, key, value = self.syscall, self.nr, self.attr, self.key, self.value
        pack_key = struct.Struct("<I").pack_into
        unpack_value = struct.Struct("<Q").unpack_from
        for k in range(n):
            pack_key(key, 0, k)
            if syscall(nr, BPF_MAP_LOOKUP_ELEM, attr, 32) != 0:
                err = ctypes.get_errno()
                fail(BENCH, f"bare lookup of key {k}: {os.strerror(err)}")
            if unpack_value(value)[0] != k * 3 + salt:
                fail(BENCH, f"bare lookup of key {k}: wrong value")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--inner-rounds", type=int, default=3)
    args = ap.parse_args()
    n, rounds = args.n, args.inner_rounds
    if n < 1 or rounds < 1:
        ap.error("--n and --inner-rounds must be >= 1")

    why = missing_api("Map.create")
    if why:
        unavailable(BENCH, why)
    import bpfkit

    ns: dict[str, list[float]] = {}
    floor: dict[str, list[float]] = {"hash.lookup": [], "array.lookup": []}
    with bpfkit.Map.create("hash", 4, 8, n, name="b2_hash", key_type="u32", value_type="u64") as h, \
            bpfkit.Map.create("array", 4, 8, n, name="b2_array", key_type="u32", value_type="u64") as a:
        bare_h, bare_a = BareLookup(h.fd), BareLookup(a.fd)
        for r in range(rounds):
            for name, fn in make_ops(h, a, n, r).items():
                ns.setdefault(name, []).append(timed(fn, n))
                # the floor right after its bpfkit counterpart, on the same map contents
                if name == "hash.lookup":
                    floor[name].append(timed(lambda r=r: bare_h.loop(n, r), n))  # type: ignore[misc]
                elif name == "array.lookup":
                    floor[name].append(timed(lambda r=r: bare_a.loop(n, r), n))  # type: ignore[misc]
        if next(iter(h.keys()), None) is not None:
            fail(BENCH, "hash map not empty after deleting every key")

    out: dict[str, Any] = {"bench": BENCH, "n": n, "rounds": rounds, "unit": "ns/op"}
    for name, samples in ns.items():
        m, op = name.split(".")
        out.setdefault(m, {})[op] = median_min(samples)
    out["floor"] = {}
    for name, samples in floor.items():
        m, op = name.split(".")
        out["floor"].setdefault(m, {})[op] = median_min(samples)
    out["peak_rss_kib"] = peak_rss_kib()
    emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
