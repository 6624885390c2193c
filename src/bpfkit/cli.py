"""The ``bpfkit`` command: subcommands are registered by the modules under ``bpfkit._cli``."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from . import __version__
from ._uapi._base import import_module
from .errors import BpfError

__all__ = ["COMMANDS", "SUBCOMMANDS", "build_parser", "main"]

# subcommand -> (module under bpfkit._cli whose register(subparsers) adds it, its line in `bpfkit -h`).
# The lines are those the modules give argparse (tests/test_import_budget.py checks that they agree): `bpfkit -h`
# prints them without importing any module, and `bpfkit CMD ...` imports only CMD's module.
COMMANDS: dict[str, tuple[str, str]] = {
    "btf": ("btf", "dump or list BTF"),
    "map": ("map", "inspect and edit the system's BPF maps"),
    "export": ("export", "serve BPF map contents as Prometheus metrics and push them over OTLP"),
    "prog": ("prog", "inspect, dump, pin and test-run the system's BPF programs"),
    "link": ("link", "inspect, pin and detach the system's bpf_links"),
    "net": ("net", "list the XDP, tc and flow dissector programs of each interface"),
    "cgroup": ("cgroup", "list the programs attached to cgroups"),
    "feature": ("feature", "what this kernel offers bpfkit, and why not where it does not"),
    "run": ("run", "load, attach and watch any BPF object: its events and maps"),
    "gen": ("gen", "generate typed code for a BPF object"),
    "bootstrap": ("tools", "every process exec and exit, with exit code and lifetime (ring buffer)"),
    "execcount": ("tools", "execve calls per UID, read from a hash map every few seconds"),
    "hello": ("tools", "a 'Hello World' record per execve through a perf buffer"),
    "tailcalls": ("tools", "sys_enter dispatched by syscall number through tail calls; trace_pipe and counters"),
    "procmap": ("tools", "the live processes from a PID -> name hash map kept by exec/exit tracepoints"),
}

# subcommand name -> module under bpfkit._cli exposing register(subparsers)
SUBCOMMANDS: dict[str, str] = {name: module for name, (module, _) in COMMANDS.items()}


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` (COLUMNS, else stdout's terminal, else 80) without importing
    shutil, which brings zlib, bz2, lzma and fnmatch into every start of the command (issue 18)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class _Parser(argparse.ArgumentParser):
    """``bpfkit``'s parsers (the subcommands' too: add_subparsers makes them of this class): each formatter
    gets its width from :func:`_terminal_columns`, as argparse's would from shutil."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_terminal_columns() - 2)  # type: ignore[call-arg]


def build_parser(command: str | None = None, *, lazy: bool = False) -> argparse.ArgumentParser:
    """The argument parser of ``bpfkit``: every subcommand complete, or with ``lazy`` only ``command``
    (the others are listed by name and help line alone, so that their modules are not imported)."""
    parser = _Parser(prog="bpfkit", description="A pure-Python eBPF toolkit.")
    parser.add_argument("--version", action="version", version=f"bpfkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if not lazy:
        for module in dict.fromkeys(SUBCOMMANDS.values()):
            import_module(f"bpfkit._cli.{module}").register(sub)
        return parser
    for name, (module, helptext) in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=helptext, add_help=False)
        elif module == "tools":
            import_module("bpfkit._cli.tools").register(sub, names=(name,))
        else:
            import_module(f"bpfkit._cli.{module}").register(sub)
    return parser


def _command(args: Sequence[str]) -> str | None:
    """The subcommand ``args`` name (their first word, as ``bpfkit`` has no option taking a value), if any."""
    return args[0] if args and args[0] in COMMANDS else None


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
        parser = build_parser(_command(args), lazy=True)
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
