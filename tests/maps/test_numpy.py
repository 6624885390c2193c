"""Map.items_numpy(): batch lookups straight into NumPy arrays, dtypes from the codecs (real kernel)."""

from __future__ import annotations

import ctypes
import sys

import numpy as np
import pytest

from bpfkit import host
from bpfkit._uapi import Cmd, MapType
from bpfkit.btf import Array, Btf, Int, IntEncoding, Member, Struct, Union_
from bpfkit.maps import Map, btf_dtype, make_codec
from bpfkit.maps import _base as mapbase

pytestmark = pytest.mark.kernel

_BATCH_CMDS = (Cmd.MAP_LOOKUP_BATCH, Cmd.MAP_UPDATE_BATCH, Cmd.MAP_DELETE_BATCH, Cmd.MAP_LOOKUP_AND_DELETE_BATCH)


def as_dict(keys: np.ndarray, values: np.ndarray) -> dict[int, int]:
    return dict(zip(keys.tolist(), values.tolist(), strict=True))


def test_hash_u32_u64_matches_items() -> None:
    with Map.create("hash", 4, 8, 5000, name="npu", key_type="u32", value_type="u64") as m:
        data = {k: k * 7 + 1 for k in range(0, 9000, 3)}
        m.update_batch(data)
        keys, values = m.items_numpy()
        assert keys.dtype == np.dtype("=u4") and values.dtype == np.dtype("=u8")
        assert keys.shape == values.shape == (len(data),)
        assert as_dict(keys, values) == data == dict(m.items())
        assert keys.flags.writeable and values.flags.writeable


def test_signed_and_float_codecs_choose_their_dtypes() -> None:
    with Map.create("hash", 8, 8, 64, name="npsf", key_type="s64", value_type="double") as m:
        m.update_batch({-5: 1.5, 7: -2.25})
        keys, values = m.items_numpy()
        assert keys.dtype == np.dtype("=i8") and values.dtype == np.dtype("=f8")
        assert as_dict(keys, values) == {-5: 1.5, 7: -2.25}


def test_empty_map_gives_empty_arrays() -> None:
    with Map.create("hash", 4, 4, 128, name="npe") as m:
        keys, values = m.items_numpy()
        assert keys.shape == (0,) and values.shape == (0,)
        assert keys.dtype == np.dtype("=u4") and values.dtype == np.dtype("=u4")


def test_array_map_reads_every_index() -> None:
    with Map.create("array", 4, 2, 300, name="npa", value_type="u16") as a:
        a.update_batch((i, i * 2) for i in range(300))
        keys, values = a.items_numpy()
        assert keys.tolist() == list(range(300))
        assert values.dtype == np.dtype("=u2") and values.tolist() == [i * 2 for i in range(300)]


@pytest.mark.parametrize("value_size", [4, 8])
def test_per_cpu_values_are_entries_by_cpus(value_size: int) -> None:
    ncpus = host.possible_cpus()
    with Map.create("percpu_hash", 4, value_size, 64, name="nppc") as m:
        m.update_batch({k: [k * 100 + c for c in range(ncpus)] for k in range(40)})
        keys, values = m.items_numpy()
        assert values.shape == (40, ncpus)
        assert values.dtype == np.dtype(f"=u{value_size}")
        assert values.flags.c_contiguous
        got = {k: row for k, row in zip(keys.tolist(), values.tolist(), strict=True)}
        assert got == {k: [k * 100 + c for c in range(ncpus)] for k in range(40)} == dict(m.items())


def test_per_cpu_array() -> None:
    ncpus = host.possible_cpus()
    with Map.create("percpu_array", 4, 8, 4, name="nppa") as a:
        a[2] = [5] * ncpus
        keys, values = a.items_numpy()
        assert keys.tolist() == [0, 1, 2, 3]
        assert values.shape == (4, ncpus) and values[2].tolist() == [5] * ncpus and not values[0].any()


def test_btf_struct_values_are_record_arrays() -> None:
    btf = Btf.from_types([
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Int("char", 1, IntEncoding.SIGNED),  # 2
        Array(2, 1, 8),  # 3 char[8]
        Int("unsigned long long", 8),  # 4
        Union_("", 8, [Member("ts", 4, 0), Member("raw", 4, 0)]),  # 5 anonymous union
        Struct("ev", 32, [Member("pid", 1, 0), Member("comm", 3, 32), Member("flags", 1, 96, 3),
                          Member("", 5, 128), Member("last", 1, 192)], True),  # 6, a bitfield at 96
    ])
    with Map.create("hash", 4, 32, 16, name="npbtf", btf=btf, btf_key_type_id=1, btf_value_type_id=6) as m:
        m[-3] = {"pid": 42, "comm": "bash", "flags": 3, "ts": 99, "last": -1}
        m[4] = {"pid": 7, "comm": "sh", "flags": 0, "ts": 1, "last": 2}
        keys, values = m.items_numpy()
        assert keys.dtype == np.dtype("=i4")
        assert isinstance(values, np.recarray)
        assert values.dtype.names == ("pid", "comm", "ts", "raw", "last")  # the bitfield is left out
        assert values.dtype.itemsize == 32
        assert values.dtype.fields["ts"][1] == values.dtype.fields["raw"][1] == 16
        rows = {int(k): v for k, v in zip(keys, values, strict=True)}
        assert (rows[-3].pid, rows[-3].comm, rows[-3].ts, rows[-3].last) == (42, b"bash", 99, -1)
        assert (rows[4].pid, rows[4].comm, rows[4].ts) == (7, b"sh", 1)
        assert btf_dtype(btf, 6) is values.dtype or btf_dtype(btf, 6) == values.dtype


def test_ctypes_and_struct_format_values() -> None:
    class Pair(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_int16)]

    with Map.create("hash", 4, ctypes.sizeof(Pair), 8, name="npct", value_type=Pair) as m:
        m[1] = {"a": 10, "b": -2}
        _, values = m.items_numpy()
        assert values.dtype.names == ("a", "b") and (values[0].a, values[0].b) == (10, -2)
    with Map.create("hash", 4, 12, 8, name="npfmt", value_type="<IQ") as m:
        m[1] = (3, 1 << 40)
        _, values = m.items_numpy()
        assert values.dtype.itemsize == 12 and values.dtype.names is not None
        assert tuple(values[0].tolist()) == (3, 1 << 40)
    assert make_codec("char[6]").numpy_dtype() == np.dtype("S6")
    assert make_codec("u32[2][3]").numpy_dtype() == np.dtype(("=u4", (2, 3)))
    assert make_codec(None, 6).numpy_dtype() == np.dtype("V6")


def test_lpm_trie_falls_back_to_element_reads() -> None:
    with Map.create("lpm_trie", 8, 4, 8, name="nplpm", flags=1) as t:  # BPF_F_NO_PREALLOC
        t["10.0.0.0/8"] = 1
        t["192.168.1.0/24"] = 2
        keys, values = t.items_numpy()
        assert keys.dtype.names == ("prefixlen", "data")
        got = {(int(k["prefixlen"]), bytes(k["data"])): int(v) for k, v in zip(keys, values, strict=True)}
        assert got == {(8, bytes([10, 0, 0, 0])): 1, (24, bytes([192, 168, 1, 0])): 2}


def test_refused_batches_use_element_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    with Map.create("hash", 4, 8, 600, name="npfb") as m:
        m.update_batch({i: i + 1 for i in range(500)})
        batched = as_dict(*m.items_numpy())
        monkeypatch.setattr(mapbase, "_NO_BATCH", {(int(MapType.HASH), int(c)) for c in _BATCH_CMDS})
        assert as_dict(*m.items_numpy()) == batched == {i: i + 1 for i in range(500)}


def test_small_calls_and_chunks_and_full_buckets(monkeypatch: pytest.MonkeyPatch) -> None:
    with Map.create("hash", 4, 8, 4096, name="npch") as m:
        data = {i * 31: i for i in range(3000)}
        m.update_batch(data)
        assert as_dict(*m.items_numpy(batch_size=1)) == data  # ENOSPC on every multi-entry bucket: grows
        assert as_dict(*m.items_numpy(batch_size=7)) == data
        monkeypatch.setattr(mapbase, "_NP_CHUNK_BYTES", 12 * 700)  # chunks of 1024 entries, concatenated
        assert as_dict(*m.items_numpy()) == data


def test_keyless_maps_and_bad_arguments() -> None:
    with Map.create("queue", 0, 4, 4, name="npq") as q, pytest.raises(TypeError):
        q.items_numpy()
    with Map.create("hash", 4, 4, 4, name="npbad") as m, pytest.raises(ValueError):
        m.items_numpy(batch_size=0)


def test_without_numpy_the_error_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy now raises ImportError
    with Map.create("hash", 4, 4, 4, name="npnone") as m, pytest.raises(ModuleNotFoundError) as ei:
        m.items_numpy()
    assert ei.value.name == "numpy"
