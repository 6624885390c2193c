"""bpfkit bootstrap: known processes' exec and exit, with pids, comm, parents, exit codes and lifetimes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tools_helpers import ToolRun, assert_clean_exit

import bpfkit
from bpfkit.testing import compile_bpf
from bpfkit.tools import bootstrap

pytestmark = pytest.mark.kernel

NAP = 0.3  # how long the test's shell sleeps before it exits


def find(records: list[dict[str, Any]], event: str, pid: int) -> dict[str, Any]:
    found = [r for r in records if r["event"] == event and r["pid"] == pid]
    assert len(found) == 1, (event, pid, found)
    return found[0]


def test_exec_and_exit_of_known_processes(run_tool: Callable[..., ToolRun]) -> None:
    t = run_tool("bootstrap")
    t.wait_ready()
    start = time.monotonic_ns()
    sh = subprocess.Popen(["/bin/sh", "-c", f"sleep {NAP}; exit 7"])
    sh.wait()
    lived_at_most = time.monotonic_ns() - start
    t.wait_for(lambda r: r["event"] == "EXIT" and r["pid"] == sh.pid)
    rc = t.finish(signal.SIGINT)
    recs = t.records
    assert all(set(r) == {"time", "event", "comm", "pid", "ppid", "filename", "exit_code", "duration_ns"} for r in recs)

    ex = find(recs, "EXEC", sh.pid)
    assert (ex["comm"], ex["ppid"], ex["filename"], ex["exit_code"], ex["duration_ns"]) == ("sh", os.getpid(), "/bin/sh", None, None)
    out = find(recs, "EXIT", sh.pid)
    assert (out["comm"], out["ppid"], out["exit_code"], out["filename"]) == ("sh", os.getpid(), 7, None)
    # the kernel measured from exec to exit: at least the nap, at most what the test saw from outside
    assert NAP * 1e9 <= out["duration_ns"] <= lived_at_most

    # the shell's child: sleep, started by sh, exit code 0
    (sleep_exec,) = [r for r in recs if r["event"] == "EXEC" and r["ppid"] == sh.pid]
    assert sleep_exec["comm"] == "sleep" and Path(sleep_exec["filename"]).name == "sleep"
    sleep_exit = find(recs, "EXIT", sleep_exec["pid"])
    assert (sleep_exit["comm"], sleep_exit["ppid"], sleep_exit["exit_code"]) == ("sleep", sh.pid, 0)
    assert NAP * 1e9 <= sleep_exit["duration_ns"] <= out["duration_ns"]
    assert recs.index(ex) < recs.index(sleep_exec) < recs.index(sleep_exit) < recs.index(out)
    assert_clean_exit(t, rc)


def test_min_duration_filters_in_the_kernel(run_tool: Callable[..., ToolRun]) -> None:
    min_ms = 200
    t = run_tool("bootstrap", "-d", str(min_ms))
    t.wait_ready()
    start = time.monotonic_ns()
    quick = subprocess.Popen(["/bin/true"])
    quick.wait()
    quick_lived = time.monotonic_ns() - start
    slow = subprocess.Popen(["sleep", "0.4"])
    slow.wait()
    t.wait_for(lambda r: r["pid"] == slow.pid)
    rc = t.finish(signal.SIGTERM)
    recs = t.records
    assert recs and all(r["event"] == "EXIT" for r in recs)  # no EXEC events with a filter
    assert all(r["duration_ns"] >= min_ms * 1_000_000 for r in recs)
    assert find(recs, "EXIT", slow.pid)["duration_ns"] >= 400_000_000
    if quick_lived < min_ms * 1_000_000:  # true is quick, but only a process seen to be quick must be missing
        assert not [r for r in recs if r["pid"] == quick.pid]
    assert_clean_exit(t, rc)


def test_text_lines_as_libbpf_bootstrap(run_tool: Callable[..., ToolRun]) -> None:
    t = run_tool("bootstrap", json_output=False)
    t.wait_ready()
    sh = subprocess.Popen(["/bin/sh", "-c", "sleep 0.1; exit 3"])
    sh.wait()
    t._wait(lambda: any(line.split()[1:4] == ["EXIT", "sh", str(sh.pid)] for line in t.lines[1:]), "EXIT line", 30)
    rc = t.finish(signal.SIGINT)
    assert t.lines[0] == "TIME     EVENT COMM             PID     PPID    FILENAME/EXIT CODE"
    (exec_line,) = [ln for ln in t.lines[1:] if ln.split()[1:4] == ["EXEC", "sh", str(sh.pid)]]
    assert exec_line[9:].split() == ["EXEC", "sh", str(sh.pid), str(os.getpid()), "/bin/sh"]
    (exit_line,) = [ln for ln in t.lines[1:] if ln.split()[1:4] == ["EXIT", "sh", str(sh.pid)]]
    fields = exit_line[9:].split()
    assert fields[:5] == ["EXIT", "sh", str(sh.pid), str(os.getpid()), "[3]"]
    assert fields[5].startswith("(") and fields[5].endswith("ms)") and int(fields[5][1:-3]) >= 100
    assert_clean_exit(t, rc)


def test_event_layout_matches_bootstrap_h(tmp_path: Path) -> None:
    """The Python struct of a record is bootstrap.h's struct event, as clang lays it out (read from BTF)."""
    src = tmp_path / "layout.bpf.c"
    header = Path(bootstrap.__file__).with_name("bootstrap.h")
    src.write_text(f'#include "vmlinux.h"\n#include "{header}"\nstruct event layout_probe;\n')
    spec = bpfkit.ObjectSpec.from_file(compile_bpf(src))
    btf = spec.btf
    assert btf is not None
    (tid,) = btf.find("event", bpfkit.BtfKind.STRUCT)
    event = btf[tid]
    assert event.size == bootstrap.EVENT.size == 168
    offsets = {m.name: m.offset // 8 for m in event.members}
    assert offsets == {"pid": 0, "ppid": 4, "exit_code": 8, "duration_ns": 16, "comm": 24, "filename": 40, "exit_event": 167}
    raw = bootstrap.EVENT.pack(42, 1, 3, 5_000_000, b"sh", b"/bin/sh", True)
    assert raw[16:24] == (5_000_000).to_bytes(8, "little") and raw[24:26] == b"sh" and raw[167] == 1
    e = bootstrap.Event.decode(raw)
    assert (e.pid, e.ppid, e.exit_code, e.duration_ns, e.comm, e.filename, e.exit_event) == (42, 1, 3, 5_000_000, "sh", "/bin/sh", True)
    assert bootstrap.format_event(e, "12:00:00") == "12:00:00 EXIT  sh               42      1       [3] (5ms)"
    with pytest.raises(ValueError):
        bootstrap.Event.decode(raw[:-1])
