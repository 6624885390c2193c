"""Which module holds the class of each map type; a family is imported when its type is first met.

:func:`bpfkit.maps.base._class_for` imports this module, then asks the registry
of classes; this module makes that registry import a family's module on a miss
(the module's classes register themselves as it loads), so that a program that
loads a hash map and a ring buffer imports those two families, not all fifteen.
"""

from __future__ import annotations

import importlib
from typing import Any

from .._uapi import MapType
from . import base

__all__ = ["FAMILIES"]

FAMILIES: dict[MapType, str] = {
    MapType.ARENA: "arena",
    MapType.ARRAY: "array",
    MapType.BLOOM_FILTER: "bloom",
    MapType.CGROUP_ARRAY: "cgroup_array",
    MapType.HASH: "hash",
    MapType.LRU_HASH: "hash",
    MapType.LPM_TRIE: "lpm",
    MapType.DEVMAP: "net",
    MapType.DEVMAP_HASH: "net",
    MapType.CPUMAP: "net",
    MapType.XSKMAP: "net",
    MapType.SOCKMAP: "net",
    MapType.SOCKHASH: "net",
    MapType.REUSEPORT_SOCKARRAY: "net",
    MapType.ARRAY_OF_MAPS: "of_maps",
    MapType.HASH_OF_MAPS: "of_maps",
    MapType.PERCPU_HASH: "percpu",
    MapType.LRU_PERCPU_HASH: "percpu",
    MapType.PERCPU_ARRAY: "percpu",
    MapType.PERF_EVENT_ARRAY: "perf_event_array",
    MapType.PROG_ARRAY: "prog_array",
    MapType.QUEUE: "queue",
    MapType.STACK: "queue",
    MapType.RINGBUF: "ringbuf",
    MapType.USER_RINGBUF: "ringbuf",
    MapType.STACK_TRACE: "stack_trace",
    MapType.SK_STORAGE: "storage",
    MapType.INODE_STORAGE: "storage",
    MapType.TASK_STORAGE: "storage",
    MapType.CGRP_STORAGE: "storage",
    MapType.CGROUP_STORAGE: "storage",
    MapType.PERCPU_CGROUP_STORAGE: "storage",
}
"""Map type -> module of :mod:`bpfkit.maps` whose class declares it in ``map_types``."""

_MODULE_OF = {int(t): name for t, name in FAMILIES.items()}


class _Registry(dict[int, "Any"]):
    """Map type -> class, importing the family's module the first time a type is asked for."""

    def get(self, key: int, default: Any = None) -> Any:
        if key not in self:
            module = _MODULE_OF.get(key)
            if module is not None:
                importlib.import_module(f"{__package__}.{module}")  # its classes register here
        return dict.get(self, key, default)


if not isinstance(base._CLASSES, _Registry):
    base._CLASSES = _Registry(base._CLASSES)
