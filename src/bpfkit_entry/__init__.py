"""The ``bpfkit`` console script's entry point, outside the ``bpfkit`` package on purpose.

Importing ``bpfkit`` takes tens of milliseconds; a Ctrl+C or SIGTERM in that time
must end the command quietly (130 / 143) as it does later, so the handlers are
installed here, before the package is imported. A library import never installs
signal handlers: only this console script does.
"""

from __future__ import annotations

import gc
import signal
import sys
from types import FrameType

__all__ = ["main"]


class _EarlySignal(BaseException):
    """A signal that arrived before bpfkit's own handlers: carries the exit status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _EarlySignal(128 + signum)


def main() -> int:
    """Install the SIGINT/SIGTERM handlers, then import and run ``bpfkit.cli.main``."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        from bpfkit.cli import main as cli_main

        status = cli_main()
        gc.freeze()  # exiting now: the interpreter's last collections would only walk live objects (tens of ms)
        return status
    except _EarlySignal as sig:  # before bpfkit.cli.main put its own handlers in place
        sys.stderr.flush()
        return sig.status


if __name__ == "__main__":
    sys.exit(main())
