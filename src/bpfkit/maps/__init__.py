"""Maps: the Map base class, one class per map family, and the key/value codecs.

``Map.create(type, ...)``, ``Map.from_fd``, ``Map.from_pin`` and ``Map.from_id``
return the class registered for the map's type. Each name is imported from its
module on first use, and a family's module when a map of its type is first met
(:mod:`bpfkit.maps._families`), so that loading an object imports only the
families it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._kbtf import kernel_btf as kernel_btf
    from .._kbtf import load_btf as load_btf
    from ._arena import ArenaMap as ArenaMap
    from ._array import ArrayMap as ArrayMap
    from ._array import IndexedMap as IndexedMap
    from ._base import Map as Map
    from ._base import MapInfo as MapInfo
    from ._base import MapIterationError as MapIterationError
    from ._base import fd_of as fd_of
    from ._base import map_ids as map_ids
    from ._bloom import BloomFilterMap as BloomFilterMap
    from ._cgroup_array import CgroupArrayMap as CgroupArrayMap
    from ._codec import Codec as Codec
    from ._codec import CodecSpec as CodecSpec
    from ._codec import as_plain as as_plain
    from ._codec import btf_ctype as btf_ctype
    from ._codec import btf_dtype as btf_dtype
    from ._codec import make_codec as make_codec
    from ._hash import HashMap as HashMap
    from ._hash import LruHashMap as LruHashMap
    from ._lpm import LpmKey as LpmKey
    from ._lpm import LpmTrieMap as LpmTrieMap
    from ._net import CpuMap as CpuMap
    from ._net import CpumapValue as CpumapValue
    from ._net import DevMap as DevMap
    from ._net import DevMapHash as DevMapHash
    from ._net import DevmapValue as DevmapValue
    from ._net import ReuseportSockArray as ReuseportSockArray
    from ._net import SockHash as SockHash
    from ._net import SockMap as SockMap
    from ._net import XskMap as XskMap
    from ._of_maps import ArrayOfMapsMap as ArrayOfMapsMap
    from ._of_maps import HashOfMapsMap as HashOfMapsMap
    from ._percpu import LruPerCpuHashMap as LruPerCpuHashMap
    from ._percpu import PerCpuArrayMap as PerCpuArrayMap
    from ._percpu import PerCpuHashMap as PerCpuHashMap
    from ._perf_event_array import PerfEventArrayMap as PerfEventArrayMap
    from ._prog_array import ProgArrayMap as ProgArrayMap
    from ._queue import QueueEmptyError as QueueEmptyError
    from ._queue import QueueMap as QueueMap
    from ._queue import StackMap as StackMap
    from ._ringbuf import RingBufMap as RingBufMap
    from ._ringbuf import UserRingBufMap as UserRingBufMap
    from ._stack_trace import StackTraceMap as StackTraceMap
    from ._storage import CgroupStorageMap as CgroupStorageMap
    from ._storage import CgrpStorageMap as CgrpStorageMap
    from ._storage import InodeStorageMap as InodeStorageMap
    from ._storage import LocalStorageMap as LocalStorageMap
    from ._storage import PerCpuCgroupStorageMap as PerCpuCgroupStorageMap
    from ._storage import SkStorageMap as SkStorageMap
    from ._storage import TaskStorageMap as TaskStorageMap

_WHERE: dict[str, str] = {
    "ArenaMap": "_arena",
    "ArrayMap": "_array",
    "IndexedMap": "_array",
    "Map": "_base",
    "MapInfo": "_base",
    "MapIterationError": "_base",
    "fd_of": "_base",
    "map_ids": "_base",
    "BloomFilterMap": "_bloom",
    "kernel_btf": "bpfkit._kbtf",
    "load_btf": "bpfkit._kbtf",
    "CgroupArrayMap": "_cgroup_array",
    "Codec": "_codec",
    "CodecSpec": "_codec",
    "as_plain": "_codec",
    "btf_ctype": "_codec",
    "btf_dtype": "_codec",
    "make_codec": "_codec",
    "HashMap": "_hash",
    "LruHashMap": "_hash",
    "LpmKey": "_lpm",
    "LpmTrieMap": "_lpm",
    "CpuMap": "_net",
    "CpumapValue": "_net",
    "DevMap": "_net",
    "DevMapHash": "_net",
    "DevmapValue": "_net",
    "ReuseportSockArray": "_net",
    "SockHash": "_net",
    "SockMap": "_net",
    "XskMap": "_net",
    "ArrayOfMapsMap": "_of_maps",
    "HashOfMapsMap": "_of_maps",
    "LruPerCpuHashMap": "_percpu",
    "PerCpuArrayMap": "_percpu",
    "PerCpuHashMap": "_percpu",
    "PerfEventArrayMap": "_perf_event_array",
    "ProgArrayMap": "_prog_array",
    "QueueEmptyError": "_queue",
    "QueueMap": "_queue",
    "StackMap": "_queue",
    "RingBufMap": "_ringbuf",
    "UserRingBufMap": "_ringbuf",
    "StackTraceMap": "_stack_trace",
    "CgroupStorageMap": "_storage",
    "CgrpStorageMap": "_storage",
    "InodeStorageMap": "_storage",
    "LocalStorageMap": "_storage",
    "PerCpuCgroupStorageMap": "_storage",
    "SkStorageMap": "_storage",
    "TaskStorageMap": "_storage",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module if module.startswith("bpfkit.") else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "ArenaMap",
    "ArrayMap",
    "ArrayOfMapsMap",
    "BloomFilterMap",
    "CgroupArrayMap",
    "CgroupStorageMap",
    "CgrpStorageMap",
    "Codec",
    "CodecSpec",
    "CpuMap",
    "CpumapValue",
    "DevMap",
    "DevMapHash",
    "DevmapValue",
    "HashMap",
    "HashOfMapsMap",
    "IndexedMap",
    "InodeStorageMap",
    "LocalStorageMap",
    "LpmKey",
    "LpmTrieMap",
    "LruHashMap",
    "LruPerCpuHashMap",
    "Map",
    "MapInfo",
    "MapIterationError",
    "PerCpuArrayMap",
    "PerCpuCgroupStorageMap",
    "PerCpuHashMap",
    "PerfEventArrayMap",
    "ProgArrayMap",
    "QueueEmptyError",
    "QueueMap",
    "ReuseportSockArray",
    "RingBufMap",
    "SkStorageMap",
    "SockHash",
    "SockMap",
    "StackMap",
    "StackTraceMap",
    "TaskStorageMap",
    "UserRingBufMap",
    "XskMap",
    "as_plain",
    "btf_ctype",
    "btf_dtype",
    "fd_of",
    "kernel_btf",
    "load_btf",
    "make_codec",
    "map_ids",
]
