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
from typing import Any

from . import host
from ._sys import Fd
from ._sys import commands as C
from ._sys.attrs import MapBatchAttr, ProgLoadAttr
from ._sys.syscall import ENOTSUPP, bpf
from ._uapi import MAP_MIN_KERNEL, PROG_MIN_KERNEL, AttachType, BtfKind, Cmd, MapFlags, MapType, ProgFlags, ProgType
from .btf.sanitize import BtfFeatures
from .errors import BpfPermissionError, KernelError, NotSupportedError

__all__ = [
    "TRIVIAL_PROGRAM",
    "have_batch_ops",
    "have_map_type",
    "have_mmapable_arrays",
    "have_prog_type",
    "require",
]

# r0 = 0 (BPF_ALU64 | BPF_MOV | BPF_K); exit (BPF_JMP | BPF_EXIT)
TRIVIAL_PROGRAM = bytes.fromhex("b700000000000000" "9500000000000000")
"""The two-instruction program ``r0 = 0; exit`` every probe loads."""

_FEATURE_MIN_KERNEL = {"batch_ops": "5.6", "mmapable_arrays": "5.5"}


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
    try:
        return MapType(int(t))
    except ValueError:
        return int(t)


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


@functools.cache
def have_prog_type(t: ProgType | str | int) -> bool:
    """True when the kernel knows program type ``t`` (loads ``r0 = 0; exit`` of that type)."""
    try:
        pt = ProgType(t) if isinstance(t, (ProgType, str)) else ProgType(int(t))  # type: ignore[arg-type]
    except ValueError:
        return False
    P = ProgType
    insns = ctypes.create_string_buffer(TRIVIAL_PROGRAM, len(TRIVIAL_PROGRAM))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(4096)
    a = ProgLoadAttr(
        prog_type=int(pt), insn_cnt=len(TRIVIAL_PROGRAM) // 8, insns=ctypes.addressof(insns),
        license=ctypes.addressof(lic), log_level=1, log_size=len(log), log_buf=ctypes.addressof(log),
    )
    expect_err: tuple[int, ...] = ()
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
            return _version_at_least(PROG_MIN_KERNEL.get(pt.name))
    elif pt == P.LSM:
        a.expected_attach_type = AttachType.LSM_MAC
        a.attach_btf_id = _vmlinux_id("bpf_lsm_file_open", BtfKind.FUNC)
        if not a.attach_btf_id:
            return False
    elif pt == P.STRUCT_OPS:
        expect_err = (ENOTSUPP,)  # known type, no struct_ops target given
    elif pt == P.EXT:
        # an extension needs a target program; without one the kernel answers EINVAL either way
        return have_prog_type(P.TRACING) and _version_at_least(PROG_MIN_KERNEL.get(pt.name))
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
def have_mmapable_arrays() -> bool:
    """True when arrays can be created with BPF_F_MMAPABLE (Linux 5.5)."""
    return _probe_create(MapType.ARRAY, 4, 4, 1, int(MapFlags.MMAPABLE)) == 0


def require(feature: MapType | ProgType | str) -> None:
    """Raise NotSupportedError (with the minimum Linux version) unless the kernel has ``feature``.

    ``feature``: a MapType, a ProgType, ``"map:<type>"``, ``"prog:<type>"``,
    ``"batch_ops"`` or ``"mmapable_arrays"``.
    """
    if isinstance(feature, MapType):
        kind, name = "map", feature.name
    elif isinstance(feature, ProgType):
        kind, name = "prog", feature.name
    elif isinstance(feature, str) and ":" in feature:
        kind, _, name = feature.partition(":")
        kind = kind.strip().lower()
        name = name.strip().upper().replace("-", "_")
    elif isinstance(feature, str) and feature in _FEATURE_MIN_KERNEL:
        kind, name = "feature", feature
    else:
        raise ValueError(f"unknown feature {feature!r}: use a MapType, a ProgType, 'map:NAME', 'prog:NAME', "
                         f"or one of {sorted(_FEATURE_MIN_KERNEL)}")
    if kind == "map":
        ok = have_map_type(name)
        label, min_kernel = f"map type {name.lower()}", MAP_MIN_KERNEL.get(name.removeprefix("BPF_MAP_TYPE_"))
    elif kind == "prog":
        ok = have_prog_type(name)
        label, min_kernel = f"program type {name.lower()}", PROG_MIN_KERNEL.get(name.removeprefix("BPF_PROG_TYPE_"))
    elif kind == "feature":
        ok = have_batch_ops() if name == "batch_ops" else have_mmapable_arrays()
        label, min_kernel = name.replace("_", " "), _FEATURE_MIN_KERNEL[name]
    else:
        raise ValueError(f"unknown feature kind {kind!r} in {feature!r}: use 'map:' or 'prog:'")
    if not ok:
        release = ".".join(map(str, host.kernel_version()))
        raise NotSupportedError(f"this kernel ({release}) does not support {label}", feature=label, min_kernel=min_kernel)


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
