"""Local storage maps (SK_STORAGE, INODE_STORAGE, TASK_STORAGE, CGRP_STORAGE): values attached to kernel objects.

The kernel requires BTF for these maps (an ``int`` key and a typed value);
bpfkit builds and loads it from ``value_type`` (a ctypes type or ``(Btf, id)``,
copied) or, without one, from the size (an unsigned int or a byte array).
"""

from __future__ import annotations

from collections.abc import Iterator

from .. import host
from .._uapi import MapType
from ..btf._gen import value_btf
from ..errors import BpfValueError
from ._base import Map, _CreateArgs
from ._codec import Codec, FdCodec, PerCpuCodec, make_codec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CgroupStorageMap",
    "CgrpStorageMap",
    "InodeStorageMap",
    "LocalStorageMap",
    "PerCpuCgroupStorageMap",
    "SkStorageMap",
    "TaskStorageMap",
]


class LocalStorageMap(Map):
    """Storage keyed by an fd of the owning object: ``m[obj] = v``, ``m[obj]``, ``del m[obj]``, ``obj in m``,
    ``get``. Keys are ints or anything with ``fileno()``/``.fd``. No iteration: the kernel has none.
    """

    element_ops_hold_gil = False

    @classmethod
    def _prepare_create(cls, a: _CreateArgs) -> None:
        super()._prepare_create(a)
        if a.key_size != 4 or a.max_entries != 0:
            raise BpfValueError(f"{cls.__name__} needs key_size 4 (an fd) and max_entries 0")
        assert a.value_size is not None
        if a.btf_fd is None and not (a.btf is not None and a.btf_value_type_id):
            btf, key_id, value_id = value_btf(a.value_type, a.value_size)
            a.btf, a.btf_key_type_id, a.btf_value_type_id = btf, key_id, value_id
            if a.value_type is None:
                a.value_type = (btf, value_id)
        elif not a.btf_key_type_id or not a.btf_value_type_id:
            raise BpfValueError(f"{cls.__name__} with your own BTF needs btf_key_type_id and btf_value_type_id")

    def _make_key_codec(self, spec: Any) -> Codec:
        return FdCodec(4, "fd")

    __getitem__ = Map._getitem
    __setitem__ = Map._setitem
    __delitem__ = Map.delete
    __contains__ = Map._has
    get = Map._get_or


class SkStorageMap(LocalStorageMap):
    """BPF_MAP_TYPE_SK_STORAGE (Linux 5.2): keyed by a socket (fd)."""

    map_types = (MapType.SK_STORAGE,)


class InodeStorageMap(LocalStorageMap):
    """BPF_MAP_TYPE_INODE_STORAGE (Linux 5.10): keyed by an open file's inode (fd); needs BPF LSM."""

    map_types = (MapType.INODE_STORAGE,)


class TaskStorageMap(LocalStorageMap):
    """BPF_MAP_TYPE_TASK_STORAGE (Linux 5.11): keyed by a task, given as a pidfd (``os.pidfd_open(pid)``)."""

    map_types = (MapType.TASK_STORAGE,)


class CgrpStorageMap(LocalStorageMap):
    """BPF_MAP_TYPE_CGRP_STORAGE (Linux 6.2): keyed by a cgroup directory fd."""

    map_types = (MapType.CGRP_STORAGE,)


class CgroupStorageMap(Map):
    """BPF_MAP_TYPE_CGROUP_STORAGE (Linux 4.19, superseded by CGRP_STORAGE): one value per attached
    (cgroup, attach type). Keys are ``(cgroup_inode_id, attach_type)`` (key_size 16) or the inode id
    (key_size 8); entries exist only while a program using the map is attached. max_entries is 0.
    """

    map_types = (MapType.CGROUP_STORAGE,)

    def _make_key_codec(self, spec: Any) -> Codec:
        if spec is None and self.key_size == 16:
            return make_codec("=QI4x", 16, what="key")
        return make_codec(spec, self.key_size, what="key")

    __getitem__ = Map._getitem
    __setitem__ = Map._setitem
    __contains__ = Map._has
    get = Map._get_or

    def __iter__(self) -> Iterator[Any]:
        return self.keys()


class PerCpuCgroupStorageMap(CgroupStorageMap):
    """BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE (Linux 4.20): like CgroupStorageMap with per-CPU values (lists)."""

    map_types = (MapType.PERCPU_CGROUP_STORAGE,)

    def _make_value_codec(self, spec: Any) -> Codec:
        return PerCpuCodec(make_codec(spec, self.value_size, what="value"), host.possible_cpus())
