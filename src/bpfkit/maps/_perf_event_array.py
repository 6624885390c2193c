"""Perf event arrays (BPF_MAP_TYPE_PERF_EVENT_ARRAY): one perf event fd per CPU (the reader is bpfkit.perf)."""

from __future__ import annotations

from .. import host
from .._uapi import MapType
from ._array import IndexedMap
from ._base import _CreateArgs
from ._codec import Codec, FdCodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = ["PerfEventArrayMap"]


class PerfEventArrayMap(IndexedMap):
    """BPF_MAP_TYPE_PERF_EVENT_ARRAY (Linux 4.3): ``m[cpu] = perf_event_fd``; ``del m[cpu]``.
    max_entries defaults to the number of possible CPUs. The kernel cannot read slots back to user space.
    """

    map_types = (MapType.PERF_EVENT_ARRAY,)
    default_max_entries: ClassVar[int | None] = None

    @classmethod
    def _prepare_create(cls, a: _CreateArgs) -> None:
        if a.max_entries is None:
            a.max_entries = host.possible_cpus()
        super()._prepare_create(a)

    def _make_value_codec(self, spec: Any) -> Codec:
        return FdCodec(self.value_size, "perf event fd")
