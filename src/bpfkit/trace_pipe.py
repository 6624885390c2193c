"""Read bpf_printk / bpf_trace_printk output from tracefs ``trace_pipe`` (the BCC ``trace_print`` of the seeds).

``trace_pipe`` is the kernel's global trace buffer, consumed by reading: every
line read is gone for other readers. Lines look like::

    python3-1234    [001] d..31  5678.901234: bpf_trace_printk: hello

and :func:`parse_line` splits them into a :class:`TraceEvent` (BCC's
``trace_fields``). tracefs is mounted at /sys/kernel/tracing when missing.
"""

from __future__ import annotations

import errno as E
import os
import re
import sys
import time
from collections.abc import Iterator
from types import TracebackType
from typing import NamedTuple

from ._sys.epoll import EPOLLIN, Epoll
from ._sys.mounts import ensure_tracefs, tracefs_access
from .errors import BpfValueError, KernelError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["TraceEvent", "TracePipe", "parse_line", "trace_fields", "trace_print"]

_LINE = re.compile(
    r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+"
    r"(?:\(\s*(?:\d+|-+)\)\s+)?"  # "(tgid)" with the record-tgid option
    r"\[(?P<cpu>\d+)\]\s+"
    r"(?:(?P<flags>\S+)\s+)?"
    r"(?P<ts>\d+\.\d+):\s+"
    r"(?:(?P<event>[^:\s]+):\s?)?"
    r"(?P<msg>.*?)\r?$"
)


class TraceEvent(NamedTuple):
    """One trace_pipe line: (task, pid, cpu, flags, timestamp, message), as BCC's trace_fields."""

    task: str
    pid: int
    cpu: int
    flags: str
    timestamp: float
    message: str


def parse_line(line: str | bytes) -> TraceEvent:
    """Split a trace_pipe line; ValueError for lines that are not events (such as lost-event notes)."""
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    text = text.rstrip("\n")
    m = _LINE.match(text)
    if m is None:
        raise BpfValueError(f"not a trace_pipe event line: {text!r}")
    return TraceEvent(
        task=m.group("task").strip(),
        pid=int(m.group("pid")),
        cpu=int(m.group("cpu")),
        flags=m.group("flags") or "",
        timestamp=float(m.group("ts")),
        message=m.group("msg"),
    )


class TracePipe:
    """An open tracefs trace_pipe: ``readline``/``lines``/``events`` with timeouts in seconds."""

    def __init__(self, path: str | None = None) -> None:
        if path is not None and (not isinstance(path, (str, bytes, os.PathLike)) or "\0" in os.fsdecode(path)):
            raise BpfValueError(f"TracePipe: {path!r} is not a usable path")
        self.path = os.fsdecode(path) if path else os.path.join(ensure_tracefs(), "trace_pipe")
        with tracefs_access("reading bpf_printk output"):
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno != E.EBUSY:
                    raise  # FileNotFoundError & co. of the path given: the contract lets them through
                raise KernelError(exc.errno, command="open", target=self.path,
                                  detail="another process is reading the trace pipe (only one reader at a time)") from None
        self._ep: Epoll | None = None
        try:
            self._ep = Epoll()
            self._ep.register(self._fd, 0, EPOLLIN)
        except BaseException:
            self.close()
            raise
        self._buf = b""
        self.skipped = 0  # lines that were not events (lost-event notes, blank lines)

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._fd < 0

    def fileno(self) -> int:
        """The trace_pipe fd (readable when lines are waiting)."""
        if self._fd < 0:
            raise BpfValueError("trace pipe is closed")
        return self._fd

    def _fill(self, timeout: float | None) -> bool:
        """Read what is available, waiting up to ``timeout``; False if nothing came."""
        assert self._ep is not None
        try:
            chunk = os.read(self._fd, 65536)
        except BlockingIOError:
            chunk = b""
        if not chunk:
            if timeout is not None and timeout <= 0:
                return False
            if not self._ep.wait(timeout):
                return False
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return False
        self._buf += chunk
        return bool(chunk)

    def readline(self, timeout: float | None = None) -> str | None:
        """The next line (without newline), or None if none arrives within ``timeout`` seconds."""
        if self._fd < 0:
            raise BpfValueError("trace pipe is closed")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
                return line.decode(errors="replace")
            if deadline is None:
                self._fill(None)
            elif not self._fill(max(deadline - time.monotonic(), 0.0)) and time.monotonic() >= deadline:
                return None

    def lines(self, timeout: float | None = None) -> Iterator[str]:
        """Yield lines until none arrives for ``timeout`` seconds (None: forever)."""
        while (line := self.readline(timeout)) is not None:
            yield line

    def events(self, timeout: float | None = None) -> Iterator[TraceEvent]:
        """Yield parsed events until none arrives for ``timeout`` seconds; other lines are counted in ``skipped``."""
        for line in self.lines(timeout):
            try:
                yield parse_line(line)
            except ValueError:
                self.skipped += 1

    def trace_fields(self, timeout: float | None = None) -> TraceEvent | None:
        """The next event (BCC's ``trace_fields``), or None on timeout."""
        return next(self.events(timeout), None)

    def close(self) -> None:
        """Close the pipe (idempotent)."""
        if self._ep is not None:
            self._ep.close()
            self._ep = None
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.close(fd)
            except OSError as exc:  # pragma: no cover - closing a valid fd does not fail
                if exc.errno != E.EBADF:
                    raise

    def __enter__(self) -> TracePipe:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[TraceEvent]:
        return self.events()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            self.close()


def trace_fields(timeout: float | None = None) -> TraceEvent | None:
    """Read one event from trace_pipe (opening and closing it), or None on timeout."""
    with TracePipe() as pipe:
        return pipe.trace_fields(timeout)


def trace_print(fmt: str | None = None, *, timeout: float | None = None, count: int | None = None,
                file: TextIO | None = None) -> int:
    """Print trace_pipe lines as BCC's ``trace_print``: raw, or ``fmt`` formatted with the TraceEvent fields.

    ``fmt`` uses str.format with the fields by position (``{0}`` task ... ``{5}``
    message) or name (``{pid} {message}``). Stops after ``count`` lines, or
    when nothing arrives for ``timeout`` seconds; returns the lines printed.
    """
    out = file if file is not None else sys.stdout
    printed = 0
    with TracePipe() as pipe:
        for line in pipe.lines(timeout):
            if fmt is None:
                text = line
            else:
                try:
                    ev = parse_line(line)
                except ValueError:
                    continue
                text = fmt.format(*ev, **ev._asdict())
            print(text, file=out, flush=True)
            printed += 1
            if count is not None and printed >= count:
                break
    return printed
