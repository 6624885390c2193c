"""Cached probes of what the running kernel supports, and ``require()`` to fail early and clearly.

Each probe runs once per process (``functools.cache``): it creates the
smallest object that shows the feature and closes it. A permission problem is
raised (BpfPermissionError), never cached as "not supported".
"""

from __future__ import annotations

import ctypes
import errno as E
import functools
import os
from collections.abc import Callable
from typing import Any

from . import host
from ._sys import Fd
from ._sys import commands as C
from ._sys.attrs import LinkCreateAttr, MapBatchAttr, ProgLoadAttr
from ._sys.syscall import ENOTSUPP, bpf
from ._uapi import (
    MAP_MIN_KERNEL,
    PROG_MIN_KERNEL,
    AttachType,
    BtfKind,
    Cmd,
    HelperId,
    MapFlags,
    MapType,
    ProgFlags,
    ProgType,
    coerce,
)
from .btf.sanitize import BtfFeatures
from .errors import BpfPermissionError, BpfTypeError, BpfValueError, KernelError, NotSupportedError

__all__ = [
    "TRIVIAL_PROGRAM",
    "btf_features",
    "have_batch_ops",
    "have_bpf_link_perf_event",
    "have_btf_kind",
    "have_bpf_lsm",
    "have_fmod_ret",
    "have_hash_lookup_and_delete",
    "have_helper",
    "have_kfunc",
    "have_kprobes",
    "have_map_type",
    "have_mmapable_arrays",
    "have_prog_type",
    "have_sleepable_map",
    "have_sleepable_spin_lock",
    "have_tcx",
    "have_trampolines",
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
}
# BPF_BTF_KIND_* -> the Linux version whose BTF loader accepts it
BTF_KIND_MIN_KERNEL = {"FUNC": "5.0", "FUNC_PROTO": "5.0", "VAR": "5.2", "DATASEC": "5.2", "FLOAT": "5.13",
                       "DECL_TAG": "5.16", "TYPE_TAG": "5.17", "ENUM64": "6.0"}


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


@functools.cache
def have_map_type(t: MapType | str | int) -> bool:
    """True when the kernel can create maps of type ``t`` (a MapType, its name, or an int)."""
    mt = _map_type(t)
    if mt is None:
        return False
    T = MapType
    key, value, entries, flags = 4, 4, 1, 0
    extra: dict[str, Any] = {}
    expect_ok: tuple[int, ...] = (0,)
    inner: Fd | None = None
    btf_fd: Fd | None = None
    try:
        if mt == T.STACK_TRACE:
            value = 8
        elif mt == T.LPM_TRIE:
            key, value, flags = 8, 8, int(MapFlags.NO_PREALLOC)
        elif mt in (T.QUEUE, T.STACK, T.BLOOM_FILTER):
            key = 0
        elif mt in (T.RINGBUF, T.USER_RINGBUF):
            key, value, entries = 0, 0, host.page_size()
        elif mt == T.ARENA:
            key, value, flags = 0, 0, int(MapFlags.MMAPABLE)
        elif mt in (T.CGROUP_STORAGE, T.PERCPU_CGROUP_STORAGE):
            key, value, entries = 16, 8, 0
        elif mt in (T.ARRAY_OF_MAPS, T.HASH_OF_MAPS):
            inner = Fd(C.map_create(T.ARRAY, 4, 4, 1), "probe inner map")
            extra["inner_map_fd"] = inner.fd
        elif mt == T.STRUCT_OPS:
            extra["btf_vmlinux_value_type_id"] = 1
            expect_ok = (0, ENOTSUPP)  # the type exists; id 1 is not a struct_ops type
        elif mt in (T.SK_STORAGE, T.INODE_STORAGE, T.TASK_STORAGE, T.CGRP_STORAGE):
            from .maps.btfgen import value_btf
            from .maps.btfinfo import load_btf

            btf, kid, vid = value_btf(None, 4)
            try:
                btf_fd = load_btf(btf)
            except BpfPermissionError:
                raise
            except KernelError:
                return False
            entries, flags = 0, int(MapFlags.NO_PREALLOC)
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
        if os.geteuid() == 0 and exc.errno == E.EPERM:
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


@functools.cache
def have_helper(prog_type: ProgType | str | int, helper: HelperId | str | int) -> bool:
    """True when programs of ``prog_type`` may call ``helper`` (a HelperId, its name, or an id).

    Loads ``call helper; r0 = 0; exit``: the verifier names an unknown or forbidden
    helper ("invalid func", "unknown func", "cannot use helper") before it checks arguments.
    """
    pt = _prog_type(prog_type)
    hid = _helper_id(helper)
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
    except BpfPermissionError as exc:
        if os.geteuid() == 0 and exc.errno == E.EPERM:
            return False  # this kind of program cannot load here at all
        raise
    except KernelError:
        text = log.value.decode(errors="replace")
        refused = ("invalid func ", "unknown func ", "cannot use helper")
        return bool(text.strip()) and not any(r in text for r in refused)
    Fd(fd, "probe program").close()
    return True


@functools.cache
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
    except BpfPermissionError as exc:
        if os.geteuid() == 0 and exc.errno == E.EPERM:
            return False
        raise
    except KernelError:
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
def have_sleepable_spin_lock() -> bool:
    """True when sleepable programs may use maps whose values hold a bpf_spin_lock."""
    if not have_prog_type(ProgType.SYSCALL):
        return False
    from .btf import Btf, Int, IntEncoding, Member, Struct
    from .maps.btfinfo import load_btf

    btf = Btf.from_types([
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Struct("bpf_spin_lock", 4, [Member("val", 1, 0)]),  # 2
        Struct("locked", 8, [Member("lock", 2, 0), Member("v", 1, 32)]),  # 3
    ])
    with load_btf(btf) as b, Fd(C.map_create(int(MapType.HASH), 4, 8, 1, name="probe_lock", btf_fd=b.fd,
                                             btf_key_type_id=1, btf_value_type_id=3), "probe map") as fd:
        return not _sleepable_refuses(fd.fd)


def _trivial_program(pt: ProgType, **attrs: int) -> Fd | None:
    """Load ``r0 = 0; exit`` as ``pt`` with extra load attributes; None if the kernel refuses."""
    keep: list[Any] = []
    a = _probe_attr(pt, TRIVIAL_PROGRAM, keep)
    if a is None:
        return None
    for k, v in attrs.items():
        setattr(a, k, v)
    try:
        return Fd(C.prog_load(a, target=f"probe program ({pt.name.lower()})"), "probe program")
    except BpfPermissionError:
        if os.geteuid() == 0:
            return None
        raise
    except KernelError:
        return None


@functools.cache
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
        except KernelError:
            return False
    return True


@functools.cache
def have_trampolines() -> bool:
    """True when fentry programs load and attach here (BPF trampolines: Linux 5.5, x86-64 first)."""
    return _attaches_on_trampoline(ProgType.TRACING, AttachType.TRACE_FENTRY, "bpf_fentry_test1")


@functools.cache
def have_fmod_ret(func: str = "bpf_modify_return_test") -> bool:
    """True when fmod_ret programs load and attach on kernel function ``func``.

    Besides trampolines this needs ``func`` on the error-injection list
    (CONFIG_FUNCTION_ERROR_INJECTION) or registered for fmod_ret (Linux 6.0 does
    so for bpf_modify_return_test).
    """
    return have_trampolines() and _attaches_on_trampoline(ProgType.TRACING, AttachType.MODIFY_RETURN, func)


@functools.cache
def have_bpf_lsm() -> bool:
    """True when LSM programs load, attach, and run: CONFIG_BPF_LSM and "bpf" among the active LSMs."""
    lsms = host.active_lsms()
    if lsms is None or "bpf" not in lsms:
        return False  # without the bpf LSM active, attached programs would silently never run
    return _attaches_on_trampoline(ProgType.LSM, AttachType.LSM_MAC, "bpf_lsm_file_open")


@functools.cache
def have_kprobes() -> bool:
    """True when the kernel offers kprobes (a kprobe PMU or tracefs kprobe_events)."""
    from .links.probes import kprobe_support

    return kprobe_support() is not None


def have_btf_kind(kind: BtfKind | str) -> bool:
    """True when the kernel's BTF loader accepts ``kind`` in a program's BTF (else bpfkit sanitizes it)."""
    k = coerce(BtfKind, kind)
    f = btf_features()
    by_kind = {"FUNC": f.func, "FUNC_PROTO": f.func, "VAR": f.datasec, "DATASEC": f.datasec, "FLOAT": f.float,
               "DECL_TAG": f.decl_tag, "TYPE_TAG": f.type_tag, "ENUM64": f.enum64}
    return by_kind.get(k.name, True)


@functools.cache
def have_batch_ops() -> bool:
    """True when the kernel has the BPF_MAP_*_BATCH commands (Linux 5.6)."""
    with Fd(C.map_create(MapType.HASH, 4, 4, 1, name="probe_batch"), "probe map") as fd:
        keys = ctypes.create_string_buffer(4)
        vals = ctypes.create_string_buffer(4)
        out = ctypes.create_string_buffer(8)
        a = MapBatchAttr(out_batch=ctypes.addressof(out), keys=ctypes.addressof(keys), values=ctypes.addressof(vals),
                         count=1, map_fd=fd.fd)
        try:
            bpf(Cmd.MAP_LOOKUP_BATCH, a)
        except KernelError as exc:
            return exc.errno == E.ENOENT  # empty map: the command exists and reached the end
        return True


@functools.cache
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
}


def require(feature: MapType | ProgType | str) -> None:
    """Raise NotSupportedError (with the minimum Linux version) unless the kernel has ``feature``.

    ``feature``: a MapType, a ProgType, ``"map:<type>"``, ``"prog:<type>"``,
    ``"helper:<name>"`` (``"helper:<name>@<prog type>"``, default raw_tracepoint),
    ``"btf:<kind>"``, or one of ``batch_ops``, ``mmapable_arrays``,
    ``bpf_link_perf_event``, ``tcx``, ``trampolines``, ``fmod_ret``, ``bpf_lsm``, ``kprobes``, ``hash_lookup_and_delete``.
    """
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
        ok = have_map_type(name)
        label, min_kernel = f"map type {name.lower()}", MAP_MIN_KERNEL.get(name.removeprefix("BPF_MAP_TYPE_"))
    elif kind == "prog":
        ok = have_prog_type(name)
        label, min_kernel = f"program type {name.lower()}", PROG_MIN_KERNEL.get(name.removeprefix("BPF_PROG_TYPE_"))
    elif kind == "helper":
        helper, _, where = name.lower().partition("@")
        helper = helper.removeprefix("bpf_")
        ptype = where or "raw_tracepoint"
        ok = have_helper(ptype, helper)
        label, min_kernel = f"helper bpf_{helper} in {ptype} programs", HELPER_MIN_KERNEL.get(helper)
    elif kind == "btf":
        kname = name.removeprefix("BTF_KIND_")
        if kname not in BTF_KIND_MIN_KERNEL:
            raise BpfValueError(f"unknown BTF kind {name!r} in {feature!r}")
        ok = have_btf_kind(kname)
        label, min_kernel = f"BTF kind {kname}", BTF_KIND_MIN_KERNEL[kname]
    elif kind == "feature":
        ok = _BOOL_PROBES[name]()
        label, min_kernel = _FEATURE_LABEL[name], _FEATURE_MIN_KERNEL[name]
    else:
        raise BpfValueError(f"unknown feature kind {kind!r} in {feature!r}: use 'map:', 'prog:', 'helper:' or 'btf:'")
    if not ok:
        release = ".".join(map(str, host.kernel_version()))
        why = f"this kernel ({release}) does not support {label}"
        if min_kernel is not None and _version_at_least(min_kernel):
            why += f" (Linux {min_kernel} has it, but this kernel's configuration lacks or refuses it)"
        raise NotSupportedError(why, feature=label, min_kernel=min_kernel)


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
