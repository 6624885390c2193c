"""BTF parse/marshal on bytes: round trips, vmlinux, and fuzzing (pure; no kernel calls)."""

from __future__ import annotations

import struct
import sys

import pytest
from btf_samples import every_kind
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfkit.btf import Btf, BtfKind, Int, IntEncoding, Member, Struct
from bpfkit.errors import ObjectFormatError


def test_every_kind_round_trips() -> None:
    types = every_kind()
    btf = Btf.from_types(types)
    data = btf.to_bytes()
    back = Btf.from_bytes(data)
    assert back.count == len(types) + 1
    assert [back[i] for i in back.own_ids()] == types
    assert {back.kind_of(i) for i in back.own_ids()} == set(BtfKind) - {BtfKind.UNKN}
    assert back.to_bytes() == data


def test_find_and_sizes() -> None:
    btf = Btf.from_bytes(Btf.from_types(every_kind()).to_bytes())
    assert btf.find("s") == [7]
    assert btf.find("s", BtfKind.UNION) == []
    assert btf.find_one("int_t", BtfKind.TYPEDEF) == 16
    assert btf.size_of(6) == 64
    assert btf.size_of(18) == 4
    assert btf.skip_modifiers(18) == 1
    with pytest.raises(KeyError):
        btf.find_one("nope", BtfKind.STRUCT)


def test_split_btf_continues_ids_and_strings() -> None:
    base = Btf.from_bytes(Btf.from_types(every_kind()).to_bytes())
    split = Btf(base=base)
    sid = split.add(Struct("modstruct", 4, [Member("a", 1, 0)]))
    assert sid == base.count
    data = split.to_bytes()
    back = Btf.from_bytes(data, base=base)
    assert back[sid] == Struct("modstruct", 4, [Member("a", 1, 0)])
    assert back[1] == base[1]
    assert back.find("modstruct") == [sid]
    assert back.find("int") == [1]


def test_big_endian_blob() -> None:
    le = Btf.from_types(every_kind()).to_bytes()
    btf = Btf.from_types(every_kind())
    btf.byteorder = "big"
    be = btf.to_bytes()
    assert be != le
    assert [Btf.from_bytes(be)[i] for i in range(1, len(every_kind()) + 1)] == every_kind()


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x9f\xeb\x01\x00" + b"\0" * 4,
        struct.pack("<HBBIIIII", 0xEB9F, 2, 0, 24, 0, 0, 0, 0),
        struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 12, 0, 1) + b"\0" * 12 + b"\0",
        struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 12, 12, 1) + struct.pack("<III", 0, 31 << 24, 0) + b"\0",
        struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 12, 12, 1) + struct.pack("<III", 0, (4 << 24) | 2, 0) + b"\0",
    ],
)
def test_malformed_blobs_raise_object_format_error(blob: bytes) -> None:
    with pytest.raises(ObjectFormatError):
        btf = Btf.from_bytes(blob)
        for i in btf.own_ids():
            btf[i]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256), st.integers(0, 255))
def test_fuzz_gives_btf_or_format_error(tail: bytes, nstr: int) -> None:
    type_len = len(tail) & ~3
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, type_len, type_len, min(nstr, len(tail) - type_len))
    blob = header + tail
    try:
        btf = Btf.from_bytes(blob)
        for i in btf.own_ids():
            btf[i]
    except ObjectFormatError:
        pass


@pytest.fixture(scope="module")
def vmlinux_bytes() -> bytes:
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        return f.read()


def test_vmlinux_lazy_lookup(vmlinux_bytes: bytes) -> None:
    btf = Btf.from_bytes(vmlinux_bytes)
    ids = btf.find("task_struct", BtfKind.STRUCT)
    assert len(ids) == 1
    task = btf[ids[0]]
    assert isinstance(task, Struct)
    names = {m.name for m in task.members}
    assert {"pid", "tgid", "real_parent", "comm"} <= names
    decoded = sum(1 for t in btf._types if t is not None)
    assert decoded < 10, "looking up one type must not decode the whole BTF"
    assert sys.getsizeof(btf._types) < 2_000_000


@pytest.mark.slow
def test_vmlinux_round_trips(vmlinux_bytes: bytes) -> None:
    btf = Btf.from_bytes(vmlinux_bytes)
    again = Btf.from_bytes(btf.to_bytes())
    assert again.count == btf.count
    for i in range(1, btf.count, 97):
        assert again[i] == btf[i]


def test_split_btf_finds_types_named_by_base_strings() -> None:
    base = Btf.from_bytes(Btf.from_types([Int("int", 4, IntEncoding.SIGNED), Struct("bar", 4, [Member("x", 1, 0)])]).to_bytes())
    # a module struct whose name offset points into the base's string table (as pahole writes)
    name_off = base._strings.index(b"\0bar\0") + 1
    body = struct.pack("<III", name_off, (4 << 24) | 0, 4)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), 1)
    mod = Btf.from_bytes(hdr + body + b"\0", base=base)
    assert mod.find("bar", BtfKind.STRUCT) == [2, 3]
