"""Where a named field lives in a map key, map value or ring buffer record, from the object's BTF (pure).

The exporter's configuration names fields by their BTF names (``key.pid``,
``slots``); this module turns such a name into an offset, a size and a kind,
so reading a map never decodes a whole struct per entry.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from ..btf import Array, Btf, Enum, Enum64, Int, Ptr, Struct, Union_
from ..errors import FieldError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Field", "FieldError", "Layout", "field_of", "inline_layout", "layout_of", "raw_layout"]


@dataclass(frozen=True)
class Field:
    """A field at ``offset`` of ``size`` bytes: kind 'int' (``signed``), 'chars', 'array' (``count`` of
    ``elem`` ints), or 'bytes' (anything else: structs, unions, floats)."""

    name: str
    offset: int
    size: int
    kind: str
    signed: bool = False
    count: int = 0
    elem: int = 0

    def int_struct(self) -> struct.Struct:
        """The struct reading this int field (or one element of an int array)."""
        size = self.elem if self.kind == "array" else self.size
        code = {1: "b", 2: "h", 4: "i", 8: "q"}.get(size)
        if code is None:
            raise FieldError(f"field {self.name!r} is {size} bytes: only 1, 2, 4 and 8-byte integers can be values")
        return struct.Struct("<" + (code if self.signed else code.upper()))


@dataclass(frozen=True)
class Layout:
    """A type's size and how to find its named fields (``fields``: top-level and dotted nested names)."""

    type_name: str
    size: int
    fields: dict[str, Field]
    whole: Field

    def field(self, name: str | None, what: str) -> Field:
        """The field ``name`` (None or '.' for the whole type); FieldError names the fields there are."""
        if name is None or name in (".", ""):
            return self.whole
        f = self.fields.get(name)
        if f is None:
            have = ", ".join(sorted(self.fields)) or "none: it is not a struct"
            raise FieldError(f"{what}: {self.type_name} has no field {name!r} (fields: {have})")
        return f


def _describe(btf: Btf, type_id: int, name: str, offset: int) -> Field:
    tid = btf.skip_modifiers(type_id)
    t = btf[tid]
    size = btf.size_of(tid)
    if isinstance(t, Int):
        return Field(name, offset, size, "int", signed=t.signed)
    if isinstance(t, (Enum, Enum64)):
        return Field(name, offset, size, "int", signed=False)
    if isinstance(t, Ptr):
        return Field(name, offset, 8, "int", signed=False)
    if isinstance(t, Array):
        eid = btf.skip_modifiers(t.type)
        et = btf[eid]
        if isinstance(et, Int) and et.size == 1 and "char" in et.name:
            return Field(name, offset, size, "chars")
        if isinstance(et, (Int, Enum, Enum64, Ptr)):
            esize = btf.size_of(eid)
            return Field(name, offset, size, "array", signed=isinstance(et, Int) and et.signed, count=t.nelems, elem=esize)
    return Field(name, offset, size, "bytes")


def _walk(btf: Btf, type_id: int, prefix: str, base: int, out: dict[str, Field]) -> None:
    tid = btf.skip_modifiers(type_id)
    t = btf[tid]
    if not isinstance(t, (Struct, Union_)):
        return
    for m in t.members:
        off = base + m.offset // 8
        if m.bitfield_size or m.offset % 8:
            continue  # bitfields cannot be labels or values
        if not m.name:  # anonymous struct/union: its members belong to the parent
            _walk(btf, m.type, prefix, off, out)
            continue
        name = prefix + m.name
        out[name] = _describe(btf, m.type, name, off)
        _walk(btf, m.type, name + ".", off, out)


def layout_of(btf: Btf, type_id: int) -> Layout:
    """The layout of BTF type ``type_id``: every named (and nested, dotted) member with its offset."""
    fields: dict[str, Field] = {}
    _walk(btf, type_id, "", 0, fields)
    tid = btf.skip_modifiers(type_id)
    tname = btf.name_of(tid) or btf[tid].kind.name.lower()
    t = btf[tid]
    if isinstance(t, (Struct, Union_)):
        tname = f"{'struct' if isinstance(t, Struct) else 'union'} {t.name or '(anon)'}"
    return Layout(tname, btf.size_of(tid), fields, _describe(btf, type_id, ".", 0))


def raw_layout(size: int) -> Layout:
    """The layout of a type known only by its size: an unsigned int for 1/2/4/8 bytes, else bytes."""
    kind = "int" if size in (1, 2, 4, 8) else "bytes"
    return Layout(f"{size}-byte value", size, {}, Field(".", 0, size, kind))


def field_of(btf: Btf, struct_name: str) -> int:
    """The BTF id of ``struct NAME`` (or a typedef ``NAME``) in ``btf``; FieldError if it is absent."""
    name = struct_name.removeprefix("struct ").strip()
    for tid in btf.find(name):
        t = btf[btf.skip_modifiers(tid)]
        if isinstance(t, (Struct, Union_)):
            return tid
    raise FieldError(f"the object's BTF has no struct {name!r} (BTF keeps only types that maps, functions and CO-RE "
                     "use; write the record's layout inline: record: {size: N, fields: [{name, offset, type}]})")


_INLINE_RE = re.compile(r"^(u8|u16|u32|u64|s8|s16|s32|s64|char\[(\d+)\]|bytes\[(\d+)\])$")


def inline_layout(spec: Mapping[str, Any], where: str) -> Layout:
    """A record layout written in the configuration, for records whose struct is not in the object's BTF.

    ``{size: 168, fields: [{name: pid, offset: 0, type: s32}, {name: comm, offset: 24, type: 'char[16]'}]}``;
    types are u8..u64, s8..s64, char[N] and bytes[N].
    """
    size = spec.get("size")
    fields_in = spec.get("fields")
    if not isinstance(size, int) or size <= 0 or not isinstance(fields_in, list) or not fields_in:
        raise FieldError(f"{where}: an inline record needs 'size' (bytes) and 'fields' (a list)")
    fields: dict[str, Field] = {}
    for i, f in enumerate(fields_in):
        if not isinstance(f, Mapping) or not isinstance(f.get("name"), str) or not isinstance(f.get("offset"), int):
            raise FieldError(f"{where}.fields[{i}]: a field needs 'name', 'offset' and 'type'")
        m = _INLINE_RE.match(str(f.get("type", "")))
        if m is None:
            raise FieldError(f"{where}.fields[{i}]: type must be u8..u64, s8..s64, char[N] or bytes[N], not {f.get('type')!r}")
        t = m.group(1)
        if m.group(2):
            fld = Field(f["name"], f["offset"], int(m.group(2)), "chars")
        elif m.group(3):
            fld = Field(f["name"], f["offset"], int(m.group(3)), "bytes")
        else:
            fld = Field(f["name"], f["offset"], int(t[1:]) // 8, "int", signed=t[0] == "s")
        if fld.offset < 0 or fld.offset + fld.size > size:
            raise FieldError(f"{where}.fields[{i}]: {fld.name!r} at {fld.offset}+{fld.size} lies outside the {size}-byte record")
        fields[fld.name] = fld
    return Layout("inline record", size, fields, Field(".", 0, size, "bytes"))
