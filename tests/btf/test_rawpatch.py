"""Patching records in place in a BTF blob keeps its string section and every other byte (pure)."""

from __future__ import annotations

import struct

from bpfkit.btf import (
    Btf,
    Datasec,
    Func,
    FuncLinkage,
    FuncProto,
    Int,
    IntEncoding,
    Member,
    Param,
    Struct,
    Var,
    VarLinkage,
    VarSecinfo,
)
from bpfkit.btf._marshal import encode
from bpfkit.btf._parse import parse_header
from bpfkit.btf._rawpatch import edited_types, patch_records


def blob() -> bytes:
    return encode(Btf.from_types([
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Var("counter", 1, VarLinkage.GLOBAL),  # 2
        Var("limit", 1, VarLinkage.GLOBAL),  # 3
        Datasec(".data", 0, [VarSecinfo(3, 0, 4), VarSecinfo(2, 0, 4)]),  # 4
        FuncProto(1, [Param("x", 1)]),  # 5
        Func("handler", 5, FuncLinkage.GLOBAL),  # 6
        Struct("pair", 8, [Member("a", 1, 0), Member("b", 1, 32)]),  # 7
    ]))


def strings(data: bytes) -> bytes:
    h = parse_header(data)
    return data[h.hdr_len + h.str_off : h.hdr_len + h.str_off + h.str_len]


def types(data: bytes) -> list[object]:
    b = Btf.from_bytes(data)
    return [b[i] for i in b.own_ids()]


def test_nothing_changed_is_the_blob_itself() -> None:
    data = blob()
    btf = Btf.from_bytes(data)
    _ = btf[4], btf[6]
    assert edited_types(btf) == {}
    assert patch_records(btf, {}) == data


def test_datasec_size_offsets_and_linkages_patched_in_place() -> None:
    data = blob()
    btf = Btf.from_bytes(data)
    sec = btf[4]
    assert isinstance(sec, Datasec)
    sec.size = 8
    sec.vars[0].offset = 4
    sec.vars.sort(key=lambda v: v.offset)
    var = btf[3]
    assert isinstance(var, Var)
    var.linkage = VarLinkage.STATIC
    fn = btf[6]
    assert isinstance(fn, Func)
    fn.linkage = FuncLinkage.STATIC
    changed = edited_types(btf)
    assert sorted(changed) == [3, 4, 6]
    out = patch_records(btf, changed)
    assert out is not None and len(out) == len(data)
    assert strings(out) == strings(data)
    got = types(out)
    assert got[3] == Datasec(".data", 8, [VarSecinfo(2, 0, 4), VarSecinfo(3, 4, 4)])
    assert got[2] == Var("limit", 1, VarLinkage.STATIC)
    assert got[5] == Func("handler", 5, FuncLinkage.STATIC)
    assert got[:2] == types(data)[:2] and got[4] == types(data)[4] and got[6] == types(data)[6]


def test_a_replacement_given_by_id_is_used() -> None:
    data = blob()
    btf = Btf.from_bytes(data)
    out = patch_records(btf, {4: Datasec(".data", 12, [VarSecinfo(3, 8, 4), VarSecinfo(2, 0, 4)])})
    assert out is not None
    assert types(out)[3] == Datasec(".data", 12, [VarSecinfo(3, 8, 4), VarSecinfo(2, 0, 4)])
    assert strings(out) == strings(data)


def test_a_name_already_in_the_section_is_reused_even_as_a_tail() -> None:
    data = blob()
    btf = Btf.from_bytes(data)
    out = patch_records(btf, {2: Var("limit", 1, VarLinkage.GLOBAL), 7: Struct("pair", 8, [Member("a", 1, 0), Member("dler", 1, 32)])})
    assert out is not None
    assert types(out)[1] == Var("limit", 1, VarLinkage.GLOBAL)
    assert types(out)[6] == Struct("pair", 8, [Member("a", 1, 0), Member("dler", 1, 32)])  # the tail of "handler"
    assert strings(out) == strings(data)


def test_what_cannot_be_patched_in_place_gives_none() -> None:
    data = blob()
    btf = Btf.from_bytes(data)
    assert patch_records(btf, {4: Datasec(".data", 8, [VarSecinfo(2, 0, 4)])}) is None  # record shrinks
    assert patch_records(btf, {2: Var("fresh_name", 1, VarLinkage.GLOBAL)}) is None  # a new string
    assert patch_records(btf, {99: Var("limit", 1, VarLinkage.GLOBAL)}) is None  # no such type
    edited = Btf.from_bytes(data)
    edited.add(Int("long", 8, IntEncoding.SIGNED))
    assert patch_records(edited, {}) is None  # built in memory: no blob
    assert edited_types(edited) == {}


def test_a_blob_not_laid_out_plainly_gives_none() -> None:
    data = blob()
    h = parse_header(data)
    types_, strs = data[24 : 24 + h.type_len], strings(data)
    gap = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, h.type_len, h.type_len + 4, h.str_len) + types_ + b"\0" * 4 + strs
    assert patch_records(Btf.from_bytes(gap), {}) is None
    flipped = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, h.str_len, h.type_len, 0, h.str_len) + strs + types_
    assert patch_records(Btf.from_bytes(flipped), {}) is None
