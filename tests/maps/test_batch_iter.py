"""Batch operations (with their fallback) and iteration that survives concurrent deletes, on the real kernel."""

from __future__ import annotations

import errno

import pytest

import bpfkit
from bpfkit import host
from bpfkit._uapi import Cmd, MapType
from bpfkit.maps import Map, MapIterationError
from bpfkit.maps import _base as mapbase

pytestmark = pytest.mark.kernel


def test_batch_round_trip_hash() -> None:
    with Map.create("hash", key_size=4, value_size=8, max_entries=5000, name="bat") as m:
        data = {i: i * i for i in range(3000)}
        assert m.update_batch(data) == 3000
        assert dict(m.lookup_batch()) == data
        assert dict(m.lookup_batch(batch_size=7)) == data  # many small batches
        assert dict(m.items(batch=False)) == data
        assert m.delete_batch(range(1000)) == 1000
        assert len(m) == 2000
        drained = dict(m.lookup_and_delete_batch(batch_size=100))
        assert drained == {i: i * i for i in range(1000, 3000)}
        assert len(m) == 0


def test_batch_update_flags_and_partial_failure() -> None:
    with Map.create("hash", key_size=4, value_size=4, max_entries=10, name="batf") as m:
        m[3] = 3
        with pytest.raises(bpfkit.KernelError) as ei:
            m.update_batch([(1, 1), (2, 2), (3, 30), (4, 4)], flags=bpfkit.NOEXIST)
        assert ei.value.errno == errno.EEXIST
        assert m[1] == 1 and m[2] == 2 and m[3] == 3 and 4 not in m  # processed in order up to the failure
        with pytest.raises(KeyError) as ki:
            m.delete_batch([1, 9, 2])
        assert ki.value.key == 9
        assert 1 not in m and m[2] == 2


def test_batch_raw_and_percpu() -> None:
    n = host.possible_cpus()
    with Map.create("percpu_hash", key_size=4, value_size=4, max_entries=300, name="bpc") as m:
        m.update_batch([(i, [i] * n) for i in range(300)])
        got = dict(m.lookup_batch())
        assert got == {i: [i] * n for i in range(300)}
        raw = m.lookup_batch(raw=True)
        assert all(len(k) == 4 and len(v) == 8 * n for k, v in raw)


def test_batch_fallback_where_the_kernel_has_none() -> None:
    # array maps have no lookup-and-delete batch (ENOTSUPP): the fallback is element ops, which then
    # report what the kernel says about deleting array elements.
    with Map.create("array", key_size=4, value_size=4, max_entries=4, name="nolad") as a:
        with pytest.raises(bpfkit.KernelError) as ei:
            a.lookup_and_delete_batch()
        assert ei.value.errno == errno.EINVAL
        assert (int(MapType.ARRAY), int(Cmd.MAP_LOOKUP_AND_DELETE_BATCH)) in mapbase._NO_BATCH
    # queue maps have no keys: batch is skipped, element ops used directly
    with Map.create("lpm_trie", key_size=8, value_size=4, max_entries=8, name="lpmb") as t:
        t.update_batch({"10.0.0.0/8": 1, "10.1.0.0/16": 2})
        assert sorted(v for _, v in t.lookup_batch()) == [1, 2]


def test_forced_fallback_matches_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    with Map.create("hash", key_size=4, value_size=8, max_entries=600, name="fb") as m:
        m.update_batch({i: i + 1 for i in range(500)})
        batched = dict(m.lookup_batch())
        monkeypatch.setattr(mapbase, "_NO_BATCH", {(int(MapType.HASH), int(c)) for c in (
            Cmd.MAP_LOOKUP_BATCH, Cmd.MAP_UPDATE_BATCH, Cmd.MAP_DELETE_BATCH, Cmd.MAP_LOOKUP_AND_DELETE_BATCH)})
        assert dict(m.lookup_batch()) == batched
        assert m.update_batch({i: 0 for i in range(500, 600)}) == 100
        assert m.delete_batch(range(550, 600)) == 50
        assert len(m) == 550
        assert len(m.lookup_and_delete_batch()) == 550
        assert len(m) == 0


def test_iteration_while_deleting_each_key() -> None:
    with Map.create("hash", key_size=4, value_size=4, max_entries=2048, name="itdel") as m:
        m.update_batch({i: i for i in range(1000)})
        seen = []
        for k in m.keys():
            seen.append(k)
            del m[k]  # the current key vanishes: the kernel restarts, the walk goes on
        assert sorted(seen) == list(range(1000))
        assert len(m) == 0


def test_iteration_while_others_delete_and_insert() -> None:
    with Map.create("hash", key_size=4, value_size=4, max_entries=4096, name="itmix") as m:
        m.update_batch({i: i for i in range(1000)})
        yielded = []
        for n, k in enumerate(m.keys()):
            yielded.append(k)
            if n % 10 == 0:
                del m[k]  # delete the cursor
                for j in range(3):  # and some keys that were already yielded
                    if yielded[j * 7 % len(yielded)] in m:
                        del m[yielded[j * 7 % len(yielded)]]
            if n % 50 == 0:
                m[10000 + n] = 0  # and add new ones
        assert len(yielded) == len(set(yielded))  # never twice
        originals = set(range(1000))
        assert originals <= set(yielded)  # every key present from start to end was yielded


def test_iteration_gives_up_on_a_map_that_keeps_restarting(monkeypatch: pytest.MonkeyPatch) -> None:
    with Map.create("hash", key_size=4, value_size=4, max_entries=16, name="itloop") as m:
        m.update_batch({1: 1, 2: 2})
        first = m._next_raw(None)
        monkeypatch.setattr(m, "_next_raw", lambda prev: first)  # a kernel that always restarts
        with pytest.raises(MapIterationError):
            list(m.keys())


def test_items_default_uses_batch_for_big_maps(monkeypatch: pytest.MonkeyPatch) -> None:
    with Map.create("hash", key_size=4, value_size=4, max_entries=1024, name="auto") as big, \
         Map.create("hash", key_size=4, value_size=4, max_entries=8, name="small") as small:
        big[1] = 1
        small[1] = 1
        calls: list[int] = []
        real = mapbase.Map._iter_batch

        def spy(self: Map, cmd: int, n: object, raw: bool):  # type: ignore[no-untyped-def]
            calls.append(self.max_entries)
            return real(self, cmd, n, raw)

        monkeypatch.setattr(mapbase.Map, "_iter_batch", spy)
        assert list(big.items()) == [(1, 1)] and list(small.items()) == [(1, 1)]
        assert calls == [1024]


def _open_fds() -> int:
    import os

    return len(os.listdir("/proc/self/fd"))


def test_prefetching_batches_match_and_clean_up() -> None:
    import threading

    with Map.create("hash", key_size=4, value_size=8, max_entries=200000, name="pref") as m:
        data = {i * 13: i for i in range(100000)}  # more than one batch of 1 MiB
        m.update_batch(data)
        assert dict(m.items()) == data  # several 1 MiB batches, the next one read on a helper thread
        assert dict(m.lookup_batch(batch_size=1)) == data  # every multi-entry bucket grows both buffers
        assert sorted(m.items(raw=True)) == sorted((k.to_bytes(4, "little"), v.to_bytes(8, "little"))
                                                   for k, v in data.items())
        before = _open_fds()
        it = m.items()
        assert next(it)[0] in data
        assert _open_fds() == before + 1  # the helper's own duplicate of the map fd
        del it  # dropping the iterator waits for the call in flight and closes the duplicate
        assert _open_fds() == before
        assert not [t for t in threading.enumerate() if t.name == "bpfkit-batch"]


def test_iteration_keeps_its_own_reference_when_the_map_is_closed() -> None:
    m = Map.create("hash", key_size=4, value_size=4, max_entries=100000, name="prefc")
    m.update_batch({i: i for i in range(90000)})
    it = m.items()
    first = next(it)
    m.close()
    rest = dict(it)  # reads on through its duplicate fd: never another object's
    rest[first[0]] = first[1]
    assert rest == {i: i for i in range(90000)}
