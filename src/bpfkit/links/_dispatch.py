"""The attach function of each section family: ``f(prog, where, options) -> Link``.

:func:`bpfkit.links.attach_program` finds a program's family (its section's row of
the section table, else its program type; both in :mod:`bpfkit._registry`) and
calls the function the registry names. Each function here turns the section's
target string (``where``) into the arguments of the family's attach function.
Families attached with a kernel object the section cannot name (xdp, tc, cgroup
...) need the caller's keyword argument for it.
"""

from __future__ import annotations

from .._uapi import AttachType
from ..errors import BpfTypeError, BpfValueError
from ..obj._sections import find_section_def

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..programs import Program
    from ._base import Link

__all__ = [
    "cgroup", "iterator", "kprobe", "ksyscall", "netfilter", "netns", "perf_event", "raw_tracepoint",
    "socket_filter", "sockmap", "tcx", "tracepoint", "trampoline", "uprobe", "usdt", "xdp",
]


def _needs(prog: Program, options: dict[str, Any], *names: str) -> None:
    """Refuse an attach whose family needs a keyword argument the caller did not give."""
    missing = [n for n in names if n not in options]
    if missing:
        raise BpfTypeError(
            f"program {prog.name!r} ({prog.type!r}, section {prog.section!r}) cannot be attached without "
            f"{', '.join(n + '=' for n in missing)}; use the attach function of its kind in bpfkit.links"
        )


def _offset(prog: Program, text: str, what: str) -> int:
    try:
        return int(text, 0) if text else 0
    except ValueError:
        raise BpfValueError(f"program {prog.name!r}: offset {text!r} of the {what} target is not a number") from None


def tracepoint(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("tracepoint/CATEGORY/NAME")."""
    if not where or "/" not in where:
        raise BpfValueError(f"program {prog.name!r}: a tracepoint target is 'category/name', got {where!r}")
    from ._tracing import attach_tracepoint

    cat, _, name = where.partition("/")
    return attach_tracepoint(prog, cat, name, **options)


def raw_tracepoint(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("raw_tp/NAME")."""
    if not where:
        raise BpfValueError(f"program {prog.name!r} has no raw tracepoint name (section {prog.section!r})")
    from ._tracing import attach_raw_tracepoint

    return attach_raw_tracepoint(prog, where, **options)


def trampoline(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """fentry/fexit/fmod_ret/tp_btf/lsm/freplace: the target is in the program's attach BTF id."""
    if prog.expected_attach_type == AttachType.TRACE_ITER:
        return iterator(prog, where, options)
    from ._tracing import attach_trampoline

    return attach_trampoline(prog, **options)


def iterator(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("iter/TARGET")."""
    from ._tracing import attach_iter

    return attach_iter(prog, **options)


def kprobe(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("kprobe/FUNC[+OFF]") and kretprobe."""
    return _kprobe(prog, where, options, syscall=False)


def ksyscall(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("ksyscall/NAME"): the kprobe of the architecture's syscall wrapper."""
    return _kprobe(prog, where, options, syscall=True)


def _kprobe(prog: Program, where: str | None, options: dict[str, Any], *, syscall: bool) -> Link:
    if not where:
        raise BpfValueError(f"program {prog.name!r} has no kprobe target (section {prog.section!r})")
    func, _, off = where.partition("+")
    if syscall:  # the kernel's syscall wrapper of this architecture (bpfkit.arch): __x64_sys_, __arm64_sys_
        from ..arch import arch

        func = arch().syscall_prefix + func
    d = find_section_def(prog.section)
    from ._probes import attach_kprobe

    return attach_kprobe(prog, func, offset=_offset(prog, off, "kprobe"),
                         retprobe=d is not None and d.is_return_probe, **options)


def uprobe(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("uprobe/PATH:SYMBOL[+OFF]") and uretprobe."""
    binary, _, sym = (where or "").rpartition(":")
    if not binary:
        raise BpfValueError(f"program {prog.name!r}: a uprobe target is 'path:symbol[+offset]', got {where!r}")
    sym, _, off = sym.partition("+")
    d = find_section_def(prog.section)
    from ._probes import attach_uprobe

    return attach_uprobe(prog, binary, sym or None, offset=_offset(prog, off, "uprobe"),
                         retprobe=d is not None and d.is_return_probe, **options)


def usdt(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("usdt/PATH:PROVIDER:NAME") (the path may itself hold ':')."""
    parts = (where or "").rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise BpfValueError(f"program {prog.name!r}: a USDT target is 'path:provider:name', got {where!r}; "
                            "attach with attach_usdt(prog, path_or_pid, provider, name)")
    from ._usdt import attach_usdt

    return attach_usdt(prog, parts[0], parts[1], parts[2], **options)


def xdp(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """XDP: needs ``interface=``."""
    _needs(prog, options, "interface")
    from ._net import attach_xdp

    return attach_xdp(prog, **options)


def tcx(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """tc/tcx: needs ``interface=``; the direction defaults to the section's."""
    _needs(prog, options, "interface")
    direction = options.pop("direction", "egress" if prog.section.endswith("egress") else "ingress")
    from ._net import attach_tcx

    return attach_tcx(prog, direction=direction, **options)


def cgroup(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """cgroup programs and sock_ops: need ``cgroup=``."""
    _needs(prog, options, "cgroup")
    from ._net import attach_cgroup

    return attach_cgroup(prog, **options)


def socket_filter(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("socket"): needs ``sock=``."""
    _needs(prog, options, "sock")
    from ._net import attach_socket_filter

    return attach_socket_filter(prog, **options)


def sockmap(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """sk_msg/sk_skb: need ``sockmap=``."""
    _needs(prog, options, "sockmap")
    from ._net import attach_sockmap

    return attach_sockmap(prog, **options)


def netns(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """sk_lookup/flow_dissector: the caller's network namespace unless ``netns=``."""
    from ._net import attach_netns

    return attach_netns(prog, **options)


def perf_event(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("perf_event"): the perf event is in the options (see attach_perf_event)."""
    from ._probes import attach_perf_event

    return attach_perf_event(prog, **options)


def netfilter(prog: Program, where: str | None, options: dict[str, Any]) -> Link:
    """SEC("netfilter"): needs ``pf=``, ``hooknum=`` and ``priority=``."""
    _needs(prog, options, "pf", "hooknum", "priority")
    from ._net import attach_netfilter

    return attach_netfilter(prog, **options)
