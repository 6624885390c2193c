"""Tracing attachments: tracepoints, raw tracepoints, tp_btf, fentry/fexit/fmod_ret, lsm, iterators."""

from __future__ import annotations

import ctypes
import errno as E
import os
from collections.abc import Iterator

from .._sys import Fd
from .._sys import attrs as A
from .._sys import commands as C
from .._sys import perf_event as P
from .._sys.mounts import ensure_tracefs, tracefs_access
from .._uapi import AttachType, PerfType, ProgType
from ..errors import BpfTypeError, BpfValueError, KernelError, NotSupportedError
from ._base import Link, holds_program, new_link_fd

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..programs import Program

__all__ = [
    "Iterator_",
    "attach_iter",
    "attach_perf_event_fd",
    "attach_raw_tracepoint",
    "attach_trampoline",
    "attach_tracepoint",
    "tracepoint_id",
]


def tracepoint_id(category: str, name: str) -> int:
    """The id of tracepoint ``category/name`` from tracefs (mounted when needed)."""
    if "/" in category or ".." in category or "/" in name or ".." in name:
        raise BpfValueError(f"bad tracepoint name {category!r}/{name!r}")
    root = ensure_tracefs()
    path = os.path.join(root, "events", category, name, "id")
    try:
        with tracefs_access(f"attaching to tracepoint {category}/{name}"), open(path) as f:
            return int(f.read().strip())
    except FileNotFoundError:
        from ..features import check

        usable = check("tracefs")  # an empty tracefs (lockdown=confidentiality) has no tracepoint at all
        if not usable:
            raise NotSupportedError(f"cannot attach to tracepoint {category}/{name}: {usable.reason}",
                                    feature="tracepoints", cause=None if usable.cause is None else usable.cause.value
                                    ) from None
        raise KernelError(E.ENOENT, command="tracepoint lookup", target=f"tracepoint {category}/{name}",
                          detail=f"no such tracepoint ({path} does not exist)") from None


@holds_program
def attach_perf_event_fd(prog: Program, pfd: Fd, *, kind: str, target: str, cookie: int = 0) -> Link:
    """Attach ``prog`` to an open perf event: bpf_link (Linux 5.15) or the SET_BPF ioctl before it."""
    what = f"{kind} link of program {prog.name!r} to {target}"

    def fill(a: A.LinkCreateAttr) -> None:
        a.perf_event.bpf_cookie = cookie

    try:
        lfd = new_link_fd(prog.fd, pfd.fd, AttachType.PERF_EVENT, what=what, extra=fill)
    except KernelError as exc:
        if exc.errno not in (E.EINVAL, E.ENOTSUP, 524, E.EOPNOTSUPP) or cookie:
            pfd.close()
            raise
        try:
            P.set_bpf(pfd.fd, prog.fd)
            P.enable(pfd.fd)
        except BaseException:
            pfd.close()
            raise

        def off() -> None:
            try:
                P.disable(pfd.fd)
            except OSError:
                pass

        return Link(None, program=prog, kind=kind, target=target, owned=[pfd], on_close=off)
    return Link(lfd, program=prog, kind=kind, target=target, owned=[pfd])


@holds_program
def attach_tracepoint(prog: Program, category: str, name: str, *, cookie: int = 0) -> Link:
    """Attach a tracepoint program to ``category/name`` (e.g. sched/sched_process_exec)."""
    if prog.type != ProgType.TRACEPOINT:
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a tracepoint program")
    tp_id = tracepoint_id(category, name)
    attr = P.PerfEventAttr(type=PerfType.TRACEPOINT, config=tp_id, sample_period=1, wakeup_events=1)
    target = f"tracepoint {category}/{name}"
    pfd = Fd(P.perf_event_open(attr, -1, 0, target=target), f"perf event of {target}")
    return attach_perf_event_fd(prog, pfd, kind="tracepoint", target=target, cookie=cookie)


@holds_program
def attach_raw_tracepoint(prog: Program, name: str, *, cookie: int = 0) -> Link:
    """Attach a raw tracepoint program to tracepoint ``name`` (e.g. sys_enter)."""
    if prog.type not in (ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE):
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a raw tracepoint program")
    target = f"raw tracepoint {name}"
    fd = C.raw_tracepoint_open(name, prog.fd, cookie, target=f"program {prog.name!r} on {target}")
    return Link(Fd(fd, f"link to {target}"), program=prog, kind="raw_tracepoint", target=target)


_TRAMPOLINE_KINDS = {
    AttachType.TRACE_RAW_TP: "tp_btf",
    AttachType.TRACE_FENTRY: "fentry",
    AttachType.TRACE_FEXIT: "fexit",
    AttachType.MODIFY_RETURN: "fmod_ret",
    AttachType.LSM_MAC: "lsm",
    AttachType.LSM_CGROUP: "lsm_cgroup",
}


@holds_program
def attach_trampoline(prog: Program, *, cookie: int = 0) -> Link:
    """Attach a tp_btf / fentry / fexit / fmod_ret / lsm / freplace program to the target chosen at load."""
    if prog.type not in (ProgType.TRACING, ProgType.LSM, ProgType.EXT):
        raise BpfTypeError(f"program {prog.name!r} is {prog.type!r}, not a tracing/lsm program")
    eat = prog.expected_attach_type
    kind = _TRAMPOLINE_KINDS.get(AttachType(eat), "tracing") if eat is not None else "tracing"
    target = f"{kind} {prog.attach_target}" if prog.attach_target else f"{kind} of program {prog.name!r}"
    if prog.type == ProgType.LSM and eat != AttachType.LSM_CGROUP:
        from ..host import active_lsms

        lsms = active_lsms()
        if lsms is not None and "bpf" not in lsms:  # the kernel would attach, but the hook never runs
            raise NotSupportedError(
                f"cannot attach {target}: the BPF LSM is not active on this kernel (active: {','.join(lsms)}); "
                "boot with lsm=...,bpf (CONFIG_BPF_LSM is needed too)",
                feature="bpf_lsm", min_kernel="5.7",
            )
    try:
        if cookie:
            def fill(a: A.LinkCreateAttr) -> None:
                a.tracing.cookie = cookie

            lfd = new_link_fd(prog.fd, 0, eat or 0, what=f"program {prog.name!r} on {target}", extra=fill)
        else:
            lfd = Fd(C.raw_tracepoint_open(None, prog.fd, target=f"program {prog.name!r} on {target}"), target)
    except KernelError as exc:
        # "not supported" is the kernel's answer for any user (arm64 6.1 loads fentry, then cannot attach it:
        # no DYNAMIC_FTRACE_WITH_DIRECT_CALLS); EPERM means no trampolines only for root (else a capability)
        if exc.errno in (E.ENOTSUP, 524, E.EOPNOTSUPP) or (exc.errno == E.EPERM and os.geteuid() == 0):
            from .._sys.privilege import trampolines_locked_down

            locked = trampolines_locked_down() if exc.errno == E.EPERM else None
            raise NotSupportedError(
                f"the kernel refused to attach {target} ({exc.errno_name}): "
                f"{locked or 'BPF trampolines are unavailable on this kernel'}; use tracepoints, raw "
                "tracepoints or tp_btf instead",
                feature="trampoline", cause="lockdown" if locked else None,
            ) from None
        raise
    return Link(lfd, program=prog, kind=kind, target=target)


class Iterator_:
    """A BPF iterator link; each :meth:`read`/:meth:`lines` runs the iterator once."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def read(self) -> bytes:
        """Run the iterator and return all it wrote (BPF_ITER_CREATE, read to EOF)."""
        fd = C.iter_create(self.link.fd)
        chunks = []
        try:
            while True:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks)

    def lines(self) -> Iterator[str]:
        """Run the iterator and yield its output line by line (text iterators)."""
        yield from self.read().decode(errors="replace").splitlines()

    def close(self) -> None:
        """Detach the iterator link."""
        self.link.close()

    def __enter__(self) -> Iterator_:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@holds_program
def attach_iter(prog: Program, *, map_fd: int = 0, cgroup_fd: int = 0, cgroup_order: int = 0,
                tid: int = 0, pid: int = 0, pid_fd: int = 0) -> Link:
    """Create an iterator link (iter/task, iter/bpf_map_elem with ``map_fd``, iter/cgroup ...)."""
    info = A.IterLinkInfo()
    if map_fd:
        info.map.map_fd = map_fd
    elif cgroup_fd:
        info.cgroup.order = cgroup_order
        info.cgroup.cgroup_fd = cgroup_fd
    elif tid or pid or pid_fd:
        info.task.tid = tid
        info.task.pid = pid
        info.task.pid_fd = pid_fd
    use_info = bool(map_fd or cgroup_fd or tid or pid or pid_fd)
    target = f"iter {prog.attach_target or '?'}"

    def fill(a: A.LinkCreateAttr) -> object:
        if use_info:
            a.iter_info = ctypes.addressof(info)
            a.iter_info_len = ctypes.sizeof(info)
        return info

    try:
        lfd = new_link_fd(prog.fd, 0, AttachType.TRACE_ITER, what=f"program {prog.name!r} as {target}", extra=fill)
    except KernelError as exc:
        if exc.errno == E.E2BIG and (cgroup_fd or tid or pid or pid_fd):  # the kernel's bpf_iter_link_info is map-only
            what = "cgroup" if cgroup_fd else "task"
            raise NotSupportedError(f"cannot attach {target} with a {what} filter: this kernel's iterators take only "
                                    "a map (task and cgroup filters came in Linux 6.1)",
                                    feature=f"iter_{what}_filter", min_kernel="6.1") from None
        raise
    return Link(lfd, program=prog, kind="iter", target=target)
