"""Cached probes of what the running kernel supports, and ``require()`` to fail early and clearly.

Each probe runs once per process (``functools.cache``): it creates the
smallest object that shows the feature and closes it. A probe always answers
for the host it runs on and never raises for the kernel's refusal: a feature
the kernel refuses here (lockdown, a missing capability, an LSM) is "no", and
:func:`check` says why (:class:`Support`, :class:`Cause`).
"""

from __future__ import annotations

import ctypes
import enum
import errno as E
import functools
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass

from . import host
from . import token as _token  # noqa: F401  (installs the ambient BPF token: the probes create through it)
from ._registry import ATTACH_FAMILIES, AttachFamily, facts_of
from ._sys import Fd, perf_event
from ._sys import commands as C
from ._sys.attrs import LinkCreateAttr, ProgLoadAttr
from ._sys.syscall import ENOTSUPP, explain_eperm
from ._uapi import (
    MAP_MIN_KERNEL,
    PROG_MIN_KERNEL,
    AttachType,
    BtfKind,
    HelperId,
    MapFlags,
    MapType,
    ProgFlags,
    ProgType,
    coerce,
)
from .btf._sanitize import BtfFeatures
from .errors import BpfError, BpfPermissionError, BpfTypeError, BpfValueError, KernelError, NotSupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ParamSpec
    _P = ParamSpec("_P")

__all__ = [
    "TRIVIAL_PROGRAM",
    "Cause",
    "Support",
    "check",
    "btf_features",
    "have_batch_ops",
    "have_bpf_link_perf_event",
    "have_bpf_token",
    "have_btf_kind",
    "have_bpf_lsm",
    "have_fmod_ret",
    "have_hash_lookup_and_delete",
    "have_helper",
    "have_kallsyms",
    "have_kfunc",
    "have_kprobes",
    "have_map_type",
    "have_mmapable_arrays",
    "have_object_ids",
    "have_perf_events",
    "have_pinning",
    "have_prog_type",
    "have_sleepable_map",
    "have_sleepable_spin_lock",
    "have_tcx",
    "have_tracefs",
    "have_trampolines",
    "have_uprobes",
    "lockdown_refusal",
    "prog_capabilities",
    "refusal",
    "probe_names",
    "require",
]

# r0 = 0 (BPF_ALU64 | BPF_MOV | BPF_K); exit (BPF_JMP | BPF_EXIT)
TRIVIAL_PROGRAM = bytes.fromhex("b700000000000000" "9500000000000000")
"""The two-instruction program ``r0 = 0; exit`` every probe loads."""

_FEATURE_MIN_KERNEL = {
    "batch_ops": "5.6",
    "mmapable_arrays": "5.5",
    "bpf_link_perf_event": "5.15",
    "tcx": "6.6",
    "trampolines": "5.5",
    "bpf_lsm": "5.7",
    "kprobes": "4.1",
    "fmod_ret": "5.7",
    "hash_lookup_and_delete": "5.14",
    "bpf_token": "6.9",
    "tracefs": "4.1",
    "perf_events": "4.4",
    "pinning": "4.4",
    "object_ids": "4.13",
    "kallsyms": "2.6",
    "uprobes": "3.5",
}
_FEATURE_LABEL = {
    "batch_ops": "batch map operations",
    "mmapable_arrays": "mmapable arrays",
    "bpf_link_perf_event": "BPF links for perf events",
    "tcx": "tcx links",
    "trampolines": "BPF trampolines (fentry/fexit/fmod_ret)",
    "bpf_lsm": "BPF LSM programs (lsm=bpf)",
    "kprobes": "kprobes",
    "fmod_ret": "fmod_ret programs on bpf_modify_return_test",
    "hash_lookup_and_delete": "lookup_and_delete on hash maps",
    "bpf_token": "BPF tokens (delegated bpffs)",
    "tracefs": "tracefs events (tracepoints by name, kprobe/uprobe_events, trace_pipe)",
    "perf_events": "perf events for this process (perf buffers, perf-event attachments)",
    "pinning": "pinning in the bpf filesystem (/sys/fs/bpf)",
    "object_ids": "opening BPF objects by id (BPF_*_GET_NEXT_ID, BPF_*_GET_FD_BY_ID: bpftool's view)",
    "kallsyms": "kernel symbol addresses in /proc/kallsyms (untyped __ksym externs, symbolized stacks)",
    "uprobes": "uprobes for this process (uprobe and USDT attachments)",
}
# BPF_BTF_KIND_* -> the Linux version whose BTF loader accepts it
BTF_KIND_MIN_KERNEL = {"FUNC": "5.0", "FUNC_PROTO": "5.0", "VAR": "5.2", "DATASEC": "5.2", "FLOAT": "5.13",
                       "DECL_TAG": "5.16", "TYPE_TAG": "5.17", "ENUM64": "6.0"}


class Cause(str, enum.Enum):
    """Why a feature is missing on this host."""

    VERSION = "version"
    """The kernel predates the feature."""
    CONFIG = "config"
    """The kernel is new enough but was built without the feature (or does not offer it here)."""
    LOCKDOWN = "lockdown"
    """Kernel lockdown (Secure Boot: integrity or confidentiality) refuses it."""
    CAPABILITY = "capability"
    """This process lacks a capability the kernel checks (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN)."""
    REFUSED = "refused"
    """The kernel refused it (EPERM) to a capable process without lockdown: an LSM, seccomp or a sysctl."""
    ACCESS = "access"
    """This process may not open a file the feature needs (tracefs is mode 700 for root by default)."""
    UNKNOWN = "unknown"
    """The probe itself failed in an unexpected way; the reason carries the error."""


@dataclass(frozen=True)
class Support:
    """A probe's answer: is ``feature`` usable here, and if not, why (``cause``, ``reason``)."""

    feature: str
    available: bool
    cause: Cause | None = None
    reason: str = ""
    min_kernel: str | None = None

    def __bool__(self) -> bool:
        return self.available

    def error(self) -> NotSupportedError:
        """The NotSupportedError to raise for a missing feature (its message is ``reason``)."""
        return NotSupportedError(self.reason, feature=self.feature, min_kernel=self.min_kernel,
                                 cause=None if self.cause is None else self.cause.value)


# label of a probed feature -> why the kernel refused the probe (filled by the probes)
_REFUSALS: dict[str, tuple[Cause, str]] = {}
_LOCKDOWN_RANK = {"none": 0, "integrity": 1, "confidentiality": 2}


def refusal(what: str, exc: BaseException, caps: tuple[int, ...] = (host.CAP_BPF,)) -> tuple[Cause, str]:
    """Why the kernel (or a file) refused ``what`` with ``exc``: a missing capability, lockdown, file access or other.

    ``caps`` are the capabilities the kernel checks for it; the answer says
    which one this process lacks, else whether lockdown is the likely cause.
    """
    if not isinstance(exc, KernelError) and isinstance(exc, PermissionError):
        path = exc.filename or "a file"
        return Cause.ACCESS, (f"{what} needs {path}, which this process (uid {os.getuid()}) may not open: "
                              "run as root or make it readable")
    command = getattr(exc, "command", None) or "the kernel"
    err = getattr(exc, "errno_name", None) or E.errorcode.get(getattr(exc, "errno", 0) or 0, "EPERM")
    cause, why = explain_eperm(what, caps, token_applies=command != "perf_event_open")  # perf: no token
    return Cause(cause), f"{why} ({command}: {err})"


def _note_refusal(label: str, exc: BaseException, caps: tuple[int, ...]) -> None:
    """Record why probing ``label`` was refused with ``exc`` (the probe answers no)."""
    _REFUSALS[label] = refusal(label, exc, caps)


def _answers(label: Callable[..., str], caps: tuple[int, ...] = (host.CAP_BPF,)
             ) -> Callable[[Callable[_P, bool]], Callable[_P, bool]]:
    """Make a probe answer False instead of raising when the kernel refuses it, recording why under ``label``."""
    def wrap(fn: Callable[_P, bool]) -> Callable[_P, bool]:
        @functools.wraps(fn)
        def probe(*args: _P.args, **kwargs: _P.kwargs) -> bool:
            try:
                return fn(*args, **kwargs)
            except (BpfError, OSError) as exc:
                if isinstance(exc, PermissionError) or (isinstance(exc, KernelError) and exc.errno == E.EPERM):
                    _note_refusal(label(*args, **kwargs), exc, caps)  # BpfPermissionError, or a file the probe reads
                else:
                    _REFUSALS[label(*args, **kwargs)] = (Cause.UNKNOWN, f"probing {label(*args, **kwargs)} failed: {exc}")
            return False
        return probe
    return wrap


def _version_at_least(v: str | None) -> bool:
    if v is None:
        return False
    parts = tuple(int(x) for x in v.split("."))
    return host.kernel_version()[: len(parts)] >= parts


def _map_type(t: MapType | str | int) -> MapType | int | None:
    if isinstance(t, MapType):
        return t
    if isinstance(t, str):
        try:
            return MapType(t)  # type: ignore[arg-type]  # names resolve through _missing_
        except ValueError:
            return None
    if isinstance(t, bool) or not isinstance(t, int):
        raise BpfTypeError(f"a map type is a MapType, its name or an int, not {type(t).__name__}")
    try:
        return MapType(t)
    except ValueError:
        return t


def _map_label(t: MapType | str | int) -> str:
    mt = _map_type(t)
    if isinstance(mt, MapType):
        return f"map type {mt.name.lower()}"
    return f"map type {t.strip().lower().removeprefix('bpf_map_type_')}" if isinstance(t, str) else f"map type {t}"


def _probe_create(t: int, key: int, value: int, entries: int, flags: int = 0, **kw: Any) -> int:
    """Create and close a map; returns 0 or the errno. Permission errors propagate."""
    try:
        fd = C.map_create(t, key, value, entries, map_flags=flags, **kw)
    except BpfPermissionError:
        raise
    except KernelError as exc:
        return exc.errno or E.EINVAL
    Fd(fd, "probe map").close()
    return 0


def _flags_of(names: tuple[str, ...]) -> int:
    """The MapFlags bits named by a registry row."""
    return functools.reduce(operator.or_, (int(MapFlags[n]) for n in names), 0)


@functools.cache
@_answers(_map_label)
def have_map_type(t: MapType | str | int) -> bool:
    """True when the kernel can create maps of type ``t`` (a MapType, its name, or an int)."""
    mt = _map_type(t)
    if mt is None:
        return False
    facts = facts_of(mt)
    key, value, entries_of = facts.probe if facts is not None else (4, 4, 1)
    entries = host.page_size() if entries_of == "page" else entries_of
    flags = _flags_of(facts.flags) if facts is not None else 0
    needs = facts.probe_needs if facts is not None else ""
    extra: dict[str, Any] = {}
    expect_ok: tuple[int, ...] = (0,)
    inner: Fd | None = None
    btf_fd: Fd | None = None
    try:
        if needs == "inner_map":
            inner = Fd(C.map_create(MapType.ARRAY, 4, 4, 1), "probe inner map")
            extra["inner_map_fd"] = inner.fd
        elif needs == "struct_ops":
            extra["btf_vmlinux_value_type_id"] = 1
            expect_ok = (0, ENOTSUPP)  # the type exists; id 1 is not a struct_ops type
        elif needs == "storage_btf":
            from ._kbtf import load_btf
            from .btf._gen import value_btf

            btf, kid, vid = value_btf(None, 4)
            try:
                btf_fd = load_btf(btf)
            except BpfPermissionError:
                raise
            except KernelError:
                return False
            extra.update(btf_fd=btf_fd.fd, btf_key_type_id=kid, btf_value_type_id=vid)
        return _probe_create(int(mt), key, value, entries, flags, **extra) in expect_ok
    finally:
        if inner is not None:
            inner.close()
        if btf_fd is not None:
            btf_fd.close()


def _vmlinux_id(name: str, kind: BtfKind) -> int:
    try:
        return host.vmlinux_btf().find_one(name, kind)
    except (OSError, KeyError):
        return 0


# program types whose loads the kernel checks against CAP_PERFMON / CAP_NET_ADMIN besides CAP_BPF
_PERFMON_PROGS = frozenset({"KPROBE", "TRACEPOINT", "PERF_EVENT", "RAW_TRACEPOINT", "RAW_TRACEPOINT_WRITABLE",
                            "TRACING", "LSM", "STRUCT_OPS", "EXT"})
_NET_ADMIN_PROGS = frozenset({"SCHED_CLS", "SCHED_ACT", "XDP", "LWT_IN", "LWT_OUT", "LWT_XMIT", "LWT_SEG6LOCAL",
                              "SK_SKB", "SK_MSG", "FLOW_DISSECTOR", "CGROUP_DEVICE", "CGROUP_SOCK",
                              "CGROUP_SOCK_ADDR", "CGROUP_SOCKOPT", "CGROUP_SYSCTL", "SOCK_OPS", "EXT", "NETFILTER"})


def prog_capabilities(t: ProgType | str | int) -> tuple[int, ...]:
    """The capabilities the kernel checks to load a program of type ``t`` (CAP_BPF, plus PERFMON/NET_ADMIN)."""
    pt = _prog_type(t)
    name = pt.name if pt is not None else ""
    return ((host.CAP_BPF,) + ((host.CAP_PERFMON,) if name in _PERFMON_PROGS else ())
            + ((host.CAP_NET_ADMIN,) if name in _NET_ADMIN_PROGS else ()))


def _prog_label(t: ProgType | str | int) -> str:
    pt = _prog_type(t)
    if pt is not None:
        return f"program type {pt.name.lower()}"
    return f"program type {t.strip().lower().removeprefix('bpf_prog_type_')}" if isinstance(t, str) else f"program type {t}"


def _has_caps(caps: tuple[int, ...]) -> bool:
    return all(host.bpf_capable(c) for c in caps)


def _prog_type(t: ProgType | str | int) -> ProgType | None:
    try:
        return ProgType(t) if isinstance(t, (ProgType, str)) else ProgType(int(t))  # type: ignore[arg-type]
    except ValueError:
        return None


def _probe_attr(pt: ProgType, insns: bytes, keep: list[Any]) -> ProgLoadAttr | None:
    """The load attributes a probe program of type ``pt`` needs (None: the type cannot be probed alone)."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(4096)
    keep += [code, lic, log]
    a = ProgLoadAttr(
        prog_type=int(pt), insn_cnt=len(insns) // 8, insns=ctypes.addressof(code),
        license=ctypes.addressof(lic), log_level=1, log_size=len(log), log_buf=ctypes.addressof(log),
    )
    P = ProgType
    if pt == P.KPROBE:
        a.kern_version = host.kernel_version_code()
    elif pt == P.CGROUP_SOCK_ADDR:
        a.expected_attach_type = AttachType.CGROUP_INET4_CONNECT
    elif pt == P.CGROUP_SOCKOPT:
        a.expected_attach_type = AttachType.CGROUP_GETSOCKOPT
    elif pt == P.SK_LOOKUP:
        a.expected_attach_type = AttachType.SK_LOOKUP
    elif pt == P.NETFILTER:
        a.expected_attach_type = AttachType.NETFILTER
    elif pt == P.SYSCALL:
        a.prog_flags = int(ProgFlags.SLEEPABLE)
    elif pt == P.TRACING:
        a.expected_attach_type = AttachType.TRACE_RAW_TP
        a.attach_btf_id = _vmlinux_id("btf_trace_sched_switch", BtfKind.TYPEDEF)
        if not a.attach_btf_id:
            return None
    elif pt == P.LSM:
        a.expected_attach_type = AttachType.LSM_MAC
        a.attach_btf_id = _vmlinux_id("bpf_lsm_file_open", BtfKind.FUNC)
        if not a.attach_btf_id:
            return None
    return a


@functools.cache
def have_prog_type(t: ProgType | str | int) -> bool:
    """True when the kernel knows program type ``t`` (loads ``r0 = 0; exit`` of that type)."""
    return _answers(_prog_label, prog_capabilities(t))(_have_prog_type)(t)


def _have_prog_type(t: ProgType | str | int) -> bool:
    pt = _prog_type(t)
    if pt is None:
        return False
    P = ProgType
    if pt == P.EXT:
        # an extension needs a target program; without one the kernel answers EINVAL either way
        return have_prog_type(P.TRACING) and _version_at_least(PROG_MIN_KERNEL.get(pt.name))
    keep: list[Any] = []
    a = _probe_attr(pt, TRIVIAL_PROGRAM, keep)
    if a is None:
        return pt == P.TRACING and _version_at_least(PROG_MIN_KERNEL.get(pt.name))
    log = keep[2]
    expect_err: tuple[int, ...] = (ENOTSUPP,) if pt == P.STRUCT_OPS else ()  # known type, no struct_ops target
    try:
        fd = C.prog_load(a, target=f"probe program ({pt.name.lower()})")
    except BpfPermissionError as exc:
        if _has_caps(prog_capabilities(pt)) and exc.errno == E.EPERM:
            return True  # the kernel knows the type but refuses it here (lockdown, LSM not active)
        raise
    except KernelError as exc:
        if exc.errno in expect_err:
            return True
        if exc.errno == E.EINVAL:
            return bool(log.value.strip())  # the verifier ran: the type exists
        return exc.errno not in (E.EOPNOTSUPP, ENOTSUPP)
    Fd(fd, "probe program").close()
    return True


# helpers -> the Linux version that added them (those tests and loaders ask about)
HELPER_MIN_KERNEL = {
    "ringbuf_output": "5.8", "ringbuf_reserve": "5.8", "ringbuf_submit": "5.8", "ringbuf_discard": "5.8",
    "for_each_map_elem": "5.13", "snprintf": "5.13", "timer_init": "5.15", "get_func_ip": "5.15",
    "get_attach_cookie": "5.15", "task_pt_regs": "5.15", "trace_vprintk": "5.16", "loop": "5.17",
    "strncmp": "5.17", "kptr_xchg": "5.19", "dynptr_read": "5.19", "user_ringbuf_drain": "6.1",
    "ktime_get_coarse_ns": "5.11", "task_storage_get": "5.11", "cgrp_storage_get": "6.2",
    "ktime_get_tai_ns": "6.1", "probe_read_kernel": "5.5", "get_current_task_btf": "5.11",
}


def _helper_id(h: HelperId | str | int) -> HelperId | int:
    if isinstance(h, HelperId):
        return h
    if isinstance(h, str):
        name = h.strip().lower().removeprefix("bpf_")
        try:
            return HelperId[name]
        except KeyError:
            raise BpfValueError(f"unknown BPF helper {h!r}") from None
    try:
        return HelperId(int(h))
    except ValueError:
        return int(h)


def _helper_label(prog_type: ProgType | str | int, helper: HelperId | str | int) -> str:
    hid = _helper_id(helper)
    name = hid.name if isinstance(hid, HelperId) else str(hid)
    pt = _prog_type(prog_type)
    return f"helper bpf_{name} in {pt.name.lower() if pt is not None else prog_type} programs"


@functools.cache
def have_helper(prog_type: ProgType | str | int, helper: HelperId | str | int) -> bool:
    """True when programs of ``prog_type`` may call ``helper`` (a HelperId, its name, or an id).

    Loads ``call helper; r0 = 0; exit``: the verifier names an unknown or forbidden
    helper ("invalid func", "unknown func", "cannot use helper") before it checks arguments.
    """
    hid = _helper_id(helper)  # a bad name is a ValueError, not an answer
    return _answers(_helper_label, prog_capabilities(prog_type))(_have_helper)(prog_type, hid)


def _have_helper(prog_type: ProgType | str | int, hid: HelperId | int) -> bool:
    pt = _prog_type(prog_type)
    if pt is None or not have_prog_type(pt):
        return False
    call = bytes([0x85, 0]) + (0).to_bytes(2, "little") + int(hid).to_bytes(4, "little", signed=True)
    keep: list[Any] = []
    a = _probe_attr(pt, call + TRIVIAL_PROGRAM, keep)
    if a is None:
        return False
    log = keep[2]
    try:
        fd = C.prog_load(a, target=f"probe of helper {int(hid)} in a {pt.name.lower()} program")
    except KernelError:
        text = log.value.decode(errors="replace")
        refused = ("invalid func ", "unknown func ", "cannot use helper")
        return bool(text.strip()) and not any(r in text for r in refused)
    Fd(fd, "probe program").close()
    return True


def _kfunc_label(name: str, prog_type: ProgType | str | int = ProgType.SYSCALL) -> str:
    pt = _prog_type(prog_type)
    return f"kfunc {name} in {pt.name.lower() if pt is not None else prog_type} programs"


@functools.cache
@_answers(_kfunc_label)
def have_kfunc(name: str, prog_type: ProgType | str | int = ProgType.SYSCALL) -> bool:
    """True when programs of ``prog_type`` may call kernel function ``name`` (a kfunc, Linux 5.13+).

    The kfunc must be in the kernel's BTF and registered for the program type:
    the probe calls it with zero arguments and checks that the verifier did not
    refuse the call itself (it may refuse the arguments: the kfunc exists).
    """
    pt = _prog_type(prog_type)
    fid = _vmlinux_id(name, BtfKind.FUNC)
    if pt is None or not fid or not have_prog_type(pt):
        return False
    zero_args = b"".join(bytes([0xB7, r, 0, 0, 0, 0, 0, 0]) for r in range(1, 6))  # r1..r5 = 0
    call = bytes([0x85, 2 << 4]) + (0).to_bytes(2, "little") + fid.to_bytes(4, "little")  # BPF_PSEUDO_KFUNC_CALL
    keep: list[Any] = []
    a = _probe_attr(pt, zero_args + call + TRIVIAL_PROGRAM, keep)
    if a is None:
        return False
    log = keep[2]
    try:
        fd = C.prog_load(a, target=f"probe of kfunc {name} in a {pt.name.lower()} program")
    except KernelError as exc:
        if isinstance(exc, BpfPermissionError):
            raise
        text = log.value.decode(errors="replace")
        refused = ("is not allowed", "reserved fields", "not a function", "invalid kernel function",
                   "not supported", "unknown func", "cannot call")
        return bool(text.strip()) and not any(r in text for r in refused)
    Fd(fd, "probe program").close()
    return True


def _sleepable_refuses(map_fd: int) -> bool:
    """Does the verifier refuse a sleepable (syscall) program that references this map?"""
    ld_map = bytes([0x18, (1 << 4) | 1, 0, 0]) + map_fd.to_bytes(4, "little") + bytes(8)  # r1 = map (MAP_FD)
    keep: list[Any] = []
    a = _probe_attr(ProgType.SYSCALL, ld_map + TRIVIAL_PROGRAM, keep)
    assert a is not None
    try:
        Fd(C.prog_load(a, target="probe of a map in a sleepable program"), "probe program").close()
    except BpfPermissionError:
        raise
    except KernelError:
        text = keep[2].value.decode(errors="replace")
        return "leepable" in text  # "Sleepable programs can only use ...", "sleepable progs cannot use ..."
    return False


@functools.cache
@_answers(lambda t: f"{_map_label(t)} in sleepable programs")
def have_sleepable_map(t: MapType | str | int) -> bool:
    """True when sleepable programs may use maps of type ``t`` (older kernels allowed only a few types)."""
    mt = _map_type(t)
    if mt is None or not isinstance(mt, MapType) or not have_prog_type(ProgType.SYSCALL) or not have_map_type(mt):
        return False
    key, value, flags = 4, 4, 0
    if mt in (MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER):
        key = 0
    elif mt == MapType.LPM_TRIE:
        key, value, flags = 8, 8, int(MapFlags.NO_PREALLOC)
    elif mt in (MapType.RINGBUF, MapType.USER_RINGBUF, MapType.ARENA):
        raise BpfValueError(f"have_sleepable_map does not probe {mt.name.lower()} maps")
    with Fd(C.map_create(int(mt), key, value, 1, map_flags=flags, name="probe_sleep"), "probe map") as fd:
        return not _sleepable_refuses(fd.fd)


@functools.cache
@_answers(lambda: "bpf_spin_lock in sleepable programs")
def have_sleepable_spin_lock() -> bool:
    """True when sleepable programs may use maps whose values hold a bpf_spin_lock."""
    if not have_prog_type(ProgType.SYSCALL):
        return False
    from ._kbtf import load_btf
    from .btf import Btf, Int, IntEncoding, Member, Struct

    btf = Btf.from_types([
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Struct("bpf_spin_lock", 4, [Member("val", 1, 0)]),  # 2
        Struct("locked", 8, [Member("lock", 2, 0), Member("v", 1, 32)]),  # 3
    ])
    with load_btf(btf) as b, Fd(C.map_create(int(MapType.HASH), 4, 8, 1, name="probe_lock", btf_fd=b.fd,
                                             btf_key_type_id=1, btf_value_type_id=3), "probe map") as fd:
        return not _sleepable_refuses(fd.fd)


def _trivial_program(pt: ProgType, **attrs: int) -> Fd | None:
    """Load ``r0 = 0; exit`` as ``pt`` with extra load attributes; None if the kernel refuses (EPERM raises)."""
    keep: list[Any] = []
    a = _probe_attr(pt, TRIVIAL_PROGRAM, keep)
    if a is None:
        return None
    for k, v in attrs.items():
        setattr(a, k, v)
    try:
        return Fd(C.prog_load(a, target=f"probe program ({pt.name.lower()})"), "probe program")
    except KernelError as exc:
        if exc.errno == E.EPERM:
            raise  # refused here, not unknown: the probe records why
        return None


@functools.cache
@_answers(lambda: _FEATURE_LABEL["bpf_link_perf_event"], (host.CAP_BPF, host.CAP_PERFMON))
def have_bpf_link_perf_event() -> bool:
    """True when perf events (kprobes, tracepoints ...) attach through BPF links (Linux 5.15), not only ioctls."""
    prog = _trivial_program(ProgType.TRACEPOINT)
    if prog is None:
        return False
    with prog:
        a = LinkCreateAttr(prog_fd=prog.fd, target_fd=-1 & 0xFFFFFFFF, attach_type=int(AttachType.PERF_EVENT))
        try:
            Fd(C.link_create(a, target="probe perf_event link"), "probe link").close()
        except BpfPermissionError:
            raise
        except KernelError as exc:
            return exc.errno == E.EBADF  # the attach type is known; -1 is no perf event
        return True  # pragma: no cover - fd -1 cannot be a perf event


@functools.cache
@_answers(lambda: _FEATURE_LABEL["tcx"], (host.CAP_BPF, host.CAP_NET_ADMIN))
def have_tcx() -> bool:
    """True when tc programs attach as tcx links (Linux 6.6)."""
    prog = _trivial_program(ProgType.SCHED_CLS)
    if prog is None:
        return False
    with prog:
        a = LinkCreateAttr(prog_fd=prog.fd, target_fd=0, attach_type=int(AttachType.TCX_INGRESS))
        try:
            Fd(C.link_create(a, target="probe tcx link"), "probe link").close()
        except BpfPermissionError:
            raise
        except KernelError as exc:
            return exc.errno == E.ENODEV  # tcx looked for interface 0: the attach type is known
        return True  # pragma: no cover - there is no interface 0


def _attaches_on_trampoline(pt: ProgType, eat: AttachType, func: str) -> bool:
    fid = _vmlinux_id(func, BtfKind.FUNC)
    if not fid:
        return False
    prog = _trivial_program(pt, expected_attach_type=int(eat), attach_btf_id=fid)
    if prog is None:
        return False
    with prog:
        try:
            Fd(C.raw_tracepoint_open(None, prog.fd, target=f"probe {eat.name.lower()} on {func}"), "probe link").close()
        except KernelError as exc:
            if exc.errno == E.EPERM:
                raise
            return False
    return True


@functools.cache
@_answers(lambda: _FEATURE_LABEL["trampolines"], (host.CAP_BPF, host.CAP_PERFMON))
def have_trampolines() -> bool:
    """True when fentry programs load and attach here (BPF trampolines: Linux 5.5, x86-64 first)."""
    return _attaches_on_trampoline(ProgType.TRACING, AttachType.TRACE_FENTRY, "bpf_fentry_test1")


@functools.cache
@_answers(lambda func="bpf_modify_return_test": _FEATURE_LABEL["fmod_ret"], (host.CAP_BPF, host.CAP_PERFMON))
def have_fmod_ret(func: str = "bpf_modify_return_test") -> bool:
    """True when fmod_ret programs load and attach on kernel function ``func``.

    Besides trampolines this needs ``func`` on the error-injection list
    (CONFIG_FUNCTION_ERROR_INJECTION) or registered for fmod_ret (Linux 6.0 does
    so for bpf_modify_return_test).
    """
    return have_trampolines() and _attaches_on_trampoline(ProgType.TRACING, AttachType.MODIFY_RETURN, func)


@functools.cache
@_answers(lambda: _FEATURE_LABEL["bpf_lsm"], (host.CAP_BPF, host.CAP_PERFMON))
def have_bpf_lsm() -> bool:
    """True when LSM programs load, attach, and run: CONFIG_BPF_LSM and "bpf" among the active LSMs."""
    lsms = host.active_lsms()
    if lsms is None or "bpf" not in lsms:
        return False  # without the bpf LSM active, attached programs would silently never run
    return _attaches_on_trampoline(ProgType.LSM, AttachType.LSM_MAC, "bpf_lsm_file_open")


@functools.cache
@_answers(lambda: _FEATURE_LABEL["kprobes"], (host.CAP_PERFMON,))
def have_kprobes() -> bool:
    """True when the kernel offers kprobes (a kprobe PMU or tracefs kprobe_events) and lets this process
    create one: lockdown=confidentiality and kernel.perf_event_paranoid >= 3 without CAP_SYS_ADMIN refuse them."""
    how = perf_event.kprobe_support()
    if how != "pmu":
        return how is not None
    try:
        fd = perf_event.open_kprobe_event(_KPROBE_PROBE_FUNC, retprobe=False)
    except BpfPermissionError:
        why = perf_event.paranoid_refusal(perf_event.current_paranoid(), host.has_capability(host.CAP_SYS_ADMIN))
        if why is None:
            raise  # a capability or lockdown: _answers says which
        _REFUSALS[_FEATURE_LABEL["kprobes"]] = (Cause.REFUSED, f"the kernel refuses kprobes to this process: {why}")
        return False
    except NotSupportedError as exc:  # lockdown=confidentiality: perf_event_open says so itself
        _REFUSALS[_FEATURE_LABEL["kprobes"]] = (Cause(exc.cause or "unknown"), str(exc))
        return False
    except KernelError:
        return True  # the kernel has kprobes but not on this function (inlined, blacklisted): not a refusal
    os.close(fd)
    return True


_KPROBE_PROBE_FUNC = "vfs_read"  # in every kernel, never inlined, kprobes allowed


@functools.cache
def have_uprobes() -> bool:
    """True when this process may create uprobes: through the uprobe PMU (current kernels ask CAP_SYS_ADMIN for
    it, CAP_PERFMON is not enough) or, without the PMU, tracefs uprobe_events."""
    import sys

    label = _FEATURE_LABEL["uprobes"]
    pmu = perf_event.pmu_type("uprobe")
    if pmu is None:  # the legacy way: a uprobe_events entry in tracefs
        if not have_tracefs():
            _REFUSALS[label] = _REFUSALS.get(_FEATURE_LABEL["tracefs"], (Cause.ACCESS, "tracefs is unusable"))
            return False
        if not os.path.exists(os.path.join(_tracefs_root(), "uprobe_events")):
            _REFUSALS[label] = (Cause.CONFIG, "this kernel has no uprobes (no uprobe PMU, no tracefs uprobe_events): "
                                              "it was built without CONFIG_UPROBE_EVENTS")
            return False
        return True
    path = ctypes.create_string_buffer(os.fsencode(os.path.realpath(sys.executable)))
    attr = perf_event.PerfEventAttr(type=pmu, sample_period=1, wakeup_events=1)
    attr.config1 = ctypes.addressof(path)
    attr.config2 = 0  # offset 0 of this process's own interpreter: nothing runs there, the event is closed at once
    try:
        fd = perf_event.perf_event_open(attr, os.getpid(), -1, target=f"probe {label}")
    except BpfPermissionError as exc:
        _REFUSALS[label] = (Cause.CAPABILITY if not host.has_capability(host.CAP_SYS_ADMIN) else Cause.REFUSED,
                            f"the kernel refuses uprobes to this process: {exc}")
        return False
    except KernelError as exc:
        _REFUSALS[label] = (Cause.UNKNOWN, f"probing {label} failed: {exc}")
        return False
    os.close(fd)
    return True


def _tracefs_root() -> str:
    from ._sys.mounts import ensure_tracefs

    return ensure_tracefs()


def have_btf_kind(kind: BtfKind | str) -> bool:
    """True when the kernel's BTF loader accepts ``kind`` in a program's BTF (else bpfkit sanitizes it)."""
    k = coerce(BtfKind, kind)
    f = btf_features()
    by_kind = {"FUNC": f.func, "FUNC_PROTO": f.func, "VAR": f.datasec, "DATASEC": f.datasec, "FLOAT": f.float,
               "DECL_TAG": f.decl_tag, "TYPE_TAG": f.type_tag, "ENUM64": f.enum64}
    return by_kind.get(k.name, True)


@functools.cache
@_answers(lambda: _FEATURE_LABEL["batch_ops"])
def have_batch_ops() -> bool:
    """True when the kernel has the BPF_MAP_*_BATCH commands (Linux 5.6)."""
    with Fd(C.map_create(MapType.HASH, 4, 4, 1, name="probe_batch"), "probe map") as fd:
        keys = ctypes.create_string_buffer(4)
        vals = ctypes.create_string_buffer(4)
        out = ctypes.create_string_buffer(8)
        try:  # an empty map: the command exists when it reports the end (ENOENT, taken as the end)
            C.map_lookup_batch(fd.fd, 0, ctypes.addressof(out), ctypes.addressof(keys), ctypes.addressof(vals), 1)
        except KernelError:
            return False
        return True


@functools.cache
@_answers(lambda: _FEATURE_LABEL["hash_lookup_and_delete"])
def have_hash_lookup_and_delete() -> bool:
    """True when hash maps have BPF_MAP_LOOKUP_AND_DELETE_ELEM (Linux 5.14)."""
    with Fd(C.map_create(MapType.HASH, 4, 4, 1, name="probe_lad"), "probe map") as fd:
        key = ctypes.c_uint32(0)
        value = ctypes.c_uint32(0)
        try:
            C.map_lookup_and_delete_elem(fd.fd, ctypes.addressof(key), ctypes.addressof(value))
        except KernelError as exc:
            return exc.errno == E.ENOENT  # the command exists; the map is empty
        return True  # pragma: no cover - the map is empty


@functools.cache
@_answers(lambda: _FEATURE_LABEL["perf_events"], (host.CAP_PERFMON,))
def have_perf_events() -> bool:
    """True when this process may open a CPU-wide perf event (a BPF output event: what perf buffers read).

    Debian/Ubuntu's kernel.perf_event_paranoid=3 refuses that without CAP_SYS_ADMIN even to CAP_PERFMON.
    """
    from ._uapi import PerfSwId, PerfType

    attr = perf_event.PerfEventAttr(type=PerfType.SOFTWARE, config=PerfSwId.BPF_OUTPUT, sample_period=1)
    try:
        os.close(perf_event.perf_event_open(attr, -1, 0, target="probe BPF output event on cpu 0"))
    except BpfPermissionError:
        why = perf_event.paranoid_refusal(perf_event.current_paranoid(), host.has_capability(host.CAP_SYS_ADMIN))
        if why is None:
            raise  # a capability or lockdown: _answers says which
        _REFUSALS[_FEATURE_LABEL["perf_events"]] = (Cause.REFUSED, f"the kernel refuses perf events to this "
                                                                   f"process: {why}")
        return False
    return True


@functools.cache
def have_tracefs() -> bool:
    """True when this process can use tracefs events: tracepoints by name (their ids), kprobe/uprobe_events and
    trace_pipe. Unreadable (mode 700, not root) or empty (lockdown=confidentiality) tracefs is "no", with the reason."""
    from ._sys.mounts import TRACEFS_FIX, ensure_tracefs, tracefs_user

    label = _FEATURE_LABEL["tracefs"]
    try:
        root = ensure_tracefs()
        os.listdir(os.path.join(root, "events"))
    except PermissionError as exc:
        _REFUSALS[label] = (Cause.ACCESS, f"tracefs ({exc.filename}) is readable only by root here (this process is "
                                          f"{tracefs_user()}): {TRACEFS_FIX}")
        return False
    except FileNotFoundError:
        if host.lockdown_mode() == "confidentiality":
            _REFUSALS[label] = (Cause.LOCKDOWN, "kernel lockdown=confidentiality leaves tracefs empty (no event ids, "
                                                "kprobe_events or trace_pipe): raw_tp and tp_btf programs attach "
                                                "without tracefs; a kernel booted without it has them")
        else:
            _REFUSALS[label] = (Cause.CONFIG, "tracefs has no events directory: the kernel was built without "
                                              "CONFIG_EVENT_TRACING; raw_tp and tp_btf programs attach without it")
        return False
    except OSError as exc:  # not mounted and not mountable here
        _REFUSALS[label] = refusal(label, exc, (host.CAP_SYS_ADMIN,))
        return False
    return True


@functools.cache
def have_pinning() -> bool:
    """True when this process may pin objects under /sys/fs/bpf: a bpffs is (or can be) mounted there and this
    process may write it. The default bpffs is mode 0700 for root: a capabilities-only user cannot pin."""
    from ._sys.mounts import BPFFS, ensure_bpffs

    label = _FEATURE_LABEL["pinning"]
    try:
        root = ensure_bpffs(BPFFS)
    except OSError as exc:  # not mounted and not mountable here (AccessError carries the fix)
        _REFUSALS[label] = (Cause.ACCESS, f"{exc}")
        return False
    if not os.access(root, os.W_OK | os.X_OK):
        mode = os.stat(root).st_mode & 0o7777
        _REFUSALS[label] = (Cause.ACCESS, f"the bpf filesystem at {root} (mode {mode:04o}, owner uid "
                                          f"{os.stat(root).st_uid}) is not writable by this process (uid "
                                          f"{os.getuid()}): run as root, or mount a bpffs this user owns "
                                          f"(mount -t bpf -o uid=UID,gid=GID,mode=0700 bpffs DIR) and pin there")
        return False
    return True


@functools.cache
@_answers(lambda: _FEATURE_LABEL["object_ids"], (host.CAP_SYS_ADMIN,))
def have_object_ids() -> bool:
    """True when this process may walk and open BPF objects by id, as bpftool does: the kernel asks for
    CAP_SYS_ADMIN in the initial user namespace (neither CAP_BPF nor a BPF token is enough)."""
    from ._uapi import Cmd

    C.next_id(int(Cmd.PROG_GET_NEXT_ID), 0)  # EPERM without CAP_SYS_ADMIN; None (ENOENT) or an id with it
    return True


@functools.cache
def have_kallsyms() -> bool:
    """True when /proc/kallsyms shows this process kernel addresses: a process without CAP_SYSLOG sees zeros
    (kernel.kptr_restrict), so an untyped ``__ksym`` cannot be resolved, by bpfkit or libbpf."""
    label = _FEATURE_LABEL["kallsyms"]
    try:
        hidden = host.kallsyms_hidden()
    except OSError as exc:
        _REFUSALS[label] = refusal(label, exc)
        return False
    if hidden is not None:
        _REFUSALS[label] = (Cause.CAPABILITY, hidden)
        return False
    return True


@functools.cache
@_answers(lambda: _FEATURE_LABEL["bpf_token"])
def have_bpf_token() -> bool:
    """True when the kernel has BPF_TOKEN_CREATE (Linux 6.9): an unknown command is EINVAL, a bad bpffs fd EBADF."""
    try:
        os.close(C.token_create(-1 & 0xFFFFFFFF, target="probe BPF token"))  # pragma: no cover - fd -1 is bad
    except KernelError as exc:
        return exc.errno == E.EBADF
    return True  # pragma: no cover


@functools.cache
@_answers(lambda: _FEATURE_LABEL["mmapable_arrays"])
def have_mmapable_arrays() -> bool:
    """True when arrays can be created with BPF_F_MMAPABLE (Linux 5.5)."""
    return _probe_create(MapType.ARRAY, 4, 4, 1, int(MapFlags.MMAPABLE)) == 0


_BOOL_PROBES: dict[str, Callable[[], bool]] = {
    "batch_ops": have_batch_ops,
    "mmapable_arrays": have_mmapable_arrays,
    "bpf_link_perf_event": have_bpf_link_perf_event,
    "tcx": have_tcx,
    "trampolines": have_trampolines,
    "bpf_lsm": have_bpf_lsm,
    "kprobes": have_kprobes,
    "fmod_ret": have_fmod_ret,
    "hash_lookup_and_delete": have_hash_lookup_and_delete,
    "bpf_token": have_bpf_token,
    "tracefs": have_tracefs,
    "perf_events": have_perf_events,
    "pinning": have_pinning,
    "object_ids": have_object_ids,
    "kallsyms": have_kallsyms,
    "uprobes": have_uprobes,
}


def _parse(feature: MapType | ProgType | str) -> tuple[str, str, str, str | None, Callable[[], bool]]:
    """(kind, name, label, minimum Linux, probe) of a feature as :func:`require` names it."""
    if isinstance(feature, MapType):
        kind, name = "map", feature.name
    elif isinstance(feature, ProgType):
        kind, name = "prog", feature.name
    elif isinstance(feature, str) and ":" in feature:
        kind, _, name = feature.partition(":")
        kind = kind.strip().lower()
        name = name.strip().upper().replace("-", "_")
    elif isinstance(feature, str) and feature in _BOOL_PROBES:
        kind, name = "feature", feature
    else:
        raise BpfValueError(f"unknown feature {feature!r}: use a MapType, a ProgType, 'map:NAME', 'prog:NAME', "
                         f"'helper:NAME', 'btf:KIND', or one of {sorted(_BOOL_PROBES)}")
    if kind == "map":
        name = name.removeprefix("BPF_MAP_TYPE_")
        return kind, name, _map_label(name), MAP_MIN_KERNEL.get(name), functools.partial(have_map_type, name)
    if kind == "prog":
        name = name.removeprefix("BPF_PROG_TYPE_")
        return kind, name, _prog_label(name), PROG_MIN_KERNEL.get(name), functools.partial(have_prog_type, name)
    if kind == "helper":
        helper, _, where = name.lower().partition("@")
        helper = helper.removeprefix("bpf_")
        ptype = where or "raw_tracepoint"
        _helper_id(helper)  # an unknown helper is a ValueError
        return (kind, f"{helper}@{ptype}", _helper_label(ptype, helper), HELPER_MIN_KERNEL.get(helper),
                functools.partial(have_helper, ptype, helper))
    if kind == "btf":
        kname = name.removeprefix("BTF_KIND_")
        if kname not in BTF_KIND_MIN_KERNEL:
            raise BpfValueError(f"unknown BTF kind {name!r} in {feature!r}")
        return kind, kname, f"BTF kind {kname}", BTF_KIND_MIN_KERNEL[kname], functools.partial(have_btf_kind, kname)
    if kind == "feature":
        return kind, name, _FEATURE_LABEL[name], _FEATURE_MIN_KERNEL[name], _BOOL_PROBES[name]
    raise BpfValueError(f"unknown feature kind {kind!r} in {feature!r}: use 'map:', 'prog:', 'helper:' or 'btf:'")


# helpers kernel lockdown removes from programs, and the lockdown mode that does (kernel/trace/bpf_trace.c)
_LOCKDOWN_HELPERS = {"probe_write_user": "integrity", "probe_read_kernel": "confidentiality",
                     "probe_read_kernel_str": "confidentiality", "probe_read": "confidentiality",
                     "probe_read_str": "confidentiality"}


# helpers the kernel offers only to CAP_SYS_ADMIN (kernel/trace/bpf_trace.c), whatever CAP_BPF and CAP_PERFMON allow
_SYS_ADMIN_HELPERS = frozenset({"probe_write_user"})
_DEPENDS = {"fmod_ret": "trampolines"}
# kernel options a feature needs, as /proc/config.gz names them
_CONFIG_OPTIONS = {"kprobes": ("CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS"), "bpf_lsm": ("CONFIG_BPF_LSM",),
                   "trampolines": ("CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS",)}


def _family_probe(family: str, fam: AttachFamily) -> Callable[[], bool]:
    """The feature probe of an attach family that names one in the registry (its module's ``fam.probe``)."""

    @functools.cache
    @_answers(lambda: _FEATURE_LABEL[family], (host.CAP_BPF, host.CAP_PERFMON))
    def probe() -> bool:
        from ._uapi._base import import_module

        return bool(getattr(import_module(f"bpfkit.links.{fam.module}"), fam.probe or "")())

    probe.__doc__ = f"True when the kernel has {fam.label}."
    return probe


for _family, _fam in ATTACH_FAMILIES.items():  # the links the registry knows a probe for are features too
    if _fam.probe is not None and _fam.probe not in _BOOL_PROBES:
        _FEATURE_LABEL[_family] = _fam.label
        _FEATURE_MIN_KERNEL[_family] = _fam.since or "?"
        _CONFIG_OPTIONS[_family] = _fam.config
        _BOOL_PROBES[_family] = _family_probe(_family, _fam)


def _config_hint(kind: str, name: str) -> str | None:
    """What the kernel's configuration (or boot command line) says about a missing feature, when it tells."""
    if kind != "feature":
        return None
    text = host.kernel_config_text()
    if text is not None:
        off = [o for o in _CONFIG_OPTIONS.get(name, ()) if f"\n{o}=y" not in f"\n{text}"]
        if off:
            return f"the kernel was built without {' and '.join(off)}"
    if name == "bpf_lsm":
        lsms = host.active_lsms()
        if lsms is not None and "bpf" not in lsms:
            return f"the bpf LSM is not active (active: {','.join(lsms)}); boot with lsm={','.join(lsms)},bpf"
    return None


def lockdown_refusal(log: str) -> tuple[str, str] | None:
    """(helper, reason) when a verifier log refuses a helper because of kernel lockdown, else None."""
    import re

    mode = host.lockdown_mode()
    if mode is None or not _LOCKDOWN_RANK.get(mode, 0):
        return None
    for m in re.finditer(r"(?:unknown func|invalid func|cannot use helper) (?:bpf_)?(\w+)#\d+", log):
        helper = m.group(1)
        needs = _LOCKDOWN_HELPERS.get(helper)
        if needs is not None and _LOCKDOWN_RANK[mode] >= _LOCKDOWN_RANK[needs]:
            return helper, _lockdown_helper_reason(helper, mode)
    return None


def _lockdown_helper_reason(helper: str, mode: str) -> str:
    what = "writing user memory" if helper == "probe_write_user" else "reading kernel memory"
    return (f"kernel lockdown={mode} refuses {what} from BPF programs, so the verifier does not offer "
            f"bpf_{helper}; boot without lockdown (Secure Boot off, or lockdown=none) to use it")


def _explain(kind: str, name: str, label: str, min_kernel: str | None) -> tuple[Cause, str]:
    """Why a feature the probe answered "no" for is missing."""
    release = ".".join(map(str, host.kernel_version()))
    if label in _REFUSALS:
        return _REFUSALS[label]
    if kind == "helper":
        helper, _, ptype = name.partition("@")
        if not have_prog_type(ptype):
            cause, why = _explain("prog", ptype.upper(), _prog_label(ptype), PROG_MIN_KERNEL.get(ptype.upper()))
            return cause, f"{label} is unavailable: {why}"
        mode = host.lockdown_mode()
        needs = _LOCKDOWN_HELPERS.get(helper)
        if needs is not None and mode is not None and _LOCKDOWN_RANK.get(mode, 0) >= _LOCKDOWN_RANK[needs]:
            return Cause.LOCKDOWN, _lockdown_helper_reason(helper, mode)
        if not host.bpf_capable(host.CAP_PERFMON):
            return Cause.CAPABILITY, (f"{label} may need CAP_PERFMON, which this process lacks (the kernel hides "
                                      "tracing helpers without it); grant it or run as root")
        if helper in _SYS_ADMIN_HELPERS and not host.has_capability(host.CAP_SYS_ADMIN):
            return Cause.CAPABILITY, (f"{label} needs CAP_SYS_ADMIN, which this process lacks (the verifier offers "
                                      f"bpf_{helper} only to it); grant it or run as root")
    if kind == "feature" and name in _DEPENDS and not _BOOL_PROBES[_DEPENDS[name]]():
        dep = _DEPENDS[name]
        cause, why = _explain("feature", dep, _FEATURE_LABEL[dep], _FEATURE_MIN_KERNEL[dep])
        return cause, f"{label} needs {_FEATURE_LABEL[dep]}: {why}"
    if min_kernel is not None and not _version_at_least(min_kernel):
        return Cause.VERSION, f"this kernel ({release}) does not support {label} (it came in Linux {min_kernel})"
    why = f"this kernel ({release}) does not support {label}"
    hint = _config_hint(kind, name)
    if hint:
        return Cause.CONFIG, f"{why}: {hint}"
    if min_kernel is not None:
        why += f" (Linux {min_kernel} has it, but this kernel's configuration lacks or refuses it)"
    return Cause.CONFIG, why


def check(feature: MapType | ProgType | str) -> Support:
    """Whether the running kernel offers ``feature`` to this process, and if not, why (never raises for the kernel).

    ``feature`` is named as for :func:`require`. Bad names raise ValueError.
    """
    kind, name, label, min_kernel, probe = _parse(feature)
    if probe():
        return Support(label, True, min_kernel=min_kernel)
    cause, why = _explain(kind, name, label, min_kernel)
    return Support(label, False, cause, why, min_kernel)


def require(feature: MapType | ProgType | str) -> None:
    """Raise NotSupportedError (saying why: version, configuration, lockdown, capability) unless ``feature`` is here.

    ``feature``: a MapType, a ProgType, ``"map:<type>"``, ``"prog:<type>"``,
    ``"helper:<name>"`` (``"helper:<name>@<prog type>"``, default raw_tracepoint),
    ``"btf:<kind>"``, or one of ``batch_ops``, ``mmapable_arrays``,
    ``bpf_link_perf_event``, ``tcx``, ``trampolines``, ``fmod_ret``, ``bpf_lsm``, ``kprobes``,
    ``hash_lookup_and_delete``, ``bpf_token``, ``tracefs``, ``perf_events``.
    """
    s = check(feature)
    if not s:
        raise s.error()


# ---- BTF kinds the kernel's BTF loader accepts ------------------------------------


def _btf_loads(types: list[Any]) -> bool:
    from .btf import Btf

    try:
        fd, _ = C.btf_load(Btf.from_types(types).to_bytes(), log_level=0, log_size=0)
    except OSError:
        return False
    os.close(fd)
    return True


@functools.cache
def btf_features() -> BtfFeatures:
    """Which BTF kinds the running kernel accepts (probed once by loading tiny BTF blobs)."""
    from .btf import (
        Datasec,
        DeclTag,
        Enum64,
        EnumValue,
        Float,
        Func,
        FuncLinkage,
        FuncProto,
        Int,
        IntEncoding,
        Ptr,
        Struct,
        TypeTag,
        Var,
        VarLinkage,
        VarSecinfo,
    )

    i32 = Int("int", 4, IntEncoding.SIGNED)
    return BtfFeatures(
        func=_btf_loads([i32, FuncProto(1, []), Func("f", 2, FuncLinkage.STATIC)]),
        datasec=_btf_loads([i32, Var("v", 1, VarLinkage.STATIC), Datasec(".data", 4, [VarSecinfo(2, 0, 4)])]),
        global_func=_btf_loads([i32, FuncProto(1, []), Func("f", 2, FuncLinkage.GLOBAL)]),
        float=_btf_loads([Float("float", 4)]),
        decl_tag=_btf_loads([i32, Struct("s", 4, []), DeclTag("tag", 2, -1)]),
        type_tag=_btf_loads([i32, TypeTag("tag", 1), Ptr(2)]),
        enum64=_btf_loads([Enum64("e", 8, [EnumValue("A", 1 << 40)])]),
    )


def probe_names() -> list[str]:
    """The named features :func:`check` takes besides 'map:', 'prog:', 'helper:' and 'btf:' (e.g. 'tcx')."""
    return sorted(_BOOL_PROBES)
