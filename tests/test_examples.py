"""examples/: each document's program runs as a script, bounded, and shows what it is about."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import bpfkit
from bpfkit import features
from bpfkit.testing import patience, require

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SRC = str(Path(bpfkit.__file__).resolve().parent.parent)


class Script:
    """An example run in a subprocess; its stdout lines are collected as they come."""

    def __init__(self, name: str, *args: str) -> None:
        env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(EXAMPLES / name), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, pred: Callable[[str], bool], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + patience(timeout)
        with self._cond:
            while True:
                for line in self.lines:
                    if pred(line):
                        return line
                if not self._reader.is_alive() or time.monotonic() > deadline:
                    raise AssertionError(f"no such line; output: {self.lines}, stderr: {self.stderr()}")
                self._cond.wait(0.2)

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()

    def finish(self, sig: int | None = None, timeout: float = 60.0) -> str:
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(patience(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self._reader.join(10)
        err = self.stderr()
        assert rc == 0, err
        return err

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def run() -> Iterator[Callable[..., Script]]:
    started: list[Script] = []

    def start(name: str, *args: str) -> Script:
        started.append(Script(name, *args))
        return started[-1]

    yield start
    for s in started:
        s.close()


def test_000_bootstrap(run: Callable[..., Script]) -> None:
    require("tracefs")  # the example attaches tracepoints by name
    s = run("000_bootstrap.py", "--duration", "30")
    s.wait_line(lambda line: line.startswith("TIME "))
    sh = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    sh.wait()
    line = s.wait_line(lambda line: line.split()[1:4] == ["EXIT", "sh", str(sh.pid)])
    s.finish(signal.SIGINT)
    assert line.split()[4:6] == [str(os.getpid()), "[3]"]


def test_001_legacy_maps(run: Callable[..., Script]) -> None:
    require("tracefs")  # the example attaches tracepoints by name
    s = run("001_legacy_maps.py", "--duration", "0.3")
    s.finish()
    walked = next(line for line in s.lines if line.startswith("get_next_key walked"))
    assert int(walked.split()[2]) >= 1
    assert re.fullmatch(r"this process, fd \d+: 5 calls, 500 bytes", s.lines[-1])


def test_002_execcount(run: Callable[..., Script]) -> None:
    require("tracefs")  # the example attaches tracepoints by name
    uid = random.randrange(200_000, 300_000)
    s = run("002_execcount.py", "--interval", "30", "--duration", "60")
    s.wait_line(lambda line: line.startswith("counting execve"))
    subprocess.run(["/bin/sh", "-c", "/bin/true; /bin/true"], user=uid, group=uid, cwd="/", check=True)
    s.finish(signal.SIGINT)  # Ctrl+C prints the totals
    assert f"ID {uid}: 3" in s.lines[-1].split("\t")


def test_003_procmap(run: Callable[..., Script]) -> None:
    require("tracefs")  # the example attaches tracepoints by name
    s = run("003_procmap.py", "--interval", "0.2", "--duration", "60")
    s.wait_line(lambda line: line.startswith("reading the process map"))
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        s.wait_line(lambda line: line.split() == [str(sleeper.pid), "sleep"])
    finally:
        sleeper.kill()
        sleeper.wait()
    s.finish(signal.SIGINT)
    assert "update NOEXIST of an existing key: EEXIST" in s.lines
    if features.have_hash_lookup_and_delete():
        assert "lookup_and_delete 2: b'kthreadd' -> keys left: [1]" in s.lines
    else:  # before Linux 5.14 the example says why and deletes instead
        assert any(line.startswith("lookup_and_delete 2: ") and "5.14" in line for line in s.lines)
    assert s.lines[-1] == "bye"


def test_004_hello_perf(run: Callable[..., Script]) -> None:
    require("tracefs")  # the example attaches tracepoints by name
    s = run("004_hello_perf.py", "--duration", "60")
    s.wait_line(lambda line: line.startswith("saying hello"))
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    line = s.wait_line(lambda line: line.split()[:1] == [str(child.pid)])
    s.finish(signal.SIGINT)
    assert line.split()[1] == "0" and line.endswith(" Hello World")


def test_004_tailcalls(run: Callable[..., Script]) -> None:
    require("tracefs")  # the example attaches tracepoints by name
    s = run("004_tailcalls.py", "--duration", "1")
    subprocess.run(["/bin/true"], check=True)
    s.finish()
    counts = dict(re.findall(r"(\w[\w ]*?): (\d+)", s.lines[-1]))
    assert set(counts) == {"hello_execve", "hello_timer", "ignore_opcode", "no tail call"}
    assert int(counts["no tail call"]) > 0
    assert any("bpf_trace_printk: Another syscall: " in line for line in s.lines[:-1])
