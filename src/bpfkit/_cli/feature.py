"""``bpfkit feature [probe] [-j|-p]``: every probe of :mod:`bpfkit.features`, with the reason for each "no".

Program types, map types, helpers per available program type, BTF kinds and
the named features (links, trampolines, tokens ...), each answered by
``bpfkit.features.check()``: ``available``, and for a missing one its
``cause`` (version, config, lockdown, capability, refused, access, unknown)
and a one-line ``reason``.
"""

from __future__ import annotations

import argparse

from .. import features
from .._uapi import HelperId, MapType, ProgType
from ._common import CliError, add_output_options, emit_json, user_errors, wants_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["feature_report", "register"]

_HIDDEN_MAPS = ("UNSPEC",)
_HIDDEN_PROGS = ("UNSPEC",)


def register(subparsers: Any) -> None:
    """Add the ``feature`` command."""
    p = subparsers.add_parser("feature", help="what this kernel offers bpfkit, and why not where it does not",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              usage="bpfkit feature [probe] [-j|-p] [--no-helpers]")
    add_output_options(p, suppress=False)
    p.add_argument("--no-helpers", action="store_true", help="leave out the helpers of each program type")
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=user_errors(_cmd_feature))


def _answer(s: features.Support) -> dict[str, Any]:
    out: dict[str, Any] = {"available": s.available}
    if not s.available:
        out["cause"] = s.cause.value if s.cause is not None else "unknown"
        out["reason"] = s.reason
    if s.min_kernel:
        out["min_kernel"] = s.min_kernel
    return out


def _named(enum: Any, hidden: tuple[str, ...]) -> list[str]:
    return [m.name for m in enum if m.name not in hidden and not m.name.endswith("_DEPRECATED")]


def feature_report(*, helpers: bool = True) -> dict[str, Any]:
    """Every probe's answer, grouped as program_types, map_types, helpers, btf_kinds and features."""
    progs = {n.lower(): _answer(features.check(f"prog:{n}")) for n in _named(ProgType, _HIDDEN_PROGS)}
    maps = {n.lower(): _answer(features.check(f"map:{n}")) for n in _named(MapType, _HIDDEN_MAPS)}
    report: dict[str, Any] = {"program_types": progs, "map_types": maps}
    if helpers:
        per_type: dict[str, Any] = {}
        for ptype, ans in progs.items():
            if not ans["available"]:
                continue
            yes: list[str] = []
            no: dict[str, Any] = {}
            for h in HelperId:
                if h.value == 0:
                    continue
                s = features.check(f"helper:{h.name}@{ptype}")
                if s.available:
                    yes.append(f"bpf_{h.name}")
                else:
                    no[f"bpf_{h.name}"] = _answer(s)
            per_type[ptype] = {"available": yes, "unavailable": no}
        report["helpers"] = per_type
    report["btf_kinds"] = {k.lower(): _answer(features.check(f"btf:{k}")) for k in features.BTF_KIND_MIN_KERNEL}
    report["features"] = {name: _answer(features.check(name)) for name in features.probe_names()}
    return report


def _line(name: str, ans: dict[str, Any]) -> str:
    if ans["available"]:
        return f"  {name}: yes"
    return f"  {name}: no ({ans['cause']}: {ans['reason']})"


def _text(report: dict[str, Any]) -> str:
    out: list[str] = []
    for section, title in (("program_types", "Program types"), ("map_types", "Map types"),
                           ("btf_kinds", "BTF kinds"), ("features", "Features")):
        out.append(f"{title}:")
        out += [_line(n, a) for n, a in report[section].items()]
        out.append("")
    for ptype, h in report.get("helpers", {}).items():
        out.append(f"Helpers in {ptype} programs: {len(h['available'])} available, {len(h['unavailable'])} not"
                   + (f": {' '.join(h['unavailable'])}" if h["unavailable"] else ""))
    return "\n".join(out).rstrip()


def _cmd_feature(ns: argparse.Namespace) -> int:
    args = [a for a in ns.args if a not in ("probe", "kernel")]
    if args:
        raise CliError(f"feature: unexpected {' '.join(args)!r}")
    report = feature_report(helpers=not ns.no_helpers)
    if wants_json(ns):
        emit_json(ns, report)
    else:
        print(_text(report))
    return 0
