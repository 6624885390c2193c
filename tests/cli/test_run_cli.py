"""``bpfkit run OBJ``: constants typed by BTF, ring buffer records decoded by BTF, maps and log2 histograms."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bpfkit import cli
from bpfkit.arch import syscall_number
from bpfkit.testing import compile_bpf, require

pytestmark = pytest.mark.kernel

DEMO = (Path(__file__).parent / "run_demo.bpf.c").read_text()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("run") / "demo.bpf.c"
    src.write_text(DEMO)
    return Path(compile_bpf(src))


def pid_namespace_settings() -> list[str]:
    """``--set`` options naming the PID namespace this process numbers pids in (a container's, or the host's)."""
    ns = os.stat("/proc/self/ns/pid")
    return ["--set", f"pidns_dev={ns.st_dev}", "--set", f"pidns_ino={ns.st_ino}"]


def wait_until_running(p: subprocess.Popen[str], name: str) -> str:
    """The ``Running NAME`` line ``bpfkit run`` prints once attached; else reap it and fail with its error."""
    assert p.stderr is not None
    ready = p.stderr.readline()
    if not ready.startswith(f"Running {name}"):
        p.kill()
        _, err = p.communicate(timeout=120)
        pytest.fail(f"bpfkit run did not start: {ready}{err}")
    return ready


def run_until_interrupt(obj: Path, *args: str, calls: int = 5) -> tuple[int, str, str]:
    """Start ``bpfkit run``, make ``calls`` getppid() calls once it says it is attached, then Ctrl+C it."""
    p = subprocess.Popen([sys.executable, "-m", "bpfkit", "run", str(obj), "--set", f"target_tgid={os.getpid()}",
                          "--set", f"getppid_nr={syscall_number('getppid')}", *pid_namespace_settings(), *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready = wait_until_running(p, "demo")
    for _ in range(calls):
        os.getppid()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, ready + err


def test_events_constants_and_maps_as_json(demo: Path) -> None:
    code, out, err = run_until_interrupt(demo, "--set", "verbose=true", "--set", "tag=hey", "--set",
                                         "mode=MODE_LOUD", "--print-maps", "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    events = [r["data"] for r in records if r.get("event") == "events"]
    assert [e["value"] for e in events] == [1, 2, 3, 4, 5]
    assert all(e == {"pid": os.getpid(), "mode": 7, "tag": "hey", "value": e["value"], "verbose": True}
               for e in events)
    (calls,) = [r for r in records if r.get("map") == "calls"]
    assert calls["entries"] == [{"key": os.getpid(), "value": 5}]
    (sizes,) = [r for r in records if r.get("map") == "sizes"]
    assert sum(b["count"] for b in sizes["histogram"]) == 5
    assert [(b["low"], b["high"]) for b in sizes["histogram"]] == [(1, 2), (2, 4), (4, 8)]


def test_text_output_draws_histograms(demo: Path) -> None:
    code, out, err = run_until_interrupt(demo, "--events", "events=event", "--print-maps", calls=3)
    assert code == 0, err
    lines = out.splitlines()
    assert sum(ln.startswith("events: pid=") for ln in lines) == 3
    at = lines.index("@sizes:")
    assert lines[at + 1].startswith("[1]") and lines[at + 1].endswith("|")
    assert lines[at + 2].startswith("[2, 4)") and "|@" in lines[at + 2]
    assert "@calls:" in lines


def test_attach_none_and_duration(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", str(demo), "--attach", "none", "--duration", "0", "--print-maps", "--json"]) == 0
    out = capsys.readouterr().out
    maps = {r["map"]: r for r in map(json.loads, out.splitlines())}
    assert maps["calls"]["entries"] == []


@pytest.mark.parametrize("setting", ["nope=1", "verbose=maybe", "mode=MODE_NONE", "target_tgid=-1",
                                     "tag=much_too_long", "target_tgid"])
def test_bad_settings_are_usage_errors(demo: Path, capsys: pytest.CaptureFixture[str], setting: str) -> None:
    assert cli.main(["run", str(demo), "--set", setting, "--duration", "0"]) == 1
    assert capsys.readouterr().err.startswith("bpfkit: ")


def test_bad_events_and_object(demo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli.main(["run", str(demo), "--events", "calls", "--duration", "0"]) == 1
    assert "not a ring buffer" in capsys.readouterr().err
    assert cli.main(["run", str(demo), "--events", "events=no_such_type", "--duration", "0"]) == 1
    capsys.readouterr()
    assert cli.main(["run", str(tmp_path / "missing.bpf.o")]) == 1
    assert capsys.readouterr().err.startswith("bpfkit: ")


def test_shipped_bootstrap_records_decode_by_name() -> None:
    """The shipped bootstrap object keeps struct event in its BTF: its records print field by field, not as hex."""
    import bpfkit.tools

    require("tracefs")  # bootstrap attaches to the sched tracepoints by name
    obj = Path(bpfkit.tools.__file__).parent / "bootstrap.bpf.o"
    p = subprocess.Popen([sys.executable, "-m", "bpfkit", "run", str(obj), "--json", *pid_namespace_settings()],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_running(p, "bootstrap")
    sh = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    sh.wait()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["event"] for r in records} == {"rb"}
    mine = [r["data"] for r in records if r["data"]["pid"] == sh.pid]
    fields = {"pid", "ppid", "exit_code", "duration_ns", "comm", "filename", "exit_event"}
    assert all(set(d) == fields for d in mine)
    (exec_,) = [d for d in mine if not d["exit_event"]]
    assert (exec_["comm"], exec_["ppid"], exec_["filename"]) == ("sh", os.getpid(), "/bin/sh")
    (exit_,) = [d for d in mine if d["exit_event"]]
    assert (exit_["comm"], exit_["ppid"], exit_["exit_code"]) == ("sh", os.getpid(), 3)
    assert exit_["duration_ns"] > 0
