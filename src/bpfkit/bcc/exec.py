"""``bcc.exec``: start a command stopped until the tracer is ready (the ``-c COMMAND`` option of BCC tools)."""

from __future__ import annotations

import os
import shlex

__all__ = ["cmd_exited", "cmd_ready", "run_cmd"]

_GATES: dict[int, int] = {}


def run_cmd(command: str) -> int:
    """Fork ``command``; it waits (blocked on a pipe) until :func:`cmd_ready`. Returns its pid."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("empty command")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        try:
            os.close(w)
            os.read(r, 1)
            os.close(r)
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(r)
    _GATES[pid] = w
    return pid


def cmd_ready(pid: int) -> None:
    """Let the command started by :func:`run_cmd` run."""
    w = _GATES.pop(pid, None)
    if w is not None:
        os.write(w, b"x")
        os.close(w)


def cmd_exited(pid: int) -> bool:
    """Whether the command has exited (it is reaped)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == pid
