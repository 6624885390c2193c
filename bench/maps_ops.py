"""Map element and dump speed: bpfkit vs a bare ctypes loop vs C with libbpf, in the same run.

    sudo PYTHONPATH=src python bench/maps_ops.py [--entries 100000] [--rounds 5] [--json out.json]

A u32 -> u64 hash map with ``--entries`` entries; per-op times are the
average over all keys (lookup: ``m[k]``; update: ``m[k] = v`` on existing
keys), dump times are one full walk (``items()`` with and without batch ops).
Each round runs every variant once, interleaved; the table shows the best
and the median round and the bpfkit / C ratio of the bests. The C reference
is compiled from the source below with ``gcc -O2 -lbpf`` (Debian libbpf-dev).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from bpfkit._sys.attrs import MapElemAttr
from bpfkit._sys.syscall import bpf_bound
from bpfkit._uapi import Cmd
from bpfkit.maps import HashMap, Map

C_SOURCE = r"""
#include <bpf/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    uint32_t n = (uint32_t)atoi(argv[1]);
    int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "cbench", 4, 8, n, NULL);
    if (fd < 0) { perror("bpf_map_create"); return 1; }
    for (uint32_t i = 0; i < n; i++) { uint64_t v = i; if (bpf_map_update_elem(fd, &i, &v, 0)) return 2; }
    uint64_t v; double t = now();
    for (uint32_t i = 0; i < n; i++) { if (bpf_map_lookup_elem(fd, &i, &v)) return 3; }
    double lookup = (now() - t) / n * 1e9;
    t = now();
    for (uint32_t i = 0; i < n; i++) { v = i + 1; if (bpf_map_update_elem(fd, &i, &v, 0)) return 4; }
    double update = (now() - t) / n * 1e9;
    uint32_t key, next; uint32_t count = 0; t = now();
    int err = bpf_map_get_next_key(fd, NULL, &next);
    while (!err) { if (!bpf_map_lookup_elem(fd, &next, &v)) count++; key = next; err = bpf_map_get_next_key(fd, &key, &next); }
    double dump_elem = (now() - t) * 1e3;
    uint32_t *keys = malloc(4 * (size_t)n); uint64_t *vals = malloc(8 * (size_t)n);
    uint32_t out_batch, total = 0; void *in = NULL; t = now();
    for (;;) {
        uint32_t cnt = 4096;
        err = bpf_map_lookup_batch(fd, in, &out_batch, keys + total, vals + total, &cnt, NULL);
        total += cnt;
        if (err) break;
        in = &out_batch;
    }
    double dump_batch = (now() - t) * 1e3;
    printf("{\"lookup_ns\": %.1f, \"update_ns\": %.1f, \"dump_elementwise_ms\": %.2f, \"dump_batch_ms\": %.2f,"
           " \"dumped\": %u, \"dumped_batch\": %u}\n", lookup, update, dump_elem, dump_batch, count, total);
    close(fd);
    return 0;
}
"""


def build_c(workdir: str) -> str | None:
    """Compile the C reference; None when gcc or libbpf-dev is missing."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None or not os.path.exists("/usr/include/bpf/bpf.h"):
        return None
    src = os.path.join(workdir, "maps_ops.c")
    exe = os.path.join(workdir, "maps_ops")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    subprocess.run([cc, "-O2", "-o", exe, src, "-lbpf"], check=True)
    return exe


def per_op(n: int, loop: Callable[[], None]) -> float:
    t = time.perf_counter()
    loop()
    return (time.perf_counter() - t) / n * 1e9


def timed_ms(work: Callable[[], object]) -> float:
    t = time.perf_counter()
    work()
    return (time.perf_counter() - t) * 1e3


def python_round(m: HashMap, n: int) -> dict[str, float]:
    """One round of every bpfkit measurement on the filled map."""
    keys = range(n)

    def lookups() -> None:
        for k in keys:
            m[k]

    def updates() -> None:
        for k in keys:
            m[k] = k + 1

    # the floor: the same syscall from Python with a prebuilt attr, no Map object, no checks
    kbuf = bytearray(4)
    vbuf = bytearray(8)
    refs = (ctypes.c_char.from_buffer(kbuf), ctypes.c_char.from_buffer(vbuf))
    attr = MapElemAttr(map_fd=m.fd, key=ctypes.addressof(refs[0]), value=ctypes.addressof(refs[1]))
    call = bpf_bound(Cmd.MAP_LOOKUP_ELEM, attr)
    pack = struct.Struct("=I").pack_into

    def bare() -> None:
        for k in keys:
            pack(kbuf, 0, k)
            if call() < 0:
                raise OSError("lookup failed")

    out = {
        "lookup_ns": per_op(n, lookups),
        "update_ns": per_op(n, updates),
        "bare_ctypes_lookup_ns": per_op(n, bare),
    }
    batch_items: list[object] = []
    elem_items: list[object] = []
    out["dump_batch_ms"] = timed_ms(lambda: batch_items.extend(m.items(batch=True)))
    out["dump_elementwise_ms"] = timed_ms(lambda: elem_items.extend(m.items(batch=False)))
    if len(batch_items) != n or len(elem_items) != n:
        raise RuntimeError(f"dumped {len(batch_items)} / {len(elem_items)} entries, expected {n}")
    del refs
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table (and JSON when asked)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", metavar="PATH", help="also write the results here")
    args = ap.parse_args(argv)
    n = args.entries
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bpfkit-bench-") as tmp:
        exe = build_c(tmp)
        with Map.create("hash", key_size=4, value_size=8, max_entries=n, name="pybench") as m:
            assert isinstance(m, HashMap)
            m.update_batch((i, i) for i in range(n))
            for _ in range(args.rounds):
                for k, v in python_round(m, n).items():
                    results.setdefault(k, []).append(v)
                if exe is not None:
                    c = json.loads(subprocess.run([exe, str(n)], check=True, capture_output=True, text=True).stdout)
                    for k in ("lookup_ns", "update_ns", "dump_elementwise_ms", "dump_batch_ms"):
                        results.setdefault("c_" + k, []).append(float(c[k]))
    summary = {k: {"best": min(v), "median": statistics.median(v)} for k, v in results.items()}
    rows = [
        ("lookup  m[k]", "lookup_ns", "ns/op"),
        ("update  m[k] = v", "update_ns", "ns/op"),
        ("bare ctypes lookup loop", "bare_ctypes_lookup_ns", "ns/op"),
        ("dump, batch ops", "dump_batch_ms", "ms"),
        ("dump, get_next_key + lookup", "dump_elementwise_ms", "ms"),
    ]
    print(f"{n} entries, u32 -> u64 hash, {args.rounds} rounds, Linux {os.uname().release}, Python {sys.version.split()[0]}")
    print(f"{'':30} {'bpfkit best':>12} {'median':>10} {'C best':>10} {'median':>10} {'bpfkit/C':>9}")
    for label, key, unit in rows:
        py = summary[key]
        c = summary.get("c_" + key) if key != "bare_ctypes_lookup_ns" else summary.get("c_lookup_ns")
        cbest = f"{c['best']:10.1f}" if c else f"{'-':>10}"
        cmed = f"{c['median']:10.1f}" if c else f"{'-':>10}"
        ratio = f"{py['best'] / c['best']:9.2f}" if c else f"{'-':>9}"
        print(f"{label:30} {py['best']:12.1f} {py['median']:10.1f} {cbest} {cmed} {ratio}   {unit}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"entries": n, "rounds": args.rounds, "results": summary, "raw": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
