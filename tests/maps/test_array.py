"""Array and per-CPU maps as sequences, on the real kernel."""

from __future__ import annotations

import errno

import pytest

import bpfkit
from bpfkit import host
from bpfkit.maps import ArrayMap, LruPerCpuHashMap, Map, PerCpuArrayMap, PerCpuHashMap

pytestmark = pytest.mark.kernel


def test_array_is_a_sequence() -> None:
    with Map.create("array", key_size=4, value_size=8, max_entries=5, name="arr") as a:
        assert isinstance(a, ArrayMap)
        assert len(a) == 5
        assert list(a) == [0] * 5
        a[0] = 10
        a[-1] = 50
        assert a[4] == 50 and a[-5] == 10
        assert a[1:3] == [0, 0]
        a[1:3] = [11, 12]
        assert list(a) == [10, 11, 12, 0, 50]
        assert list(a.keys()) == [0, 1, 2, 3, 4]
        assert list(a.items()) == [(0, 10), (1, 11), (2, 12), (3, 0), (4, 50)]
        assert 12 in a and 99 not in a
        assert a.get(9, "none") == "none"


def test_array_index_errors() -> None:
    with Map.create("array", key_size=4, value_size=4, max_entries=3, name="idx") as a:
        with pytest.raises(IndexError):
            a[3]
        with pytest.raises(IndexError):
            a[-4] = 1
        with pytest.raises(TypeError):
            a["0"]


def test_array_delete_is_refused() -> None:
    with Map.create("array", key_size=4, value_size=4, max_entries=3, name="nodel") as a:
        with pytest.raises(TypeError, match="cannot be deleted"):
            del a[0]
        with pytest.raises(bpfkit.KernelError) as ei:
            a.delete(0)  # the kernel's own answer
        assert ei.value.errno == errno.EINVAL


def test_array_noexist_update_is_refused_by_kernel() -> None:
    with Map.create("array", key_size=4, value_size=4, max_entries=3, name="noex") as a:
        with pytest.raises(bpfkit.KernelError) as ei:
            a.update(0, 1, flags=bpfkit.NOEXIST)
        assert ei.value.errno == errno.EEXIST


def test_array_big_iteration_uses_batch_and_matches_elementwise() -> None:
    with Map.create("array", key_size=4, value_size=4, max_entries=1000, name="bigarr") as a:
        a.update_batch((i, i * 2) for i in range(1000))
        batched = list(a.items(batch=True))
        single = list(a.items(batch=False))
        assert batched == single == [(i, i * 2) for i in range(1000)]


def test_mmapable_array() -> None:
    with Map.create("array", key_size=4, value_size=4, max_entries=4, name="mm",
                    flags=bpfkit.MapFlags.MMAPABLE) as a:
        a[2] = 0x11223344
        mem = a.mmap()
        try:
            assert mem[16:20] == (0x11223344).to_bytes(4, "little")  # values padded to 8 bytes
            mem[0:4] = (7).to_bytes(4, "little")
        finally:
            mem.close()
        assert a[0] == 7
    with Map.create("array", key_size=4, value_size=4, max_entries=4, name="nomm") as b, pytest.raises(TypeError):
        b.mmap()


def test_percpu_array_values_are_lists() -> None:
    n = host.possible_cpus()
    with Map.create("percpu_array", key_size=4, value_size=4, max_entries=2, name="pca") as a:
        assert isinstance(a, PerCpuArrayMap) and a.ncpus == n
        assert a[0] == [0] * n
        a[0] = 5  # one value for every CPU
        assert a[0] == [5] * n
        a[1] = list(range(1, n + 1))
        assert a[1] == list(range(1, n + 1))
        assert sum(a[1]) == n * (n + 1) // 2
        with pytest.raises(ValueError):
            a[1] = [1] * (n + 1)
        assert list(a.items(batch=True)) == list(a.items(batch=False))
        assert len(a.lookup_raw(0)) == 8 * n  # value size rounded up to 8 per CPU


def test_percpu_hash_and_lru_percpu_hash() -> None:
    n = host.possible_cpus()
    with Map.create("percpu_hash", key_size=8, value_size=8, max_entries=8, name="pch") as h:
        assert isinstance(h, PerCpuHashMap)
        h[7] = 3
        assert h[7] == [3] * n
        h[8] = [i * 10 for i in range(n)]
        assert dict(h.items()) == {7: [3] * n, 8: [i * 10 for i in range(n)]}
        assert h.pop(7) == [3] * n
    with Map.create("lru_percpu_hash", key_size=4, value_size=2, max_entries=8, name="lpch") as lh:
        assert isinstance(lh, LruPerCpuHashMap)
        lh[1] = 0xFFFF
        assert lh[1] == [0xFFFF] * n
        with pytest.raises(OverflowError):
            lh[1] = 0x10000
