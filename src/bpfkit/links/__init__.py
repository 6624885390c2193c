"""Links: attach programs to kernel hooks; each Link detaches when closed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._uapi import AttachType, ProgType
from ..errors import BpfTypeError, BpfValueError
from ._base import Link as Link
from ._base import LinkInfo as LinkInfo
from ._base import close_links as close_links
from ._base import holds_program
from ._base import link_ids as link_ids
from ._tracing import Iterator_ as Iterator_
from ._tracing import attach_iter as attach_iter
from ._tracing import attach_raw_tracepoint as attach_raw_tracepoint
from ._tracing import attach_tracepoint as attach_tracepoint
from ._tracing import attach_trampoline as attach_trampoline

if TYPE_CHECKING:
    from ..programs import Program
    from ._net import attach_cgroup as attach_cgroup
    from ._net import attach_netfilter as attach_netfilter
    from ._net import attach_netns as attach_netns
    from ._net import attach_socket_filter as attach_socket_filter
    from ._net import attach_sockmap as attach_sockmap
    from ._net import attach_tcx as attach_tcx
    from ._net import attach_xdp as attach_xdp
    from ._probes import LinkGroup as LinkGroup
    from ._probes import attach_kprobe as attach_kprobe
    from ._probes import attach_perf_event as attach_perf_event
    from ._probes import attach_uprobe as attach_uprobe
    from ._probes import attach_uprobes as attach_uprobes
    from ._usdt import UsdtTarget as UsdtTarget
    from ._usdt import attach_usdt as attach_usdt
    from ._usdt import find_usdt_probes as find_usdt_probes

# network and probe attachments are imported on first use: most programs need neither
_LAZY = {
    **dict.fromkeys(("attach_cgroup", "attach_netfilter", "attach_netns", "attach_socket_filter", "attach_sockmap",
                     "attach_tcx", "attach_xdp"), "_net"),
    **dict.fromkeys(("LinkGroup", "attach_kprobe", "attach_perf_event", "attach_uprobe", "attach_uprobes"), "_probes"),
    **dict.fromkeys(("UsdtTarget", "attach_usdt", "find_usdt_probes"), "_usdt"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bpfkit.links' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value

__all__ = [
    "Iterator_",
    "Link",
    "LinkGroup",
    "LinkInfo",
    "UsdtTarget",
    "link_ids",
    "attach_cgroup",
    "attach_iter",
    "attach_kprobe",
    "attach_netfilter",
    "attach_netns",
    "attach_perf_event",
    "attach_program",
    "attach_raw_tracepoint",
    "attach_socket_filter",
    "attach_sockmap",
    "attach_tcx",
    "attach_trampoline",
    "attach_tracepoint",
    "attach_uprobe",
    "attach_uprobes",
    "attach_usdt",
    "attach_xdp",
    "can_auto_attach",
    "close_links",
    "find_usdt_probes",
]

_SYSCALL_PREFIX = "__x64_sys_"


def _syscall_prefix() -> str:
    import platform

    return "__arm64_sys_" if platform.machine() in ("aarch64", "arm64") else _SYSCALL_PREFIX


def can_auto_attach(prog: Program) -> bool:
    """Whether ``attach_program(prog)`` needs nothing beyond what the section says."""
    t = prog.type
    sec = prog.section
    if t in (ProgType.TRACEPOINT, ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE):
        return bool(prog.attach_target)
    if t in (ProgType.TRACING, ProgType.LSM):
        return True
    if t == ProgType.KPROBE:
        if sec.startswith(("uprobe", "uretprobe")):
            return ":" in prog.attach_target and prog.attach_target.startswith("/")
        if sec.startswith("usdt"):
            return prog.attach_target.count(":") >= 2
        return bool(prog.attach_target) and not sec.startswith(("kprobe.multi", "kretprobe.multi"))
    return False


def _usdt_target(prog: Program, where: str | None) -> tuple[str, str, str]:
    """'PATH:PROVIDER:NAME' of a SEC("usdt/...") program (the path may itself hold ':')."""
    parts = (where or "").rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise BpfValueError(f"program {prog.name!r}: a USDT target is 'path:provider:name', got {where!r}; "
                         "attach with attach_usdt(prog, path_or_pid, provider, name)")
    return parts[0], parts[1], parts[2]


@holds_program
def attach_program(prog: Program, target: str | None = None, **options: Any) -> Link:
    """Attach ``prog`` where its type and section say (or to ``target``); returns the Link."""
    where = target if target is not None else prog.attach_target
    t = prog.type
    if t == ProgType.TRACEPOINT:
        if not where or "/" not in where:
            raise BpfValueError(f"program {prog.name!r}: a tracepoint target is 'category/name', got {where!r}")
        cat, _, name = where.partition("/")
        return attach_tracepoint(prog, cat, name, **options)
    if t in (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE):
        if not where:
            raise BpfValueError(f"program {prog.name!r} has no raw tracepoint name (section {prog.section!r})")
        return attach_raw_tracepoint(prog, where, **options)
    if t == ProgType.TRACING and prog.expected_attach_type == AttachType.TRACE_ITER:
        return attach_iter(prog, **options)
    if t in (ProgType.TRACING, ProgType.LSM, ProgType.EXT):
        return attach_trampoline(prog, **options)
    sec = prog.section
    if t == ProgType.KPROBE:
        if sec.startswith(("uprobe", "uretprobe")):
            binary, _, sym = (where or "").rpartition(":")
            if not binary:
                raise BpfValueError(f"program {prog.name!r}: a uprobe target is 'path:symbol[+offset]', got {where!r}")
            sym, _, off = sym.partition("+")
            from ._probes import attach_uprobe

            return attach_uprobe(prog, binary, sym or None, offset=int(off, 0) if off else 0,
                                 retprobe=sec.startswith("uretprobe"), **options)
        if sec.startswith("usdt"):
            binary, provider, name = _usdt_target(prog, where)
            from ._usdt import attach_usdt

            return attach_usdt(prog, binary, provider, name, **options)
        if not where:
            raise BpfValueError(f"program {prog.name!r} has no kprobe target (section {sec!r})")
        func, _, off = where.partition("+")
        retprobe = sec.startswith(("kretprobe", "kretsyscall"))
        if sec.startswith(("ksyscall", "kretsyscall")):
            func = _syscall_prefix() + func
        from ._probes import attach_kprobe

        return attach_kprobe(prog, func, offset=int(off, 0) if off else 0, retprobe=retprobe, **options)
    if t == ProgType.XDP and "interface" in options:
        from ._net import attach_xdp

        return attach_xdp(prog, **options)
    if t in (ProgType.SCHED_CLS, ProgType.SCHED_ACT) and "interface" in options:
        direction = options.pop("direction", "egress" if sec.endswith("egress") else "ingress")
        from ._net import attach_tcx

        return attach_tcx(prog, direction=direction, **options)
    if "cgroup" in options and ProgType(t).name.startswith(("CGROUP", "SOCK_OPS")):
        from ._net import attach_cgroup

        return attach_cgroup(prog, **options)
    if t == ProgType.SOCKET_FILTER and "sock" in options:
        from ._net import attach_socket_filter

        return attach_socket_filter(prog, **options)
    if t in (ProgType.SK_MSG, ProgType.SK_SKB) and "sockmap" in options:
        from ._net import attach_sockmap

        return attach_sockmap(prog, **options)
    if t in (ProgType.SK_LOOKUP, ProgType.FLOW_DISSECTOR):
        from ._net import attach_netns

        return attach_netns(prog, **options)
    if t == ProgType.PERF_EVENT:
        from ._probes import attach_perf_event

        return attach_perf_event(prog, **options)
    raise BpfTypeError(
        f"program {prog.name!r} ({t!r}, section {prog.section!r}) cannot be attached without an explicit "
        "target; use the attach function of its kind in bpfkit.links"
    )
