"""Cgroup arrays (BPF_MAP_TYPE_CGROUP_ARRAY): cgroup fds for bpf_current_task_under_cgroup / skb_under_cgroup."""

from __future__ import annotations

from .._uapi import MapType
from ._array import IndexedMap
from ._codec import Codec, FdCodec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CgroupArrayMap"]


class CgroupArrayMap(IndexedMap):
    """BPF_MAP_TYPE_CGROUP_ARRAY (Linux 4.8): ``m[i] = os.open(cgroup_dir, os.O_RDONLY)``; ``del m[i]``.
    The kernel cannot read slots back to user space.
    """

    map_types = (MapType.CGROUP_ARRAY,)

    def _make_value_codec(self, spec: Any) -> Codec:
        return FdCodec(self.value_size, "cgroup fd")
