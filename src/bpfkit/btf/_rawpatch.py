"""Patch type records inside the BTF blob a :class:`Btf` was read from, keeping its string section.

Loading an object's BTF needs only a few records changed (DATASEC sizes and
variable offsets, linkages); decoding and re-encoding every type for that costs
far more than rewriting those records in a copy of the original bytes, and the
original string offsets (used by .BTF.ext line info) stay valid.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from ._marshal import StringTable, encode_types
from ._parse import Btf, parse_header
from ._types import BtfType

__all__ = ["edited_types", "patch_records"]


class _SectionStrings(StringTable):
    """A string table that only finds strings already in a BTF string section (adds none)."""

    def __init__(self, section: bytes) -> None:
        super().__init__()
        self._section = section

    def add(self, s: str) -> int:
        """Offset of a string reading ``s`` in the section; KeyError when it holds none."""
        off = self._index.get(s)
        if off is None:
            if "\0" in s:
                raise KeyError(s)
            raw = s.encode() + b"\0"
            pos = self._section.find(b"\0" + raw)
            if pos >= 0:
                off = pos + 1
            else:  # the tail of a longer string reads as ``s`` too
                off = self._section.find(raw)
                if off < 0:
                    raise KeyError(s)
            self._index[s] = off
        return off


def edited_types(btf: Btf) -> dict[int, BtfType]:
    """The decoded types of ``btf`` (read from bytes) that were changed in place since, by id.

    Decoded types are mutable and cached; the reader fixes some up (linkages, DATASEC
    offsets) without touching the blob, so the blob alone no longer says what the types are.
    """
    out: dict[int, BtfType] = {}
    if btf._offsets is None:
        return out
    first = btf.first_id
    for idx, t in enumerate(btf._types):
        if t is not None and t != btf._decode(idx):
            out[first + idx] = t
    return out


def patch_records(btf: Btf, changed: Mapping[int, BtfType]) -> bytes | None:
    """The blob ``btf`` was read from with the records of ``changed`` (id -> type) rewritten in place.

    None when that cannot be done: ``btf`` was built or edited in memory, is split, its
    blob is not laid out plainly (header, types, strings), or a new record would differ
    in size or name a string the section lacks; the caller then encodes the types afresh.
    """
    raw = btf._raw
    if btf._offsets is None or btf.base is not None or not isinstance(raw, bytes):
        return None
    hdr = parse_header(raw)
    if (hdr.hdr_len, hdr.flags, hdr.type_off, hdr.str_off) != (24, 0, 0, hdr.type_len) or \
            len(raw) != 24 + hdr.type_len + hdr.str_len:
        return None
    if not changed:
        return raw
    offs = btf._offsets
    n = len(offs)
    strings = _SectionStrings(raw[24 + hdr.str_off : 24 + hdr.str_off + hdr.str_len])
    out = bytearray(raw)
    for tid, t in changed.items():
        idx = tid - btf.first_id
        if not 0 <= idx < n:
            return None
        start = 24 + 4 * offs[idx]
        end = 24 + (4 * offs[idx + 1] if idx + 1 < n else hdr.type_len)
        try:
            rec = encode_types([t], strings, btf.byteorder)
        except (KeyError, ValueError, TypeError, struct.error):
            return None
        if len(rec) != end - start:
            return None
        out[start:end] = rec
    return bytes(out)
