"""``bpfkit bootstrap|execcount|hello|tailcalls|procmap``: the ready tools of bpfkit.tools as subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .._uapi._base import import_module
from ..tools._common import TOOLS, Session, duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register"]

_COMMON = """\
Every tool needs root, or CAP_BPF and CAP_PERFMON plus read access to
tracefs (its tracepoint ids; root only by default), and says in one line
what is missing. It loads its BPF object shipped in the bpfkit package, and
stops cleanly (everything detached and closed, exit status 0) on Ctrl+C,
SIGTERM or the end of --duration."""


def register(subparsers: Any, names: Sequence[str] | None = None) -> None:
    """Add one subcommand per tool (or per tool of ``names``: only their modules are imported)."""
    for name, summary in TOOLS.items():
        if names is not None and name not in names:
            continue
        module = import_module(f"bpfkit.tools.{name}")
        p = subparsers.add_parser(
            name, help=summary, description=f"{module.DESCRIPTION}\n\n{_COMMON}", epilog=module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--json", action="store_true", help="print one JSON object per line instead of text")
        p.add_argument("--duration", type=duration, metavar="SECONDS",
                       help="stop by itself after this many seconds (default: run until Ctrl+C; 0: stop as soon "
                            "as attached)")
        module.add_arguments(p)
        p.set_defaults(func=_runner(module))


def _runner(module: Any) -> Any:
    def run(ns: argparse.Namespace) -> int:
        with Session(json_output=ns.json, duration=ns.duration) as session:
            return int(module.run(ns, session))

    return run
