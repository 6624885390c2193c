"""Links: attach programs to kernel hooks; each Link detaches when closed."""

from __future__ import annotations

from .._registry import ATTACH_FAMILIES, PROG_TYPE_FAMILIES, AttachFamily
from ..errors import BpfTypeError
from ..obj._sections import find_section_def
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
    from .._uapi._base import import_module

    value = getattr(import_module(f"{__name__}.{module}"), name)
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

def _family(prog: Program) -> AttachFamily | None:
    """The attach family of ``prog``: its section's row of the section table, else its program type's."""
    d = find_section_def(prog.section) if prog.section else None
    name = d.attach if d is not None and d.prog_type == prog.type else None
    if name is None:
        name = PROG_TYPE_FAMILIES.get(getattr(prog.type, "name", ""))
    return ATTACH_FAMILIES.get(name) if name is not None else None


def can_auto_attach(prog: Program) -> bool:
    """Whether ``attach_program(prog)`` needs nothing beyond what the section says."""
    fam = _family(prog)
    target = prog.attach_target
    if fam is None or fam.auto == "never":
        return False
    if fam.auto == "always":
        return True
    if fam.auto == "path:symbol":
        return ":" in target and target.startswith("/")
    if fam.auto == "path:provider:name":
        return target.count(":") >= 2
    return bool(target)


@holds_program
def attach_program(prog: Program, target: str | None = None, **options: Any) -> Link:
    """Attach ``prog`` where its section family says (or to ``target``); returns the Link.

    The family (the section table's, else the program type's) names the attach function in the
    registry of per-type facts (:data:`bpfkit._registry.ATTACH_FAMILIES`).
    """
    fam = _family(prog)
    if fam is None:
        raise BpfTypeError(
            f"program {prog.name!r} ({prog.type!r}, section {prog.section!r}) cannot be attached without an "
            "explicit target; use the attach function of its kind in bpfkit.links"
        )
    from .._uapi._base import import_module

    attach = getattr(import_module(f"{__name__}.{fam.module}"), fam.function)
    link: Link = attach(prog, target if target is not None else prog.attach_target, options)
    return link
