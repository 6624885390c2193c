"""tailcalls: sys_enter dispatched by syscall number through a program array of tail calls (document 004)."""

from __future__ import annotations

import argparse
import math
import os
import re
import time
from contextlib import ExitStack

import bpfkit
import bpfkit.arch
from bpfkit.trace_pipe import parse_line

from ._common import Session, ToolError, in_initial_pid_namespace, now_iso, object_file, pid_ns_constants, seconds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["COUNTERS", "DESCRIPTION", "EPILOG", "MESSAGES", "NOISY_CALLS", "TIMER_CALLS", "add_arguments", "read_counts",
           "run", "slots"]

DESCRIPTION = """\
The tail call example of the BCC chapter. The program "hello" on the raw
tracepoint sys_enter tail-calls into the program array "syscall" at the
syscall's number: execve runs hello_execve, the five timer syscalls
(timer_create .. timer_delete) run hello_timer, and the noisy access, pipe,
mremap, shmget and epoll_create1 run ignore_opcode (where the architecture has
no access or pipe, as arm64, faccessat and pipe2 stand in). The numbers are the
running machine's (x86_64: execve 59, timers 222-226; arm64: 221 and 107-111).
A syscall with an empty slot comes back to "hello", which prints "Another
syscall: N". The programs write with bpf_printk; this command prints those
trace_pipe lines (those written after it started) as BCC's trace_print does:

           bash-4242    [001] ...21  5678.901234: bpf_trace_printk: Executing a program

Each program also adds one to its counter in the array map "counts", so the
dispatch can be seen without the trace pipe; the counters are printed when
the command stops (and every --interval seconds if given). --pid limits the
dispatch and the counters to one process (the const volatile target_tgid,
set before load); without it every syscall of the system goes through,
except this command's own (ignore_tgid), whose reads of trace_pipe and
writes of what it read would otherwise keep the pipe busy by themselves.
--json prints {"time", "kind": "trace", "task", "pid", "cpu", "timestamp",
"message"} per trace line (its pid is the kernel's: in a container, not the
one --pid names) and {"time", "kind": "counts", "counts":
{"hello_execve": N, "hello_timer": N, "ignore_opcode": N, "hello": N}}."""

EPILOG = """\
examples:
  bpfkit tailcalls --pid $$             the dispatch of this shell's syscalls
  bpfkit tailcalls --no-trace --interval 1
  bpfkit tailcalls --json --duration 3"""

TIMER_CALLS = ("timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete")
# the document's noisy calls; where an architecture lacks one (arm64 has no access or pipe), the call its
# C library makes instead
NOISY_CALLS = (("access", "faccessat"), ("pipe", "pipe2"), ("mremap",), ("shmget",), ("epoll_create1",))


def slots(machine: str | None = None) -> dict[str, list[tuple[str, int]]]:
    """Program -> the (syscall name, number) pairs whose slots it fills, on ``machine`` (default: this one)."""
    def first(names: tuple[str, ...]) -> tuple[str, int]:
        for name in names:
            try:
                return name, bpfkit.arch.syscall_number(name, machine)
            except bpfkit.NotSupportedError:
                continue
        raise bpfkit.NotSupportedError(f"tailcalls: {bpfkit.arch.machine(machine)} has none of the system calls "
                                       f"{', '.join(names)}", feature=f"system call {names[0]}")

    return {"hello_execve": [first(("execve",))], "hello_timer": [first((n,)) for n in TIMER_CALLS],
            "ignore_opcode": [first(alts) for alts in NOISY_CALLS]}


def _what(program: str) -> str:
    return ", ".join(f"{name} ({nr})" for name, nr in slots()[program])


# index in the "counts" map -> (program that counts there, what makes it run)
COUNTERS: dict[int, tuple[str, str]] = {
    1: ("hello_execve", "execve"),
    2: ("hello_timer", "timer_create .. timer_delete"),
    3: ("ignore_opcode", "access, pipe, mremap, shmget, epoll_create1"),
    0: ("hello", "any other syscall: no program in its slot"),
}

# what the programs print; other bpf_printk lines in the shared trace pipe are not ours
MESSAGES = re.compile(r"^(?:Executing a program|Creating a timer|Deleting a timer|Some other timer operation"
                      r"|Another syscall: -?\d+)$")


_DRAIN_MAX = 100_000
_BACKLOG_SECONDS = 1.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bpfkit tailcalls``."""
    p.add_argument("-p", "--pid", type=int, default=0, metavar="PID",
                   help="dispatch and count only the syscalls of this process (thread group), by its PID in the "
                        "namespace this command runs in")
    p.add_argument("-i", "--interval", type=seconds, metavar="SECONDS",
                   help="also print the counters every SECONDS (default: only when stopping)")
    p.add_argument("--no-trace", action="store_true", help="do not read trace_pipe; print only the counters")


def read_counts(counts: Any) -> dict[str, int]:
    """Program name -> how many times it ran, from the "counts" array map."""
    return {name: int(counts[index]) for index, (name, _) in COUNTERS.items()}


def _print_counts(session: Session, counts: Any) -> None:
    values = read_counts(counts)
    if session.json:
        session.record({"time": now_iso(), "kind": "counts", "counts": values})
        return
    session.line(f"{'PROGRAM':<14} {'RUNS':>10}  RUNS FOR")
    for name, what in COUNTERS.values():
        session.line(f"{name:<14} {values[name]:>10}  {_what(name) if name != 'hello' else what}")


_LOST = re.compile(r"\[LOST (\d+) EVENTS\]")


_SAME_PIDS = in_initial_pid_namespace()  # trace_pipe's PIDs are ours: a line can be checked against --pid


def _trace(session: Session, line: str, tgid: int) -> int:
    """Print one trace_pipe line if it is one of ours; returns how many lines the kernel reports lost.

    Ours: one of the programs' messages and, with --pid, written by a thread of that process (another
    program, a BCC run of the same example say, may print the same words into the shared pipe). In a
    PID namespace of its own (a container) the lines carry the kernel's PIDs, which name no process
    there: the programs' own filter (target_tgid) is all that picks the lines then.
    """
    try:
        ev = parse_line(line)
    except ValueError:
        lost = _LOST.search(line)
        return int(lost.group(1)) if lost else 0
    if not MESSAGES.match(ev.message):
        return 0
    if tgid and _SAME_PIDS and ev.pid != tgid and not os.path.exists(f"/proc/{tgid}/task/{ev.pid}"):
        return 0
    session.record({"time": now_iso(), "kind": "trace", "task": ev.task, "pid": ev.pid, "cpu": ev.cpu,
                    "timestamp": ev.timestamp, "message": ev.message}, line)
    return 0


def _discard_backlog(pipe: Any) -> None:
    """Drop the lines already waiting in the pipe: written before this run, so not ours (bounded in time)."""
    deadline = time.monotonic() + _BACKLOG_SECONDS
    while time.monotonic() < deadline and pipe.readline(timeout=0) is not None:
        pass


def run(ns: argparse.Namespace, session: Session) -> int:
    """Load tailcalls.bpf.o (target_tgid = --pid), attach the dispatcher, print trace lines and counters."""
    from .tailcalls_skel import Tailcalls  # here: `bpfkit tailcalls -h` does not load the skeleton

    if ns.pid < 0 or (ns.pid and not os.path.exists(f"/proc/{ns.pid}")):
        raise ToolError(f"tailcalls: no process with pid {ns.pid}")
    # --pid and this process's PID are numbers of the namespace the tool runs in: the filter compares those
    table = slots()
    timers = dict(table["hello_timer"])
    with Tailcalls.load(object_file("tailcalls"), target_tgid=ns.pid, ignore_tgid=0 if ns.pid else os.getpid(),
                        nr_timer_create=timers["timer_create"], nr_timer_delete=timers["timer_delete"],
                        **pid_ns_constants("own")) as obj, ExitStack() as stack:
        prog_array = obj.maps.syscall
        assert isinstance(prog_array, bpfkit.ProgArrayMap)
        for program, calls in table.items():  # this architecture's numbers
            for _name, nr in calls:
                prog_array[nr] = obj.collection.programs[program]
        counts = obj.maps.counts  # TypedMap[int, int]: counter index -> runs
        pipe = None if ns.no_trace else stack.enter_context(bpfkit.TracePipe())
        if pipe is not None:
            _discard_backlog(pipe)
        obj.attach()  # only "hello": the tail-called programs run through the program array
        session.ready(f"Dispatching the syscalls of {f'pid {ns.pid}' if ns.pid else 'every other process'} by tail calls")
        due = time.monotonic() + ns.interval if ns.interval else math.inf
        lost = 0
        for wait in session.ticks():
            wait = min(wait, max(0.0, due - time.monotonic()))
            if pipe is None:
                session.wait_readable(None, wait)
            elif (line := pipe.readline(timeout=wait)) is not None:
                lost += _trace(session, line, ns.pid)
            if time.monotonic() >= due:
                _print_counts(session, counts)
                due += ns.interval
                if due < time.monotonic():  # a slow terminal: skip the missed prints
                    due = time.monotonic() + ns.interval
        obj.collection.detach()
        if pipe is not None:  # the lines written before the detach, not an endless stream of others' lines
            for _ in range(_DRAIN_MAX):
                if (line := pipe.readline(timeout=0)) is None:
                    break
                lost += _trace(session, line, ns.pid)
        _print_counts(session, counts)
    if lost:
        session.note(f"trace_pipe: the kernel dropped {lost} lines (its trace buffer was full); the counters miss none")
    return 0
