"""A flat, read-only view of a BTF's raw records for the dumpers.

The C and raw dumpers walk every type of vmlinux several times; going through
decoded dataclasses would cost far more memory and time than reading the u32
words directly.  This view concatenates the levels of a split BTF (base types
first) so that one word array, one offset table and one string table answer
for every type id.
"""

from __future__ import annotations

from array import array

from ..errors import ObjectFormatError
from ._parse import Btf

__all__ = ["FlatBtf", "flatten"]

_LONG_NAMES = frozenset(
    {
        "long",
        "long int",
        "int long",
        "unsigned long",
        "long unsigned",
        "unsigned long int",
        "unsigned int long",
        "long unsigned int",
        "long int unsigned",
        "int unsigned long",
        "int long unsigned",
    }
)


class FlatBtf:
    """Words, per-id word offsets, per-id kinds and strings of every type up to ``count``."""

    __slots__ = ("count", "first_own_id", "kinds", "offs", "strings", "words")

    def __init__(
        self,
        words: memoryview | array[int],
        offs: array[int],
        strings: bytes,
        first_own_id: int,
    ) -> None:
        self.words = words
        self.offs = offs
        self.strings = strings
        self.count = len(offs)
        self.first_own_id = first_own_id
        w = words
        # offs[0] stands for void (id 0), which has no record: BTF with no types has no words at all
        kinds = bytearray(1) + bytearray([(w[o + 1] >> 24) & 0x1F for o in offs[1:]])
        self.kinds = kinds

    def string(self, off: int) -> str:
        """The NUL-terminated string at ``off``."""
        s = self.strings
        try:
            end = s.index(0, off)
        except ValueError:
            raise ObjectFormatError(f"BTF string offset {off} out of range", section=".BTF") from None
        return s[off:end].decode("utf-8", "replace")

    def pointer_size(self) -> int:
        """Pointer size the BTF assumes: the size of its ``long`` (8 when absent), like libbpf."""
        w = self.words
        offs = self.offs
        for tid, k in enumerate(self.kinds):
            if k != 1 or tid == 0:
                continue
            o = offs[tid]
            size = w[o + 2]
            if size not in (4, 8):
                continue
            if self.string(w[o]) in _LONG_NAMES:
                return int(size)
        return 8


def _level_raw(level: Btf) -> tuple[memoryview | array[int], memoryview | array[int], bytes]:
    """(words, offsets, strings) of one level's own types, re-encoding a built Btf."""
    if level._offsets is None or level._words is None:
        level = Btf.from_bytes(level.to_bytes(), base=level.base)
    assert level._offsets is not None and level._words is not None
    return level._words, level._offsets, level._strings


def flatten(btf: Btf) -> FlatBtf:
    """A flat view of ``btf`` and its bases; the single-level case copies nothing big."""
    chain: list[Btf] = []
    b: Btf | None = btf
    while b is not None:
        chain.append(b)
        b = b.base
    chain.reverse()
    raws = [_level_raw(level) for level in chain]
    offs = array("I", [0])
    if len(raws) == 1:
        words, own_offs, strings = raws[0]
        if isinstance(own_offs, array):
            offs.extend(own_offs)
        else:  # a view of a saved index
            offs.frombytes(own_offs.tobytes())
    else:
        cat = array("I")
        parts = []
        for words_i, offs_i, strings_i in raws:
            shift = len(cat)
            offs.extend(o + shift for o in offs_i)
            cat.frombytes(bytes(words_i) if isinstance(words_i, memoryview) else words_i.tobytes())
            parts.append(strings_i)
        words = cat
        strings = b"".join(parts)
    return FlatBtf(words, offs, strings, btf.first_id)
