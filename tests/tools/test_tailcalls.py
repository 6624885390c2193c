"""bpfkit tailcalls: the syscalls of a test process, dispatched by tail calls, in the counters and trace_pipe."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable

import pytest
from tools_helpers import ToolRun, assert_clean_exit, in_child_pid_namespace, require_tool

from bpfkit.arch import syscall_number
from bpfkit.tools.tailcalls import slots

pytestmark = pytest.mark.kernel

ACCESSES = 10
NR = {name: nr for calls in slots().values() for name, nr in calls}  # this machine's numbers
ACCESS, PIPE = (name for name, _ in slots()["ignore_opcode"][:2])  # access and pipe, or faccessat and pipe2
ACCESS_CALL = (f"libc.syscall({NR['access']}, b'/', 0)" if ACCESS == "access"
               else f"libc.syscall({NR['faccessat']}, -100, b'/', 0)")  # AT_FDCWD
PIPE_ARGS = "fds" if PIPE == "pipe" else "fds, 0"
# The child waits for a line on stdin, then makes raw syscalls (this architecture's numbers): access x10 and
# pipe (ignore_opcode), the five timer syscalls (hello_timer), then execve of /bin/true (hello_execve).
CHILD = f"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.stdin.readline()
for _ in range({ACCESSES}):
    {ACCESS_CALL}
fds = (ctypes.c_int * 2)()
assert libc.syscall({NR[PIPE]}, {PIPE_ARGS}) == 0                             # pipe or pipe2
timer = ctypes.c_int()
assert libc.syscall({NR["timer_create"]}, 1, None, ctypes.byref(timer)) == 0  # timer_create(CLOCK_MONOTONIC)
spec = (ctypes.c_long * 4)()                                                  # a zero itimerspec: stays disarmed
assert libc.syscall({NR["timer_settime"]}, timer, 0, spec, None) == 0
assert libc.syscall({NR["timer_gettime"]}, timer, spec) == 0
libc.syscall({NR["timer_getoverrun"]}, timer)
assert libc.syscall({NR["timer_delete"]}, timer) == 0
os.execv("/bin/true", ["true"])                                               # execve
"""


def test_counts_and_traces_the_syscalls_of_a_process(run_tool: Callable[..., ToolRun]) -> None:
    require_tool("tailcalls")  # before the child: a skip must not leave it waiting
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, text=True)
    try:
        t = run_tool("tailcalls", "--pid", str(child.pid))
        t.wait_ready()
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.close()
        assert child.wait(60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    rc = t.finish(signal.SIGTERM)
    recs = t.records
    counts = recs[-1]
    assert counts["kind"] == "counts"
    c = counts["counts"]
    assert (c["hello_execve"], c["hello_timer"]) == (1, 5)
    assert c["ignore_opcode"] >= ACCESSES + 1  # and the dynamic loader's access() in /bin/true
    assert c["hello"] >= 3  # read of the go line, the syscalls of /bin/true ...

    traces = [r for r in recs if r["kind"] == "trace"]
    assert traces, t.err
    # trace_pipe has the kernel's PIDs: in a container (a PID namespace of its own) not child.pid, but one
    assert {r["pid"] for r in traces} == ({child.pid} if not in_child_pid_namespace() else {traces[0]["pid"]})
    messages = Counter(r["message"] for r in traces)
    others = sum(n for m, n in messages.items() if m.startswith("Another syscall: "))
    timers = (messages["Creating a timer"], messages["Deleting a timer"], messages["Some other timer operation"])
    if any("the kernel dropped" in line for line in t.err):
        # trace_pipe is shared: a flood of other programs' printk can fill it and lines get lost
        assert messages["Executing a program"] <= 1 and all(n <= m for n, m in zip(timers, (1, 1, 3))) and others <= c["hello"]
    else:
        # every program that ran printed its line
        assert messages["Executing a program"] == 1 and timers == (1, 1, 3) and others == c["hello"]
        assert f"Another syscall: {syscall_number('read')}" in messages  # read(2) of the go line
    assert_clean_exit(t, rc)


def test_counters_only(run_tool: Callable[..., ToolRun]) -> None:
    t = run_tool("tailcalls", "--no-trace", "--interval", "0.2", json_output=False)
    t.wait_ready()
    subprocess.run(["/bin/true"], check=True)
    t._wait(lambda: sum(line.startswith("PROGRAM") for line in t.lines) >= 2, "two counter tables", 30)
    rc = t.finish(signal.SIGINT)
    tables = [t.lines[i : i + 5] for i, line in enumerate(t.lines) if line.startswith("PROGRAM")]
    assert all(len(tb) == 5 for tb in tables)
    last = {row.split()[0]: int(row.split()[1]) for row in tables[-1][1:]}
    assert set(last) == {"hello_execve", "hello_timer", "ignore_opcode", "hello"}
    assert last["hello_execve"] >= 1 and last["hello"] > 0  # the whole system's syscalls go through
    assert_clean_exit(t, rc)
