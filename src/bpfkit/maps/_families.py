"""Which module holds the class of each map type; a family is imported when its type is first met.

:func:`bpfkit.maps._base._class_for` looks a type up in the registry of classes and,
on a miss, imports the family's module named here (its classes register themselves
as it loads), so that a program that loads a hash map and a ring buffer imports
those two families, not all fifteen. A plain table: it imports no map module.
"""

from __future__ import annotations

from .._uapi import MapType

__all__ = ["FAMILIES", "MODULE_OF"]

FAMILIES: dict[MapType, str] = {
    MapType.ARENA: "_arena",
    MapType.ARRAY: "_array",
    MapType.BLOOM_FILTER: "_bloom",
    MapType.CGROUP_ARRAY: "_cgroup_array",
    MapType.HASH: "_hash",
    MapType.LRU_HASH: "_hash",
    MapType.LPM_TRIE: "_lpm",
    MapType.DEVMAP: "_net",
    MapType.DEVMAP_HASH: "_net",
    MapType.CPUMAP: "_net",
    MapType.XSKMAP: "_net",
    MapType.SOCKMAP: "_net",
    MapType.SOCKHASH: "_net",
    MapType.REUSEPORT_SOCKARRAY: "_net",
    MapType.ARRAY_OF_MAPS: "_of_maps",
    MapType.HASH_OF_MAPS: "_of_maps",
    MapType.PERCPU_HASH: "_percpu",
    MapType.LRU_PERCPU_HASH: "_percpu",
    MapType.PERCPU_ARRAY: "_percpu",
    MapType.PERF_EVENT_ARRAY: "_perf_event_array",
    MapType.PROG_ARRAY: "_prog_array",
    MapType.QUEUE: "_queue",
    MapType.STACK: "_queue",
    MapType.RINGBUF: "_ringbuf",
    MapType.USER_RINGBUF: "_ringbuf",
    MapType.STACK_TRACE: "_stack_trace",
    MapType.SK_STORAGE: "_storage",
    MapType.INODE_STORAGE: "_storage",
    MapType.TASK_STORAGE: "_storage",
    MapType.CGRP_STORAGE: "_storage",
    MapType.CGROUP_STORAGE: "_storage",
    MapType.PERCPU_CGROUP_STORAGE: "_storage",
}
"""Map type -> module of :mod:`bpfkit.maps` whose class declares it in ``map_types``."""

MODULE_OF = {int(t): name for t, name in FAMILIES.items()}
