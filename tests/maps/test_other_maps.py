"""Stack trace, ring buffer, user ring buffer, arena and storage maps, on the real kernel."""

from __future__ import annotations

import ctypes
import errno
import os
import socket

import pytest
from maps_helpers import cgroup2_root

import bpfkit
from bpfkit import host
from bpfkit.btf import Btf, Int, IntEncoding, Member, Struct
from bpfkit.maps import (
    ArenaMap,
    CgrpStorageMap,
    InodeStorageMap,
    Map,
    RingBufMap,
    SkStorageMap,
    StackTraceMap,
    TaskStorageMap,
    UserRingBufMap,
)
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


def test_stack_trace_map_user_side() -> None:
    with Map.create("stack_trace", max_entries=16, name="stacks") as st:
        assert isinstance(st, StackTraceMap)
        assert (st.key_size, st.value_size) == (4, 8 * 127)
        assert list(st.keys()) == [] and len(st) == 0
        with pytest.raises(KeyError):
            st[0]
        assert st.get(0) is None and 0 not in st
        with pytest.raises(KeyError):
            del st[0]
        with pytest.raises(bpfkit.KernelError) as ei:
            st.update(0, [1, 2, 3])  # only programs write stacks
        assert ei.value.errno == errno.EINVAL


def test_stack_trace_map_filled_by_a_program() -> None:
    """A raw tracepoint program calls bpf_get_stackid on sys_enter; user space reads the kernel stacks."""
    import struct

    from maps_helpers import load_raw

    from bpfkit._sys import Fd
    from bpfkit._sys import commands as C
    from bpfkit._uapi import ProgType

    with Map.create("stack_trace", max_entries=256, name="stk") as st:
        insns = b"".join([
            bytes.fromhex("bf16000000000000"),  # r6 = r1 (ctx)
            bytes([0x18, 0x12, 0, 0]) + struct.pack("<i", st.fd) + bytes(8),  # r2 = &map (ld_imm64, BPF_PSEUDO_MAP_FD)
            bytes.fromhex("bf61000000000000"),  # r1 = r6
            bytes.fromhex("b703000000000000"),  # r3 = 0 (kernel stack)
            bytes([0x85, 0, 0, 0]) + struct.pack("<i", 27),  # call bpf_get_stackid
            bytes.fromhex("b700000000000000"),  # r0 = 0
            bytes.fromhex("9500000000000000"),  # exit
        ])
        with load_raw(ProgType.RAW_TRACEPOINT, insns) as prog, Fd(C.raw_tracepoint_open("sys_enter", prog.fd), "link"):
            for _ in range(5):
                os.getppid()
        stacks = dict(st.items())
        assert stacks, "the program recorded no stack"
        sid, frames = next(iter(stacks.items()))
        assert frames and all(ip >= 0xFFFF800000000000 for ip in frames)  # kernel addresses
        assert st[sid] == frames and sid in st
        del st[sid]
        assert sid not in st


def test_stack_codec_drops_zero_tail() -> None:
    from bpfkit.maps._stack_trace import StackCodec

    c = StackCodec(8 * 4, build_id=False)
    raw = c.encode([0xFFFF1, 0xFFFF2])
    assert len(raw) == 32 and c.decode(raw) == (0xFFFF1, 0xFFFF2)


def test_build_id_stack_codec_reads_struct_bpf_stack_build_id() -> None:
    import struct

    from bpfkit.maps._stack_trace import BuildIdFrame, StackCodec

    frame = struct.Struct("<i20sQ")  # struct bpf_stack_build_id: status, build_id[20], offset/ip (32 bytes)
    c = StackCodec(3 * frame.size, build_id=True)
    raw = frame.pack(1, b"\xab" * 20, 0x1234) + frame.pack(2, bytes(20), 0xFFFF_8000_0000_0001) + bytes(frame.size)
    assert c.decode(raw) == (BuildIdFrame(1, b"\xab" * 20, 0x1234), BuildIdFrame(2, bytes(20), 0xFFFF_8000_0000_0001))
    with pytest.raises(ValueError):
        StackCodec(frame.size + 8, build_id=True)


def test_ringbuf_objects() -> None:
    require("map:ringbuf")
    size = 4 * host.page_size()
    with Map.create("ringbuf", max_entries=size, name="rb") as rb:
        assert isinstance(rb, RingBufMap) and rb.data_size == size
        assert rb.info().max_entries == size
        with pytest.raises(bpfkit.KernelError):
            rb.lookup(None)
    with pytest.raises(ValueError, match="power of 2"):
        Map.create("ringbuf", max_entries=3 * host.page_size())


def test_user_ringbuf_objects() -> None:
    require("map:user_ringbuf")
    with Map.create("user_ringbuf", max_entries=4 * host.page_size(), name="urb") as urb:
        assert isinstance(urb, UserRingBufMap)


def test_arena_mmap() -> None:
    require("map:arena")
    with Map.create("arena", max_entries=4, name="ar") as ar:
        assert isinstance(ar, ArenaMap) and ar.flags & bpfkit.MapFlags.MMAPABLE
        mem = ar.mmap()
        try:
            mem[100:105] = b"hello"
            assert mem[100:105] == b"hello"
            assert len(mem) == ar.size == 4 * host.page_size()
        finally:
            mem.close()


def test_sk_storage() -> None:
    with Map.create("sk_storage", value_size=8, name="sks") as m, \
         socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s1, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s2:
        assert isinstance(m, SkStorageMap)
        info = m.info()
        assert info.btf_id and info.btf_key_type_id and info.btf_value_type_id
        assert m.max_entries == 0 and m.flags & bpfkit.MapFlags.NO_PREALLOC
        m[s1] = 11
        m[s2.fileno()] = 22
        assert (m[s1], m[s2]) == (11, 22)
        assert s1 in m
        del m[s1]
        assert s1 not in m and m.get(s1) is None
        with pytest.raises(bpfkit.KernelError) as ei:
            m.update(s2, 1, flags=bpfkit.NOEXIST)
        assert ei.value.errno == errno.EEXIST


def test_storage_with_ctypes_value_gets_btf() -> None:
    class Val(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_int64)]

    with Map.create("sk_storage", value_type=Val, name="skv") as m, socket.socket() as s:
        m[s] = {"a": 1, "b": -2}
        got = m[s]
        assert (got.a, got.b) == (1, -2)


def test_storage_reopened_by_id_decodes_with_the_btf_bpfkit_built() -> None:
    require("object_ids")  # BPF_MAP_GET_FD_BY_ID, BPF_BTF_GET_FD_BY_ID

    class Val(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_int64)]

    with Map.create("sk_storage", value_type=Val, name="skv") as m, socket.socket() as s:
        m[s] = {"a": 1, "b": -2}
        with Map.from_id(m.id) as again:  # decoded from the BTF bpfkit built
            v = again[s]
            assert v.a == 1 and v.b == -2 and v._asdict() == {"a": 1, "b": -2}


def test_task_storage() -> None:
    require("map:task_storage")
    pidfd = os.pidfd_open(os.getpid())
    try:
        with Map.create("task_storage", value_size=4, name="tks") as m:
            assert isinstance(m, TaskStorageMap)
            m[pidfd] = 7
            assert m[pidfd] == 7
            del m[pidfd]
            assert pidfd not in m
    finally:
        os.close(pidfd)


def test_cgrp_storage() -> None:
    require("map:cgrp_storage")
    fd = os.open(cgroup2_root(), os.O_RDONLY | os.O_DIRECTORY)
    try:
        with Map.create("cgrp_storage", value_type="char[16]", name="cgs") as m:
            assert isinstance(m, CgrpStorageMap)
            m[fd] = "root"
            assert m[fd] == b"root"
    finally:
        os.close(fd)


def test_inode_storage() -> None:
    from bpfkit.features import have_map_type

    if not have_map_type("inode_storage"):
        pytest.skip("probe: inode storage needs CONFIG_BPF_LSM")
    with Map.create("inode_storage", value_size=8, name="ins") as m, open(__file__, "rb") as f:
        assert isinstance(m, InodeStorageMap)
        try:
            m[f] = 5
        except bpfkit.KernelError as exc:
            # the type exists, but user space may only use it when the BPF LSM is active
            assert exc.errno in (errno.EBADF, errno.EOPNOTSUPP, errno.EINVAL, 524)
            return
        assert m[f] == 5


def test_storage_with_own_btf() -> None:
    btf = Btf.from_types([
        Int("int", 4, IntEncoding.SIGNED),
        Struct("pair", 8, [Member("x", 1, 0), Member("y", 1, 32)]),
    ])
    with Map.create("sk_storage", value_size=8, btf=btf, btf_key_type_id=1, btf_value_type_id=2, name="own") as m, \
         socket.socket() as s:
        m[s] = {"x": 3, "y": -4}
        assert m[s]._asdict() == {"x": 3, "y": -4}


@pytest.mark.parametrize("name", ["cgroup_storage", "percpu_cgroup_storage"])
def test_cgroup_storage_needs_an_attached_program(name: str) -> None:
    from bpfkit.maps import CgroupStorageMap, PerCpuCgroupStorageMap

    with Map.create(name, value_size=8, name="cgst") as m:
        assert isinstance(m, CgroupStorageMap)
        assert isinstance(m, PerCpuCgroupStorageMap) == name.startswith("percpu")
        assert m.info().type_name == name and m.max_entries == 0
        assert list(m) == []
        with pytest.raises(KeyError):
            m[(1, 0)]
        with pytest.raises(bpfkit.KernelError) as ei:
            m[(1, 0)] = 5  # storage appears only when a program is attached to a cgroup
        assert ei.value.errno == errno.ENOENT
