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
    from .arena import ArenaMap as ArenaMap
    from .array import ArrayMap as ArrayMap
    from .array import IndexedMap as IndexedMap
    from .base import Map as Map
    from .base import MapInfo as MapInfo
    from .base import MapIterationError as MapIterationError
    from .base import fd_of as fd_of
    from .base import map_ids as map_ids
    from .bloom import BloomFilterMap as BloomFilterMap
    from .btfinfo import kernel_btf as kernel_btf
    from .btfinfo import load_btf as load_btf
    from .cgroup_array import CgroupArrayMap as CgroupArrayMap
    from .codec import Codec as Codec
    from .codec import CodecSpec as CodecSpec
    from .codec import as_plain as as_plain
    from .codec import btf_ctype as btf_ctype
    from .codec import btf_dtype as btf_dtype
    from .codec import make_codec as make_codec
    from .hash import HashMap as HashMap
    from .hash import LruHashMap as LruHashMap
    from .lpm import LpmKey as LpmKey
    from .lpm import LpmTrieMap as LpmTrieMap
    from .net import CpuMap as CpuMap
    from .net import CpumapValue as CpumapValue
    from .net import DevMap as DevMap
    from .net import DevMapHash as DevMapHash
    from .net import DevmapValue as DevmapValue
    from .net import ReuseportSockArray as ReuseportSockArray
    from .net import SockHash as SockHash
    from .net import SockMap as SockMap
    from .net import XskMap as XskMap
    from .of_maps import ArrayOfMapsMap as ArrayOfMapsMap
    from .of_maps import HashOfMapsMap as HashOfMapsMap
    from .percpu import LruPerCpuHashMap as LruPerCpuHashMap
    from .percpu import PerCpuArrayMap as PerCpuArrayMap
    from .percpu import PerCpuHashMap as PerCpuHashMap
    from .perf_event_array import PerfEventArrayMap as PerfEventArrayMap
    from .prog_array import ProgArrayMap as ProgArrayMap
    from .queue import QueueEmptyError as QueueEmptyError
    from .queue import QueueMap as QueueMap
    from .queue import StackMap as StackMap
    from .ringbuf import RingBufMap as RingBufMap
    from .ringbuf import UserRingBufMap as UserRingBufMap
    from .stack_trace import StackTraceMap as StackTraceMap
    from .storage import CgroupStorageMap as CgroupStorageMap
    from .storage import CgrpStorageMap as CgrpStorageMap
    from .storage import InodeStorageMap as InodeStorageMap
    from .storage import LocalStorageMap as LocalStorageMap
    from .storage import PerCpuCgroupStorageMap as PerCpuCgroupStorageMap
    from .storage import SkStorageMap as SkStorageMap
    from .storage import TaskStorageMap as TaskStorageMap

_WHERE: dict[str, str] = {
    "ArenaMap": "arena",
    "ArrayMap": "array",
    "IndexedMap": "array",
    "Map": "base",
    "MapInfo": "base",
    "MapIterationError": "base",
    "fd_of": "base",
    "map_ids": "base",
    "BloomFilterMap": "bloom",
    "kernel_btf": "btfinfo",
    "load_btf": "btfinfo",
    "CgroupArrayMap": "cgroup_array",
    "Codec": "codec",
    "CodecSpec": "codec",
    "as_plain": "codec",
    "btf_ctype": "codec",
    "btf_dtype": "codec",
    "make_codec": "codec",
    "HashMap": "hash",
    "LruHashMap": "hash",
    "LpmKey": "lpm",
    "LpmTrieMap": "lpm",
    "CpuMap": "net",
    "CpumapValue": "net",
    "DevMap": "net",
    "DevMapHash": "net",
    "DevmapValue": "net",
    "ReuseportSockArray": "net",
    "SockHash": "net",
    "SockMap": "net",
    "XskMap": "net",
    "ArrayOfMapsMap": "of_maps",
    "HashOfMapsMap": "of_maps",
    "LruPerCpuHashMap": "percpu",
    "PerCpuArrayMap": "percpu",
    "PerCpuHashMap": "percpu",
    "PerfEventArrayMap": "perf_event_array",
    "ProgArrayMap": "prog_array",
    "QueueEmptyError": "queue",
    "QueueMap": "queue",
    "StackMap": "queue",
    "RingBufMap": "ringbuf",
    "UserRingBufMap": "ringbuf",
    "StackTraceMap": "stack_trace",
    "CgroupStorageMap": "storage",
    "CgrpStorageMap": "storage",
    "InodeStorageMap": "storage",
    "LocalStorageMap": "storage",
    "PerCpuCgroupStorageMap": "storage",
    "SkStorageMap": "storage",
    "TaskStorageMap": "storage",
}


_SUBMODULES = frozenset({
    "arena", "array", "base", "bloom", "btfgen", "btfinfo", "cgroup_array", "codec", "hash", "lpm", "net", "of_maps",
    "percpu", "perf_event_array", "prog_array", "queue", "ringbuf", "stack_trace", "storage",
})


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        if name in _SUBMODULES:  # ``bpfkit.maps.hash`` as an attribute, as when the package imported them all
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
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
