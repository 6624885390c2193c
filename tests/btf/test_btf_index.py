"""The saved BTF index (offsets, name offsets, names sorted): round trip, checks, same answers (pure)."""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfkit.btf import Btf, BtfKind, Func, FuncLinkage, FuncProto, Int, IntEncoding, Member, Ptr, Struct, Typedef, Union_
from bpfkit.btf._core_spec import own_candidates
from bpfkit.btf._parse import BtfIndex


def sample_blob() -> bytes:
    """Types with shared names, flavors (``name___x``), anonymous types and several kinds."""
    i32 = Int("int", 4, IntEncoding.SIGNED)
    types = [
        i32,  # 1
        Struct("task", 8, [Member("pid", 1, 0), Member("tgid", 1, 32)]),  # 2
        Struct("task___v1", 4, [Member("pid", 1, 0)]),  # 3
        Struct("task___v2", 4, [Member("tgid", 1, 0)]),  # 4
        Union_("task", 4, [Member("a", 1, 0)]),  # 5: same name, other kind
        Typedef("task_t", 2),  # 6
        Ptr(2),  # 7: anonymous
        Struct("", 4, [Member("x", 1, 0)]),  # 8: anonymous
        FuncProto(1, []),  # 9
        Func("task", 9, FuncLinkage.GLOBAL),  # 10: same name again
        Struct("taskx", 4, []),  # 11: a prefix of nothing, name after "task"
        Struct("tas", 4, []),  # 12
    ]
    types += [Int(f"n{k:03d}", 4) for k in range(200)]  # enough types for the sampled checks to stride
    return Btf.from_types(types).to_bytes()


def names_of(btf: Btf) -> set[str]:
    return {btf[t].name for t in btf.own_ids()} | {"absent", "", "task___", "tas"}


def test_index_round_trips_and_answers_as_the_scan() -> None:
    blob = sample_blob()
    scanned = Btf.from_bytes(blob)
    idx = scanned._type_index(by_name=True)
    raw = idx.to_bytes()
    back = BtfIndex.from_bytes(raw)
    assert list(back.offsets) == list(idx.offsets)
    assert list(back.name_offs) == list(idx.name_offs)
    assert back.by_name is not None and idx.by_name is not None and list(back.by_name) == list(idx.by_name)

    fresh = Btf.from_bytes(blob)  # no index: finds by searching the strings
    indexed = Btf._from_buffer(blob, index=back)
    assert indexed._index is back
    for name in names_of(fresh):
        assert indexed.find(name) == fresh.find(name), name
        for kind in (BtfKind.STRUCT, BtfKind.UNION, BtfKind.FUNC, BtfKind.TYPEDEF):
            assert indexed.find(name, kind) == fresh.find(name, kind)
    assert indexed.find("task") == [2, 5, 10]
    assert [indexed[t] for t in indexed.own_ids()] == [fresh[t] for t in fresh.own_ids()]
    assert indexed.to_bytes() == blob


def test_sorted_names_order_is_by_name_then_index() -> None:
    btf = Btf.from_bytes(sample_blob())
    order = list(btf._type_index(by_name=True).by_name or [])
    keys = [(btf._name_key(i), i) for i in order]
    assert keys == sorted(keys)
    assert all(btf._name_key(i) for i in order)  # anonymous types are left out
    assert len(order) == sum(1 for t in btf.own_ids() if btf[t].name)


def test_flavors_found_through_the_index_as_through_the_strings() -> None:
    blob = sample_blob()
    plain = Btf.from_bytes(blob)
    saved = Btf.from_bytes(blob)._type_index(by_name=True).to_bytes()
    indexed = Btf._from_buffer(blob, index=BtfIndex.from_bytes(saved))
    assert indexed._own_names_with_prefix("task___") == {"task___v1", "task___v2"}
    assert plain._own_names_with_prefix("task___") is None  # not indexed: the caller searches the strings
    for kind in (BtfKind.STRUCT, BtfKind.UNION, BtfKind.TYPEDEF):
        assert own_candidates(indexed, "task", kind) == own_candidates(plain, "task", kind)
    assert own_candidates(indexed, "task", BtfKind.STRUCT) == (2, 3, 4)


def test_index_without_sorted_names_still_answers() -> None:
    blob = sample_blob()
    idx = BtfIndex.from_bytes(Btf.from_bytes(blob)._type_index().to_bytes())
    assert idx.by_name is None
    btf = Btf._from_buffer(blob, index=idx)
    assert btf._index is idx
    assert btf.find("task") == [2, 5, 10]
    assert btf.find("task___v2", BtfKind.STRUCT) == [4]


@pytest.mark.parametrize("damage", ["magic", "truncate", "flip", "extend", "empty"])
def test_damaged_index_bytes_are_refused(damage: str) -> None:
    raw = bytearray(Btf.from_bytes(sample_blob())._type_index(by_name=True).to_bytes())
    if damage == "magic":
        raw[0] ^= 1
    elif damage == "truncate":
        del raw[-4:]
    elif damage == "flip":
        raw[len(raw) // 2] ^= 0x10
    elif damage == "extend":
        raw += b"\0\0\0\0"
    else:
        raw = bytearray()
    with pytest.raises(ValueError):
        BtfIndex.from_bytes(bytes(raw))


def test_index_of_another_blob_is_ignored() -> None:
    blob = sample_blob()
    other = Btf.from_types([Int("int", 4), Struct("s", 4, [Member("a", 1, 0)])]).to_bytes()
    wrong = Btf.from_bytes(other)._type_index(by_name=True)
    btf = Btf._from_buffer(blob, index=wrong)
    assert btf._index is not wrong
    assert btf.find("task") == [2, 5, 10]


def shifted(idx: BtfIndex, **changes: object) -> BtfIndex:
    fields = {"offsets": array("I", idx.offsets), "name_offs": array("I", idx.name_offs),
              "by_name": array("I", idx.by_name or []), "type_words": idx.type_words, "str_len": idx.str_len}
    fields.update(changes)
    return BtfIndex(**fields)  # type: ignore[arg-type]


def test_index_that_disagrees_with_the_blob_is_ignored() -> None:
    blob = sample_blob()
    good = Btf.from_bytes(blob)._type_index(by_name=True)
    n = len(good.offsets)
    bad_offsets = array("I", good.offsets)
    bad_offsets[n - 1] += 1  # the last record no longer ends where the section does
    bad_names = array("I", good.name_offs)
    bad_names[0] += 1
    unsorted = array("I", reversed(good.by_name or []))
    for bad in (
        shifted(good, offsets=bad_offsets),
        shifted(good, name_offs=bad_names),
        shifted(good, by_name=unsorted),
        shifted(good, type_words=good.type_words + 1),
        shifted(good, str_len=good.str_len - 1),
        shifted(good, offsets=array("I", good.offsets[:-1])),
        shifted(good, by_name=array("I", [n + 5])),
    ):
        btf = Btf._from_buffer(blob, index=bad)
        assert btf._index is not bad
        assert btf.find("task") == [2, 5, 10]
    assert Btf._from_buffer(blob, index=shifted(good))._index is not None  # an intact copy is taken


def test_index_of_built_btf_is_refused() -> None:
    btf = Btf.from_types([Int("int", 4)])
    with pytest.raises(ValueError):
        btf._type_index()


def test_editing_drops_the_index() -> None:
    btf = Btf.from_bytes(sample_blob())
    btf._type_index(by_name=True)
    btf.add(Struct("task", 4, []))
    assert btf._by_name is None and btf._index is None
    assert btf.find("task", BtfKind.STRUCT) == [2, btf.count - 1]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_an_index_or_a_value_error(data: bytes) -> None:
    try:
        idx = BtfIndex.from_bytes(data)
    except ValueError:
        return
    btf = Btf._from_buffer(sample_blob(), index=idx)  # never trusted unless it fits
    assert btf.find("task") == [2, 5, 10]
