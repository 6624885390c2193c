"""ctypes types from BTF, the way BCC types map keys, values and events (pure).

BCC hands Python ctypes instances: ``c_ulonglong`` for u64 (so ``k.value``
works), ``c_int`` for int, ``c_char * 16`` for char arrays (read as bytes),
``ctypes.Structure`` subclasses for structs with the C member names.  Layout
follows the BTF offsets exactly (explicit padding, packed), so what the
kernel wrote is what Python reads.
"""

from __future__ import annotations

import ctypes
import keyword
import re

from ..btf import Array, Btf, Const, Enum, Enum64, Float, Fwd, Int, IntEncoding, Ptr, Restrict, Struct, Typedef, TypeTag, Union_, Volatile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["btf_to_ctype", "ctype_from_c_name"]

_SIGNED = {1: ctypes.c_byte, 2: ctypes.c_short, 4: ctypes.c_int, 8: ctypes.c_longlong}
_UNSIGNED = {1: ctypes.c_ubyte, 2: ctypes.c_ushort, 4: ctypes.c_uint, 8: ctypes.c_ulonglong}

# C type names BCC programs use for keys and values, for maps whose BTF does not type them
_C_NAMES: dict[str, Any] = {
    "char": ctypes.c_char, "signed char": ctypes.c_byte, "unsigned char": ctypes.c_ubyte,
    "short": ctypes.c_short, "unsigned short": ctypes.c_ushort, "int": ctypes.c_int, "unsigned int": ctypes.c_uint,
    "unsigned": ctypes.c_uint, "long": ctypes.c_long, "unsigned long": ctypes.c_ulong, "long long": ctypes.c_longlong,
    "unsigned long long": ctypes.c_ulonglong, "_Bool": ctypes.c_bool, "bool": ctypes.c_bool,
    "u8": ctypes.c_ubyte, "u16": ctypes.c_ushort, "u32": ctypes.c_uint, "u64": ctypes.c_ulonglong,
    "s8": ctypes.c_byte, "s16": ctypes.c_short, "s32": ctypes.c_int, "s64": ctypes.c_longlong,
    "__u8": ctypes.c_ubyte, "__u16": ctypes.c_ushort, "__u32": ctypes.c_uint, "__u64": ctypes.c_ulonglong,
    "__s8": ctypes.c_byte, "__s16": ctypes.c_short, "__s32": ctypes.c_int, "__s64": ctypes.c_longlong,
    "pid_t": ctypes.c_int, "uid_t": ctypes.c_uint, "gid_t": ctypes.c_uint, "size_t": ctypes.c_ulong,
}


def ctype_from_c_name(text: str) -> Any | None:
    """The ctypes type of a simple C type name ('u32', 'unsigned long long' ...), or None."""
    return _C_NAMES.get(" ".join(text.split()))


def _skip(btf: Btf, tid: int) -> int:
    t = btf[tid]
    while isinstance(t, (Typedef, Const, Volatile, Restrict, TypeTag)):
        tid = t.type
        t = btf[tid]
    return tid


def _int_ctype(t: Int) -> Any:
    if t.encoding & IntEncoding.BOOL and t.size == 1:
        return ctypes.c_bool
    if t.size == 1 and t.name in ("char", "signed char") and not t.name.startswith("unsigned"):
        return ctypes.c_char if t.name == "char" else ctypes.c_byte
    if t.size == 16:
        return (ctypes.c_int64 if t.encoding & IntEncoding.SIGNED else ctypes.c_uint64) * 2
    table = _SIGNED if t.encoding & IntEncoding.SIGNED else _UNSIGNED
    ct = table.get(t.size)
    if ct is None:
        return ctypes.c_ubyte * t.size
    return ct


def _field_name(name: str, used: set[str]) -> str:
    n = name if name and not keyword.iskeyword(name) else (name + "_" if name else "")
    if not n or n in used:
        base = n or "__anon"
        k = 0
        while f"{base}{k}" in used:
            k += 1
        n = f"{base}{k}"
    used.add(n)
    return n


def btf_to_ctype(btf: Btf, type_id: int, _cache: dict[int, Any] | None = None, _depth: int = 0) -> Any:
    """The ctypes type of BTF type ``type_id`` (modifiers and typedefs resolved)."""
    cache: dict[int, Any] = {} if _cache is None else _cache
    if _depth > 64:
        raise ValueError(f"BTF type {type_id} nests too deeply")
    tid = _skip(btf, type_id)
    if tid in cache:
        return cache[tid]
    if tid == 0:
        raise TypeError("void has no ctypes type")
    t = btf[tid]
    ct: Any
    if isinstance(t, Int):
        ct = _int_ctype(t)
    elif isinstance(t, (Enum, Enum64)):
        table = _SIGNED if t.signed else _UNSIGNED
        ct = table.get(t.size, ctypes.c_ubyte * t.size)
    elif isinstance(t, Ptr):
        ct = ctypes.c_ulonglong
    elif isinstance(t, Float):
        ct = {4: ctypes.c_float, 8: ctypes.c_double}.get(t.size, ctypes.c_ubyte * t.size)
    elif isinstance(t, Array):
        elem = btf_to_ctype(btf, t.type, cache, _depth + 1)
        ct = elem * t.nelems
    elif isinstance(t, (Struct, Union_)):
        ct = _record(btf, tid, t, cache, _depth)
    elif isinstance(t, Fwd):
        raise TypeError(f"BTF type {t.name!r} is only declared (forward), its layout is unknown")
    else:
        raise TypeError(f"BTF type {type_id} ({t.kind.name}) has no ctypes equivalent")
    cache[tid] = ct
    return ct


def _record(btf: Btf, tid: int, t: Struct | Union_, cache: dict[int, Any], depth: int) -> Any:
    """A packed ctypes Structure/Union with explicit padding at the BTF offsets; bitfields as properties."""
    is_union = isinstance(t, Union_)
    base: Any = ctypes.Union if is_union else ctypes.Structure
    cname = re.sub(r"\W", "_", t.name) or f"anon_{tid}"
    cls: Any = type(cname, (base,), {})
    cache[tid] = cls  # for self-references through arrays (pointers are plain integers)
    fields: list[tuple[str, Any]] = []
    anonymous: list[str] = []
    used: set[str] = set()
    bitfields: list[tuple[str, int, int, bool]] = []  # name, bit offset, bits, signed
    pos = 0
    pad = 0
    for m in t.members:
        if m.bitfield_size:
            signed = False
            mt = btf[_skip(btf, m.type)]
            if isinstance(mt, Int):
                signed = bool(mt.encoding & IntEncoding.SIGNED)
            bitfields.append((_field_name(m.name, used), m.offset, m.bitfield_size, signed))
            continue
        if m.offset % 8:
            raise TypeError(f"member {m.name!r} of {t.name or 'an anonymous record'} is not byte aligned")
        off = m.offset // 8
        mct = btf_to_ctype(btf, m.type, cache, depth + 1)
        size = ctypes.sizeof(mct)
        if not is_union and off > pos:
            fields.append((f"__pad{pad}", ctypes.c_ubyte * (off - pos)))
            pad += 1
            pos = off
        if not is_union and off < pos:
            continue  # overlapping member (never produced by C compilers)
        name = _field_name(m.name, used)
        if not m.name and isinstance(btf[_skip(btf, m.type)], (Struct, Union_)):
            anonymous.append(name)
        fields.append((name, mct))
        pos = max(pos, off + size) if not is_union else max(pos, size)
    if not is_union and t.size > pos:
        fields.append((f"__pad{pad}", ctypes.c_ubyte * (t.size - pos)))
    if is_union and t.size > pos:
        fields.append((f"__pad{pad}", ctypes.c_ubyte * t.size))
    cls._pack_ = 1
    if anonymous:
        cls._anonymous_ = anonymous
    cls._fields_ = fields
    if ctypes.sizeof(cls) != t.size:
        raise TypeError(f"ctypes layout of {t.name or 'an anonymous record'} is {ctypes.sizeof(cls)} bytes, "
                        f"BTF says {t.size}")
    for name, bit_off, bits, signed in bitfields:
        setattr(cls, name, _bitfield_property(bit_off, bits, signed))
    return cls


def _bitfield_property(bit_off: int, bits: int, signed: bool) -> property:
    first = bit_off // 8
    last = (bit_off + bits + 7) // 8
    shift = bit_off - first * 8
    mask = (1 << bits) - 1

    def get(self: Any) -> int:
        raw = int.from_bytes(bytes(self)[first:last], "little")
        v = (raw >> shift) & mask
        if signed and v >> (bits - 1):
            v -= 1 << bits
        return v

    def set_(self: Any, value: int) -> None:
        buf = (ctypes.c_ubyte * ctypes.sizeof(self)).from_buffer(self)
        raw = int.from_bytes(bytes(buf[first:last]), "little")
        raw = (raw & ~(mask << shift)) | ((int(value) & mask) << shift)
        buf[first:last] = list(raw.to_bytes(last - first, "little"))

    return property(get, set_)
