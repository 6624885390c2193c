"""Network attachments: XDP and tcx links on interfaces, cgroups, sockets, sockmaps, netns hooks."""

from __future__ import annotations

import errno as E
import os
import socket

from .._sys import Fd
from .._sys import attrs as A
from .._sys import commands as C
from .._sys.fd import fd_of
from .._uapi import AttachFlags, AttachType, ProgType, XdpFlags
from ..errors import BpfTypeError, BpfValueError, KernelError, NotSupportedError
from ._base import Link, holds_program, new_link_fd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..programs import Program

__all__ = [
    "attach_cgroup",
    "attach_netfilter",
    "attach_netns",
    "attach_socket_filter",
    "attach_sockmap",
    "attach_tcx",
    "attach_xdp",
    "ifindex_of",
]

SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27


def ifindex_of(interface: str | int) -> int:
    """The ifindex of an interface given by name or index."""
    if isinstance(interface, int):
        return interface
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise KernelError(E.ENODEV, command="if_nametoindex", target=f"interface {interface!r}",
                          detail="no such network interface") from None


def _unsupported(what: str, since: str, exc: KernelError) -> NotSupportedError:
    return NotSupportedError(f"{what} is not supported by this kernel ({exc.errno_name})", feature=what, min_kernel=since)


@holds_program
def attach_xdp(prog: Program, interface: str | int, *, mode: str = "", flags: int = 0) -> Link:
    """Attach an XDP program to an interface with a bpf_link (Linux 5.9); mode '', 'skb', 'drv' or 'hw'."""
    if prog.type != ProgType.XDP:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not an XDP program")
    idx = ifindex_of(interface)
    mode_flags = {"": 0, "skb": XdpFlags.SKB_MODE, "generic": XdpFlags.SKB_MODE, "drv": XdpFlags.DRV_MODE,
                  "native": XdpFlags.DRV_MODE, "hw": XdpFlags.HW_MODE}
    if mode not in mode_flags:
        raise BpfValueError(f"unknown XDP mode {mode!r} (use '', 'skb', 'drv' or 'hw')")
    target = f"xdp on {interface}"
    try:
        fd = new_link_fd(prog.fd, idx, AttachType.XDP, flags=int(mode_flags[mode]) | flags,
                         what=f"program {prog.name!r} as {target}")
    except KernelError as exc:
        if exc.errno == E.EINVAL and _link_create_lacks(AttachType.XDP):
            raise _unsupported("XDP bpf_link", "5.9", exc) from None
        raise
    return Link(fd, program=prog, kind="xdp", target=target)


@holds_program
def attach_tcx(prog: Program, interface: str | int, direction: str = "ingress", *,
               before: Any = None, after: Any = None) -> Link:
    """Attach a tc (sched_cls) program with a tcx link (Linux 6.6), ingress or egress."""
    if prog.type not in (ProgType.SCHED_CLS, ProgType.SCHED_ACT):
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a tc program")
    if direction not in ("ingress", "egress"):
        raise BpfValueError(f"tcx direction must be 'ingress' or 'egress', not {direction!r}")
    at = AttachType.TCX_INGRESS if direction == "ingress" else AttachType.TCX_EGRESS
    idx = ifindex_of(interface)
    flags = 0
    rel = 0
    if before is not None:
        flags |= AttachFlags.BEFORE
        rel = fd_of(before)
    elif after is not None:
        flags |= AttachFlags.AFTER
        rel = fd_of(after)
    target = f"tcx/{direction} on {interface}"

    def fill(a: A.LinkCreateAttr) -> None:
        a.tcx.relative_fd = rel

    try:
        fd = new_link_fd(prog.fd, idx, at, flags=flags, what=f"program {prog.name!r} as {target}", extra=fill)
    except KernelError as exc:
        if exc.errno == E.EINVAL and _link_create_lacks(at):
            raise _unsupported("tcx link", "6.6", exc) from None
        raise
    return Link(fd, program=prog, kind="tcx", target=target)


def _link_create_lacks(at: AttachType) -> bool:
    """Does the kernel predate LINK_CREATE support for ``at``? (tcx: probed; XDP: by the kernel version.)"""
    from ..host import kernel_version

    if at in (AttachType.TCX_INGRESS, AttachType.TCX_EGRESS):
        from ..features import have_tcx

        return not have_tcx()
    since = {AttachType.XDP: (5, 9, 0), AttachType.TCX_INGRESS: (6, 6, 0), AttachType.TCX_EGRESS: (6, 6, 0)}
    return kernel_version() < since.get(at, (0, 0, 0))


_CGROUP_ROOTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")


def cgroup2_root() -> str:
    """Where cgroup v2 is mounted."""
    from .._sys.mounts import mount_points

    points = mount_points("cgroup2")
    for root in _CGROUP_ROOTS:
        if root in points:
            return root
    if points:
        return points[0]
    raise NotSupportedError("no cgroup v2 hierarchy is mounted", feature="cgroup2", min_kernel="4.5")


@holds_program
def attach_cgroup(prog: Program, cgroup: str | int, attach_type: AttachType | int | str | None = None,
                  *, multi: bool = True) -> Link:
    """Attach a cgroup program (skb, sock, sock_addr, sockops, sysctl, sockopt, device) to a cgroup."""
    from .._uapi import coerce

    at = coerce(AttachType, attach_type) if attach_type is not None else prog.expected_attach_type
    if at is None:
        raise BpfValueError(f"program {prog.name!r}: give the cgroup attach type (e.g. 'cgroup_inet_ingress')")
    at = AttachType(at)
    owned: list[Fd] = []
    if isinstance(cgroup, str):
        cfd = Fd(os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), f"cgroup {cgroup}")
        owned.append(cfd)
        target_fd = cfd.fd
        where = cgroup
    else:
        target_fd = cgroup
        where = f"cgroup fd {cgroup}"
    target = f"{at.name.lower()} on {where}"
    try:
        fd = new_link_fd(prog.fd, target_fd, at, what=f"program {prog.name!r} as {target}")
    except KernelError as exc:
        if exc.errno != E.EINVAL:
            for o in owned:
                o.close()
            raise
        # before Linux 5.7: BPF_PROG_ATTACH, detached explicitly on close
        try:
            C.prog_attach(target_fd, prog.fd, at, AttachFlags.ALLOW_MULTI if multi else 0,
                          target=f"program {prog.name!r} as {target}")
        except BaseException:
            for o in owned:
                o.close()
            raise
        prog_fd = prog.fd

        def detach() -> None:
            C.prog_detach(target_fd, prog_fd, at)

        return Link(None, program=prog, kind="cgroup", target=target, owned=owned, on_close=detach)
    return Link(fd, program=prog, kind="cgroup", target=target, owned=owned)


@holds_program
def attach_socket_filter(prog: Program, sock: socket.socket | int) -> Link:
    """Attach a socket filter program to a socket (SO_ATTACH_BPF); closing detaches it."""
    if prog.type != ProgType.SOCKET_FILTER:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a socket filter")
    s = sock if isinstance(sock, socket.socket) else socket.socket(fileno=os.dup(sock))
    owns_socket = not isinstance(sock, socket.socket)
    try:
        s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, prog.fd)
    except OSError as exc:
        if owns_socket:
            s.close()
        raise KernelError(exc.errno or E.EINVAL, command="setsockopt(SO_ATTACH_BPF)",
                          target=f"program {prog.name!r} on socket {s.fileno()}") from None

    def detach() -> None:
        try:
            if s.fileno() >= 0:
                s.setsockopt(socket.SOL_SOCKET, SO_DETACH_BPF, 0)
        except OSError:
            pass
        finally:
            if owns_socket:
                s.close()

    return Link(None, program=prog, kind="socket_filter", target=f"socket {s.fileno()}", on_close=detach)


_SOCKMAP_TYPES = {
    "sk_msg": AttachType.SK_MSG_VERDICT,
    "stream_parser": AttachType.SK_SKB_STREAM_PARSER,
    "stream_verdict": AttachType.SK_SKB_STREAM_VERDICT,
    "skb_verdict": AttachType.SK_SKB_VERDICT,
}


@holds_program
def attach_sockmap(prog: Program, sockmap: Any, attach_type: AttachType | int | str | None = None) -> Link:
    """Attach an sk_msg / sk_skb program to a sockmap or sockhash (BPF_PROG_ATTACH on the map fd)."""
    from .._uapi import coerce

    if attach_type is None:
        at = prog.expected_attach_type
        if at is None:
            at = AttachType.SK_MSG_VERDICT if prog.type == ProgType.SK_MSG else AttachType.SK_SKB_STREAM_VERDICT
    elif isinstance(attach_type, str) and attach_type in _SOCKMAP_TYPES:
        at = _SOCKMAP_TYPES[attach_type]
    else:
        at = coerce(AttachType, attach_type)
    map_fd = fd_of(sockmap)
    target = f"{AttachType(at).name.lower()} on sockmap fd {map_fd}"
    C.prog_attach(map_fd, prog.fd, at, target=f"program {prog.name!r} as {target}")
    prog_fd = prog.fd
    keep = Fd(os.dup(map_fd), f"sockmap of {target}")

    def detach() -> None:
        try:
            C.prog_detach(keep.fd, prog_fd, at)
        except KernelError as exc:
            if exc.errno != E.ENOENT:
                raise

    return Link(None, program=prog, kind="sockmap", target=target, owned=[keep], on_close=detach)


@holds_program
def attach_netns(prog: Program, netns: str = "/proc/self/ns/net",
                 attach_type: AttachType | int | str | None = None) -> Link:
    """Attach an sk_lookup or flow_dissector program to a network namespace (bpf_link)."""
    from .._uapi import coerce

    if attach_type is not None:
        at = coerce(AttachType, attach_type)
    elif prog.type == ProgType.SK_LOOKUP:
        at = AttachType.SK_LOOKUP
    elif prog.type == ProgType.FLOW_DISSECTOR:
        at = AttachType.FLOW_DISSECTOR
    else:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}: netns links take sk_lookup or flow_dissector")
    with Fd(os.open(netns, os.O_RDONLY | os.O_CLOEXEC), f"netns {netns}") as nfd:
        fd = new_link_fd(prog.fd, nfd.fd, at, what=f"program {prog.name!r} on netns {netns}")
    return Link(fd, program=prog, kind="netns", target=f"{at.name.lower()} on {netns}")


@holds_program
def attach_netfilter(prog: Program, *, pf: int, hooknum: int, priority: int, flags: int = 0) -> Link:
    """Attach a netfilter program (Linux 6.4) at protocol family ``pf`` hook ``hooknum``."""
    if prog.type != ProgType.NETFILTER:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a netfilter program")

    def fill(a: A.LinkCreateAttr) -> None:
        a.netfilter.pf = pf
        a.netfilter.hooknum = hooknum
        a.netfilter.priority = priority
        a.netfilter.flags = flags

    target = f"netfilter pf {pf} hook {hooknum} prio {priority}"
    fd = new_link_fd(prog.fd, 0, AttachType.NETFILTER, what=f"program {prog.name!r} on {target}", extra=fill)
    return Link(fd, program=prog, kind="netfilter", target=target)
