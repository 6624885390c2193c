"""What the bpftool-like subcommands share: -j/-p output, naming objects as bpftool does, load times."""

from __future__ import annotations

import argparse
import errno
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence

from ..errors import BpfError, CliError, KernelError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CliError",
    "add_output_options",
    "boot_time_to_unix",
    "emit_json",
    "fdinfo_int",
    "user_errors",
    "wants_json",
]


def add_output_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """``-j/--json`` and ``-p/--pretty`` as bpftool takes them, before or after the subcommand."""
    default: Any = argparse.SUPPRESS if suppress else False
    parser.add_argument("-j", "--json", action="store_true", default=default, help="print JSON")
    parser.add_argument("-p", "--pretty", action="store_true", default=default,
                        help="print human-readable (indented) JSON; implies --json")


def wants_json(ns: argparse.Namespace) -> bool:
    """True when -j or -p was given."""
    return bool(getattr(ns, "json", False) or getattr(ns, "pretty", False))


def emit_json(ns: argparse.Namespace, value: Any) -> None:
    """Print ``value`` laid out as bpftool's JSON writer does: compact with -j, its indented form with -p."""
    print(bpftool_json(value, pretty=bool(getattr(ns, "pretty", False))))


_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", "\b": "\\b", "\\": "\\\\", '"': '\\"'}


def _string(text: str) -> str:
    return '"' + "".join(_ESCAPES.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in text) + '"'


def bpftool_json(value: Any, *, pretty: bool = False) -> str:
    """JSON text laid out like bpftool's json_writer (4-space objects, arrays kept on the field's line)."""
    out: list[str] = []
    depth = 0

    def eol() -> None:
        if pretty:
            out.append("\n" + "    " * depth)

    def emit(v: Any) -> None:
        nonlocal depth
        if isinstance(v, dict):
            out.append("{")
            depth += 1
            for i, (k, x) in enumerate(v.items()):
                if i:
                    out.append(",")
                eol()
                out.append(_string(str(k)) + (": " if pretty else ":"))
                emit(x)
            depth -= 1
            if v:
                eol()
            out.append("}")
        elif isinstance(v, (list, tuple)):
            out.append("[")
            depth += 1
            for i, x in enumerate(v):
                if i:
                    out.append(",")
                emit(x)
            depth -= 1
            if v:
                eol()
            out.append("]")
        elif isinstance(v, str):
            out.append(_string(v))
        elif v is None or isinstance(v, (bool, int, float)):
            out.append(json.dumps(v))
        else:
            out.append(_string(str(v)))

    emit(value)
    return "".join(out)


Entry = tuple[str, str, str, Callable[[argparse.Namespace], int]]
"""(subcommand, usage after it, one-line help, function) of a bpftool-like command."""


def add_object_command(subparsers: Any, name: str, helptext: str, description: str, ref: str,
                       entries: Sequence[Entry]) -> dict[str, argparse.ArgumentParser]:
    """A bpftool-like ``bpfkit NAME SUBCOMMAND [-j|-p|-f] ARGS...`` command; returns its subcommand parsers."""
    common = argparse.ArgumentParser(add_help=False)
    add_output_options(common, suppress=True)
    common.add_argument("-f", "--bpffs", action="store_true", default=argparse.SUPPRESS,
                        help="show the paths the objects are pinned at on /sys/fs/bpf")
    p = subparsers.add_parser(name, help=helptext, description=description)
    add_output_options(p, suppress=False)
    p.add_argument("-f", "--bpffs", action="store_true", default=False, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda ns: (p.print_help(), 2)[1])
    made = {}
    for cmd, usage, cmd_help, func in entries:
        sp = sub.add_parser(cmd, help=cmd_help, parents=[common], description=f"{cmd_help}. {ref}.",
                            usage=f"bpfkit {name} {cmd} [-j|-p] {usage}".rstrip())
        sp.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        sp.set_defaults(func=user_errors(func))
        made[cmd] = sp
    return made


_FLAGS = {"-j": "json", "--json": "json", "-p": "pretty", "--pretty": "pretty", "-f": "bpffs", "--bpffs": "bpffs"}


def take_flags(ns: argparse.Namespace) -> None:
    """Move -j/-p/-f given among the positional words (``prog show id 3 -j``) onto ``ns``, as bpftool allows."""
    args = getattr(ns, "args", None)
    if not args:
        return
    rest = []
    for word in args:
        if word in _FLAGS:
            setattr(ns, _FLAGS[word], True)
        else:
            rest.append(word)
    ns.args = rest


def user_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report bad values from the command line as usage errors, not tracebacks."""

    def run(ns: argparse.Namespace) -> int:
        take_flags(ns)
        try:
            return func(ns)
        except (ValueError, TypeError, OverflowError) as exc:
            raise CliError(str(exc)) from None

    return run


def boot_time_to_unix(nsecs: int) -> int:
    """A kernel load time (ns since boot) as Unix seconds, computed as bpftool's ``loaded_at``."""
    real = time.clock_gettime_ns(time.CLOCK_REALTIME)
    boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    rs, rn = divmod(real, 1_000_000_000)
    bs, bn = divmod(boot, 1_000_000_000)
    return (rs - bs) + (rn - bn + nsecs) // 1_000_000_000


def format_time(unix: int) -> str:
    """bpftool's plain-text timestamp: local time, ISO 8601 with the UTC offset."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(unix))


def fdinfo_int(fields: dict[str, str], key: str) -> int | None:
    """An integer field of /proc/self/fdinfo, None when absent."""
    value = fields.get(key)
    try:
        return int(value, 0) if value is not None else None
    except ValueError:
        return None


def int_arg(text: str, what: str) -> int:
    """A decimal or 0x number from the command line."""
    try:
        return int(text, 0)
    except ValueError:
        raise CliError(f"can't parse {text!r} as {what}") from None


_REF_WORDS = {"id": "N", "pinned": "PATH", "tag": "HEX", "name": "NAME"}


def split_ref(args: Sequence[str], kinds: Sequence[str], what: str, cmd: str) -> tuple[tuple[str, str], list[str]]:
    """Take ``KIND VALUE`` (``id 12``, ``pinned /sys/fs/bpf/x`` ...) off the front of ``args``."""
    if len(args) < 2 or args[0] not in kinds:
        spelled = ", ".join(f"'{k} {_REF_WORDS[k]}'" for k in kinds)
        raise CliError(f"{what} {cmd}: name the {what} with {spelled}")
    return (args[0], args[1]), list(args[2:])


def scan_ids(ids: Iterator[int] | Sequence[int], opener: Callable[[int], Any]) -> Iterator[Any]:
    """Open each id in turn, skipping objects that went away between listing and opening."""
    for obj_id in ids:
        try:
            yield opener(obj_id)
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise


_ANON_INODE = {"prog": ("bpf-prog",), "map": ("bpf-map",), "link": ("bpf-link", "bpf_link")}


def pinned_paths(kind: str, root: str = "/sys/fs/bpf") -> dict[int, list[str]]:
    """id -> pinned paths of every ``kind`` object ('prog', 'map', 'link') under ``root`` (bpftool -f)."""
    from .._sys import commands as C

    out: dict[int, list[str]] = {}
    if not os.path.isdir(root):
        return out
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                fd = C.obj_get(path, target=path)
            except BpfError:
                continue
            try:
                if C.obj_kind(fd) not in _ANON_INODE[kind]:
                    continue
                obj_id = fdinfo_int(C.fdinfo(fd), f"{kind}_id")
                if obj_id is not None:
                    out.setdefault(obj_id, []).append(path)
            finally:
                os.close(fd)
    return out


def warn(message: str) -> None:
    """One line on stderr, as bpftool's warnings."""
    print(f"bpfkit: warning: {message}", file=sys.stderr)
