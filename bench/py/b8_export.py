"""B8, bpfkit only: ``bpfkit export`` serving a map of 1k, 10k and 100k series to /metrics.

usage: b8_export.py [--sizes=1000,10000,100000] [--scrapes=3]

Starts ``bpfkit export`` (a child process) on bench/bpf/b8_export.bpf.o, whose
hash map has a two-field key (pid, cpu: two labels per series); records the
exporter's idle RSS, then for each size fills the map (one batch update, from
this process through the map's id), and scrapes /metrics ``--scrapes`` times,
more than the exporter's 1 s cache apart, timing each scrape and the exporter's
user+sys CPU it took. Checks the exposition holds every series.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import emit, fail

import bpfkit
from bpfkit.maps import map_ids
from bpfkit.testing.compile import compile_bpf

BENCH = "b8_export"
HERE = Path(__file__).resolve().parent


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--scrapes", type=int, default=3)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    obj = compile_bpf(HERE.parent / "bpf" / "b8_export.bpf.c")
    tmp = Path(tempfile.mkdtemp(prefix="b8-"))
    cfg = tmp / "b8.yaml"
    cfg.write_text(f"""objects:
  - object: {obj}
    metrics:
      - name: b8_series_total
        type: counter
        help: one series per map entry
        map: b8_series
        labels: [{{name: pid, field: pid}}, {{name: cpu, field: cpu}}]
""")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp / "exporter.log"
    with open(log, "wb") as lf:
        proc = subprocess.Popen([sys.executable, "-m", "bpfkit", "export", "--config", str(cfg), "--listen", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=lf)
    try:
        while b"serving http" not in log.read_bytes():
            if proc.poll() is not None:
                fail(BENCH, f"bpfkit export exited: {log.read_text()}")
            time.sleep(0.05)
        time.sleep(2.0)
        idle_rss = _rss_kib(proc.pid)
        m = None
        for mid in map_ids():
            info = bpfkit.Map.info_by_id(mid)
            if info.name == "b8_series":
                m = bpfkit.Map.from_id(mid, key_type="u64", value_type="u64")
        if m is None:
            fail(BENCH, "the exporter's map b8_series was not found")
            return
        url = f"http://127.0.0.1:{port}/metrics"
        out: dict[str, object] = {"idle_rss_kib": idle_rss}
        with m:
            for n in sizes:
                m.delete_batch(list(m.keys()))
                m.update_batch([((i << 32) | (i % 64), i) for i in range(1, n + 1)])
                walls, cpus = [], []
                for _ in range(a.scrapes):
                    time.sleep(1.1)  # past the exporter's 1 s snapshot cache
                    c0, t0 = _cpu_s(proc.pid), time.perf_counter()
                    with urllib.request.urlopen(url, timeout=60) as r:
                        body = r.read()
                    walls.append(time.perf_counter() - t0)
                    cpus.append(_cpu_s(proc.pid) - c0)
                    got = body.count(b"\nb8_series_total{")
                    if got != n:
                        fail(BENCH, f"scrape of {n} series returned {got}")
                out[str(n)] = {"scrape_s": statistics.median(walls), "first_scrape_s": walls[0],
                               "cpu_s": statistics.median(cpus), "bytes": len(body), "rss_kib": _rss_kib(proc.pid)}
        emit(out)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
