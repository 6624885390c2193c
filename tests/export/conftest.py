"""Fixtures of the export tests: a real Prometheus server (Debian's, unpacked by scripts/setup.sh) and the exporter."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bpfkit.testing import patience
from hostenv import kernel_tgid

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / ".cache" / "prometheus" / "usr" / "bin" / "prometheus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return bytes(r.read())


class Exporter:
    """``bpfkit export`` running as a child process, serving on ``port``."""

    def __init__(self, args: list[str], tmp: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log = tmp / f"exporter-{self.port}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "bpfkit", "export", *args, "--listen", f"127.0.0.1:{self.port}"],
                                         stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 60
        while b"serving http" not in self.log.read_bytes():
            if self.proc.poll() is not None:
                raise AssertionError(f"bpfkit export exited with {self.proc.returncode}: {self.log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"bpfkit export did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def metrics(self) -> str:
        return _get(f"http://127.0.0.1:{self.port}/metrics").decode()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=patience(30))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


class Prometheus:
    """A Prometheus server scraping ``targets`` every second, queried through its HTTP API."""

    def __init__(self, targets: list[int], tmp: Path) -> None:
        if not PROMETHEUS.exists():
            raise AssertionError(f"{PROMETHEUS} is missing: run `make setup` (scripts/setup.sh unpacks Debian's prometheus)")
        self.port = free_port()
        cfg = tmp / "prometheus.yml"
        cfg.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "bpfkit", "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in targets]}]}],
        }))
        self.log = tmp / "prometheus.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [str(PROMETHEUS), f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"], stdout=subprocess.DEVNULL, stderr=log)
        self.wait_for(lambda: _get(f"http://127.0.0.1:{self.port}/-/ready") is not None, "Prometheus ready")

    def wait_for(self, cond: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + patience(timeout)
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                last = cond()
                if last:
                    return last
            except (OSError, ValueError, KeyError, IndexError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"waited {timeout} s for {what}; last answer {last!r}")

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = json.loads(_get(url))
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        r = self.query(expr)
        return float(r[0]["value"][1]) if r else None

    def settle(self, expr: str, want: float) -> float:
        """Wait until ``expr`` answers ``want`` (scrapes are every second), then return the answer."""
        self.wait_for(lambda: self.value(expr) == want, f"{expr} == {want} (now {self.value(expr)})")
        return want

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=patience(30))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def start_exporter(tmp_path: Path) -> Iterator[Callable[..., Exporter]]:
    started: list[Exporter] = []

    def start(args: list[str], port: int | None = None) -> Exporter:
        e = Exporter(args, tmp_path, port)
        started.append(e)
        return e

    yield start
    for e in started:
        if e.proc.poll() is None:
            e.stop()


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[list[int]], Prometheus]]:
    started: list[Prometheus] = []

    def start(targets: list[int]) -> Prometheus:
        p = Prometheus(targets, tmp_path)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


HERE = Path(__file__).parent

EXECS = """
      - name: test_execs_total
        type: counter
        help: execs of the test's children per UID
        map: execs
        labels: [{name: uid}]
"""

ARG_HIST = """
      - name: test_arg
        type: histogram
        help: getpgid arguments (log2 slots of a libbpf-tools struct hist)
        map: arg_hist
        slots: slots
        sum: sum
        buckets: {type: log2}
"""


def exporttest_config(metrics: str, pid: int | None = None) -> str:
    """A configuration of tests/export/bpf/exporttest.bpf.c (built now) counting for ``pid``, with ``metrics``."""
    from bpfkit.arch import syscall_number
    from bpfkit.testing.compile import compile_bpf

    obj = compile_bpf(HERE / "bpf" / "exporttest.bpf.c")
    nrs = ", ".join(f"nr_{c}: {syscall_number(c)}" for c in ("execve", "getpgid", "getsid"))
    head = (f"objects:\n  - object: {obj}\n    name: exporttest\n"
            f"    constants: {{target_tgid: {pid or kernel_tgid()}, {nrs}}}\n    metrics:")
    return head + metrics


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path

