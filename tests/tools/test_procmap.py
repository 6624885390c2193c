"""bpfkit procmap: a sleeping test process appears in the PID -> name map, and leaves it when it exits."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

import pytest
from tools_helpers import ToolRun, assert_clean_exit

pytestmark = pytest.mark.kernel


def pids(record: dict[str, object]) -> dict[int, str]:
    return {p["pid"]: p["comm"] for p in record["processes"]}  # type: ignore[attr-defined]


def test_lists_a_sleeping_process_and_drops_it(run_tool: Callable[..., ToolRun]) -> None:
    t = run_tool("procmap", "--interval", "0.2")
    t.wait_ready()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        seen = t.wait_for(lambda r: sleeper.pid in pids(r))
        assert pids(seen)[sleeper.pid] == "sleep"
    finally:
        sleeper.kill()
        sleeper.wait()
    # the exit tracepoint ran before wait() returned: any list printed from now on lacks it
    after = len(t.lines)
    gone = t.wait_for(lambda r: sleeper.pid not in pids(r), start=after)
    assert all(isinstance(pid, int) and comm for pid, comm in pids(gone).items())
    rc = t.finish(signal.SIGINT)
    assert_clean_exit(t, rc)


# nanosleep, clock_nanosleep: a sleeper blocked in one of them is past exec and its sched_process_exec tracepoint
_SLEEP_CALLS = {"x86_64": {"35", "230"}, "aarch64": {"101", "115"}}


def _wait_asleep(pid: int) -> None:
    """Wait until ``pid`` blocks in its sleep: Popen returns once exec closed its fds, before the exec tracepoint."""
    calls = _SLEEP_CALLS[os.uname().machine]
    for _ in range(3000):
        with open(f"/proc/{pid}/syscall") as f:
            if f.read().split()[0] in calls:
                return
        time.sleep(0.01)
    pytest.fail(f"process {pid} never went to sleep")


def test_text_output(run_tool: Callable[..., ToolRun]) -> None:
    t = run_tool("procmap", "--interval", "30", json_output=False)
    t.wait_ready()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        _wait_asleep(sleeper.pid)
        rc = t.finish(signal.SIGTERM)  # the list is printed once more when it stops
    finally:
        sleeper.kill()
        sleeper.wait()
    title, header, *rows = t.lines
    assert title.split()[1:] in (["1", "process"], [str(len(rows)), "processes"])
    assert header.split() == ["PID", "COMM"]
    assert f"{sleeper.pid:<8} sleep" in rows
    assert_clean_exit(t, rc)
