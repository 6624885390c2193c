"""bootstrap: every process exec and exit, as libbpf-bootstrap prints them (document 000)."""

from __future__ import annotations

import argparse
import struct

import bpfkit

from ..errors import BpfValueError
from ._common import Session, add_pid_ns_argument, cstr, milliseconds, now_hms, now_iso, object_file, pid_ns_constants

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DESCRIPTION", "EPILOG", "EVENT", "Event", "add_arguments", "format_event", "header", "run"]

DESCRIPTION = """\
Trace every process exec and exit, as libbpf-bootstrap does. On
sched/sched_process_exec the BPF program stores the time in the hash map
exec_start (pid -> ns) and sends an EXEC event; on sched/sched_process_exit it
looks the pid up, computes how long the process lived, deletes the entry and
sends an EXIT event with the exit code. Events reach this command through the
ring buffer rb.

  TIME     EVENT COMM             PID     PPID    FILENAME/EXIT CODE
  19:04:01 EXEC  sleep            4242    4200    /usr/bin/sleep
  19:04:02 EXIT  sleep            4242    4200    [0] (1002ms)

-d/--min-duration MS sets the const volatile min_duration_ns before the
object is loaded: the kernel then sends only the exits of processes that
lived at least that long, and no EXEC events. --json prints one object per
event with the keys time, event ("EXEC" or "EXIT"), comm, pid, ppid,
filename (null for EXIT), exit_code and duration_ns (null for EXEC;
duration_ns is also null for a process whose exec was not seen).

Events the kernel side could not put in rb because it was full (this command
fell behind) are counted in the map rb_lost; the command reports them on
stderr as they happen and in total at the end."""

EPILOG = """\
examples:
  bpfkit bootstrap                      until Ctrl+C
  bpfkit bootstrap -d 100               exits of processes that lived 100 ms or more
  bpfkit bootstrap --json --duration 5"""

# struct event of bootstrap.h (168 bytes): pid, ppid, exit_code, 4 bytes of padding,
# duration_ns, comm[16], filename[127], exit_event
EVENT = struct.Struct("<iiI4xQ16s127s?")


class Event:
    """One record of the ring buffer, decoded (a plain class: ``dataclasses`` would cost the tool's start
    the import of ``inspect``)."""

    __slots__ = ("comm", "duration_ns", "exit_code", "exit_event", "filename", "pid", "ppid")

    def __init__(self, pid: int, ppid: int, exit_code: int, duration_ns: int, comm: str, filename: str,
                 exit_event: bool) -> None:
        self.pid = pid
        self.ppid = ppid
        self.exit_code = exit_code
        self.duration_ns = duration_ns
        self.comm = comm
        self.filename = filename
        self.exit_event = exit_event

    def _values(self) -> tuple[object, ...]:
        return (self.pid, self.ppid, self.exit_code, self.duration_ns, self.comm, self.filename, self.exit_event)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return ("Event(pid={!r}, ppid={!r}, exit_code={!r}, duration_ns={!r}, comm={!r}, filename={!r}, "
                "exit_event={!r})".format(*self._values()))

    @classmethod
    def decode(cls, data: bytes | memoryview) -> Event:
        """Decode a ``struct event`` record (ValueError if it is not 168 bytes)."""
        if len(data) != EVENT.size:
            raise BpfValueError(f"bootstrap event is {EVENT.size} bytes, got a record of {len(data)}")
        pid, ppid, code, dur, comm, filename, is_exit = EVENT.unpack(data)
        return cls(pid, ppid, code, dur, cstr(comm), cstr(filename), bool(is_exit))

    def as_json(self, time: str) -> dict[str, Any]:
        """The --json object of this event."""
        return {
            "time": time,
            "event": "EXIT" if self.exit_event else "EXEC",
            "comm": self.comm,
            "pid": self.pid,
            "ppid": self.ppid,
            "filename": None if self.exit_event else self.filename,
            "exit_code": self.exit_code if self.exit_event else None,
            "duration_ns": (self.duration_ns or None) if self.exit_event else None,
        }


def header() -> str:
    """The column header of the text output."""
    return f"{'TIME':<8} {'EVENT':<5} {'COMM':<16} {'PID':<7} {'PPID':<7} FILENAME/EXIT CODE"


def format_event(e: Event, hms: str) -> str:
    """One text line: the filename of an EXEC, ``[code] (Nms)`` of an EXIT (ms rounded down)."""
    if not e.exit_event:
        return f"{hms:<8} {'EXEC':<5} {e.comm:<16} {e.pid:<7} {e.ppid:<7} {e.filename}"
    line = f"{hms:<8} {'EXIT':<5} {e.comm:<16} {e.pid:<7} {e.ppid:<7} [{e.exit_code}]"
    if e.duration_ns:
        line += f" ({e.duration_ns // 1_000_000}ms)"
    return line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bpfkit bootstrap``."""
    p.add_argument("-d", "--min-duration", type=_min_duration, default=0, metavar="MS",
                   help="report only exits of processes that lived at least MS milliseconds (set in the "
                        "kernel before load; no EXEC events then)")
    add_pid_ns_argument(p)


MAX_MIN_DURATION_MS = (2**64 - 1) // 1_000_000  # min_duration_ns is a u64


def _min_duration(text: str) -> int:
    """argparse type of -d: milliseconds whose nanoseconds fit the object's u64 min_duration_ns."""
    value = milliseconds(text)
    if value > MAX_MIN_DURATION_MS:
        raise argparse.ArgumentTypeError(
            f"{value} ms does not fit min_duration_ns (a u64 of nanoseconds): at most {MAX_MIN_DURATION_MS} ms"
        )
    return value


def _report_lost(session: Session, lost: int | None, reported: int) -> int:
    """Note events the kernel side could not reserve since the last report; returns the new total."""
    if lost is not None and lost > reported:
        session.note(f"lost {lost - reported} events: the ring buffer was full (the reader fell behind)")
        return lost
    return reported


def run(ns: argparse.Namespace, session: Session) -> int:
    """Load bootstrap.bpf.o with min_duration_ns set, attach, print ring buffer events until stopped."""
    from .bootstrap_skel import Bootstrap  # here: `bpfkit bootstrap -h` does not load the skeleton

    def on_event(data: Any) -> None:
        e = Event.decode(data)
        session.record(e.as_json(now_iso()), format_event(e, now_hms()))

    pidns = pid_ns_constants(ns.pid_ns)
    with Bootstrap.load(object_file("bootstrap"), min_duration_ns=ns.min_duration * 1_000_000,
                        pidns_dev=pidns.get("pidns_dev"), pidns_ino=pidns.get("pidns_ino")) as obj:
        obj.attach()
        with bpfkit.RingBuffer(obj.maps.rb, callback=on_event) as rb:
            session.ready("Tracing process exec and exit")
            if not session.json:
                session.line(header())
            reported = 0
            for wait in session.ticks():
                if session.wait_readable(rb, wait):  # a stop ends the wait at once (poll's would not)
                    rb.poll(timeout=0)
                reported = _report_lost(session, rb.lost, reported)
            rb.consume()  # what arrived before the stop
            reported = _report_lost(session, rb.lost, reported)
            if reported:
                session.note(f"{reported} events lost in all")
    return 0
