"""Run a ready tool as a user does (``python -m bpfkit <tool>``) and see what it printed and held."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bpfkit
from bpfkit._sys.commands import ids_of
from bpfkit._uapi import Cmd
from bpfkit.testing import require

# what each tool's programs attach through and use, as bpfkit.features names it: a test of a tool skips (through
# the probe, with its reason) where this process cannot have it (tracefs unreadable or locked down, no kprobes ...)
TOOL_NEEDS: dict[str, tuple[str, ...]] = {
    "bootstrap": ("tracefs", "helper:probe_read_kernel@tracepoint", "map:ringbuf"),
    "execcount": ("tracefs",),
    "hello": ("tracefs", "map:perf_event_array", "perf_events"),
    "procmap": ("tracefs",),
    "tailcalls": ("tracefs", "map:prog_array"),  # raw_tp, and trace_pipe for bpf_printk's lines
}


PID_NS_TOOLS = ("bootstrap", "hello", "procmap")  # the tools with --pid-ns host|own
PROC_PID_INIT_INO = 0xEFFFFFFC  # the initial PID namespace's inode (include/linux/proc_ns.h)


def in_child_pid_namespace() -> bool:
    """Whether the tests run in a PID namespace of their own (a container), where BPF sees other PIDs."""
    return os.stat("/proc/self/ns/pid").st_ino != PROC_PID_INIT_INO


def require_tool(tool: str) -> None:
    """Skip the calling test unless this process may run ``tool`` here (each feature it needs asked of its probe)."""
    for feature in TOOL_NEEDS[tool]:
        require(feature)


READY = re.compile(r"\((?:Ctrl\+C to stop|for [0-9.e+-]+ s)\)$")
# kinds of kernel objects a tool's fds refer to, as /proc/PID/fdinfo names their ids
KINDS = ("prog", "map", "link", "btf")
SRC = str(Path(bpfkit.__file__).resolve().parent.parent)
_NEXT_ID = {"prog": Cmd.PROG_GET_NEXT_ID, "map": Cmd.MAP_GET_NEXT_ID, "link": Cmd.LINK_GET_NEXT_ID,
            "btf": Cmd.BTF_GET_NEXT_ID}


def held_ids(pid: int) -> dict[str, set[int]]:
    """The ids of the BPF programs, maps, links and BTF objects process ``pid`` holds fds of."""
    ids: dict[str, set[int]] = {k: set() for k in KINDS}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        first = {}
        for line in text.splitlines():
            key, _, value = line.partition(":")
            first.setdefault(key.strip(), value.strip())
        for kind in KINDS:
            # a link's fdinfo also names its program: count the fd as what it is, a link
            if f"{kind}_id" in first and not (kind != "link" and "link_id" in first):
                ids[kind].add(int(first[f"{kind}_id"]))
                break
    return ids


def live_ids() -> dict[str, set[int]]:
    """The ids of every BPF program, map, link and BTF object of the system.

    Listed with BPF_*_GET_NEXT_ID, which opens nothing. `bpftool ... show` would open each object by
    id, and opening a program array while its owner exits can leak it: the kernel's deferred clearing
    of the array takes a map reference each time its last user reference goes away, and drops only one
    if the second comes while the first clearing is still queued.
    """
    return {kind: set(ids_of(cmd)) for kind, cmd in _NEXT_ID.items()}


def wait_gone(ids: dict[str, set[int]], timeout: float = 15.0) -> dict[str, set[int]]:
    """Wait until none of ``ids`` exists (the kernel frees some objects after a grace period); what remains."""
    deadline = time.monotonic() + timeout
    while True:
        live = live_ids()
        left = {k: ids[k] & live[k] for k in KINDS if ids[k] & live[k]}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def tool_env() -> dict[str, str]:
    """The environment of a tool process: this bpfkit first on the path, unbuffered output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ToolRun:
    """``python -m bpfkit <tool> --json ARGS`` in a subprocess; stdout JSON lines and stderr lines are collected."""

    def __init__(self, tool: str, *args: str, json_output: bool = True) -> None:
        self.tool = tool
        if tool in PID_NS_TOOLS and in_child_pid_namespace() and "--pid-ns" not in args:
            args = (*args, "--pid-ns", "own")  # in a container the tests' PIDs are the container's
        argv = [sys.executable, "-m", "bpfkit", tool, *(["--json"] if json_output else []), *args]
        self.json = json_output
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=tool_env())
        self.lines: list[str] = []
        self.err: list[str] = []
        self.ids: dict[str, set[int]] = {k: set() for k in KINDS}
        self._cond = threading.Condition()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _pump(self, stream: Any, into: list[str]) -> None:
        for line in stream:
            with self._cond:
                into.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def records(self) -> list[dict[str, Any]]:
        """The JSON objects printed so far."""
        with self._cond:
            return [json.loads(line) for line in self.lines]

    def _wait(self, pred: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred():
                if self.proc.poll() is not None and all(not t.is_alive() for t in self._threads):
                    raise AssertionError(f"{self.tool} exited ({self.proc.returncode}) before {what}; stderr:\n"
                                         + "\n".join(self.err))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.tool}: no {what} within {timeout} s; stderr:\n" + "\n".join(self.err))
                self._cond.wait(min(left, 0.2))

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for the tool's 'attached' note on stderr, then record the ids of what it holds."""
        self._wait(lambda: any(READY.search(line) for line in self.err), "ready message", timeout)
        self.ids = held_ids(self.proc.pid)

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], *, start: int = 0, timeout: float = 30.0) -> dict[str, Any]:
        """The first JSON record from index ``start`` on that satisfies ``pred`` (waiting for it)."""
        found: list[dict[str, Any]] = []

        def check() -> bool:
            for line in self.lines[start:]:
                rec = json.loads(line)
                if pred(rec):
                    found.append(rec)
                    return True
            return False

        self._wait(check, "matching record", timeout)
        return found[0]

    def finish(self, sig: int | None = None, timeout: float = 60.0) -> int:
        """Send ``sig`` (None: let --duration end it), wait for the exit, collect the output; the exit status."""
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.tool} did not exit within {timeout} s of {sig}") from None
        for t in self._threads:
            t.join(timeout)
        return rc

    def kill(self) -> None:
        """Make sure the process is gone (test teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for t in self._threads:
            t.join(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def assert_clean_exit(run: ToolRun, rc: int) -> None:
    """Exit status 0, no traceback, and no program, map, link or BTF of the tool left in the kernel."""
    assert rc == 0, f"{run.tool} exited {rc}; stderr:\n" + "\n".join(run.err)
    assert not any("Traceback" in line for line in run.err), "\n".join(run.err)
    assert run.ids["prog"] and run.ids["map"], f"{run.tool} held no programs or maps: {run.ids}"
    left = wait_gone(run.ids)
    assert not left, f"{run.tool} left kernel objects behind: {left}"
