"""Maps with BTF: typed decoding from the kernel's BTF, spin-locked values with F_LOCK (real kernel)."""

from __future__ import annotations

import pytest

import bpfkit
from bpfkit.btf import Array, Btf, Enum, EnumValue, Int, IntEncoding, Member, Struct, Typedef
from bpfkit.maps import Map, kernel_btf
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


def _event_btf() -> Btf:
    return Btf.from_types([
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Int("char", 1, IntEncoding.SIGNED),  # 2
        Array(2, 1, 16),  # 3 char[16]
        Int("unsigned long long", 8),  # 4
        Typedef("u64", 4),  # 5
        Enum("state", 4, [EnumValue("RUN", 0), EnumValue("SLEEP", 1)]),  # 6
        Struct("event", 32, [Member("pid", 1, 0), Member("comm", 3, 32), Member("flags", 1, 160, 3),
                             Member("st", 6, 192)], True),  # 7
        Struct("slot", 8, [Member("ts", 5, 0)]),  # 8
    ])


def test_values_decode_from_the_maps_btf() -> None:
    btf = _event_btf()
    with Map.create("hash", key_size=4, value_size=32, max_entries=4, name="evs", btf=btf,
                    btf_key_type_id=1, btf_value_type_id=7) as m:
        info = m.info()
        assert info.btf_id and info.btf_key_type_id == 1 and info.btf_value_type_id == 7
        m[-1] = {"pid": 42, "comm": "bash", "flags": 3, "st": 1}
        ev = m[-1]
        assert (ev.pid, ev.comm, ev.flags, ev.st) == (42, b"bash", 3, 1)
        assert repr(ev) == "event(pid=42, comm=b'bash', flags=3, st=1)"
        assert ev._asdict() == {"pid": 42, "comm": b"bash", "flags": 3, "st": 1}


def test_a_map_opened_by_id_decodes_with_the_btf_the_kernel_holds() -> None:
    require("object_ids")  # BPF_MAP_GET_FD_BY_ID, BPF_BTF_GET_FD_BY_ID
    with Map.create("hash", key_size=4, value_size=32, max_entries=4, name="evs", btf=_event_btf(),
                    btf_key_type_id=1, btf_value_type_id=7) as m:
        info = m.info()
        m[-1] = {"pid": 42, "comm": "bash", "flags": 3, "st": 1}
        ev = m[-1]
        with Map.from_id(m.id) as again:  # BTF fetched from the kernel by id
            assert again.btf is not None
            assert again[-1]._asdict() == ev._asdict()
            assert list(again.keys()) == [-1]  # the key is a signed int per BTF
        kb = kernel_btf(info.btf_id)
        assert kb.name_of(7) == "event"


def test_spin_locked_values_with_f_lock() -> None:
    btf = Btf.from_types([
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Int("unsigned int", 4),  # 2
        Struct("bpf_spin_lock", 4, [Member("val", 2, 0)]),  # 3
        Struct("counter", 8, [Member("lock", 3, 0), Member("count", 2, 32)]),  # 4
    ])
    with Map.create("hash", key_size=4, value_size=8, max_entries=4, name="locked", btf=btf,
                    btf_key_type_id=1, btf_value_type_id=4) as m:
        m.update(1, {"count": 5}, flags=bpfkit.F_LOCK)
        assert m.lookup(1, flags=bpfkit.F_LOCK).count == 5
        m.update(1, {"count": 6}, flags=bpfkit.EXIST | bpfkit.F_LOCK)
        assert m[1].count == 6
        m.update_batch({2: {"count": 7}}, flags=bpfkit.F_LOCK)
        assert m.lookup(2, flags=bpfkit.F_LOCK).count == 7
    with Map.create("hash", key_size=4, value_size=8, max_entries=4, name="nolock") as plain:
        plain[1] = 1
        with pytest.raises(bpfkit.KernelError):
            plain.lookup(1, flags=bpfkit.F_LOCK)  # no bpf_spin_lock in the value


def test_kernel_btf_of_vmlinux_is_the_hosts() -> None:
    require("object_ids")
    from bpfkit import host
    from bpfkit._kbtf import load_btf
    from bpfkit._sys import Fd
    from bpfkit._sys import attrs as A
    from bpfkit._sys import commands as C
    from bpfkit._uapi import Cmd

    with load_btf(Btf.from_types([Int("int", 4, IntEncoding.SIGNED)])) as own:
        known = C.obj_get_info_by_fd(own.fd, A.BtfInfo())
    if known < A.BtfInfo.kernel_btf.offset:
        pytest.skip("probe: this kernel's bpf_btf_info has no name and kernel_btf (Linux 5.11): "
                    "its vmlinux BTF has no id to open")
    for btf_id in C.ids_of(Cmd.BTF_GET_NEXT_ID):
        with Fd(C.btf_get_fd_by_id(btf_id), "btf") as fd:
            _, name, is_kernel, _ = C.btf_info(fd.fd)
        if is_kernel and name == "vmlinux":
            assert kernel_btf(btf_id) is host.vmlinux_btf()
            return
    raise AssertionError("no vmlinux BTF object listed")
