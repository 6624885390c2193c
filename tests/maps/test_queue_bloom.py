"""Queue, stack and bloom filter maps, on the real kernel."""

from __future__ import annotations

import errno

import pytest

import bpfkit
from bpfkit.maps import BloomFilterMap, Map, QueueEmptyError, QueueMap, StackMap
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


def test_queue_fifo_full_and_empty() -> None:
    with Map.create("queue", value_size=4, max_entries=3, name="q") as q:
        assert isinstance(q, QueueMap) and q.key_size == 0
        for v in (1, 2, 3):
            q.push(v)
        with pytest.raises(bpfkit.KernelError) as ei:
            q.push(4)
        assert ei.value.errno == errno.E2BIG
        q.push(4, overwrite=True)  # drops the oldest
        assert q.peek() == 2
        assert [q.pop(), q.pop(), q.pop()] == [2, 3, 4]
        with pytest.raises(QueueEmptyError):
            q.pop()
        with pytest.raises(IndexError):
            q.peek()
        with pytest.raises(KeyError):
            q.pop()


def test_stack_lifo_and_drain() -> None:
    with Map.create("stack", value_size=8, max_entries=4, name="s") as s:
        assert isinstance(s, StackMap)
        for v in (1, 2, 3):
            s.push(v)
        assert s.peek() == 3
        assert list(s.drain()) == [3, 2, 1]
        with pytest.raises(QueueEmptyError):
            s.peek()


def test_queue_rejects_keys() -> None:
    with Map.create("queue", value_size=4, max_entries=2, name="qk") as q, pytest.raises(TypeError):
        q.update(1, 2)


def test_bloom_filter() -> None:
    require("map:bloom_filter")
    with Map.create("bloom_filter", value_size=4, max_entries=100, map_extra=3, name="bf") as bf:
        assert isinstance(bf, BloomFilterMap) and bf.map_extra == 3
        for v in range(0, 100, 2):
            bf.add(v)
        assert all(v in bf for v in range(0, 100, 2))  # no false negatives
        misses = sum(1 for v in range(1000, 2000) if v not in bf)
        assert misses > 500  # mostly true negatives (false positives are allowed)
        with pytest.raises(bpfkit.KernelError):
            bf.delete(None)
    with pytest.raises(ValueError):
        Map.create("bloom_filter", value_size=4, max_entries=10, map_extra=16)
