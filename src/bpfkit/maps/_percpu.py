"""Per-CPU maps (PERCPU_HASH, LRU_PERCPU_HASH, PERCPU_ARRAY): one value per possible CPU, as a list."""

from __future__ import annotations

from .. import host
from .._uapi import MapType
from ._array import ArrayMap
from ._base import Map
from ._codec import Codec, PerCpuCodec, make_codec
from ._hash import HashMap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LruPerCpuHashMap", "PerCpuArrayMap", "PerCpuHashMap"]


class _PerCpu(Map):
    """Values are lists with one value per possible CPU (each padded to 8 bytes in the kernel's buffer).

    Assigning a single value (or bytes of ``value_size``) sets every CPU; a
    ``list`` of exactly ``possible_cpus()`` values sets each CPU.
    """

    def _make_value_codec(self, spec: Any) -> Codec:
        inner = make_codec(spec, self.value_size, what="value")
        return PerCpuCodec(inner, host.possible_cpus())

    @property
    def ncpus(self) -> int:
        """The number of values per entry (possible CPUs)."""
        return host.possible_cpus()


class PerCpuHashMap(_PerCpu, HashMap):
    """BPF_MAP_TYPE_PERCPU_HASH (Linux 4.6): a hash map whose values are per-CPU lists."""

    map_types = (MapType.PERCPU_HASH,)


class LruPerCpuHashMap(_PerCpu, HashMap):
    """BPF_MAP_TYPE_LRU_PERCPU_HASH (Linux 4.10)."""

    map_types = (MapType.LRU_PERCPU_HASH,)


class PerCpuArrayMap(_PerCpu, ArrayMap):
    """BPF_MAP_TYPE_PERCPU_ARRAY (Linux 4.6): an array whose values are per-CPU lists."""

    map_types = (MapType.PERCPU_ARRAY,)
