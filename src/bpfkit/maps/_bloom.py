"""Bloom filter maps (BPF_MAP_TYPE_BLOOM_FILTER): ``add`` and ``in``."""

from __future__ import annotations

from .._uapi import Cmd, MapType
from ..errors import BpfValueError
from ._base import _NO_KEY, Map, _CreateArgs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BloomFilterMap"]


class BloomFilterMap(Map):
    """BPF_MAP_TYPE_BLOOM_FILTER (Linux 5.16): ``bf.add(v)``; ``v in bf`` is True when v was probably added
    (false positives possible, false negatives not). ``map_extra`` is the number of hash functions (1-15,
    0 for the kernel's default of 5). No deletes, no iteration.
    """

    map_types = (MapType.BLOOM_FILTER,)

    @classmethod
    def _prepare_create(cls, a: _CreateArgs) -> None:
        super()._prepare_create(a)
        if not 0 <= a.map_extra <= 15:
            raise BpfValueError(f"bloom filter map_extra is the number of hash functions, 0..15, not {a.map_extra}")

    def add(self, value: Any) -> None:
        """Add ``value`` to the filter."""
        self.update(None, value)

    def __contains__(self, value: Any) -> bool:
        try:
            self._take()
        except IndexError:  # buffers in use: another thread or a re-entrant call
            return self._slow_lookup(None, value) is not None
        try:
            try:
                self._vpack(self._vbuf, 0, value)
            except Exception:
                self._encode_value(value, self._vbuf)
            if self._c_lookup() >= 0:
                return True
            self._raise_unless_absent(Cmd.MAP_LOOKUP_ELEM, _NO_KEY)
            return False
        finally:
            self._give(True)
