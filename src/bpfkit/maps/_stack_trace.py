"""Stack trace maps (BPF_MAP_TYPE_STACK_TRACE): stack id -> instruction pointers, filled by bpf_get_stackid."""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Iterator
from typing import NamedTuple

from .._sys import attrs as A
from .._uapi import MapFlags, MapType
from ..errors import BpfTypeError, BpfValueError
from ._base import Map
from ._codec import Codec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BuildIdFrame", "StackTraceMap", "StackCodec"]

PERF_MAX_STACK_DEPTH = 127


class BuildIdFrame(NamedTuple):
    """One frame of a BPF_F_STACK_BUILD_ID stack: status (0 empty, 1 valid, 2 ip only), build id, offset or ip."""

    status: int
    build_id: bytes
    offset_or_ip: int


class StackCodec(Codec):
    """A stack value: a tuple of instruction pointers (the zero tail dropped), or of BuildIdFrame."""

    def __init__(self, size: int, build_id: bool) -> None:
        unit = ctypes.sizeof(A.StackBuildId) if build_id else 8
        if size % unit:
            raise BpfValueError(f"stack trace values are a multiple of {unit} bytes, not {size}")
        super().__init__(size, "build-id stack" if build_id else "stack")
        self.build_id = build_id
        self.depth = size // unit
        self._ips = struct.Struct(f"={self.depth}Q")

    def decode(self, data: Any, offset: int = 0) -> tuple[Any, ...]:
        """The frames, outermost last, without the unused tail."""
        if self.build_id:
            at = A.StackBuildId.from_buffer_copy
            unit = ctypes.sizeof(A.StackBuildId)
            raw = (at(data, offset + i * unit) for i in range(self.depth))
            frames = [BuildIdFrame(f.status, bytes(f.build_id), f.offset) for f in raw]
            while frames and frames[-1].status == 0:
                frames.pop()
            return tuple(frames)
        ips = list(self._ips.unpack_from(data, offset))
        while ips and ips[-1] == 0:
            ips.pop()
        return tuple(ips)

    def _numpy_dtype(self, np: Any) -> Any:
        if self.build_id:  # struct bpf_stack_build_id
            f = A.StackBuildId
            frame = np.dtype({"names": ["status", "build_id", "offset_or_ip"], "formats": ["=i4", ("u1", (20,)), "=u8"],
                              "offsets": [f.status.offset, f.build_id.offset, f.offset.offset],
                              "itemsize": ctypes.sizeof(f)})
            return np.dtype((frame, (self.depth,)))
        return np.dtype(("=u8", (self.depth,)))

    def _encode(self, value: Any) -> bytes:
        if self.build_id:
            raise BpfTypeError("build-id stacks can only be given as bytes")
        ips = list(value)
        if len(ips) > self.depth:
            raise BpfValueError(f"{len(ips)} frames do not fit a stack of depth {self.depth}")
        return self._ips.pack(*(ips + [0] * (self.depth - len(ips))))


class StackTraceMap(Map):
    """BPF_MAP_TYPE_STACK_TRACE (Linux 4.6): ``m[stack_id]`` is a tuple of addresses; ``del``, ``in``, ``get``,
    iteration. Programs fill it (bpf_get_stackid); user space reads and deletes. value_size defaults to
    127 frames of 8 bytes.
    """

    map_types = (MapType.STACK_TRACE,)

    def _make_value_codec(self, spec: Any) -> Codec:
        if spec is not None:
            return super()._make_value_codec(spec)
        return StackCodec(self.value_size, bool(self.flags & MapFlags.STACK_BUILD_ID))

    __getitem__ = Map._getitem
    __delitem__ = Map.delete
    __contains__ = Map._has
    get = Map._get_or

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    def __len__(self) -> int:
        return sum(1 for _ in self._iter_raw_keys())
