"""The ``bpfkit`` command: subcommands are registered by the modules under ``bpfkit._cli``."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from collections.abc import Sequence

from . import __version__
from .errors import BpfError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

# subcommand name -> module under bpfkit._cli exposing register(subparsers)
SUBCOMMANDS: dict[str, str] = {
    "btf": "btf",
    "map": "map",
    "export": "export",
    "prog": "prog",
    "link": "link",
    "net": "net",
    "cgroup": "cgroup",
    "feature": "feature",
    "run": "run",
    "gen": "gen",
    **{tool: "tools" for tool in ("bootstrap", "execcount", "hello", "tailcalls", "procmap")},
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(prog="bpfkit", description="A pure-Python eBPF toolkit.")
    parser.add_argument("--version", action="version", version=f"bpfkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in dict.fromkeys(SUBCOMMANDS.values()):
        importlib.import_module(f"bpfkit._cli.{module}").register(sub)
    return parser


class _Terminated(BaseException):
    """SIGTERM before a tool installed its own handler: unwinds (closing what was opened) like Ctrl+C."""


def _on_early_signal(signum: int, frame: object) -> None:
    if signum == signal.SIGTERM:
        raise _Terminated()
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status (130 on Ctrl+C, 143 on SIGTERM).

    SIGINT and SIGTERM handlers are installed first, before the subcommands are
    imported and the parser is built, so a signal at any moment exits quietly
    and unwinds through the cleanup of whatever was opened (the tools install
    their own handlers, which stop them, while they run).
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_early_signal)
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        parser = build_parser()
        ns = parser.parse_args(args)
        func = getattr(ns, "func", None)
        if func is None:
            parser.print_help()
            return 2
        return int(func(ns) or 0)
    except BpfError as exc:
        print(f"bpfkit: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a file or device the command needed: one line, not a traceback
        print(f"bpfkit: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except _Terminated:
        return 128 + signal.SIGTERM
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
