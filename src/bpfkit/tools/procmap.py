"""procmap: the live processes, from a PID -> name hash map the kernel keeps up to date (document 003)."""

from __future__ import annotations

import argparse

from ._common import Session, add_pid_ns_argument, cstr, now_hms, now_iso, object_file, pid_ns_constants, seconds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DESCRIPTION", "EPILOG", "add_arguments", "run", "snapshot"]

DESCRIPTION = """\
List the live processes as the kernel_and_user_map program does: a tracepoint
on sched/sched_process_exec stores PID -> command name in a hash map, one on
sched/sched_process_exit deletes the entry, and every --interval seconds this
command reads the whole map and prints it:

  19:04:01  2 processes
  PID      COMM
  4242     sleep
  4250     bash

Only processes that called exec since the command started are known to the
map. The list is printed once more when the command stops. --json prints one
object per interval:
{"time": ..., "processes": [{"pid": 4242, "comm": "sleep"}, ...]}."""

EPILOG = """\
examples:
  bpfkit procmap                        every 2 s, until Ctrl+C
  bpfkit procmap --interval 0.5 --json
  bpfkit procmap --pid-ns own           PIDs as this container numbers them"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bpfkit procmap``."""
    p.add_argument("-i", "--interval", type=seconds, default=2.0, metavar="SECONDS",
                   help="seconds between two reads of the map (default 2)")
    add_pid_ns_argument(p)


def snapshot(proc_map: Any) -> list[tuple[int, str]]:
    """The (pid, comm) pairs of the map, by pid."""
    return sorted((int(pid), cstr(comm)) for pid, comm in proc_map.items())


def _print(session: Session, procs: list[tuple[int, str]]) -> None:
    if session.json:
        session.record({"time": now_iso(), "processes": [{"pid": p, "comm": c} for p, c in procs]})
        return
    session.line(f"{now_hms()}  {len(procs)} process{'es' if len(procs) != 1 else ''}")
    session.line(f"{'PID':<8} COMM")
    for pid, comm in procs:
        session.line(f"{pid:<8} {comm}")


def run(ns: argparse.Namespace, session: Session) -> int:
    """Load and attach procmap.bpf.o, print the map every interval until stopped."""
    from .procmap_skel import Procmap  # here: `bpfkit procmap -h` does not load the skeleton

    with Procmap.load(object_file("procmap"), **pid_ns_constants(ns.pid_ns)) as obj:
        obj.attach()
        proc_map = obj.maps.proc_map  # TypedMap[int, bytes]: pid -> comm
        session.ready("Tracking processes through sched_process_exec/exit")
        for _ in session.every(ns.interval):
            _print(session, snapshot(proc_map))
    return 0
