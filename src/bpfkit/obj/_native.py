"""Native ELF files (executables, PIE, shared libraries) as pure values: segments, symbols, notes.

What uprobes and USDT need from a user-space binary: its PT_LOAD segments
(virtual address -> file offset, the unit uprobes take), its function
symbols (``.symtab`` then ``.dynsym``) and its note sections. Reads bytes
only, never a file or the kernel; every record is bounds-checked and a
malformed file becomes an :class:`~bpfkit.errors.ObjectFormatError`.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import ObjectFormatError

__all__ = ["ET_DYN", "ET_EXEC", "EM_AARCH64", "EM_X86_64", "ElfNote", "FunctionSymbol", "NativeElf",
           "NativeSection", "Segment"]

ET_EXEC = 2
ET_DYN = 3
EM_X86_64 = 62
EM_AARCH64 = 183
PT_LOAD = 1
PF_X = 1
SHT_SYMTAB = 2
SHT_NOTE = 7
SHT_NOBITS = 8
SHT_DYNSYM = 11
STT_FUNC = 2
STT_GNU_IFUNC = 10

_EHDR = (struct.Struct("<HHIQQQIHHHHHH"), struct.Struct(">HHIQQQIHHHHHH"))
_PHDR = (struct.Struct("<IIQQQQQQ"), struct.Struct(">IIQQQQQQ"))
_SHDR = (struct.Struct("<IIQQQQIIQQ"), struct.Struct(">IIQQQQIIQQ"))
_SYM = (struct.Struct("<IBBHQQ"), struct.Struct(">IBBHQQ"))
_NHDR = (struct.Struct("<III"), struct.Struct(">III"))
_MAX_HEADERS = 1 << 16


@dataclass(frozen=True)
class Segment:
    """One program header: where ``[vaddr, vaddr + memsz)`` comes from in the file."""

    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int

    @property
    def executable(self) -> bool:
        """PF_X is set."""
        return bool(self.flags & PF_X)


@dataclass(frozen=True)
class NativeSection:
    """One section header of a native ELF file, with its name resolved."""

    index: int
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    entsize: int


@dataclass(frozen=True)
class FunctionSymbol:
    """A function symbol: its virtual address and size."""

    name: str
    address: int
    size: int


@dataclass(frozen=True)
class ElfNote:
    """One ELF note: owner name, type and descriptor bytes."""

    name: str
    type: int
    desc: bytes


class NativeElf:
    """A parsed ELF64 executable or shared object of any machine and byte order (no file access)."""

    def __init__(self, data: bytes | mmap.mmap, *, what: str = "ELF file") -> None:
        self.data = data  # bytes, or a read-only mapping of the file (only the pages read are touched)
        self.what = what
        if len(data) < 64 or data[:4] != b"\x7fELF":
            raise ObjectFormatError(f"{what} is not an ELF file (bad magic or too short)", offset=0)
        if data[4] != 2:
            raise ObjectFormatError(f"{what}: ELF class {data[4]} is not ELF64", offset=4)
        if data[5] not in (1, 2):
            raise ObjectFormatError(f"{what}: ELF data encoding {data[5]} is unknown", offset=5)
        self.byteorder = "little" if data[5] == 1 else "big"
        self._bo = 0 if data[5] == 1 else 1
        try:
            self._read_headers()
        except ObjectFormatError:
            raise
        except (struct.error, ValueError, OverflowError) as exc:
            raise ObjectFormatError(f"{what}: malformed ELF headers: {exc}", offset=0) from None
        self._index: dict[str, tuple[str, int, int]] | None = None
        self._by_offset: list[tuple[bytes, dict[int, tuple[int, int]]]] | None = None

    @classmethod
    def from_bytes(cls, data: bytes, *, what: str = "ELF file") -> NativeElf:
        """Parse the bytes of an executable or shared object."""
        return cls(bytes(data), what=what)

    def _read_headers(self) -> None:
        d = self.data
        (self.type, self.machine, _v, self.entry, phoff, shoff, _fl, _eh, phentsize, phnum, shentsize, shnum,
         shstrndx) = _EHDR[self._bo].unpack_from(d, 16)
        self.segments: list[Segment] = []
        if phnum:
            if phentsize != _PHDR[0].size or phnum > _MAX_HEADERS or phoff + phnum * phentsize > len(d):
                raise ObjectFormatError(f"{self.what}: program headers do not fit the file", offset=phoff)
            for p_type, flags, off, vaddr, _paddr, filesz, memsz, _align in _PHDR[self._bo].iter_unpack(
                    d[phoff:phoff + phnum * phentsize]):
                self.segments.append(Segment(p_type, flags, off, vaddr, filesz, memsz))
        self.sections: list[NativeSection] = []
        if not shoff or not shnum:
            return  # a stripped-of-sections file still has its segments
        if shentsize != _SHDR[0].size or shnum > _MAX_HEADERS or shoff + shnum * shentsize > len(d):
            raise ObjectFormatError(f"{self.what}: section headers do not fit the file", offset=shoff)
        raw = list(_SHDR[self._bo].iter_unpack(d[shoff:shoff + shnum * shentsize]))
        names = b""
        if 0 < shstrndx < len(raw):
            _n, _t, _f, _a, off, size, *_ = raw[shstrndx]
            names = self._slice(off, size, ".shstrtab")
        for i, (name_off, typ, flags, addr, off, size, link, _info, _align, entsize) in enumerate(raw):
            name = _cstr(names, name_off) if names and name_off < len(names) else ""
            if typ != SHT_NOBITS and off + size > len(d):
                raise ObjectFormatError(f"{self.what}: section {name!r} runs past the end of the file", section=name,
                                        offset=off)
            self.sections.append(NativeSection(i, name, typ, flags, addr, off, size, link, entsize))

    def _slice(self, off: int, size: int, what: str) -> bytes:
        if off < 0 or size < 0 or off + size > len(self.data):
            raise ObjectFormatError(f"{self.what}: {what} runs past the end of the file", section=what, offset=off)
        return self.data[off:off + size]

    # ---- sections and segments ---------------------------------------------------------

    def section(self, name: str) -> NativeSection | None:
        """The first section called ``name``, or None."""
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_data(self, sec: NativeSection) -> bytes:
        """The bytes of a section (empty for SHT_NOBITS)."""
        return b"" if sec.type == SHT_NOBITS else self._slice(sec.offset, sec.size, sec.name)

    def load_segment(self, vaddr: int, *, executable: bool | None = None) -> Segment | None:
        """The PT_LOAD segment mapping ``vaddr`` (restricted to executable or not when asked), or None."""
        for seg in self.segments:
            if seg.type != PT_LOAD or (executable is not None and seg.executable != executable):
                continue
            if seg.vaddr <= vaddr < seg.vaddr + max(seg.memsz, seg.filesz):
                return seg
        return None

    def vaddr_to_offset(self, vaddr: int, *, executable: bool | None = None) -> int:
        """File offset of virtual address ``vaddr`` through its PT_LOAD segment (what uprobes take)."""
        seg = self.load_segment(vaddr, executable=executable)
        if seg is None:
            kind = "an executable" if executable else "a loadable"
            raise ObjectFormatError(f"{self.what}: address {vaddr:#x} lies in no {kind} segment")
        return vaddr - seg.vaddr + seg.offset

    def offset_to_vaddr(self, offset: int) -> int | None:
        """Virtual address of file offset ``offset`` through the PT_LOAD segment that holds it, or None."""
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.offset <= offset < seg.offset + seg.filesz:
                return offset - seg.offset + seg.vaddr
        return None

    # ---- symbols -------------------------------------------------------------------------

    def _symbol_tables(self) -> Iterator[NativeSection]:
        for kind in (SHT_SYMTAB, SHT_DYNSYM):
            for s in self.sections:
                if s.type == kind:
                    yield s

    def _function_index(self) -> dict[str, tuple[str, int, int]]:
        """name -> (symbol name, address, size) of every function, decoded (for listings, not the attach path)."""
        if self._index is None:
            table: dict[str, tuple[str, int, int]] = {}
            for st in self._symbol_tables():
                for name, value, size in self._raw_functions(st):
                    rec = (name, value, size)
                    table.setdefault(name, rec)
                    if "@" in name:
                        table.setdefault(name.split("@", 1)[0], rec)
            self._index = table
        return self._index

    def _offset_tables(self) -> list[tuple[bytes, dict[int, tuple[int, int]]]]:
        """Per symbol table: its string table and name offset -> (address, size) of its functions.

        Nothing is decoded: resolving a few names costs one pass of integer work (libc: ~1 ms).
        """
        if self._by_offset is None:
            tables = []
            for st in self._symbol_tables():
                strs = self._string_table(st)
                funcs: dict[int, tuple[int, int]] = {}
                for name_off, info, _other, shndx, value, size in _SYM[self._bo].iter_unpack(self.section_data(st)):
                    if value and shndx and (info & 0xF) in (STT_FUNC, STT_GNU_IFUNC):
                        funcs.setdefault(name_off, (value, size))
                tables.append((strs, funcs))
            self._by_offset = tables
        return self._by_offset

    def _string_table(self, st: NativeSection) -> bytes:
        if st.entsize != _SYM[0].size or st.size % _SYM[0].size:
            raise ObjectFormatError(f"{self.what}: symbol table entry size {st.entsize} is not 24",
                                    section=st.name, offset=st.offset)
        if not 0 <= st.link < len(self.sections):
            raise ObjectFormatError(f"{self.what}: symbol table links to no string table", section=st.name)
        return self.section_data(self.sections[st.link])

    def _raw_functions(self, st: NativeSection) -> Iterator[tuple[str, int, int]]:
        strs = self._string_table(st)
        find = strs.find
        for name_off, info, _other, shndx, value, size in _SYM[self._bo].iter_unpack(self.section_data(st)):
            if value == 0 or shndx == 0 or (info & 0xF) not in (STT_FUNC, STT_GNU_IFUNC):
                continue
            end = find(b"\0", name_off)
            if name_off >= len(strs) or end < 0:
                raise ObjectFormatError(f"{self.what}: symbol name offset {name_off} is out of range", section=st.name)
            yield strs[name_off:end].decode("utf-8", "replace"), value, size

    def iter_functions(self) -> Iterator[FunctionSymbol]:
        """Every defined function symbol (STT_FUNC, STT_GNU_IFUNC) of .symtab, then .dynsym."""
        for st in self._symbol_tables():
            for name, value, size in self._raw_functions(st):
                yield FunctionSymbol(name, value, size)

    @property
    def functions(self) -> dict[str, FunctionSymbol]:
        """Function symbols by name (the first one wins: .symtab before .dynsym; ``name@VERSION`` also as ``name``)."""
        return {k: FunctionSymbol(*rec) for k, rec in self._function_index().items()}

    def resolve(self, names: Iterable[str]) -> dict[str, FunctionSymbol]:
        """The function symbols of ``names`` that exist (``name@VERSION`` matches ``name``), in one pass.

        Each name is looked for in the string tables (``name\\0``; linkers share tails, so every
        occurrence is tried) and kept where a function symbol's name starts there.
        """
        tables = self._offset_tables()
        out: dict[str, FunctionSymbol] = {}
        for n in names:
            hit = _find_function(tables, n.encode()) or _find_function(tables, n.split("@", 1)[0].encode(), versioned=True)
            if hit is not None:
                out[n] = hit
        return out

    # ---- notes ---------------------------------------------------------------------------

    def notes(self, section: str) -> list[ElfNote]:
        """The notes of note section ``section`` (empty when absent)."""
        sec = self.section(section)
        if sec is None:
            return []
        if sec.type != SHT_NOTE:
            raise ObjectFormatError(f"{self.what}: section {section!r} is not a note section", section=section)
        return parse_notes(self.section_data(sec), self.byteorder, where=section)


def parse_notes(data: bytes, byteorder: str = "little", *, where: str = "notes") -> list[ElfNote]:
    """Split the bytes of a note section into notes (4-byte aligned names and descriptors)."""
    hdr = _NHDR[0 if byteorder == "little" else 1]
    out: list[ElfNote] = []
    off = 0
    while off + hdr.size <= len(data):
        namesz, descsz, ntype = hdr.unpack_from(data, off)
        name_at = off + hdr.size
        desc_at = name_at + _align4(namesz)
        end = desc_at + _align4(descsz)
        if desc_at + descsz > len(data):
            raise ObjectFormatError(f"note at offset {off} runs past the end of {where}", section=where, offset=off)
        name = data[name_at:name_at + namesz].rstrip(b"\0").decode("utf-8", "replace")
        out.append(ElfNote(name, ntype, data[desc_at:desc_at + descsz]))
        off = end
    if off < len(data) and any(data[off:]):
        raise ObjectFormatError(f"trailing bytes at offset {off} of {where} are no note", section=where, offset=off)
    return out


def _find_function(tables: list[tuple[bytes, dict[int, tuple[int, int]]]], name: bytes, *,
                   versioned: bool = False) -> FunctionSymbol | None:
    """The first function called ``name`` (``name@...`` too when ``versioned``) in the tables, in order."""
    if not name:
        return None
    ends = (b"\0", b"@") if versioned else (b"\0",)
    for strs, funcs in tables:
        for end in ends:
            needle = name + end
            at = strs.find(needle)
            while at >= 0:
                if at in funcs:
                    value, size = funcs[at]
                    return FunctionSymbol(_cstr(strs, at), value, size)
                at = strs.find(needle, at + 1)
    return None


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _cstr(table: bytes, off: int) -> str:
    end = table.find(b"\0", off)
    return table[off:end if end >= 0 else len(table)].decode("utf-8", "replace")
