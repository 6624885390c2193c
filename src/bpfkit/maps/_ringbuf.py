"""Ring buffer maps (BPF_MAP_TYPE_RINGBUF, USER_RINGBUF): the map objects; readers and writers live in bpfkit.ringbuf."""

from __future__ import annotations

from .. import host
from .._uapi import MapType
from ..errors import BpfValueError
from ._base import Map, _CreateArgs

__all__ = ["RingBufMap", "UserRingBufMap"]


class _Ring(Map):

    @classmethod
    def _prepare_create(cls, a: _CreateArgs) -> None:
        super()._prepare_create(a)
        n = a.max_entries or 0
        page = host.page_size()
        if n <= 0 or n & (n - 1) or n % page:
            raise BpfValueError(f"ring buffer size (max_entries) must be a power of 2 and a multiple of {page}, not {n}")
        if a.key_size or a.value_size:
            raise BpfValueError("ring buffers have no keys or values: key_size and value_size must be 0")

    @property
    def data_size(self) -> int:
        """Bytes of the data area (max_entries)."""
        return self.max_entries


class RingBufMap(_Ring):
    """BPF_MAP_TYPE_RINGBUF (Linux 5.8): kernel -> user records. Read it with bpfkit.RingBuffer.

    ``lost_counter`` is the map where the object's BPF code counts the records it
    could not reserve (see :class:`bpfkit.RingBuffer`); :func:`bpfkit.load` sets it
    when the object has a map named ``<this map's name>_lost``, else it is None.
    """

    map_types = (MapType.RINGBUF,)
    lost_counter: Map | None = None


class UserRingBufMap(_Ring):
    """BPF_MAP_TYPE_USER_RINGBUF (Linux 6.1): user -> kernel records, drained by bpf_user_ringbuf_drain."""

    map_types = (MapType.USER_RINGBUF,)
