"""Maps of maps (ARRAY_OF_MAPS, HASH_OF_MAPS): values are maps on write, inner map ids on read."""

from __future__ import annotations

from .._uapi import MapType
from ..errors import BpfValueError
from ._array import IndexedMap
from ._base import Map, _CreateArgs
from ._codec import Codec, FdCodec
from ._hash import HashMap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ArrayOfMapsMap", "HashOfMapsMap"]


class _OfMaps(Map):
    element_ops_hold_gil = False  # updates and deletes wait for an RCU grace period

    @classmethod
    def _prepare_create(cls, a: _CreateArgs) -> None:
        super()._prepare_create(a)
        if a.inner_map is None:
            raise BpfValueError(f"{cls.__name__} needs inner_map=: a map (or its fd) every inner map must look like")

    def _make_value_codec(self, spec: Any) -> Codec:
        return FdCodec(self.value_size, "inner map fd")

    def get_map(self, key: Any) -> Map:
        """Open the inner map stored at ``key`` (by its id); close it when done."""
        return Map.from_id(self.lookup(key))


class ArrayOfMapsMap(_OfMaps, IndexedMap):
    """BPF_MAP_TYPE_ARRAY_OF_MAPS (Linux 4.12): ``m[i] = inner_map``; ``m[i]`` is the inner map's id."""

    map_types = (MapType.ARRAY_OF_MAPS,)


class HashOfMapsMap(_OfMaps, HashMap):
    """BPF_MAP_TYPE_HASH_OF_MAPS (Linux 4.12): ``m[k] = inner_map``; ``m[k]`` is the inner map's id."""

    map_types = (MapType.HASH_OF_MAPS,)
