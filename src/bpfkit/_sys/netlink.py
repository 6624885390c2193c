"""rtnetlink dumps for ``bpfkit net``: XDP programs per interface (RTM_GETLINK) and tc BPF filters (RTM_GETTFILTER)."""

from __future__ import annotations

import ctypes
import os
import socket
import struct
from collections.abc import Iterator

from . import attrs as A

__all__ = ["TcFilter", "XdpAttachment", "interfaces", "tc_bpf_filters", "xdp_attachments"]

_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_RTM_GETLINK, _RTM_GETTFILTER = 18, 46
_IFLA_IFNAME, _IFLA_XDP = 3, 43
_IFLA_XDP_ATTACHED, _IFLA_XDP_PROG_ID = 2, 4
_XDP_MODE_IDS = {5: "driver", 6: "generic", 7: "offload"}  # IFLA_XDP_{DRV,SKB,HW}_PROG_ID
_XDP_ATTACHED = {1: "driver", 2: "generic", 3: "offload", 4: "multi"}
_TCA_KIND, _TCA_OPTIONS = 1, 2
_TCA_BPF_NAME, _TCA_BPF_ID = 7, 11
_NLA_F_NESTED = 0x8000
TC_INGRESS, TC_EGRESS = 0xFFFFFFF2, 0xFFFFFFF3  # TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_{INGRESS,EGRESS})

XdpAttachment = tuple[str, int, str, list[tuple[str, int]]]
"""(interface name, ifindex, attach mode or 'multi', [(mode, program id), ...])."""
TcFilter = tuple[str, int]
"""(filter name, program id) of a BPF tc filter."""


def _attrs(data: bytes, off: int = 0) -> Iterator[tuple[int, bytes]]:
    hdr = ctypes.sizeof(A.NlAttr)
    while off + hdr <= len(data):
        nla = A.NlAttr.from_buffer_copy(data, off)
        if nla.nla_len < hdr:
            return
        yield nla.nla_type & ~_NLA_F_NESTED, data[off + hdr : off + nla.nla_len]
        off += (nla.nla_len + 3) & ~3


def _dump(msg_type: int, body: ctypes.Structure) -> Iterator[bytes]:
    """Send one NLM_F_DUMP request; yield each reply's payload after the netlink header."""
    hdr = ctypes.sizeof(A.NlMsgHdr)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as s:
        s.bind((0, 0))
        request = A.NlMsgHdr(nlmsg_len=hdr + ctypes.sizeof(body), nlmsg_type=msg_type,
                             nlmsg_flags=_NLM_F_REQUEST | _NLM_F_DUMP, nlmsg_seq=1)
        s.send(bytes(request) + bytes(body))
        while True:
            data = s.recv(1 << 16)
            off = 0
            while off + hdr <= len(data):
                msg = A.NlMsgHdr.from_buffer_copy(data, off)
                if msg.nlmsg_len < hdr:
                    return
                payload = data[off + hdr : off + msg.nlmsg_len]
                off += (msg.nlmsg_len + 3) & ~3
                if msg.nlmsg_type == _NLMSG_DONE:
                    return
                if msg.nlmsg_type == _NLMSG_ERROR:
                    err = -ctypes.c_int32.from_buffer_copy(payload).value  # struct nlmsgerr starts with the -errno
                    if err:
                        raise OSError(err, f"rtnetlink dump (message type {msg_type}): {os.strerror(err)}")
                    return
                yield payload


def xdp_attachments() -> list[XdpAttachment]:
    """XDP programs attached to the interfaces of this network namespace, as the kernel reports them."""
    out: list[XdpAttachment] = []
    for payload in _dump(_RTM_GETLINK, A.IfInfoMsg(ifi_family=socket.AF_UNSPEC)):
        ifindex = int(A.IfInfoMsg.from_buffer_copy(payload).ifi_index)
        name, xdp = "", b""
        for kind, value in _attrs(payload, ctypes.sizeof(A.IfInfoMsg)):
            if kind == _IFLA_IFNAME:
                name = value.split(b"\0", 1)[0].decode(errors="replace")
            elif kind == _IFLA_XDP:
                xdp = value
        attached, progs, single = 0, [], 0
        for kind, value in _attrs(xdp):
            if kind == _IFLA_XDP_ATTACHED:
                attached = value[0]
            elif kind == _IFLA_XDP_PROG_ID:
                single = struct.unpack_from("=I", value)[0]
            elif kind in _XDP_MODE_IDS:
                progs.append((_XDP_MODE_IDS[kind], struct.unpack_from("=I", value)[0]))
        if attached not in _XDP_ATTACHED:
            continue
        mode = _XDP_ATTACHED[attached]
        if mode != "multi":
            progs = [(mode, single)]
        else:
            order = ("generic", "driver", "offload")
            progs.sort(key=lambda p: order.index(p[0]))
        out.append((name, ifindex, mode, progs))
    return out


def tc_bpf_filters(ifindex: int, parent: int) -> list[TcFilter]:
    """BPF filters (cls_bpf) on an interface's clsact hook ``parent`` (TC_INGRESS or TC_EGRESS)."""
    body = A.TcMsg(tcm_family=socket.AF_UNSPEC, tcm_ifindex=ifindex, tcm_parent=parent)
    out: list[TcFilter] = []
    try:
        for payload in _dump(_RTM_GETTFILTER, body):
            kind, options = "", b""
            for atype, value in _attrs(payload, ctypes.sizeof(A.TcMsg)):
                if atype == _TCA_KIND:
                    kind = value.split(b"\0", 1)[0].decode()
                elif atype == _TCA_OPTIONS:
                    options = value
            if kind != "bpf":
                continue
            name, prog_id = "", 0
            for atype, value in _attrs(options):
                if atype == _TCA_BPF_NAME:
                    name = value.split(b"\0", 1)[0].decode(errors="replace")
                elif atype == _TCA_BPF_ID:
                    prog_id = struct.unpack_from("=I", value)[0]
            out.append((name, prog_id))
    except OSError as exc:
        if exc.errno in (22, 2):  # EINVAL / ENOENT: no clsact qdisc on this interface
            return []
        raise
    return out


def interfaces() -> list[tuple[int, str]]:
    """(ifindex, name) of every interface of this network namespace."""
    return sorted(socket.if_nameindex())
