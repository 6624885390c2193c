"""bpfkit hello: the execve of a test process as a perf buffer record: pid, uid, command, "Hello World"."""

from __future__ import annotations

import random
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tools_helpers import ToolRun, assert_clean_exit

from bpfkit.tools import hello

pytestmark = pytest.mark.kernel


def test_says_hello_for_an_execve(run_tool: Callable[..., ToolRun]) -> None:
    uid = random.randrange(200_000, 300_000)
    t = run_tool("hello")
    t.wait_ready()
    child = subprocess.Popen(["/bin/true"], user=uid, group=uid, cwd="/")
    child.wait()
    rec = t.wait_for(lambda r: r["pid"] == child.pid)
    rc = t.finish(signal.SIGTERM)
    # sys_enter_execve runs before the new program replaces the caller: the command is still ours
    ours = Path("/proc/self/comm").read_text().strip()
    assert rec == {"time": rec["time"], "pid": child.pid, "uid": uid, "command": ours, "message": "Hello World"}
    assert_clean_exit(t, rc)


def test_text_line_as_the_document(run_tool: Callable[..., ToolRun]) -> None:
    t = run_tool("hello", json_output=False)
    t.wait_ready()
    child = subprocess.Popen(["/bin/true"])
    child.wait()
    t._wait(lambda: any(line.split()[:1] == [str(child.pid)] for line in t.lines), "hello line", 30)
    rc = t.finish(signal.SIGINT)
    (line,) = [ln for ln in t.lines if ln.split()[:1] == [str(child.pid)]]
    assert line == f"{child.pid} 0 {Path('/proc/self/comm').read_text().strip()} Hello World"
    assert_clean_exit(t, rc)


def test_decode_ignores_perf_padding() -> None:
    raw = hello.DATA.pack(7, 1000, b"bash", b"Hello World") + b"\0" * 4
    assert hello.decode(raw) == {"pid": 7, "uid": 1000, "command": "bash", "message": "Hello World"}
    with pytest.raises(ValueError):
        hello.decode(raw[:20])
