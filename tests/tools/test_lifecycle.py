"""Every tool as a user runs it: -h, --duration, Ctrl+C in process, bad options, a closed pipe; nothing left behind."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
from tools_helpers import READY, ToolRun, assert_clean_exit, require_tool, tool_env

from bpfkit import cli
from bpfkit.tools import TOOLS

pytestmark = pytest.mark.kernel

# options that make a short run print something
ARGS: dict[str, list[str]] = {
    "bootstrap": [], "execcount": ["--interval", "0.2"], "hello": [], "tailcalls": [], "procmap": ["--interval", "0.2"],
}


def check_json_lines(text_lines: list[str]) -> None:
    for line in text_lines:
        rec = json.loads(line)
        assert isinstance(rec, dict)
        assert dt.datetime.fromisoformat(rec["time"]).tzinfo is not None


@pytest.mark.parametrize("tool", list(TOOLS))
def test_help_explains_it(tool: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([tool, "-h"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bpfkit {tool} ")
    for option in ("--json", "--duration", "Ctrl+C", "examples:"):
        assert option in out


@pytest.mark.parametrize("tool", list(TOOLS))
def test_duration_ends_it_cleanly(run_tool: Callable[..., ToolRun], tool: str) -> None:
    t = run_tool(tool, "--duration", "1", *ARGS[tool])
    t.wait_ready()
    subprocess.run(["/bin/true"], check=True)  # an exec for the tools that watch them
    rc = t.finish(None)
    check_json_lines(t.lines)
    assert_clean_exit(t, rc)


def test_duration_zero_stops_as_soon_as_attached(capsys: pytest.CaptureFixture[str]) -> None:
    """``--duration 0``: attach, say so, stop (how the benchmarks time a tool's start)."""
    require_tool("bootstrap")
    assert cli.main(["bootstrap", "--duration", "0"]) == 0
    assert READY.search(capsys.readouterr().err.splitlines()[0])


@pytest.mark.parametrize("tool", list(TOOLS))
def test_in_process_run_closes_everything(tool: str, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(tool)
    # the autouse no_leaks fixture fails the test if an fd of a map, program, link or perf event stays open
    assert cli.main([tool, "--json", "--duration", "0.3", *ARGS[tool]]) == 0
    out, err = capsys.readouterr()
    check_json_lines(out.splitlines())
    assert READY.search(err.splitlines()[0])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handlers were put back


def test_ctrl_c_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("bootstrap")
    def interrupt_once_attached() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if getattr(signal.getsignal(signal.SIGINT), "__name__", "") == "_on_signal":
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.01)

    killer = threading.Thread(target=interrupt_once_attached)
    killer.start()
    try:
        assert cli.main(["bootstrap", "--json"]) == 0
    finally:
        killer.join()
    check_json_lines(capsys.readouterr().out.splitlines())


@pytest.mark.parametrize(("argv", "message"), [
    (["execcount", "--interval", "0"], "must be a number of seconds > 0"),
    (["procmap", "--duration", "soon"], "not a number of seconds"),
    (["bootstrap", "-d", "-5"], "must be >= 0 milliseconds"),
])
def test_bad_option_values_are_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_tailcalls_refuses_a_missing_pid(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tailcalls", "--pid", str(2**22 + 1)]) == 1
    assert "no process with pid" in capsys.readouterr().err


def test_a_closed_pipe_ends_it_quietly() -> None:
    """``bpfkit bootstrap | head -n 3``: exit 0 and no BrokenPipeError traceback once head is gone."""
    require_tool("bootstrap")
    proc = subprocess.Popen([sys.executable, "-m", "bpfkit", "bootstrap"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=tool_env())
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert READY.search(proc.stderr.readline().strip())
        stop = threading.Event()

        def keep_execing() -> None:
            while not stop.is_set():
                subprocess.run(["/bin/true"], check=True)
                time.sleep(0.05)

        spawner = threading.Thread(target=keep_execing)
        spawner.start()
        try:
            head = [proc.stdout.readline() for _ in range(3)]
            proc.stdout.close()
            rc = proc.wait(60)
        finally:
            stop.set()
            spawner.join()
        assert head[0].split()[:3] == ["TIME", "EVENT", "COMM"]
        assert rc == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_every_tool_says_what_it_needs() -> None:
    """TOOL_NEEDS names every tool, with features the probes know (a bad name would raise ValueError)."""
    from tools_helpers import TOOL_NEEDS

    from bpfkit import features

    assert set(TOOL_NEEDS) == set(TOOLS)
    for needs in TOOL_NEEDS.values():
        assert all(isinstance(features.check(f), features.Support) for f in needs)
