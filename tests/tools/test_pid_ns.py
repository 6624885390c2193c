"""--pid-ns: run inside a new PID namespace (unshare --pid --fork --mount-proc, as a container does),
the tools print that namespace's PIDs with ``own`` and the initial namespace's with ``host``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tools_helpers import require_tool

from bpfkit import host
from bpfkit.testing import patience, require_capability, slowdown
from bpfkit.tools._common import pid_ns_constants

pytestmark = pytest.mark.kernel

# In the namespace: sh is PID 1. Start the tool and a long-lived sleep, exec /bin/true until the tool has
# printed MARK (or give up), stop the tool, then print a PID allocated after everything the tool can have seen.
SCRIPT = """
"$PY" -m bpfkit "$TOOL" --json --pid-ns "$MODE" > "$OUT/events" 2> "$OUT/err" &
tool=$!
sleep 120 &
sleeper=$!
i=0
while [ $i -lt "$LIMIT" ] && ! grep -q "$MARK" "$OUT/events"; do /bin/true; sleep 0.05; i=$((i + 1)); done
kill -TERM $tool
wait $tool
echo $? > "$OUT/status"
kill $sleeper
sh -c 'echo $$' > "$OUT/last_pid"
"""


def _env() -> dict[str, str]:
    """PATH, the wait loops' bound (30 s, stretched on slow guests) and the PYTHONPATH that finds bpfkit (an arm64
    guest's userland has its packages there)."""
    env = {"PATH": "/usr/bin:/bin", "LIMIT": str(int(600 * slowdown()))}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def _run(tool: str, mode: str, mark: str, tmp_path: Path) -> tuple[list[dict[str, object]], int]:
    require_tool(tool)
    require_capability(host.CAP_SYS_ADMIN, "making a PID namespace (unshare --pid --mount-proc)")
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is needed to run a tool in a new PID namespace")
    env = {"PY": sys.executable, "TOOL": tool, "MODE": mode, "OUT": str(tmp_path), "MARK": mark, **_env()}
    subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "sh", "-c", SCRIPT], env=env, check=True,
                   timeout=patience(120))
    assert (tmp_path / "status").read_text().strip() == "0", (tmp_path / "err").read_text()
    events = [json.loads(line) for line in (tmp_path / "events").read_text().splitlines() if line.strip()]
    assert any(mark.strip('"') in json.dumps(e) for e in events), (tmp_path / "err").read_text()
    return events, int((tmp_path / "last_pid").read_text())


def test_own_pid_ns_constants_are_this_namespace() -> None:
    import os

    st = os.stat("/proc/self/ns/pid")
    assert pid_ns_constants("own") == {"pidns_dev": st.st_dev, "pidns_ino": st.st_ino}
    assert pid_ns_constants("host") == {"pidns_dev": 0, "pidns_ino": 0}
    with pytest.raises(ValueError):
        pid_ns_constants("guest")


def test_bootstrap_prints_the_pids_of_its_own_namespace(tmp_path: Path) -> None:
    events, last = _run("bootstrap", "own", '"/bin/true"', tmp_path)
    trues = [e for e in events if e["event"] == "EXEC" and e["filename"] == "/bin/true"]
    assert trues and all(e["ppid"] == 1 for e in trues), trues  # the namespace's sh is its PID 1
    assert all(0 < int(e["pid"]) < last for e in events), events  # only processes of the namespace


def test_bootstrap_prints_host_pids_by_default(tmp_path: Path) -> None:
    events, _ = _run("bootstrap", "host", '"/bin/true"', tmp_path)
    trues = [e for e in events if e["event"] == "EXEC" and e["filename"] == "/bin/true"]
    assert trues and all(e["ppid"] != 1 for e in trues), trues  # sh's PID in the initial namespace


def test_hello_prints_the_pids_of_its_own_namespace(tmp_path: Path) -> None:
    events, last = _run("hello", "own", '"command": "sh"', tmp_path)
    assert all(0 < int(e["pid"]) < last for e in events), events


def test_procmap_keys_are_pids_of_its_own_namespace(tmp_path: Path) -> None:
    events, last = _run("procmap", "own", '"comm": "sleep"', tmp_path)
    procs = [p for e in events for p in e["processes"]]  # type: ignore[attr-defined]
    assert procs and all(0 < int(p["pid"]) < last for p in procs), procs


def test_tailcalls_pid_is_a_pid_of_its_own_namespace(tmp_path: Path) -> None:
    """--pid names a process by its PID in the namespace: one that re-executes itself has its execve counted."""
    require_tool("tailcalls")
    require_capability(host.CAP_SYS_ADMIN, "making a PID namespace (unshare --pid --mount-proc)")
    (tmp_path / "reexec.sh").write_text('sleep 0.05\n[ "$1" -lt 3000 ] && exec sh "$0" $(($1 + 1))\n')
    script = (
        'sh "$OUT/reexec.sh" 0 &\ntarget=$!\n'
        '"$PY" -m bpfkit tailcalls --pid $target --no-trace --json --interval 0.2 > "$OUT/events" 2> "$OUT/err" &\n'
        "tool=$!\ni=0\n"
        'while [ $i -lt "$LIMIT" ] && ! grep -q \'"hello_execve": [1-9]\' "$OUT/events"; do sleep 0.05; i=$((i + 1)); done\n'
        'kill -TERM $tool\nwait $tool\necho $? > "$OUT/status"\nkill $target\n'
    )
    env = {"PY": sys.executable, "OUT": str(tmp_path), **_env()}
    subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", script], env=env, check=True,
                   timeout=patience(120))
    assert (tmp_path / "status").read_text().strip() == "0", (tmp_path / "err").read_text()
    counts = [json.loads(line)["counts"] for line in (tmp_path / "events").read_text().splitlines() if line.strip()]
    assert counts and counts[-1]["hello_execve"] > 0, counts
