"""Build small BTF for maps: from ctypes types, or by copying a type (and what it refers to) out of another BTF.

Pure: returns :class:`Btf` objects and type ids; loading them is :func:`bpfkit._kbtf.load_btf`.
"""

from __future__ import annotations

import ctypes

from .._record import replace
from ..errors import BpfValueError
from ._parse import Btf
from ._types import (
    Array,
    BtfType,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    FuncProto,
    Int,
    IntEncoding,
    Member,
    Param,
    Struct,
    Union_,
    VarSecinfo,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["copy_type", "ctype_to_btf", "int_type", "value_btf"]

_SIGNED = {ctypes.c_int8, ctypes.c_int16, ctypes.c_int32, ctypes.c_int64, ctypes.c_byte, ctypes.c_short,
           ctypes.c_int, ctypes.c_long, ctypes.c_longlong, ctypes.c_ssize_t}
_UNSIGNED = {ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_ushort,
             ctypes.c_uint, ctypes.c_ulong, ctypes.c_ulonglong, ctypes.c_size_t}
_INT_NAMES = {(1, False): "unsigned char", (2, False): "unsigned short", (4, False): "unsigned int",
              (8, False): "unsigned long long", (1, True): "signed char", (2, True): "short", (4, True): "int",
              (8, True): "long long"}


def int_type(btf: Btf, size: int, signed: bool = False, memo: dict[Any, int] | None = None) -> int:
    """Add (once per memo) a C integer type of ``size`` bytes; returns its id."""
    key = ("int", size, signed)
    if memo is not None and key in memo:
        return memo[key]
    tid = btf.add(Int(_INT_NAMES[(size, signed)], size, IntEncoding.SIGNED if signed else IntEncoding.NONE))
    if memo is not None:
        memo[key] = tid
    return tid


def ctype_to_btf(ct: type[Any], btf: Btf, memo: dict[Any, int] | None = None) -> int:
    """Describe a ctypes type in ``btf`` (ints, floats, char/byte arrays, arrays, structs, unions); returns its id.

    Bitfields are not described (ValueError): the caller falls back to a byte array.
    """
    memo = {} if memo is None else memo
    if ct in memo:
        return memo[ct]
    tid: int
    if ct in _SIGNED or ct in _UNSIGNED:
        tid = int_type(btf, ctypes.sizeof(ct), ct in _SIGNED, memo)
    elif ct is ctypes.c_bool:
        tid = btf.add(Int("_Bool", 1, IntEncoding.BOOL))
    elif ct is ctypes.c_char:
        tid = btf.add(Int("char", 1, IntEncoding.SIGNED))
    elif ct in (ctypes.c_float, ctypes.c_double):
        tid = btf.add(Float("float" if ct is ctypes.c_float else "double", ctypes.sizeof(ct)))
    elif isinstance(ct, type) and issubclass(ct, ctypes.Array):
        arr: Any = ct
        elem = ctype_to_btf(arr._type_, btf, memo)
        idx = int_type(btf, 4, False, memo)
        tid = btf.add(Array(elem, idx, int(arr._length_)))
    elif isinstance(ct, type) and issubclass(ct, (ctypes.Structure, ctypes.Union)):
        members = []
        for f in ct._fields_:
            if len(f) > 2:
                raise BpfValueError(f"{ct.__name__}.{f[0]} is a bitfield; describe it with BTF instead")
            fname, ftype = f[0], f[1]
            off = getattr(ct, fname).offset
            members.append(Member(fname, ctype_to_btf(ftype, btf, memo), off * 8))
        cls = Union_ if issubclass(ct, ctypes.Union) else Struct
        tid = btf.add(cls(ct.__name__, ctypes.sizeof(ct), members))
    else:
        raise BpfValueError(f"cannot describe {ct!r} in BTF")
    memo[ct] = tid
    return tid


def copy_type(src: Btf, type_id: int, dst: Btf, memo: dict[Any, int] | None = None) -> int:
    """Copy ``src[type_id]`` and every type it refers to into ``dst``; returns the new id.

    Pointers are copied as pointers to their target (forward declarations break
    cycles the way C does: a struct is added before its members are filled).
    """
    memo = {} if memo is None else memo
    return _copy(src, type_id, dst, memo)


def _copy(src: Btf, tid: int, dst: Btf, memo: dict[Any, int]) -> int:
    if tid == 0:
        return 0
    key = ("copy", id(src), tid)
    if key in memo:
        return memo[key]
    t = src[tid]
    if isinstance(t, (Struct, Union_)):
        shell = replace(t, members=[])
        new = dst.add(shell)
        memo[key] = new
        members = [Member(m.name, _copy(src, m.type, dst, memo), m.offset, m.bitfield_size) for m in t.members]
        shell.members = members
        return new
    nt: BtfType
    if isinstance(t, Array):
        nt = replace(t, type=_copy(src, t.type, dst, memo), index_type=_copy(src, t.index_type, dst, memo))
    elif isinstance(t, FuncProto):
        nt = replace(t, return_type=_copy(src, t.return_type, dst, memo),
                                 params=[Param(p.name, _copy(src, p.type, dst, memo)) for p in t.params])
    elif isinstance(t, Datasec):
        nt = replace(t, vars=[VarSecinfo(_copy(src, v.type, dst, memo), v.offset, v.size) for v in t.vars])
    elif isinstance(t, DeclTag) or hasattr(t, "type"):
        ref: Any = t
        nt = replace(ref, type=_copy(src, ref.type, dst, memo))
    elif isinstance(t, (Enum, Enum64)):
        nt = replace(t, values=list(t.values))
    else:
        plain: Any = t
        nt = replace(plain)
    new = dst.add(nt)
    memo[key] = new
    return new


def value_btf(value_spec: Any, value_size: int) -> tuple[Btf, int, int]:
    """A fresh BTF with ``int`` (the key of storage maps) and a value type of ``value_size`` bytes.

    ``value_spec`` may be ``(Btf, type_id)`` (copied), a ctypes type, or anything
    else (then an unsigned int of 1/2/4/8 bytes or an ``unsigned char[N]``).
    Returns (btf, key type id, value type id).
    """
    btf = Btf()
    memo: dict[Any, int] = {}
    key_id = int_type(btf, 4, True, memo)
    value_id = 0
    if isinstance(value_spec, tuple) and len(value_spec) == 2 and isinstance(value_spec[0], Btf):
        src, tid = value_spec
        if src.size_of(tid) == value_size:
            value_id = copy_type(src, int(tid), btf, memo)
    elif (
        isinstance(value_spec, type)
        and issubclass(value_spec, (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array))
        and ctypes.sizeof(value_spec) == value_size
    ):
        try:
            value_id = ctype_to_btf(value_spec, btf, memo)
        except ValueError:
            value_id = 0
    if not value_id:
        if value_size in (1, 2, 4, 8):
            value_id = int_type(btf, value_size, False, memo)
        else:
            byte = int_type(btf, 1, False, memo)
            value_id = btf.add(Array(byte, int_type(btf, 4, False, memo), value_size))
    return btf, key_id, value_id
