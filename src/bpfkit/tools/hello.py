"""hello: a "Hello World" record per execve, sent through a perf event array (document 004)."""

from __future__ import annotations

import argparse
import struct

import bpfkit

from ..errors import BpfValueError
from ._common import Session, add_pid_ns_argument, cstr, now_iso, object_file, pid_ns_constants

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DATA", "DESCRIPTION", "EPILOG", "add_arguments", "decode", "run"]

DESCRIPTION = """\
The perf buffer "hello world" of the BCC chapter: a tracepoint on
syscalls/sys_enter_execve fills struct data_t {pid, uid, command[16],
message[12]} and sends it with bpf_perf_event_output to the perf event array
"output"; this command reads every CPU's perf ring and prints one line per
execve:

  4242 1000 bash Hello World

The command is the name of the process that called execve (before the new
program replaces it). --json prints one object per execve:
{"time": ..., "pid": 4242, "uid": 1000, "command": "bash", "message": "Hello World"}.
Samples the kernel could not store (a full ring) are counted on stderr."""

EPILOG = """\
examples:
  bpfkit hello
  bpfkit hello --json --duration 5"""

# struct data_t of hello.bpf.c: int pid, int uid, char command[16], char message[12] (36 bytes)
DATA = struct.Struct("<ii16s12s")


def decode(data: bytes | memoryview) -> dict[str, Any]:
    """The fields of one sample (perf may pad it past 36 bytes; the padding is ignored)."""
    if len(data) < DATA.size:
        raise BpfValueError(f"hello sample is {DATA.size} bytes, got {len(data)}")
    pid, uid, command, message = DATA.unpack_from(data)
    return {"pid": pid, "uid": uid, "command": cstr(command), "message": cstr(message)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``bpfkit hello``."""
    add_pid_ns_argument(p)


def run(ns: argparse.Namespace, session: Session) -> int:
    """Load and attach hello.bpf.o, print the perf buffer's samples until stopped."""
    from .hello_skel import Hello  # here: `bpfkit hello -h` does not load the skeleton

    lost_total = 0

    def on_sample(cpu: int, data: Any) -> None:
        d = decode(data)
        session.record({"time": now_iso(), **d}, f"{d['pid']} {d['uid']} {d['command']} {d['message']}")

    def on_lost(cpu: int, count: int) -> None:
        nonlocal lost_total
        lost_total += count
        session.note(f"lost {count} samples on CPU {cpu}")

    with Hello.load(object_file("hello"), **pid_ns_constants(ns.pid_ns)) as obj:
        obj.attach()
        with bpfkit.PerfBuffer(obj.maps.output, callback=on_sample, lost_callback=on_lost) as pb:
            session.ready("Saying hello for every execve")
            for wait in session.ticks():
                if session.wait_readable(pb, wait):  # a stop ends the wait at once (poll's would not)
                    pb.poll(timeout=0)
            pb.consume()
    if lost_total:
        session.note(f"{lost_total} samples lost in all")
    return 0
