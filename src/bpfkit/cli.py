"""The ``bpfkit`` command: subcommands are registered by the modules under ``bpfkit._cli``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import BpfError

# subcommand name -> module under bpfkit._cli exposing register(subparsers)
SUBCOMMANDS: dict[str, str] = {
    "btf": "btf",
    "map": "map",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    ns = parser.parse_args(args)
    func = getattr(ns, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
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


if __name__ == "__main__":
    sys.exit(main())
