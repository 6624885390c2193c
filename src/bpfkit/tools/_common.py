"""What every ready tool shares: its shipped object, stopping on a signal or after --duration, and output."""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType, TracebackType

from ..errors import BpfValueError, ToolError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, TextIO

    from _typeshed import HasFileno

__all__ = ["TOOLS", "Session", "ToolError", "add_pid_ns_argument", "cstr", "in_initial_pid_namespace", "milliseconds", "now_hms", "now_iso",
           "object_file", "object_path", "pid_ns_constants", "duration", "seconds"]

# name -> one line saying what it shows (the order of `bpfkit -h` and the README table)
TOOLS: dict[str, str] = {
    "bootstrap": "every process exec and exit, with exit code and lifetime (ring buffer)",
    "execcount": "execve calls per UID, read from a hash map every few seconds",
    "hello": "a 'Hello World' record per execve through a perf buffer",
    "tailcalls": "sys_enter dispatched by syscall number through tail calls; trace_pipe and counters",
    "procmap": "the live processes from a PID -> name hash map kept by exec/exit tracepoints",
}

# How often a waiting loop looks at the stop flag: the latency of Ctrl+C and --duration.
TICK = 0.1


def object_path(name: str) -> Path:
    """Path of the shipped BPF object of tool ``name`` (``bootstrap`` -> .../tools/bootstrap.bpf.o)."""
    from pathlib import Path

    return Path(object_file(name))


def object_file(name: str) -> str:
    """:func:`object_path` as a str: what the tools load, without importing pathlib (~2 ms of a start, issue 18)."""
    if name not in TOOLS:
        raise BpfValueError(f"no tool {name!r} (have: {', '.join(TOOLS)})")
    path = os.path.join(os.path.dirname(__file__), f"{name}.bpf.o")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: rebuild the tool objects with `make tools`")
    return path


PID_NS_HELP = ("whose PIDs to print: 'host' (the initial PID namespace, what the kernel sees; the default) or "
               "'own' (the namespace this command runs in, as its /proc and ps show them; processes outside it "
               "are left out)")


def add_pid_ns_argument(p: argparse.ArgumentParser) -> None:
    """The ``--pid-ns host|own`` option of the tools that print PIDs."""
    p.add_argument("--pid-ns", choices=("host", "own"), default="host", help=PID_NS_HELP)


PROC_PID_INIT_INO = 0xEFFFFFFC
"""The inode of the initial PID namespace's nsfs file (include/linux/proc_ns.h)."""


def in_initial_pid_namespace() -> bool:
    """Whether this process sees PIDs as the kernel does (trace_pipe lines, BPF's bpf_get_current_pid_tgid)."""
    return os.stat("/proc/self/ns/pid").st_ino == PROC_PID_INIT_INO


def pid_ns_constants(mode: str) -> dict[str, int]:
    """The pidns_dev/pidns_ino constants of tools/pidns.h for ``--pid-ns`` (``own``: this process's namespace)."""
    if mode == "host":
        return {"pidns_dev": 0, "pidns_ino": 0}
    if mode != "own":
        raise BpfValueError(f"--pid-ns must be 'host' or 'own', not {mode!r}")
    st = os.stat("/proc/self/ns/pid")
    return {"pidns_dev": st.st_dev, "pidns_ino": st.st_ino}


def seconds(text: str) -> float:
    """argparse type of --duration and --interval: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def duration(text: str) -> float:
    """argparse type of a tool's --duration: seconds >= 0 (0: stop as soon as attached, which times start-up)."""
    if text.strip() in ("0", "0.0"):
        return 0.0
    return seconds(text)


def milliseconds(text: str) -> int:
    """argparse type of a whole number of milliseconds >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of milliseconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 milliseconds, got {text!r}")
    return value


def now_iso() -> str:
    """The local wall-clock time, ISO 8601 with microseconds and UTC offset (the JSON ``time``)."""
    import datetime  # here, not at import: a tool's start pays only for what it uses

    return datetime.datetime.now().astimezone().isoformat(timespec="microseconds")


def now_hms() -> str:
    """The local time as HH:MM:SS (the text ``TIME`` column, as libbpf-bootstrap prints it)."""
    return time.strftime("%H:%M:%S")


class Session:
    """One run of a tool: output (text or JSON lines) and when to stop.

    Stops on SIGINT or SIGTERM (a second one raises KeyboardInterrupt, in case
    cleanup hangs), when ``duration`` seconds have passed since :meth:`ready`,
    or when standard output is closed (``| head``). Signal handlers are only
    installed from the main thread and are restored on exit.
    """

    def __init__(self, *, json_output: bool = False, duration: float | None = None,
                 out: TextIO | None = None, err: TextIO | None = None, handle_signals: bool = True) -> None:
        if duration is not None and duration < 0:
            raise BpfValueError(f"duration must be >= 0 seconds, got {duration}")
        self.json = json_output
        self.duration = duration
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.deadline: float | None = None
        self.broken_pipe = False
        self.signal: int | None = None
        self._stop = False
        self._handle_signals = handle_signals
        self._previous: dict[int, Any] = {}
        self._wake: tuple[int, int] | None = None  # a pipe a stop writes to, so that a wait ends at once

    # -- lifetime ------------------------------------------------------------
    def __enter__(self) -> Session:
        # A wait in select() on this pipe ends as soon as a signal's handler (or stop()) writes to it:
        # Python retries a system call a handler interrupted (PEP 475), time.sleep and poll too.
        self._wake = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()
        if self._wake is not None:
            for fd in self._wake:
                os.close(fd)
            self._wake = None
        if self.broken_pipe:
            _silence_stdout(self.out)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop and self.signal is not None:
            raise KeyboardInterrupt  # a second Ctrl+C: stop waiting for a clean exit
        self.signal = signum
        self.stop()

    def stop(self) -> None:
        """Ask the tool to stop (what SIGINT and SIGTERM do); a wait in progress ends at once."""
        self._stop = True
        wake = self._wake
        if wake is not None:
            try:
                os.write(wake[1], b"\0")
            except OSError:  # full (a stop is already pending) or closed meanwhile
                pass

    @property
    def stopped(self) -> bool:
        """True once a signal, the end of --duration or a closed stdout asked the tool to stop."""
        if not self._stop and self.deadline is not None and time.monotonic() >= self.deadline:
            self._stop = True
        return self._stop

    def timeout(self, cap: float = TICK) -> float:
        """How long a blocking read may wait now: at most ``cap``, never past the deadline."""
        if self.deadline is None:
            return cap
        return max(0.0, min(cap, self.deadline - time.monotonic()))

    def wait_until(self, when: float) -> bool:
        """Sleep until monotonic time ``when`` or a stop; True if the tool should stop."""
        while not self.stopped:
            left = when - time.monotonic()
            if left <= 0:
                return False
            self.wait_readable(None, min(left, self.timeout()))
        return True

    def wait_readable(self, source: HasFileno | None, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``source`` (a ring or perf buffer, any object with ``fileno()``)
        to be readable, ending early on a stop; True when it is readable."""
        fds: list[int] = [] if source is None else [source.fileno()]
        if self._wake is None:  # outside ``with``: no stop can end the wait early
            if not fds:
                time.sleep(timeout)
                return False
        else:
            fds.append(self._wake[0])
        ready, _, _ = select.select(fds, [], [], timeout)
        return source is not None and fds[0] in ready

    def every(self, interval: float) -> Iterator[bool]:
        """Yield every ``interval`` seconds, and once more when the tool should stop (then True)."""
        due = time.monotonic() + interval
        while True:
            stopping = self.wait_until(due)
            yield stopping
            if stopping:
                return
            due += interval
            now = time.monotonic()
            if due < now:  # a slow consumer: skip the missed rounds rather than bunch them up
                due = now + interval

    def ticks(self) -> Iterator[float]:
        """Yield a wait (seconds) for each round of a polling loop until the tool should stop."""
        while not self.stopped:
            yield self.timeout()

    def ready(self, message: str) -> None:
        """Tell the user (on stderr) that the tool is attached; --duration counts from here."""
        if self.duration is not None:
            self.deadline = time.monotonic() + self.duration
        hint = f"for {self.duration:g} s" if self.duration is not None else "Ctrl+C to stop"
        self.note(f"{message} ({hint})")

    # -- output ----------------------------------------------------------------
    def note(self, message: str) -> None:
        """A message for the user on stderr (never mixed into the JSON on stdout)."""
        try:
            print(message, file=self.err, flush=True)
        except (BrokenPipeError, ValueError):
            pass

    def line(self, text: str) -> None:
        """One line of text output (headers, rows)."""
        self._write(text)

    def record(self, obj: dict[str, Any], text: str | None = None) -> None:
        """One record: a JSON object per line with --json, else ``text`` (if given)."""
        if self.json:
            import json  # here, not at import: text output does not need it

            self._write(json.dumps(obj, ensure_ascii=False))
        elif text is not None:
            self._write(text)

    def _write(self, text: str) -> None:
        if self.broken_pipe:
            return
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except BrokenPipeError:
            self.broken_pipe = True
            self._stop = True


def _silence_stdout(stream: TextIO) -> None:
    """After EPIPE, point stdout's fd at /dev/null so the interpreter's final flush does not fail."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def cstr(raw: bytes | str) -> str:
    """A C char array's text: up to the first NUL, undecodable bytes replaced."""
    if isinstance(raw, str):
        return raw.split("\0", 1)[0]
    return raw.split(b"\0", 1)[0].decode(errors="replace")
