"""Links: attach programs to kernel hooks; each Link detaches when closed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._uapi import AttachType, ProgType
from .base import Link as Link
from .base import LinkInfo as LinkInfo
from .probes import LinkGroup as LinkGroup
from .probes import attach_kprobe as attach_kprobe
from .probes import attach_perf_event as attach_perf_event
from .probes import attach_uprobe as attach_uprobe
from .tracing import Iterator_ as Iterator_
from .tracing import attach_iter as attach_iter
from .tracing import attach_raw_tracepoint as attach_raw_tracepoint
from .tracing import attach_tracepoint as attach_tracepoint
from .tracing import attach_trampoline as attach_trampoline

if TYPE_CHECKING:
    from ..programs import Program

__all__ = [
    "Iterator_",
    "Link",
    "LinkInfo",
    "attach_iter",
    "attach_program",
    "attach_raw_tracepoint",
    "attach_trampoline",
    "attach_tracepoint",
]


def attach_program(prog: Program, target: str | None = None, **options: Any) -> Link:
    """Attach ``prog`` where its type and section say (or to ``target``); returns the Link."""
    where = target if target is not None else prog.attach_target
    t = prog.type
    if t == ProgType.TRACEPOINT:
        if not where or "/" not in where:
            raise ValueError(f"program {prog.name!r}: a tracepoint target is 'category/name', got {where!r}")
        cat, _, name = where.partition("/")
        return attach_tracepoint(prog, cat, name, **options)
    if t in (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE):
        if not where:
            raise ValueError(f"program {prog.name!r} has no raw tracepoint name (section {prog.section!r})")
        return attach_raw_tracepoint(prog, where, **options)
    if t == ProgType.TRACING and prog.expected_attach_type == AttachType.TRACE_ITER:
        return attach_iter(prog, **options)
    if t in (ProgType.TRACING, ProgType.LSM, ProgType.EXT):
        return attach_trampoline(prog, **options)
    raise TypeError(
        f"program {prog.name!r} ({t!r}, section {prog.section!r}) cannot be attached without an explicit "
        "target; use the attach function of its kind in bpfkit.links"
    )
