"""Parse BTF blobs lazily: an index of record offsets, types decoded on demand.

vmlinux BTF holds well over 100k types; decoding them all costs far more than a
small CO-RE object needs.  :class:`Btf` scans the type section once (offsets and
name offsets into two ``array('I')``), decodes a type only when asked, and finds
types by name by searching the string section, never building a full name map.
The scan's result is a :class:`BtfIndex`; one saved by an earlier process (with
its named types sorted by name, so that a lookup is a binary search) can be
passed back in to skip the scan: :mod:`bpfkit.host` caches vmlinux's that way.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import compress

from ..errors import BpfIndexError, BpfKeyError, BpfTypeError, BpfValueError, ObjectFormatError
from ._types import (
    Array,
    BtfKind,
    BtfType,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union_,
    Var,
    VarLinkage,
    VarSecinfo,
    Void,
    Volatile,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mmap import mmap
    from typing import Any

__all__ = ["BTF_MAGIC", "Btf", "BtfHeader", "BtfIndex", "parse_header"]

_KINDS: dict[int, BtfKind] = {int(k): k for k in BtfKind}

if TYPE_CHECKING:  # an array of u32 of our own, or a cast view of a buffer (a mapped index file)
    _U32s = array[int] | memoryview

BTF_MAGIC = 0xEB9F
_HEADER_MIN = 24

# Extra u32 words after the 3-word common header: fixed part and per-vlen part.
_FIXED_WORDS = [0] * 32
_VLEN_WORDS = [0] * 32
_FIXED_WORDS[BtfKind.INT] = 1
_FIXED_WORDS[BtfKind.ARRAY] = 3
_FIXED_WORDS[BtfKind.VAR] = 1
_FIXED_WORDS[BtfKind.DECL_TAG] = 1
_VLEN_WORDS[BtfKind.STRUCT] = 3
_VLEN_WORDS[BtfKind.UNION] = 3
_VLEN_WORDS[BtfKind.ENUM] = 2
_VLEN_WORDS[BtfKind.FUNC_PROTO] = 2
_VLEN_WORDS[BtfKind.DATASEC] = 3
_VLEN_WORDS[BtfKind.ENUM64] = 3
_MAX_KIND = max(BtfKind)

# The same sizes indexed by the info word's top byte (kind | kflag << 7, the two
# unused bits ignored as the kind check ignores them) for the fast scan: words of
# the record before its vlen part (header included), and words per vlen entry.
# An unknown kind gets a step that ends the scan, which then rescans carefully.
_STEP_FIXED = [0] * 256
_STEP_VLEN = [0] * 256
for _h in range(256):
    _k = _h & 0x1F
    if 0 < _k <= _MAX_KIND:
        _STEP_FIXED[_h] = 3 + _FIXED_WORDS[_k]
        _STEP_VLEN[_h] = _VLEN_WORDS[_k]
    else:
        _STEP_FIXED[_h] = 1 << 62
del _h, _k


class BtfHeader:
    """The fixed BTF header (struct btf_header)."""

    __slots__ = ("byteorder", "flags", "hdr_len", "str_len", "str_off", "type_len", "type_off", "version")

    def __init__(
        self,
        byteorder: str,
        version: int,
        flags: int,
        hdr_len: int,
        type_off: int,
        type_len: int,
        str_off: int,
        str_len: int,
    ) -> None:
        self.byteorder = byteorder
        self.version = version
        self.flags = flags
        self.hdr_len = hdr_len
        self.type_off = type_off
        self.type_len = type_len
        self.str_off = str_off
        self.str_len = str_len


def parse_header(data: bytes | memoryview) -> BtfHeader:
    """Decode and bounds-check the BTF header; raise ObjectFormatError when malformed."""
    if len(data) < _HEADER_MIN:
        raise ObjectFormatError(f"BTF blob of {len(data)} bytes is shorter than its header", section=".BTF", offset=0)
    magic_le = struct.unpack_from("<H", data, 0)[0]
    if magic_le == BTF_MAGIC:
        order, prefix = "little", "<"
    elif struct.unpack_from(">H", data, 0)[0] == BTF_MAGIC:
        order, prefix = "big", ">"
    else:
        raise ObjectFormatError(f"bad BTF magic {magic_le:#06x}", section=".BTF", offset=0)
    _, version, flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
        prefix + "HBBIIIII", data, 0
    )
    if version != 1:
        raise ObjectFormatError(f"unsupported BTF version {version}", section=".BTF", offset=2)
    if hdr_len < _HEADER_MIN or hdr_len > len(data):
        raise ObjectFormatError(f"bad BTF header length {hdr_len}", section=".BTF", offset=4)
    body = len(data) - hdr_len
    if type_off % 4 or type_len % 4:
        raise ObjectFormatError("BTF type section is not 4-byte aligned", section=".BTF", offset=8)
    if type_off + type_len > body or str_off + str_len > body:
        raise ObjectFormatError("BTF sections run past the end of the blob", section=".BTF", offset=hdr_len)
    if type_off < str_off < type_off + type_len or str_off < type_off < str_off + str_len:
        raise ObjectFormatError("BTF type and string sections overlap", section=".BTF", offset=hdr_len)
    return BtfHeader(order, version, flags, hdr_len, type_off, type_len, str_off, str_len)


_INDEX_MAGIC = b"BTFIDX\x00\x01"
# magic, type words, string bytes, types, sorted names, crc32 of the rest, padding (the arrays stay 8-aligned)
_INDEX_HEAD = struct.Struct("=8sIIIIII")
_INDEX_SAMPLES = 64


class BtfIndex:
    """Where each type record of a BTF blob starts, its name offset, and its named types sorted by name.

    :meth:`Btf.from_bytes` computes the first two (``Btf._type_index()`` returns them);
    saved with :meth:`to_bytes` and passed back as ``Btf._from_buffer(data, index=...)``,
    they spare another process the scan, and ``by_name`` turns ``find`` into a binary search.
    """

    __slots__ = ("by_name", "name_offs", "offsets", "str_len", "type_words")

    def __init__(self, offsets: _U32s, name_offs: _U32s, by_name: _U32s | None, type_words: int, str_len: int) -> None:
        self.offsets = offsets
        self.name_offs = name_offs
        self.by_name = by_name
        self.type_words = type_words
        self.str_len = str_len

    def to_bytes(self) -> bytes:
        """The index as bytes for a cache file (native byte order; checksummed)."""
        by_name = self.by_name if self.by_name is not None else b""
        body = b"".join((bytes(self.offsets), bytes(self.name_offs), bytes(by_name)))
        head = _INDEX_HEAD.pack(_INDEX_MAGIC, self.type_words, self.str_len, len(self.offsets),
                                len(by_name) // 4 if isinstance(by_name, bytes) else len(by_name), zlib.crc32(body), 0)
        return head + body

    @classmethod
    def from_bytes(cls, raw: bytes | memoryview | mmap) -> BtfIndex:
        """Read what :meth:`to_bytes` wrote, in place (views, no copies); ValueError when corrupt or not an index."""
        view = memoryview(raw)
        if len(view) < _INDEX_HEAD.size:
            raise BpfValueError("BTF index is truncated")
        magic, words, str_len, n, nsorted, crc, _ = _INDEX_HEAD.unpack_from(view, 0)
        if magic != _INDEX_MAGIC:
            raise BpfValueError("not a BTF index (bad magic)")
        body = view[_INDEX_HEAD.size :]
        if len(body) != 4 * (2 * n + nsorted) or zlib.crc32(body) != crc:
            raise BpfValueError("BTF index is truncated or corrupt")
        u32 = body.cast("I")
        return cls(u32[:n], u32[n : 2 * n], u32[2 * n :] if nsorted or not n else None, words, str_len)


class Btf:
    """A set of BTF types, possibly split on top of a base (kernel module BTF).

    Ids of a split BTF continue after its base's; ``btf[i]`` answers for both.
    Types from bytes are decoded on first access and cached.
    """

    def __init__(self, *, base: Btf | None = None, byteorder: str = "little") -> None:
        self.base = base
        self.byteorder: str = base.byteorder if base is not None else byteorder
        self.first_id = base.count if base is not None else 1
        self._types: list[BtfType | None] = []
        self._offsets: _U32s | None = None
        self._name_offs: _U32s | None = None
        self._by_name: _U32s | None = None
        self._index: BtfIndex | None = None
        self._words: memoryview | None = None
        # the string section: bytes ``_sbuf[_s0 : _s0 + _slen]`` of a buffer (bytes, or a mapping used in place)
        self._sbuf: bytes | mmap = b"\0"
        self._s0 = 0
        self._slen = 1
        self._str_copy: bytes | None = None
        self._str_base = base._str_end if base is not None else 0
        self._raw: bytes | mmap | None = None
        self._name_cache: dict[str, list[int]] = {}
        self._derived: dict[str, Any] = {}

    def _cache(self, key: str) -> dict[Any, Any]:
        """A dict of this Btf for what other modules derive from it (CO-RE name index, map codecs), kept as
        long as this Btf (a WeakKeyDictionary would import weakref into every start, issue 18)."""
        d = self._derived.get(key)
        if d is None:
            d = self._derived[key] = {}
        return d

    # ---- construction -------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes, *, base: Btf | None = None) -> Btf:
        """Index a BTF blob (no decoding yet); ``base`` for split BTF such as a module's."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise BpfTypeError(f"Btf.from_bytes takes the blob's bytes, not {type(data).__name__}")
        if base is not None and not isinstance(base, Btf):
            raise BpfTypeError(f"Btf.from_bytes: base must be a Btf, not {type(base).__name__}")
        return cls._from_buffer(bytes(data), base=base)

    @classmethod
    def _from_buffer(cls, data: bytes | mmap, *, base: Btf | None = None, index: BtfIndex | None = None) -> Btf:
        """:meth:`from_bytes` without the copy, and with a saved index.

        ``data`` is used in place: bytes, or a read-only mapping that must not
        change (the kernel's own BTF, say). ``index`` is what :meth:`_type_index`
        returned for the same blob earlier (in another process, say); it replaces
        the scan when a sampled check agrees with the blob, and is ignored
        otherwise (``_index`` tells which happened).
        """
        hdr = parse_header(data if isinstance(data, bytes) else memoryview(data))
        btf = cls(base=base, byteorder=hdr.byteorder)
        if base is not None and hdr.byteorder != base.byteorder:
            raise ObjectFormatError("split BTF and its base differ in byte order", section=".BTF", offset=0)
        btf._raw = data
        s0 = hdr.hdr_len + hdr.str_off
        if isinstance(data, bytes):
            btf._sbuf = data[s0 : s0 + hdr.str_len]
        else:
            btf._sbuf, btf._s0 = data, s0
        btf._slen = hdr.str_len
        if base is None and hdr.str_len and data[s0 : s0 + 1] != b"\0":
            raise ObjectFormatError("BTF string section does not start with NUL", section=".BTF", offset=s0)
        if hdr.str_len and data[s0 + hdr.str_len - 1 : s0 + hdr.str_len] != b"\0":
            raise ObjectFormatError("BTF string section is not NUL-terminated", section=".BTF", offset=s0)
        t0 = hdr.hdr_len + hdr.type_off
        words = memoryview(data)[t0 : t0 + hdr.type_len]
        if hdr.byteorder != sys.byteorder:
            swapped = array("I", bytes(words))
            swapped.byteswap()
            btf._words = memoryview(swapped.tobytes()).cast("I")
        else:
            btf._words = words.cast("I")
        if index is not None and btf._index_fits(index):
            btf._offsets = index.offsets
            btf._name_offs = index.name_offs
            btf._by_name = index.by_name
            btf._index = index
            btf._types = [None] * len(index.offsets)
        else:
            btf._scan(t0)
        return btf

    def _index_fits(self, index: BtfIndex) -> bool:
        """Whether a saved index matches this blob: sizes, then records and names at sampled types."""
        u = self._words
        assert u is not None
        offs, names, by_name = index.offsets, index.name_offs, index.by_name
        n = len(offs)
        if index.type_words != len(u) or index.str_len != self._slen or len(names) != n:
            return False
        if n == 0:
            return len(u) == 0
        if offs[0] != 0:
            return False
        step = max(1, n // _INDEX_SAMPLES)
        try:
            for i in (*range(0, n, step), n - 1):
                o = offs[i]
                info = u[o + 1]
                k = (info >> 24) & 0x1F
                if k == 0 or k > _MAX_KIND or names[i] != u[o]:
                    return False
                end = o + 3 + _FIXED_WORDS[k] + _VLEN_WORDS[k] * (info & 0xFFFF)
                if end != (offs[i + 1] if i + 1 < n else len(u)):
                    return False
            if by_name is not None and by_name:
                m = len(by_name)
                prev = b""
                for j in (*range(0, m, max(1, m // _INDEX_SAMPLES)), m - 1):
                    i = by_name[j]
                    if not names[i]:
                        return False
                    key = self._string_bytes(names[i])
                    if key < prev:
                        return False
                    prev = key
        except (IndexError, ValueError, ObjectFormatError):
            return False
        return True

    def _type_index(self, *, by_name: bool = False) -> BtfIndex:
        """This blob's index (for :meth:`_from_buffer` ``index=``), names sorted too if ``by_name``.

        ValueError for a Btf built or edited in memory, which has no blob to index.
        """
        if self._offsets is None:
            raise BpfValueError("only a Btf read from bytes (and not edited since) has an index")
        assert self._words is not None
        names = self._name_offsets()
        sorted_names = self._sorted_names() if by_name else self._by_name
        idx = self._index
        if idx is None or idx.by_name is not sorted_names:
            idx = self._index = BtfIndex(self._offsets, names, sorted_names, len(self._words), self._slen)
        return idx

    def _name_offsets(self) -> _U32s:
        """The name offset of every own type (built on first use)."""
        names = self._name_offs
        if names is None:
            assert self._words is not None and self._offsets is not None
            names = self._name_offs = array("I", map(self._words.__getitem__, self._offsets))
        return names

    def _name_key(self, idx: int) -> bytes:
        """The raw name bytes of own type index ``idx``."""
        assert self._name_offs is not None
        return self._string_bytes(self._name_offs[idx])

    def _string_bytes(self, offset: int) -> bytes:
        """The raw bytes of the string at ``offset`` (split-aware), without its NUL."""
        b: Btf = self
        while offset < b._str_base:
            assert b.base is not None
            b = b.base
        off = offset - b._str_base
        if off >= b._slen:
            raise ObjectFormatError(f"BTF string offset {offset} out of range", section=".BTF")
        start = b._s0 + off
        end = b._sbuf.find(b"\0", start)  # the section ends in NUL (checked)
        return b._sbuf[start:end]

    def _sorted_names(self) -> _U32s:
        """Indexes of the own named types, sorted by name (built on first use; ties by index)."""
        if self._by_name is None:
            names = self._name_offsets()
            named = list(compress(range(len(names)), names))
            keys = list(map(self._name_key, named))
            order = sorted(range(len(named)), key=keys.__getitem__)
            self._by_name = array("I", map(named.__getitem__, order))
        return self._by_name

    def _scan(self, section_offset: int) -> None:
        """Record where each type starts; validate kinds and that records fit."""
        u = self._words
        assert u is not None
        n = len(u)
        # the hot loop: one append, one read and two table lookups per type
        offs = array("I")
        oa = offs.append
        fixed = _STEP_FIXED
        per = _STEP_VLEN
        i = 0
        try:
            while i < n:
                oa(i)
                info = u[i + 1]
                h = info >> 24
                i += fixed[h] + per[h] * (info & 0xFFFF)
        except IndexError:
            i = -1
        if i != n:
            self._scan_checked(section_offset)  # raises the precise error
        self._offsets = offs
        self._name_offs = None  # built by the first find()
        self._by_name = None
        self._index = None
        self._types = [None] * len(offs)

    def _scan_checked(self, section_offset: int) -> None:
        """Scan record by record, raising ObjectFormatError at the first bad one."""
        u = self._words
        assert u is not None
        n = len(u)
        offs = array("I")
        oa = offs.append
        fixed = _FIXED_WORDS
        per = _VLEN_WORDS
        i = 0
        try:
            while i < n:
                oa(i)
                info = u[i + 1]
                k = (info >> 24) & 0x1F
                if k > _MAX_KIND or k == 0:
                    raise ObjectFormatError(
                        f"unknown BTF kind {k} for type id {self.first_id + len(offs) - 1}",
                        section=".BTF",
                        offset=section_offset + 4 * i,
                    )
                i += 3 + fixed[k] + per[k] * (info & 0xFFFF)
        except IndexError:
            raise ObjectFormatError(
                "BTF type record runs past the type section", section=".BTF", offset=section_offset + 4 * offs[-1]
            ) from None
        if i != n:
            raise ObjectFormatError(
                "BTF type record runs past the type section", section=".BTF", offset=section_offset + 4 * offs[-1]
            )
        raise AssertionError("the fast BTF scan stopped early on a valid type section")  # pragma: no cover

    @classmethod
    def from_types(cls, types: list[BtfType], *, base: Btf | None = None) -> Btf:
        """Build a BTF from decoded types; ``types[0]`` gets id ``first_id``."""
        btf = cls(base=base)
        for t in types:
            btf.add(t)
        return btf

    def add(self, t: BtfType) -> int:
        """Append a type and return its id."""
        if not isinstance(t, BtfType) or isinstance(t, Void):
            raise BpfTypeError(f"Btf.add takes a BTF type (Int, Struct, ...; not Void), not {type(t).__name__}")
        self._materialize()
        self._types.append(t)
        self._name_cache.clear()
        return self.first_id + len(self._types) - 1

    def _materialize(self) -> None:
        """Decode every own type so the list can be edited; drops the lazy index."""
        if self._offsets is None:
            return
        for i in range(len(self._types)):
            if self._types[i] is None:
                self._types[i] = self._decode(i)
        self._offsets = None
        self._name_offs = None
        self._by_name = None
        self._index = None
        self._words = None

    # ---- access -------------------------------------------------------

    @property
    def count(self) -> int:
        """One past the last type id (like libbpf's btf__type_cnt)."""
        return self.first_id + len(self._types)

    @property
    def _str_end(self) -> int:
        return self._str_base + self._slen

    @property
    def _strings(self) -> bytes:
        """This BTF's own string section as bytes (copied out of a mapping on first use)."""
        if self._s0 == 0 and isinstance(self._sbuf, bytes):
            return self._sbuf
        if self._str_copy is None:
            self._str_copy = self._sbuf[self._s0 : self._s0 + self._slen]
        return self._str_copy

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, type_id: int) -> BtfType:
        if type_id == 0:
            return Void()
        if type_id < self.first_id:
            if self.base is None:
                raise BpfIndexError(f"BTF type id {type_id} out of range")
            return self.base[type_id]
        idx = type_id - self.first_id
        if idx < 0 or idx >= len(self._types):
            raise BpfIndexError(f"BTF type id {type_id} out of range (count {self.count})")
        t = self._types[idx]
        if t is None:
            t = self._decode(idx)
            self._types[idx] = t
        return t

    def own_ids(self) -> range:
        """Ids of the types this BTF itself holds (not its base's)."""
        return range(self.first_id, self.count)

    def items(self) -> Iterator[tuple[int, BtfType]]:
        """Iterate (id, type) over this BTF's own types, decoding as it goes."""
        for tid in self.own_ids():
            yield tid, self[tid]

    def kind_of(self, type_id: int) -> BtfKind:
        """The kind of a type without decoding it."""
        if type_id == 0:
            return BtfKind.UNKN
        if type_id < self.first_id:
            if self.base is None:
                raise BpfIndexError(f"BTF type id {type_id} out of range")
            return self.base.kind_of(type_id)
        idx = type_id - self.first_id
        if idx >= len(self._types):
            raise BpfIndexError(f"BTF type id {type_id} out of range (count {self.count})")
        if self._offsets is not None and self._types[idx] is None:
            assert self._words is not None
            k = (self._words[self._offsets[idx] + 1] >> 24) & 0x1F
            kind = _KINDS.get(k)  # a dict lookup: BtfKind(k) costs ~1 us, and a load asks ~1000 times
            return kind if kind is not None else BtfKind(k)
        return self[type_id].kind

    def string(self, offset: int) -> str:
        """The NUL-terminated string at ``offset`` of the (split-aware) string section."""
        if offset < self._str_base:
            if self.base is None:
                raise BpfIndexError(f"BTF string offset {offset} out of range")
            return self.base.string(offset)
        off = offset - self._str_base
        if off >= self._slen:
            raise ObjectFormatError(f"BTF string offset {offset} out of range", section=".BTF")
        start = self._s0 + off
        end = self._sbuf.find(b"\0", start)  # the section ends in NUL (checked)
        return self._sbuf[start:end].decode("utf-8", "replace")

    def name_of(self, type_id: int) -> str:
        """A type's name ('' if anonymous)."""
        return self[type_id].name

    def find(self, name: str, kind: BtfKind | None = None) -> list[int]:
        """Ids of the types named ``name`` (of ``kind`` if given), base included."""
        ids = list(self.base.find(name, kind)) if self.base is not None else []
        own = self._name_cache.get(name)
        if own is None:
            own = self._find_own(name)
            self._name_cache[name] = own
        if kind is None:
            ids.extend(own)
        else:
            ids.extend(t for t in own if self.kind_of(t) == kind)
        return ids

    def _find_own(self, name: str) -> list[int]:
        if not name:
            return []
        if self._offsets is None:
            return [tid for tid, t in self.items() if t.name == name]
        by_name = self._by_name
        if by_name is not None:
            key = name.encode()
            first = self.first_id
            found = []
            i = bisect_left(by_name, key, key=self._name_key)
            while i < len(by_name) and self._name_key(by_name[i]) == key:
                found.append(first + by_name[i])
                i += 1
            found.sort()
            return found
        offsets = self._string_offsets(name)
        found = []
        names = self._name_offsets()
        if not isinstance(names, array):  # a view of a saved index: array.index is the fast search
            names = self._name_offs = array("I", names)
        for noff in offsets:
            start = 0
            while True:
                try:
                    idx = names.index(noff, start)
                except ValueError:
                    break
                found.append(self.first_id + idx)
                start = idx + 1
        found.sort()
        return found

    def _own_names_with_prefix(self, prefix: str) -> set[str] | None:
        """Names of own types that start with ``prefix``, when names are indexed (else None)."""
        by_name = self._by_name
        if by_name is None or self._offsets is None:
            return None
        key = prefix.encode()
        out: set[str] = set()
        i = bisect_left(by_name, key, key=self._name_key)
        while i < len(by_name):
            name = self._name_key(by_name[i])
            if not name.startswith(key):
                break
            out.add(name.decode("utf-8", "replace"))
            i += 1
        return out

    def _string_offsets(self, name: str) -> list[int]:
        """Every offset (split-aware, base tables included) at which ``name`` is stored as a string."""
        needle = b"\0" + name.encode() + b"\0"
        offsets: list[int] = []
        # a split BTF's string section need not start with NUL: search with one prepended
        hay = self._strings if self._strings[:1] == b"\0" else b"\0" + self._strings
        shift = 0 if hay is self._strings else 1
        pos = hay.find(needle)
        while pos >= 0:
            offsets.append(pos + 1 - shift + self._str_base)
            pos = hay.find(needle, pos + 1)
        if self.base is not None:
            # module types often name themselves with strings of vmlinux's table
            offsets.extend(self.base._string_offsets(name))
        return offsets

    def find_one(self, name: str, kind: BtfKind) -> int:
        """The id of the one type of ``kind`` named ``name``; KeyError when absent."""
        ids = self.find(name, kind)
        if not ids:
            raise BpfKeyError(f"no BTF {kind.name.lower()} named {name!r}")
        return ids[0]

    def skip_modifiers(self, type_id: int) -> int:
        """Follow typedef/const/volatile/restrict/type_tag to the underlying type id."""
        seen = 0
        t = self[type_id]
        while isinstance(t, (Typedef, Const, Volatile, Restrict, TypeTag)):
            type_id = t.type
            t = self[type_id]
            seen += 1
            if seen > 256:
                raise ObjectFormatError(f"BTF modifier loop at type id {type_id}", section=".BTF")
        return type_id

    def size_of(self, type_id: int) -> int:
        """Byte size of a type, resolving modifiers and arrays (pointers are 8 bytes)."""
        depth = 0
        mult = 1
        while True:
            depth += 1
            if depth > 256:
                raise ObjectFormatError(f"BTF type loop at id {type_id}", section=".BTF")
            t = self[type_id]
            if isinstance(t, (Int, Struct, Union_, Enum, Enum64, Float, Datasec)):
                return mult * t.size
            if isinstance(t, Ptr):
                return mult * 8
            if isinstance(t, Array):
                mult *= t.nelems
                type_id = t.type
                continue
            if isinstance(t, (Typedef, Const, Volatile, Restrict, TypeTag, Var)):
                type_id = t.type
                continue
            raise BpfValueError(f"BTF type id {type_id} ({t.kind.name}) has no size")

    # ---- decoding -----------------------------------------------------

    def _decode(self, idx: int) -> BtfType:
        assert self._offsets is not None and self._words is not None
        u = self._words
        i = self._offsets[idx]
        name = self.string(u[i])
        info = u[i + 1]
        size_or_type = u[i + 2]
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        decoder = _DECODERS.get(kind)
        if decoder is None:
            raise ObjectFormatError(f"unknown BTF kind {kind}", section=".BTF")
        return decoder(self, u, i + 3, name, vlen, kflag, size_or_type)

    def to_bytes(self) -> bytes:
        """Marshal this BTF (its own types) back into the kernel's binary format."""
        from ._marshal import encode

        return encode(self)


def _s32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


_Decoder = Callable[[Btf, memoryview, int, str, int, bool, int], BtfType]


def _d_int(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    data = u[j]
    return Int(name, sz, IntEncoding((data >> 24) & 0x0F), (data >> 16) & 0xFF, data & 0xFF)


def _d_ptr(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Ptr(sz, name)


def _d_array(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Array(u[j], u[j + 1], u[j + 2], name)


def _words_of(u: memoryview, j: int, n: int) -> list[int]:
    """The ``n`` words of a record's vlen part from ``j`` (ObjectFormatError if they are not all there)."""
    w = u[j : j + n].tolist()
    if len(w) != n:
        raise ObjectFormatError("BTF type record runs past the type section", section=".BTF")
    return w


def _members(b: Btf, u: memoryview, j: int, vlen: int, kf: bool) -> list[Member]:
    string = b.string
    it = iter(_words_of(u, j, 3 * vlen))
    if kf:
        return [Member(string(n), t, off & 0xFFFFFF, off >> 24) for n, t, off in zip(it, it, it, strict=True)]
    return [Member(string(n), t, off, 0) for n, t, off in zip(it, it, it, strict=True)]


def _d_struct(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Struct(name, sz, _members(b, u, j, vlen, kf), kf)


def _d_union(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Union_(name, sz, _members(b, u, j, vlen, kf), kf)


def _d_enum(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    vals = []
    for k in range(vlen):
        v = u[j + 2 * k + 1]
        vals.append(EnumValue(b.string(u[j + 2 * k]), _s32(v) if kf else v))
    return Enum(name, sz, vals, kf)


def _d_enum64(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    vals = []
    for k in range(vlen):
        lo = u[j + 3 * k + 1]
        hi = u[j + 3 * k + 2]
        v = (hi << 32) | lo
        if kf and v & (1 << 63):
            v -= 1 << 64
        vals.append(EnumValue(b.string(u[j + 3 * k]), v))
    return Enum64(name, sz, vals, kf)


def _d_fwd(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Fwd(name, kf)


def _d_typedef(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Typedef(name, sz)


def _d_volatile(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Volatile(sz, name)


def _d_const(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Const(sz, name)


def _d_restrict(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Restrict(sz, name)


def _d_func(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    try:
        linkage = FuncLinkage(vlen)
    except ValueError:
        raise ObjectFormatError(f"BTF func {name!r} has unknown linkage {vlen}", section=".BTF") from None
    return Func(name, sz, linkage)


def _d_proto(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    params = [Param(b.string(u[j + 2 * k]), u[j + 2 * k + 1]) for k in range(vlen)]
    return FuncProto(sz, params, name)


def _d_var(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    try:
        linkage = VarLinkage(u[j])
    except ValueError:
        raise ObjectFormatError(f"BTF var {name!r} has unknown linkage {u[j]}", section=".BTF") from None
    return Var(name, sz, linkage)


def _d_datasec(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Datasec(name, sz, [VarSecinfo(u[j + 3 * k], u[j + 3 * k + 1], u[j + 3 * k + 2]) for k in range(vlen)])


def _d_float(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return Float(name, sz)


def _d_decl_tag(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return DeclTag(name, sz, _s32(u[j]), kf)


def _d_type_tag(b: Btf, u: memoryview, j: int, name: str, vlen: int, kf: bool, sz: int) -> BtfType:
    return TypeTag(name, sz, kf)


_DECODERS: dict[int, _Decoder] = {
    BtfKind.INT: _d_int,
    BtfKind.PTR: _d_ptr,
    BtfKind.ARRAY: _d_array,
    BtfKind.STRUCT: _d_struct,
    BtfKind.UNION: _d_union,
    BtfKind.ENUM: _d_enum,
    BtfKind.FWD: _d_fwd,
    BtfKind.TYPEDEF: _d_typedef,
    BtfKind.VOLATILE: _d_volatile,
    BtfKind.CONST: _d_const,
    BtfKind.RESTRICT: _d_restrict,
    BtfKind.FUNC: _d_func,
    BtfKind.FUNC_PROTO: _d_proto,
    BtfKind.VAR: _d_var,
    BtfKind.DATASEC: _d_datasec,
    BtfKind.FLOAT: _d_float,
    BtfKind.DECL_TAG: _d_decl_tag,
    BtfKind.TYPE_TAG: _d_type_tag,
    BtfKind.ENUM64: _d_enum64,
}
