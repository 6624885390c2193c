"""Instruction arrays (BPF_MAP_TYPE_INSN_ARRAY, Linux 6.19): instruction offsets the kernel follows through
verification and JIT, the jump tables of indirect jumps."""

from __future__ import annotations

import ctypes

from .._uapi import MapType
from ._array import IndexedMap
from ._codec import BtfStruct, Codec, make_codec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["InsnArrayMap", "InsnArrayValue"]


class InsnArrayValue(BtfStruct):
    """struct bpf_insn_array_value: an instruction's index in the program as loaded (``orig_off``, the one
    user space writes), after the verifier's rewrites (``xlated_off``) and its byte offset in the JIT image
    (``jitted_off``); the kernel fills the last two when a program using the map loads."""

    _fields_ = [("orig_off", ctypes.c_uint32), ("xlated_off", ctypes.c_uint32), ("jitted_off", ctypes.c_uint32),
                ("_reserved", ctypes.c_uint32)]
    _field_order = ("orig_off", "xlated_off", "jitted_off")
    _int_ranges = {"orig_off": (0, 0xFFFFFFFF), "xlated_off": (0, 0xFFFFFFFF), "jitted_off": (0, 0xFFFFFFFF)}


class InsnArrayMap(IndexedMap):
    """BPF_MAP_TYPE_INSN_ARRAY (Linux 6.19): ``m[i] = InsnArrayValue(orig_off=n)`` (or ``{"orig_off": n}``)
    names instruction ``n``; ``m[i]`` reads the offsets back. Slots cannot be deleted and only ``orig_off``
    may be written; :meth:`freeze` the map before a program that uses it loads (at most 256 entries
    on the first kernels)."""

    map_types = (MapType.INSN_ARRAY,)

    def _make_value_codec(self, spec: Any) -> Codec:
        return make_codec(spec if spec is not None else InsnArrayValue, self.value_size, what="value")
