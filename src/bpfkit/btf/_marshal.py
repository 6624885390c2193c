"""Marshal BTF types back into the kernel's binary format (for BTF_LOAD and files)."""

from __future__ import annotations

import struct
from collections.abc import Iterable

from ..errors import BpfOverflowError, BpfTypeError, BpfValueError
from ._types import (
    Array,
    BtfKind,
    BtfType,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncProto,
    Fwd,
    Int,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union_,
    Var,
    Void,
    Volatile,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._parse import Btf

__all__ = ["StringTable", "encode", "encode_types", "encode_with_strings"]


class StringTable:
    """A deduplicating BTF string section; offset 0 is the empty string."""

    def __init__(self, base_len: int = 0) -> None:
        self._base_len = base_len
        self._buf = bytearray(b"\0") if base_len == 0 else bytearray()
        self._index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        """Offset of ``s`` (as seen by the kernel), adding it once."""
        off = self._index.get(s)
        if off is None:
            off = self._base_len + len(self._buf)
            self._buf += s.encode() + b"\0"
            self._index[s] = off
        return off

    def to_bytes(self) -> bytes:
        """The section's bytes."""
        return bytes(self._buf)


def _info(kind: int, vlen: int, kflag: bool) -> int:
    if vlen > 0xFFFF:
        raise BpfValueError(f"BTF {BtfKind(kind).name} has {vlen} entries, more than 65535")
    return (int(kflag) << 31) | (kind << 24) | vlen


def _u32(v: int) -> int:
    return v & 0xFFFFFFFF


def encode_types(types: list[BtfType], strings: StringTable, byteorder: str = "little") -> bytes:
    """Encode type records (no header) appending their names to ``strings``."""
    p = "<" if byteorder == "little" else ">"
    out = bytearray()
    hdr = struct.Struct(p + "III")
    w = struct.Struct(p + "I")
    for t in types:
        try:
            _encode_one(t, strings, out, p, hdr, w)
        except struct.error as exc:  # a field out of its u32/u16 range: say which type
            raise BpfOverflowError(
                f"BTF {t.kind.name} {t.name!r} cannot be encoded: a field is out of range ({exc})"
            ) from None
    return bytes(out)


def _encode_one(t: BtfType, strings: StringTable, out: bytearray, p: str, hdr: struct.Struct, w: struct.Struct) -> None:
    """Append one type record to ``out``."""
    name = strings.add(t.name)
    if isinstance(t, Int):
        out += hdr.pack(name, _info(BtfKind.INT, 0, False), t.size)
        out += w.pack((int(t.encoding) << 24) | (t.offset << 16) | t.bits)
    elif isinstance(t, (Ptr, Typedef, Volatile, Const, Restrict)):
        out += hdr.pack(name, _info(t.kind, 0, False), t.type)
    elif isinstance(t, TypeTag):
        out += hdr.pack(name, _info(t.kind, 0, t.kind_flag), t.type)
    elif isinstance(t, Array):
        out += hdr.pack(name, _info(BtfKind.ARRAY, 0, False), 0)
        out += struct.pack(p + "III", t.type, t.index_type, t.nelems)
    elif isinstance(t, (Struct, Union_)):
        kf = t.kind_flag or any(m.bitfield_size for m in t.members)
        out += hdr.pack(name, _info(t.kind, len(t.members), kf), t.size)
        for m in t.members:
            off = (m.bitfield_size << 24) | m.offset if kf else m.offset
            out += struct.pack(p + "III", strings.add(m.name), m.type, off)
    elif isinstance(t, Enum):
        out += hdr.pack(name, _info(BtfKind.ENUM, len(t.values), t.signed), t.size)
        for v in t.values:
            out += struct.pack(p + "II", strings.add(v.name), _u32(v.value))
    elif isinstance(t, Enum64):
        out += hdr.pack(name, _info(BtfKind.ENUM64, len(t.values), t.signed), t.size)
        for v in t.values:
            raw = v.value & 0xFFFFFFFFFFFFFFFF
            out += struct.pack(p + "III", strings.add(v.name), raw & 0xFFFFFFFF, raw >> 32)
    elif isinstance(t, Fwd):
        out += hdr.pack(name, _info(BtfKind.FWD, 0, t.is_union), 0)
    elif isinstance(t, Func):
        out += hdr.pack(name, _info(BtfKind.FUNC, int(t.linkage), False), t.type)
    elif isinstance(t, FuncProto):
        out += hdr.pack(name, _info(BtfKind.FUNC_PROTO, len(t.params), False), t.return_type)
        for prm in t.params:
            out += struct.pack(p + "II", strings.add(prm.name), prm.type)
    elif isinstance(t, Var):
        out += hdr.pack(name, _info(BtfKind.VAR, 0, False), t.type)
        out += w.pack(int(t.linkage))
    elif isinstance(t, Datasec):
        out += hdr.pack(name, _info(BtfKind.DATASEC, len(t.vars), False), t.size)
        for sv in t.vars:
            out += struct.pack(p + "III", sv.type, sv.offset, sv.size)
    elif isinstance(t, Float):
        out += hdr.pack(name, _info(BtfKind.FLOAT, 0, False), t.size)
    elif isinstance(t, DeclTag):
        out += hdr.pack(name, _info(BtfKind.DECL_TAG, 0, t.kind_flag), t.type)
        out += w.pack(_u32(t.component_idx))
    elif isinstance(t, Void):
        raise BpfValueError("void (type id 0) cannot be encoded")
    else:  # pragma: no cover - exhaustive over BtfType
        raise BpfTypeError(f"not a BTF type: {t!r}")


def encode(btf: Btf) -> bytes:
    """A complete BTF blob (header, types, strings) of ``btf``'s own types."""
    return encode_with_strings(btf)[0]


def encode_with_strings(btf: Btf, extra_strings: Iterable[str] = ()) -> tuple[bytes, StringTable]:
    """Like :func:`encode`, also adding ``extra_strings`` (e.g. line_info file names and source
    lines) to the string section; returns the blob and its table to look their offsets up."""
    base_len = btf.base._str_end if btf.base is not None else 0
    strings = StringTable(base_len)
    types = [btf[i] for i in btf.own_ids()]
    body = encode_types(types, strings, btf.byteorder)
    for s in extra_strings:
        strings.add(s)
    strs = strings.to_bytes()
    p = "<" if btf.byteorder == "little" else ">"
    header = struct.pack(p + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strs))
    return header + body + strs, strings
