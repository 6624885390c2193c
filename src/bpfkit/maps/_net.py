"""Networking maps: DEVMAP, DEVMAP_HASH, CPUMAP, XSKMAP, SOCKMAP, SOCKHASH, REUSEPORT_SOCKARRAY."""

from __future__ import annotations

import ctypes

from .. import host
from .._uapi import MapType
from ._array import IndexedMap
from ._base import Map, _CreateArgs
from ._codec import BtfStruct, Codec, FdCodec, IntCodec, make_codec
from ._hash import HashMap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CpuMap",
    "CpumapValue",
    "DevMap",
    "DevMapHash",
    "DevmapValue",
    "ReuseportSockArray",
    "SockHash",
    "SockMap",
    "XskMap",
]


class DevmapValue(BtfStruct):
    """struct bpf_devmap_val: the target ifindex and a program to run (an fd on write, its id on read)."""

    _fields_ = [("ifindex", ctypes.c_uint32), ("prog", ctypes.c_uint32)]
    _field_order = ("ifindex", "prog")
    _int_ranges = {"ifindex": (0, 0xFFFFFFFF), "prog": (0, 0xFFFFFFFF)}


class CpumapValue(BtfStruct):
    """struct bpf_cpumap_val: the queue size and a program to run (an fd on write, its id on read)."""

    _fields_ = [("qsize", ctypes.c_uint32), ("prog", ctypes.c_uint32)]
    _field_order = ("qsize", "prog")
    _int_ranges = {"qsize": (0, 0xFFFFFFFF), "prog": (0, 0xFFFFFFFF)}


def _val_codec(spec: Any, size: int, struct_t: type[Any], scalar: str) -> Codec:
    if spec is not None:
        return make_codec(spec, size, what="value")
    if size == 4:
        return IntCodec(4, name=scalar)
    return make_codec(struct_t, size, what="value")


class DevMap(IndexedMap):
    """BPF_MAP_TYPE_DEVMAP (Linux 4.14): XDP redirect targets; ``m[i] = ifindex`` (value_size 4) or
    ``m[i] = DevmapValue(ifindex=, prog=)`` / a dict (value_size 8)."""

    map_types = (MapType.DEVMAP,)
    element_ops_hold_gil = False

    def _make_value_codec(self, spec: Any) -> Codec:
        return _val_codec(spec, self.value_size, DevmapValue, "ifindex")


class DevMapHash(HashMap):
    """BPF_MAP_TYPE_DEVMAP_HASH (Linux 5.4): like DevMap with any u32 keys."""

    map_types = (MapType.DEVMAP_HASH,)
    element_ops_hold_gil = False

    def _make_value_codec(self, spec: Any) -> Codec:
        return _val_codec(spec, self.value_size, DevmapValue, "ifindex")


class CpuMap(IndexedMap):
    """BPF_MAP_TYPE_CPUMAP (Linux 4.15): XDP redirect to CPUs; ``m[cpu] = qsize`` (value_size 4) or
    ``CpumapValue(qsize=, prog=)`` (value_size 8). max_entries defaults to the possible CPUs."""

    map_types = (MapType.CPUMAP,)
    element_ops_hold_gil = False  # an update starts a kernel thread

    @classmethod
    def _prepare_create(cls, a: _CreateArgs) -> None:
        if a.max_entries is None:
            a.max_entries = host.possible_cpus()
        super()._prepare_create(a)

    def _make_value_codec(self, spec: Any) -> Codec:
        return _val_codec(spec, self.value_size, CpumapValue, "qsize")


class XskMap(IndexedMap):
    """BPF_MAP_TYPE_XSKMAP (Linux 4.18): AF_XDP sockets by queue; ``m[i] = xsk_socket_fd``.
    The kernel cannot read slots back to user space."""

    map_types = (MapType.XSKMAP,)
    element_ops_hold_gil = False

    def _make_value_codec(self, spec: Any) -> Codec:
        return FdCodec(self.value_size, "xsk socket fd")


class _SockValues(Map):
    element_ops_hold_gil = False

    def _make_value_codec(self, spec: Any) -> Codec:
        return FdCodec(self.value_size, "socket fd")


class SockMap(_SockValues, IndexedMap):
    """BPF_MAP_TYPE_SOCKMAP (Linux 4.14): ``m[i] = socket``; ``m[i]`` is the socket's cookie (value_size 8)."""

    map_types = (MapType.SOCKMAP,)


class SockHash(_SockValues, HashMap):
    """BPF_MAP_TYPE_SOCKHASH (Linux 4.18): sockets under any key; ``m[k]`` is the socket's cookie."""

    map_types = (MapType.SOCKHASH,)


class ReuseportSockArray(_SockValues, IndexedMap):
    """BPF_MAP_TYPE_REUSEPORT_SOCKARRAY (Linux 4.19): SO_REUSEPORT sockets for sk_reuseport programs;
    ``m[i]`` is the socket's cookie."""

    map_types = (MapType.REUSEPORT_SOCKARRAY,)


