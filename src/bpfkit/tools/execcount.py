"""execcount: count execve calls per UID in a hash map and print the counts every --interval seconds (documents 002, 004)."""

from __future__ import annotations

import argparse
import pwd

from ._common import Session, now_hms, now_iso, object_file, seconds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DESCRIPTION", "EPILOG", "add_arguments", "format_ids", "run"]

DESCRIPTION = """\
Count the execve() and execveat() calls of every user. Tracepoints on
syscalls/sys_enter_execve(at) add one to a hash map keyed by UID, in the
kernel; every --interval seconds this command reads the whole map and prints
the totals since it started, as the documents do:

  ID 0: 12\tID 1000: 3

--table prints a UID/USER/EXECS table instead, --json one object per
interval: {"time": ..., "counts": [{"uid": 0, "user": "root", "count": 12}, ...]}
("user" is null for a UID without an account).
The totals are printed once more when the command stops."""

EPILOG = """\
examples:
  bpfkit execcount                      every 2 s, until Ctrl+C
  bpfkit execcount --interval 1 --table
  bpfkit execcount --json --duration 10"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bpfkit execcount``."""
    p.add_argument("-i", "--interval", type=seconds, default=2.0, metavar="SECONDS",
                   help="seconds between two prints of the counts (default 2, as the documents)")
    p.add_argument("--table", action="store_true", help="print a table (UID, USER, EXECS) instead of 'ID <uid>: <count>'")


def _user(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return None


def format_ids(counts: dict[int, int]) -> str:
    """The documents' line: ``ID <uid>: <count>`` for each UID, tab-separated."""
    return "\t".join(f"ID {uid}: {n}" for uid, n in sorted(counts.items()))


def _print(session: Session, counts: dict[int, int], table: bool) -> None:
    rows = sorted(counts.items())
    record: dict[str, Any] = {"time": now_iso(), "counts": [{"uid": u, "user": _user(u), "count": n} for u, n in rows]}
    if session.json:
        session.record(record)
    elif table:
        session.line(f"{now_hms():<9} {'UID':<10} {'USER':<16} {'EXECS':>8}")
        for uid, n in rows:
            session.line(f"{'':<9} {uid:<10} {_user(uid) or '-':<16} {n:>8}")
    else:
        session.line(format_ids(counts))


def run(ns: argparse.Namespace, session: Session) -> int:
    """Load and attach execcount.bpf.o, print the per-UID counts until stopped."""
    from .execcount_skel import Execcount  # here: `bpfkit execcount -h` does not load the skeleton

    with Execcount.load(object_file("execcount")) as obj:
        obj.attach()
        table = obj.maps.counter_table  # TypedMap[int, int]: uid -> count
        session.ready("Counting execve calls per UID")
        for _ in session.every(ns.interval):
            _print(session, dict(table.items()), ns.table)
    return 0
