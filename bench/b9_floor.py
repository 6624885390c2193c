#!/usr/bin/env python3
"""B9's kernel floor: what closing N tracepoint perf events costs, without BPF, one by one and all at once.

usage: b9_floor.py [--rounds R] [N]    (root, tracefs mounted; N <= 16, default 16)

Opens one perf event per syscalls:sys_enter_<name> tracepoint of bpf/stop16.bpf.c (no program attached),
then closes them: in order in one thread, then from N threads at once. The last perf user of a
tracepoint going away runs perf_trace_destroy(), which holds the kernel's event_mutex across
tracepoint_synchronize_unregister() (an RCU tasks-trace and an RCU grace period), so the closes
serialize: both ways cost about N grace-period pairs, the floor of any stop that detaches N tracepoint
links before it exits. Plain ctypes, no bpfkit. Prints one JSON object (ms, median of the rounds).
"""

from __future__ import annotations

import ctypes
import json
import os
import statistics
import sys
import threading
import time

NAMES = ("getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "gettid", "getsid", "sched_yield", "umask", "sync",
         "getpriority", "times", "sysinfo", "getrusage", "newuname")
NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}[os.uname().machine]
PERF_TYPE_TRACEPOINT = 2
PERF_FLAG_FD_CLOEXEC = 8


class PerfEventAttr(ctypes.Structure):
    """The head of struct perf_event_attr (PERF_ATTR_SIZE_VER0, 64 bytes), enough for a tracepoint."""

    _fields_ = [("type", ctypes.c_uint32), ("size", ctypes.c_uint32), ("config", ctypes.c_uint64),
                ("sample_period", ctypes.c_uint64), ("sample_type", ctypes.c_uint64),
                ("read_format", ctypes.c_uint64), ("flags", ctypes.c_uint64), ("wakeup_events", ctypes.c_uint32),
                ("bp_type", ctypes.c_uint32), ("config1", ctypes.c_uint64)]


def tracefs() -> str:
    for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"):
        if os.path.exists(os.path.join(d, "events")):
            return d
    raise SystemExit("b9_floor: tracefs is not mounted")


def open_events(n: int) -> list[int]:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fds = []
    for name in NAMES[:n]:
        with open(f"{tracefs()}/events/syscalls/sys_enter_{name}/id") as f:
            tp_id = int(f.read())
        attr = PerfEventAttr(type=PERF_TYPE_TRACEPOINT, size=ctypes.sizeof(PerfEventAttr), config=tp_id,
                             sample_period=1, wakeup_events=1)
        fd = libc.syscall(NR_PERF_EVENT_OPEN, ctypes.byref(attr), -1, 0, -1, PERF_FLAG_FD_CLOEXEC)
        if fd < 0:
            raise SystemExit(f"b9_floor: perf_event_open(sys_enter_{name}): {os.strerror(ctypes.get_errno())}")
        fds.append(fd)
    return fds


def close_serial(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def close_concurrent(fds: list[int]) -> None:
    threads = [threading.Thread(target=os.close, args=(fd,)) for fd in fds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> int:
    args = sys.argv[1:]
    rounds = 3
    if args[:1] == ["--rounds"]:
        rounds, args = int(args[1]), args[2:]
    n = int(args[0]) if args else 16
    if not 1 <= n <= len(NAMES):
        raise SystemExit(f"b9_floor: N is 1..{len(NAMES)}")
    out: dict[str, object] = {"bench": "b9_floor", "events": n, "rounds": rounds}
    for how, close in (("serial", close_serial), ("concurrent", close_concurrent)):
        times = []
        for _ in range(rounds):
            fds = open_events(n)
            t0 = time.monotonic_ns()
            close(fds)
            times.append((time.monotonic_ns() - t0) / 1e6)
        out[f"{how}_ms"] = round(statistics.median(times), 1)
        out[f"{how}_per_event_ms"] = round(statistics.median(times) / n, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
