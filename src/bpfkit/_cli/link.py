"""``bpfkit link list|show|detach|pin``: any bpf_link of the system, like bpftool.

A link is named ``id N`` or ``pinned PATH``. ``-j``/``-p`` print bpftool's JSON.
"""

from __future__ import annotations

import argparse

from .._sys import commands as C
from .._uapi import AttachType, LinkType, ProgType
from ..links import Link, LinkInfo, link_ids
from ..programs import Program
from ._common import (
    CliError,
    add_object_command,
    emit_json,
    int_arg,
    pinned_paths,
    scan_ids,
    split_ref,
    wants_json,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["link_json", "register"]

_KINDS = ("id", "pinned")
_MAP_ITERS = ("bpf_map_elem", "bpf_sk_storage_map")


def register(subparsers: Any) -> None:
    """Add the ``link`` command and its subcommands."""
    add_object_command(
        subparsers, "link", "inspect, pin and detach the system's bpf_links",
        "Inspect any bpf_link of the system, as bpftool link does.", "LINK is 'id N' or 'pinned PATH'",
        [("list", "", "list every link", _cmd_show),
         ("show", "[LINK]", "show one link (or every link)", _cmd_show),
         ("detach", "LINK", "detach a link now, even when it is pinned or held by a process", _cmd_detach),
         ("pin", "LINK FILE", "pin a link on a bpf filesystem", _cmd_pin)])


def open_link(ref: tuple[str, str]) -> Link:
    """The link ``ref`` names: ``(id, N)`` or ``(pinned, PATH)``."""
    kind, what = ref
    if kind == "id":
        return Link.from_id(int_arg(what, "a link id"))
    return Link.from_pin(what)


def _enum_name(value: int, enum: Any) -> Any:
    try:
        return enum(value).name.lower()
    except ValueError:
        return value


def link_json(info: LinkInfo, pins: dict[int, list[str]] | None = None) -> dict[str, Any]:
    """One link as ``bpftool link show -j`` prints it (same keys, same order, same types)."""
    lt = int(info.type)
    out: dict[str, Any] = {"id": info.id, "type": _enum_name(lt, LinkType), "prog_id": info.prog_id}
    d = info.details()
    if lt == LinkType.RAW_TRACEPOINT:
        out["tp_name"] = info.name
    elif lt == LinkType.TRACING:
        with Program.from_id(info.prog_id) as prog:
            out["prog_type"] = _enum_name(int(prog.info().type), ProgType)
        out["attach_type"] = _enum_name(d["attach_type"], AttachType)
    elif lt == LinkType.CGROUP:
        out["cgroup_id"] = d["cgroup_id"]
        out["attach_type"] = _enum_name(d["attach_type"], AttachType)
    elif lt == LinkType.ITER:
        out["target_name"] = info.name
        if info.name in _MAP_ITERS:
            out["map_id"] = d["map.map_id"]
    elif lt == LinkType.NETNS:
        out["netns_ino"] = d["netns_ino"]
        out["attach_type"] = _enum_name(d["attach_type"], AttachType)
    if pins is not None:
        out["pinned"] = pins.get(info.id, [])
    return out


def _show_text(j: dict[str, Any]) -> str:
    ltype = j["type"] if isinstance(j["type"], str) else f"type {j['type']}"
    text = f"{j['id']}: {ltype}  prog {j['prog_id']}  "
    if "tp_name" in j:
        text += f"\n\ttp '{j['tp_name']}'  "
    if "prog_type" in j:
        text += f"\n\tprog_type {j['prog_type']}  "
    if "cgroup_id" in j:
        text += f"\n\tcgroup_id {j['cgroup_id']}  "
    if "netns_ino" in j:
        text += f"\n\tnetns_ino {j['netns_ino']}  "
    if "target_name" in j:
        text += f"target_name {j['target_name']}  "
        if "map_id" in j:
            text += f"map_id {j['map_id']}  "
    if "attach_type" in j:
        text += f"attach_type {j['attach_type']}  "
    for path in j.get("pinned", []):
        text += f"\n\tpinned {path}"
    return text


def _cmd_show(ns: argparse.Namespace) -> int:
    args = list(ns.args)
    pins = pinned_paths("link") if getattr(ns, "bpffs", False) else None
    if args:
        if ns.link_command == "list":
            raise CliError("link list takes no link; use 'link show LINK'")
        ref, rest = split_ref(args, _KINDS, "link", "show")
        if rest:
            raise CliError(f"link show: unexpected {' '.join(rest)!r}")
        links = [open_link((ref[0], ref[1]))]
    else:
        links = list(scan_ids(link_ids(), Link.from_id))
    try:
        shown = [link_json(lk.info(), pins) for lk in links]
    finally:
        for lk in links:
            _release(lk)
    if wants_json(ns):
        emit_json(ns, shown[0] if args else shown)
    else:
        for j in shown:
            print(_show_text(j))
    return 0


def _release(link: Link) -> None:
    """Close our fd of a link we only looked at (the attachment stays: someone else holds it)."""
    link.close()


def _cmd_detach(ns: argparse.Namespace) -> int:
    ref, rest = split_ref(list(ns.args), _KINDS, "link", "detach")
    if rest:
        raise CliError(f"link detach: unexpected {' '.join(rest)!r}")
    link = open_link((ref[0], ref[1]))
    link.detach()
    if wants_json(ns):
        emit_json(ns, None)
    return 0


def _cmd_pin(ns: argparse.Namespace) -> int:
    ref, rest = split_ref(list(ns.args), _KINDS, "link", "pin")
    if len(rest) != 1:
        raise CliError("link pin: give the link, then the path to pin it at")
    link = open_link((ref[0], ref[1]))
    try:
        C.obj_pin(link.fd, rest[0], target=f"link {ref[0]} {ref[1]}")
    finally:
        _release(link)
    if wants_json(ns):
        emit_json(ns, None)
    return 0
