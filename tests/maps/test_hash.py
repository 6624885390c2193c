"""Hash and LRU hash maps: the mapping protocol and the kernel's operations, on the real kernel."""

from __future__ import annotations

import errno
import threading

import pytest

import bpfkit
from bpfkit import features
from bpfkit.maps import HashMap, LruHashMap, Map, MapInfo

pytestmark = pytest.mark.kernel


def test_create_returns_hash_map_with_attributes() -> None:
    with Map.create("hash", key_size=4, value_size=8, max_entries=16, name="counts") as m:
        assert isinstance(m, HashMap)
        assert m.type == bpfkit.MapType.HASH
        assert (m.name, m.key_size, m.value_size, m.max_entries) == ("counts", 4, 8, 16)
        assert m.flags == bpfkit.MapFlags(0)
        assert m.fd == m.fileno() >= 0
        assert m.id > 0


@pytest.mark.quick
def test_mapping_protocol() -> None:
    with Map.create("hash", key_size=4, value_size=8, max_entries=16, name="proto") as m:
        assert not m
        assert len(m) == 0
        m[1] = 7
        m[2] = 9
        assert m[1] == 7 and m[2] == 9
        assert m.get(3) is None and m.get(3, -1) == -1
        assert 1 in m and 3 not in m
        assert sorted(m) == [1, 2]
        assert sorted(m.keys()) == [1, 2]
        assert sorted(m.values()) == [7, 9]
        assert sorted(m.items()) == [(1, 7), (2, 9)]
        assert dict(m.items()) == {1: 7, 2: 9}
        assert len(m) == 2 and bool(m)
        del m[1]
        assert 1 not in m
        with pytest.raises(KeyError):
            del m[1]
        with pytest.raises(bpfkit.MapKeyError) as ei:
            m[1]
        assert ei.value.key == 1 and ei.value.map_name == "proto"


def test_pop_popitem_setdefault_clear() -> None:
    with HashMap.create(key_size=4, value_size=4, max_entries=8, name="pops") as m:
        m.update_batch({1: 10, 2: 20, 3: 30})
        assert m.pop(1) == 10
        assert 1 not in m
        assert m.pop(1, "gone") == "gone"
        with pytest.raises(KeyError):
            m.pop(1)
        k, v = m.popitem()
        assert (k, v) in [(2, 20), (3, 30)] and k not in m
        assert m.setdefault(5, 50) == 50
        assert m.setdefault(5, 99) == 50
        m.clear()
        assert len(m) == 0
        with pytest.raises(KeyError):
            m.popitem()


def test_update_flags() -> None:
    with Map.create("hash", key_size=4, value_size=8, max_entries=4, name="flags") as m:
        m.update(1, 1, flags=bpfkit.NOEXIST)
        m.update(1, 2, flags=bpfkit.EXIST)
        m.update(1, 3, flags=bpfkit.ANY)
        assert m[1] == 3


def test_lookup_and_delete() -> None:
    with Map.create("hash", key_size=4, value_size=8, max_entries=4, name="lad") as m:
        m[4] = 44
        if not features.have_hash_lookup_and_delete():
            with pytest.raises(bpfkit.NotSupportedError) as ei:
                m.lookup_and_delete(4)
            assert ei.value.min_kernel == "5.14"
            assert m[4] == 44
            pytest.skip(f"probe: {ei.value}")
        assert m.lookup_and_delete(4) == 44
        assert 4 not in m
        with pytest.raises(bpfkit.MapKeyError):
            m.lookup_and_delete(4)


def test_get_next_key() -> None:
    with Map.create("hash", key_size=4, value_size=4, max_entries=4, name="next") as m:
        assert m.get_next_key() is None
        m[1] = 1
        m[2] = 2
        first = m.get_next_key()
        second = m.get_next_key(first)
        assert {first, second} == {1, 2}
        assert m.get_next_key(second) is None
        assert m.get_next_key(77) in (1, 2)  # an absent key starts from the first


def test_lru_hash_evicts_instead_of_failing() -> None:
    with Map.create("lru_hash", key_size=4, value_size=8, max_entries=32, name="lru") as m:
        assert isinstance(m, LruHashMap)
        for i in range(200):
            m[i] = i
        assert 199 in m
        assert 0 < len(m) <= 200


def test_typed_keys_and_values() -> None:
    import ctypes

    class Val(ctypes.Structure):
        _fields_ = [("count", ctypes.c_uint64), ("comm", ctypes.c_char * 8)]

    with Map.create("hash", key_type="s32", value_type=Val, max_entries=4, name="typed") as m:
        assert (m.key_size, m.value_size) == (4, 16)
        m[-5] = {"count": 3, "comm": b"bash"}
        got = m[-5]
        assert isinstance(got, Val) and got.count == 3 and got.comm == b"bash"
        m[-6] = Val(count=4, comm=b"zsh")
        assert m[-6].count == 4
        with pytest.raises(OverflowError):
            m[2**31] = Val()
        raw = bytes(range(16))
        m[1] = raw  # exact-size bytes are always accepted
        assert bytes(m[1]) == raw


def test_struct_format_and_names() -> None:
    with Map.create("hash", key_type="<HH", value_type="char[8]", max_entries=4, name="fmt") as m:
        m[(1, 2)] = "hello"
        assert m[(1, 2)] == b"hello"
        assert list(m.items()) == [((1, 2), b"hello")]
        with pytest.raises(ValueError):
            m[(1, 2)] = "far too long"


def test_byte_keys_and_values_of_other_sizes() -> None:
    with Map.create("hash", key_size=6, value_size=3, max_entries=4, name="bytes") as m:
        m[b"abcdef"] = b"xyz"
        assert m[b"abcdef"] == b"xyz"
        with pytest.raises(TypeError):
            m[5] = b"xyz"


def test_info() -> None:
    with Map.create("hash", key_size=4, value_size=8, max_entries=16, name="inf", flags=bpfkit.MapFlags.NO_PREALLOC) as m:
        info = m.info()
        assert isinstance(info, MapInfo)
        assert info.type == bpfkit.MapType.HASH and info.type_name == "hash"
        assert (info.name, info.key_size, info.value_size, info.max_entries) == ("inf", 4, 8, 16)
        assert info.flags & bpfkit.MapFlags.NO_PREALLOC
        assert info.id == m.id > 0
        assert info.btf_id == 0 and info.frozen is False


def test_concurrent_threads_get_right_answers() -> None:
    with Map.create("hash", key_size=4, value_size=8, max_entries=4096, name="threads") as m:
        for i in range(1000):
            m[i] = i * 3
        errors: list[str] = []

        def worker(offset: int) -> None:
            for rep in range(3):
                for i in range(offset, 1000, 7):
                    if m[i] != i * 3:
                        errors.append(f"{i}: {m[i]}")
                    m[i] = i * 3

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(7)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []


def test_numa_node_and_map_flags() -> None:
    with Map.create("hash", key_size=4, value_size=4, max_entries=4, name="numa", numa_node=0) as m:
        assert m.flags & bpfkit.MapFlags.NUMA_NODE
        m[1] = 1
        assert m[1] == 1


def test_name_validation() -> None:
    with pytest.raises(ValueError):
        Map.create("hash", key_size=4, value_size=4, max_entries=4, name="a" * 16)
    with pytest.raises(ValueError):
        Map.create("hash", key_size=4, value_size=4, max_entries=4, name="bad name")


def test_frozen_map_refuses_writes() -> None:
    with Map.create("hash", key_size=4, value_size=4, max_entries=4, name="frz") as m:
        m[1] = 1
        m.freeze()
        assert m.info().frozen is True
        assert m[1] == 1
        with pytest.raises(bpfkit.KernelError) as ei:
            m[1] = 2
        assert ei.value.errno == errno.EPERM
