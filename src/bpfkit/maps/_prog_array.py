"""Program arrays (BPF_MAP_TYPE_PROG_ARRAY): tail-call targets."""

from __future__ import annotations

from .._uapi import MapType
from ._array import IndexedMap
from ._codec import Codec, FdCodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ProgArrayMap"]


class ProgArrayMap(IndexedMap):
    """BPF_MAP_TYPE_PROG_ARRAY (Linux 4.2): ``m[i] = program`` (a Program, anything with ``.fd``/``fileno()``,
    or an fd); ``m[i]`` is the program's id; ``del m[i]`` empties the slot. The kernel empties every slot when
    the last user-space reference to the map goes away.
    """

    map_types = (MapType.PROG_ARRAY,)

    def _make_value_codec(self, spec: Any) -> Codec:
        return FdCodec(self.value_size, "program fd")
