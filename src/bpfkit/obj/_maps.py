"""Map definitions in an object: BTF-defined ``.maps``, legacy ``maps``, internal map names.

BTF-defined maps encode each attribute in the *type* of a member of an
anonymous struct: ``__uint(type, BPF_MAP_TYPE_HASH)`` is ``int (*type)[1]``
(a pointer to an array whose length is the value), ``__type(key, T)`` is
``T *key``, ``__array(values, struct inner)`` a zero-length array of pointers
to the inner map's definition (or to a function prototype for PROG_ARRAY).
"""

from __future__ import annotations

import struct

from .._record import Record
from .._uapi import MapFlags, MapType
from ..btf import Array, Btf, Enum, Enum64, FuncProto, Ptr, Struct
from ..errors import ObjectFormatError
from ._spec import MapKind, MapSpec, Pinning

__all__ = ["BPF_OBJ_NAME_LEN", "internal_map_name", "parse_btf_map_def", "parse_legacy_map_def"]

BPF_OBJ_NAME_LEN = 16
LEGACY_DEF_SIZE = 20  # struct bpf_map_def: type, key_size, value_size, max_entries, map_flags

_INT_FIELDS = ("type", "max_entries", "map_flags", "numa_node", "key_size", "value_size", "pinning")


def internal_map_name(obj_name: str, section: str) -> str:
    """libbpf's kernel name for a global data map: ``<objname prefix><section>``, at most 15 chars.

    ``.data``/``.bss``/``.rodata``/``.kconfig`` get as much of the object name
    as fits (7 characters are always reserved for the suffix); custom sections
    such as ``.rodata.str1.1`` keep their own name only.  Characters the kernel
    refuses in names become ``_``.
    """
    sfx_len = min(max(7, len(section)), BPF_OBJ_NAME_LEN - 1)
    pfx_len = 0 if "." in section[1:] else min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = obj_name[:pfx_len] + section[:sfx_len]
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_." else "_" for c in name)


class _Def(Record):
    """The parts of a map definition found so far."""

    _fields = ("map_type", "key_size", "value_size", "max_entries", "map_flags", "numa_node", "map_extra", "pinning",
               "key_type_id", "value_type_id", "inner")
    __slots__ = _fields

    def __init__(self) -> None:
        self.map_type = 0
        self.key_size = 0
        self.value_size = 0
        self.max_entries = 0
        self.map_flags = 0
        self.numa_node = 0
        self.map_extra = 0
        self.pinning = 0
        self.key_type_id: int | None = None
        self.value_type_id: int | None = None
        self.inner: _Def | None = None


def _err(map_name: str, why: str) -> ObjectFormatError:
    return ObjectFormatError(f"map {map_name!r}: {why}", section=".maps")


def _field_int(btf: Btf, map_name: str, member: str, type_id: int) -> int:
    """An ``__uint(name, N)`` attribute: a pointer to an array of N elements."""
    t = btf[btf.skip_modifiers(type_id)]
    if not isinstance(t, Ptr):
        raise _err(map_name, f"attribute {member!r} is a {t.kind.name.lower()}, expected a pointer (__uint)")
    arr = btf[t.type]
    if not isinstance(arr, Array):
        raise _err(map_name, f"attribute {member!r} points to a {arr.kind.name.lower()}, expected an array (__uint)")
    return arr.nelems


def _field_long(btf: Btf, map_name: str, member: str, type_id: int) -> int:
    """``map_extra``: an __uint, or an __ulong (an enum with a single enumerator)."""
    t = btf[btf.skip_modifiers(type_id)]
    if isinstance(t, Ptr):
        return _field_int(btf, map_name, member, type_id)
    if not isinstance(t, (Enum, Enum64)):
        raise _err(map_name, f"attribute {member!r} is a {t.kind.name.lower()}, expected an enum (__ulong)")
    if len(t.values) != 1:
        raise _err(map_name, f"attribute {member!r} is an enum of {len(t.values)} values, expected one (__ulong)")
    return t.values[0].value & 0xFFFFFFFFFFFFFFFF


def _sized_type(btf: Btf, map_name: str, member: str, type_id: int) -> tuple[int, int]:
    """``__type(key, T)``: the pointee's id and size."""
    t = btf[type_id]
    if not isinstance(t, Ptr):
        raise _err(map_name, f"{member} spec is a {t.kind.name.lower()}, expected a pointer (__type)")
    try:
        size = btf.size_of(t.type)
    except ValueError as exc:
        raise _err(map_name, f"cannot determine the {member} size: {exc}") from None
    return t.type, size


def _set_size(map_name: str, d: _Def, attr: str, size: int) -> None:
    current = getattr(d, attr)
    if current and current != size:
        raise _err(map_name, f"conflicting {attr.replace('_', ' ')} {current} != {size}")
    setattr(d, attr, size)


def _parse_def(btf: Btf, map_name: str, def_id: int, *, is_inner: bool) -> _Def:
    t = btf[btf.skip_modifiers(def_id)]
    if not isinstance(t, Struct):
        raise _err(map_name, f"definition is a {t.kind.name.lower()}, expected a struct")
    d = _Def()
    for i, m in enumerate(t.members):
        name = m.name
        if name in _INT_FIELDS:
            value = _field_int(btf, map_name, name, m.type)
            if name == "type":
                d.map_type = value
            elif name == "max_entries":
                d.max_entries = value
            elif name == "map_flags":
                d.map_flags = value
            elif name == "numa_node":
                d.numa_node = value
            elif name == "key_size":
                _set_size(map_name, d, "key_size", value)
            elif name == "value_size":
                _set_size(map_name, d, "value_size", value)
            else:
                if is_inner:
                    raise _err(map_name, "an inner map definition cannot be pinned")
                if value not in (Pinning.NONE, Pinning.BY_NAME):
                    raise _err(map_name, f"invalid pinning value {value}")
                d.pinning = value
        elif name == "key":
            d.key_type_id, size = _sized_type(btf, map_name, "key", m.type)
            _set_size(map_name, d, "key_size", size)
        elif name == "value":
            d.value_type_id, size = _sized_type(btf, map_name, "value", m.type)
            _set_size(map_name, d, "value_size", size)
        elif name == "map_extra":
            d.map_extra = _field_long(btf, map_name, name, m.type)
        elif name == "values":
            _parse_values(btf, map_name, d, m.type, last=i == len(t.members) - 1, is_inner=is_inner)
        else:
            raise _err(map_name, f"unknown attribute {name!r}")
    if d.map_type == MapType.UNSPEC:
        raise _err(map_name, "map type is not specified")
    return d


def _parse_values(btf: Btf, map_name: str, d: _Def, type_id: int, *, last: bool, is_inner: bool) -> None:
    """``__array(values, ...)``: an inner map template (map of maps) or a prog array's value."""
    map_in_map = d.map_type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)
    prog_array = d.map_type == MapType.PROG_ARRAY
    if is_inner:
        raise _err(map_name, "multi-level inner maps are not supported")
    if not last:
        raise _err(map_name, "'values' must be the last attribute")
    if not map_in_map and not prog_array:
        raise _err(map_name, "'values' needs a map of maps or a prog array")
    _set_size(map_name, d, "value_size", 4)
    arr = btf[type_id]
    if not isinstance(arr, Array) or arr.nelems:
        raise _err(map_name, "'values' is not a zero-length array")
    ptr = btf[btf.skip_modifiers(arr.type)]
    if not isinstance(ptr, Ptr):
        raise _err(map_name, f"'values' holds a {ptr.kind.name.lower()}, expected pointers")
    target = btf.skip_modifiers(ptr.type)
    if prog_array:
        if not isinstance(btf[target], FuncProto):
            raise _err(map_name, "prog array 'values' must point to a function prototype")
        return
    d.inner = _parse_def(btf, f"{map_name}.inner", target, is_inner=True)


def _map_type(map_name: str, value: int, section: str) -> MapType:
    try:
        return MapType(value)
    except ValueError:
        raise ObjectFormatError(f"map {map_name!r}: unknown map type {value}", section=section) from None


def _to_spec(name: str, d: _Def, *, section: str, offset: int) -> MapSpec:
    inner = _to_spec(f"{name}.inner", d.inner, section=section, offset=offset) if d.inner is not None else None
    return MapSpec(
        name=name,
        type=_map_type(name, d.map_type, section),
        key_size=d.key_size,
        value_size=d.value_size,
        max_entries=d.max_entries,
        flags=MapFlags(d.map_flags),
        numa_node=d.numa_node,
        map_extra=d.map_extra,
        pinning=Pinning(d.pinning),
        key_type_id=d.key_type_id,
        value_type_id=d.value_type_id,
        inner=inner,
        section=section,
        kind=MapKind.BTF,
        offset=offset,
    )


def parse_btf_map_def(btf: Btf, name: str, def_type_id: int, *, section: str = ".maps", offset: int = 0) -> MapSpec:
    """The MapSpec described by a BTF map definition struct (the type of a VAR in ``.maps``)."""
    return _to_spec(name, _parse_def(btf, name, def_type_id, is_inner=False), section=section, offset=offset)


def parse_legacy_map_def(name: str, data: bytes, byteorder: str, *, section: str = "maps", offset: int = 0) -> MapSpec:
    """A ``struct bpf_map_def`` of the legacy ``SEC("maps")`` (source document 001).

    Fields: type, key_size, value_size, max_entries, map_flags (u32 each); a
    shorter definition is zero-extended; bytes past the five fields (iproute2
    and samples/bpf append their own) are kept in ``MapSpec.extra``.
    """
    raw = data[:LEGACY_DEF_SIZE].ljust(LEGACY_DEF_SIZE, b"\0")
    mtype, key_size, value_size, max_entries, flags = struct.unpack(("<" if byteorder == "little" else ">") + "5I", raw)
    return MapSpec(
        name=name,
        type=_map_type(name, mtype, section),
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        flags=MapFlags(flags),
        section=section,
        kind=MapKind.LEGACY,
        offset=offset,
        extra=bytes(data[LEGACY_DEF_SIZE:]),
    )
