"""The kernel's trace_pipe (bpf_trace_printk output) read and split as BCC's trace_fields does."""

from __future__ import annotations

import os
from typing import BinaryIO

__all__ = ["TraceFields", "TracePipe", "parse_trace_line"]

TraceFields = tuple[bytes, int, int, bytes, float, bytes]


def parse_trace_line(line: bytes) -> TraceFields | None:
    """(task, pid, cpu, flags, timestamp, message) of one trace_pipe line; None for other lines.

    A line looks like ``  bash-1234  [001] d..31  5678.901234: bpf_trace_printk: text``
    (the flags column is absent on old kernels); BCC returns the fields as
    bytes/int/float, so does this.
    """
    if line.startswith(b"CPU:") or not line.strip():
        return None
    task = line[:16].lstrip()
    rest = line[17:]
    ts_end = rest.find(b":")
    if ts_end < 0:
        return None
    head = rest[:ts_end].split()
    if len(head) == 4:
        pid_s, cpu_s, flags, ts_s = head
    elif len(head) == 3:
        pid_s, cpu_s, ts_s = head
        flags = b""
    else:
        return None
    rest = rest[ts_end + 1:]
    sym_end = rest.find(b":")
    msg = rest[sym_end + 2:] if sym_end >= 0 else rest.lstrip()
    try:
        return task, int(pid_s), int(cpu_s.strip(b"[]")), flags, float(ts_s), msg
    except ValueError:
        return None


class TracePipe:
    """An open tracefs trace_pipe (readers share it with every other reader of the system)."""

    def __init__(self, root: str, nonblocking: bool = False) -> None:
        path = os.path.join(root, "trace_pipe")
        flags = os.O_RDONLY | (os.O_NONBLOCK if nonblocking else 0)
        self._fd = os.open(path, flags)
        self._file: BinaryIO = os.fdopen(self._fd, "rb", buffering=0)
        self._buf = b""
        self.nonblocking = nonblocking

    def fileno(self) -> int:
        """The trace_pipe fd (for select/poll)."""
        return self._fd

    def readline(self) -> bytes:
        """One line without its newline; b'' when non-blocking and nothing is there."""
        while b"\n" not in self._buf:
            try:
                chunk = os.read(self._fd, 4096)
            except BlockingIOError:
                return b""
            if not chunk:
                break
            self._buf += chunk
        line, sep, rest = self._buf.partition(b"\n")
        self._buf = rest
        return line.rstrip() if sep or line else b""

    def close(self) -> None:
        """Close the pipe."""
        self._file.close()
