"""``bpfkit net [show] [dev NAME]``: XDP, tc and flow dissector programs per interface, like bpftool net.

XDP comes from rtnetlink (RTM_GETLINK), tc BPF filters on clsact from
RTM_GETTFILTER, tcx attachments (Linux 6.6) and the flow dissector from
BPF_PROG_QUERY. ``-j``/``-p`` print bpftool's JSON.
"""

from __future__ import annotations

import argparse
import os

from .._sys import commands as C
from .._sys import netlink
from .._uapi import AttachType
from ..errors import BpfError
from ..programs import Program
from ._common import CliError, add_output_options, emit_json, user_errors, wants_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["net_json", "register"]


def register(subparsers: Any) -> None:
    """Add the ``net`` command."""
    p = subparsers.add_parser("net", help="list the XDP, tc and flow dissector programs of each interface",
                              description="List the networking BPF programs of this network namespace, "
                                          "as bpftool net does.",
                              usage="bpfkit net [-j|-p] [show|list] [dev NAME]")
    add_output_options(p, suppress=False)
    p.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(func=user_errors(_cmd_net))


def _prog_name(prog_id: int) -> str:
    try:
        with Program.from_id(prog_id) as prog:
            return prog.info().name
    except BpfError:
        return ""


def _tcx(ifindex: int, attach_type: AttachType) -> list[int]:
    try:
        return C.prog_query(ifindex, attach_type)[0]
    except BpfError:
        return []  # no tcx on this kernel, or nothing attached


def net_json(dev: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The attachments as ``bpftool net -j`` lists them (one object: xdp, tc, flow_dissector)."""
    ifaces = netlink.interfaces()
    if dev is not None:
        ifaces = [(i, n) for i, n in ifaces if n == dev]
        if not ifaces:
            raise CliError(f"net: no interface is named {dev!r}")
    wanted = {i for i, _ in ifaces}
    xdp: list[dict[str, Any]] = []
    for name, ifindex, mode, progs in netlink.xdp_attachments():
        if ifindex not in wanted:
            continue
        entry: dict[str, Any] = {"devname": name, "ifindex": ifindex}
        if mode == "multi":
            entry["multi_attachments"] = [{"mode": m, "id": i} for m, i in progs]
        else:
            entry.update({"mode": mode, "id": progs[0][1]})
        xdp.append(entry)
    tc: list[dict[str, Any]] = []
    for ifindex, name in ifaces:
        for where, parent, at in (("ingress", netlink.TC_INGRESS, AttachType.TCX_INGRESS),
                                  ("egress", netlink.TC_EGRESS, AttachType.TCX_EGRESS)):
            for prog_id in _tcx(ifindex, at):
                tc.append({"devname": name, "ifindex": ifindex, "kind": f"tcx/{where}",
                           "name": _prog_name(prog_id), "prog_id": prog_id})
            for fname, prog_id in netlink.tc_bpf_filters(ifindex, parent):
                tc.append({"devname": name, "ifindex": ifindex, "kind": f"clsact/{where}",
                           "name": fname, "id": prog_id})
    flow: list[dict[str, Any]] = []
    fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        flow = [{"id": i} for i in C.prog_query(fd, AttachType.FLOW_DISSECTOR)[0]]
    except BpfError:
        flow = []
    finally:
        os.close(fd)
    return {"xdp": xdp, "tc": tc, "flow_dissector": flow}


def _text(j: dict[str, list[dict[str, Any]]]) -> str:
    out = ["xdp:"]
    for e in j["xdp"]:
        progs = e.get("multi_attachments") or [{"mode": e["mode"], "id": e["id"]}]
        out.append(f"{e['devname']}({e['ifindex']})" + "".join(f" {p['mode']} id {p['id']}" for p in progs))
    out += ["", "tc:"]
    for e in j["tc"]:
        pid = f"prog_id {e['prog_id']}" if "prog_id" in e else f"id {e['id']}"
        out.append(f"{e['devname']}({e['ifindex']}) {e['kind']} {e['name']} {pid}")
    out += ["", "flow_dissector:"]
    out += [f"id {e['id']}" for e in j["flow_dissector"]]
    out.append("")
    return "\n".join(out)


def _cmd_net(ns: argparse.Namespace) -> int:
    args = list(ns.args)
    if args and args[0] in ("show", "list"):
        args = args[1:]
    dev = None
    if args:
        if len(args) != 2 or args[0] != "dev":
            raise CliError(f"net: unexpected {' '.join(args)!r} (usage: net [show] [dev NAME])")
        dev = args[1]
    j = net_json(dev)
    if wants_json(ns):
        emit_json(ns, [j])
    else:
        print(_text(j))
    return 0
