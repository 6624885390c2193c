"""A bounds-checked view of a BPF ELF relocatable object (ELF64, either byte order).

The ELF header, section headers, symbols and REL entries are fixed-size
records read with precompiled :class:`struct.Struct` (pyelftools' decoders
would cost tens of ms to import on every load); everything read through this
facade is checked against the buffer, and any failure becomes an
:class:`~bpfkit.errors.ObjectFormatError` naming the section and offset.
"""

from __future__ import annotations

import struct

from .._record import FrozenRecord
from ..errors import ObjectFormatError

__all__ = [
    "EM_BPF",
    "R_BPF_64_32",
    "R_BPF_64_64",
    "R_BPF_64_ABS32",
    "R_BPF_64_ABS64",
    "R_BPF_64_NODYLD32",
    "R_BPF_NONE",
    "ElfFile",
    "ElfRel",
    "ElfSection",
    "ElfSymbol",
]

EM_NONE = 0
EM_BPF = 247
ET_REL = 1

SHT_NULL = 0
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_STRTAB = 3
SHT_RELA = 4
SHT_NOBITS = 8
SHT_REL = 9
SHT_LLVM_ADDRSIG = 0x6FFF4C03

SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHF_COMPRESSED = 0x800

STB_LOCAL = 0
STB_GLOBAL = 1
STB_WEAK = 2

STT_NOTYPE = 0
STT_OBJECT = 1
STT_FUNC = 2
STT_SECTION = 3
STT_FILE = 4

STV_DEFAULT = 0
STV_INTERNAL = 1
STV_HIDDEN = 2

SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
SHN_ABS = 0xFFF1
SHN_COMMON = 0xFFF2

R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4
R_BPF_64_32 = 10
RELOC_TYPES = frozenset({R_BPF_NONE, R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_ABS32, R_BPF_64_NODYLD32, R_BPF_64_32})

_SYM_SIZE = 24
_REL_SIZE = 16
_SHDR_SIZE = 64
_MAX_SECTIONS = 0xFFFF * 16  # far above anything clang emits; bounds the header walk
_MAX_NOBITS = 1 << 26  # zero-filled bytes section_data() will make up for an SHT_NOBITS section


class ElfSection(FrozenRecord):
    """One section header, with its name resolved."""

    _fields = ("index", "name", "type", "flags", "offset", "size", "link", "info", "entsize")
    __slots__ = _fields
    index: int
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    entsize: int

    def __init__(self, index: int, name: str, type: int, flags: int, offset: int, size: int, link: int, info: int,
                 entsize: int) -> None:
        self._set(index=index, name=name, type=type, flags=flags, offset=offset, size=size, link=link, info=info,
                  entsize=entsize)

    @property
    def is_exec(self) -> bool:
        """SHT_PROGBITS with SHF_EXECINSTR: BPF instructions."""
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)


class ElfSymbol(FrozenRecord):
    """One Elf64_Sym."""

    _fields = ("index", "name", "value", "size", "bind", "type", "visibility", "shndx")
    __slots__ = _fields
    index: int
    name: str
    value: int
    size: int
    bind: int
    type: int
    visibility: int
    shndx: int

    def __init__(self, index: int, name: str, value: int, size: int, bind: int, type: int, visibility: int,
                 shndx: int) -> None:
        self._set(index=index, name=name, value=value, size=size, bind=bind, type=type, visibility=visibility,
                  shndx=shndx)

    @property
    def is_extern(self) -> bool:
        """Undefined NOTYPE global or weak symbol: a BPF extern (__kconfig, __ksym)."""
        return self.shndx == SHN_UNDEF and self.bind in (STB_GLOBAL, STB_WEAK) and self.type == STT_NOTYPE

    @property
    def is_hidden(self) -> bool:
        """STV_HIDDEN or STV_INTERNAL visibility."""
        return self.visibility in (STV_HIDDEN, STV_INTERNAL)


class ElfRel(FrozenRecord):
    """One Elf64_Rel entry."""

    _fields = ("offset", "sym", "type")
    __slots__ = _fields
    offset: int
    sym: int
    type: int

    def __init__(self, offset: int, sym: int, type: int) -> None:
        self._set(offset=offset, sym=sym, type=type)


# Elf64_Ehdr after e_ident, Elf64_Shdr, Elf64_Sym, Elf64_Rel: (little-endian, big-endian)
_EHDR = (struct.Struct("<HHIQQQIHHHHHH"), struct.Struct(">HHIQQQIHHHHHH"))
_SHDR = (struct.Struct("<IIQQQQIIQQ"), struct.Struct(">IIQQQQIIQQ"))
_SYM = (struct.Struct("<IBBHQQ"), struct.Struct(">IBBHQQ"))
_REL = (struct.Struct("<QQ"), struct.Struct(">QQ"))


class ElfFile:
    """A parsed ELF64 relocatable object for the BPF target (either byte order)."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        if len(self.data) < 64 or self.data[:4] != b"\x7fELF":
            raise ObjectFormatError("not an ELF file (bad magic or too short)", offset=0)
        if self.data[4] != 2:
            raise ObjectFormatError(f"ELF class {self.data[4]} is not ELF64", offset=4)
        if self.data[5] not in (1, 2):
            raise ObjectFormatError(f"ELF data encoding {self.data[5]} is neither little nor big endian", offset=5)
        self.byteorder = "little" if self.data[5] == 1 else "big"
        self._bo = 0 if self.byteorder == "little" else 1
        try:
            self._read_headers()
        except ObjectFormatError:
            raise
        except (struct.error, ValueError, OverflowError) as exc:
            raise ObjectFormatError(f"malformed ELF headers: {type(exc).__name__}: {exc}", offset=0) from None
        self._by_name: dict[str, ElfSection] = {}
        for s in self.sections:
            self._by_name.setdefault(s.name, s)
        self._symbols: list[ElfSymbol] | None = None
        self.symtab: ElfSection | None = None
        for s in self.sections:
            if s.type == SHT_SYMTAB:
                if self.symtab is not None:
                    raise ObjectFormatError("more than one symbol table", section=s.name, offset=s.offset)
                self.symtab = s

    def _read_headers(self) -> None:
        data = self.data
        (e_type, e_machine, _version, _entry, _phoff, shoff, _flags, _ehsize, _phentsize, _phnum, shentsize, shnum,
         shstrndx) = _EHDR[self._bo].unpack_from(data, 16)
        self.machine = e_machine
        self.type = e_type
        if self.type != ET_REL:
            raise ObjectFormatError(f"ELF type {self.type} is not a relocatable object (ET_REL)", offset=16)
        if self.machine not in (EM_BPF, EM_NONE):
            raise ObjectFormatError(f"ELF machine {self.machine} is not BPF", offset=18)
        if shoff == 0:
            raise ObjectFormatError("ELF object has no section headers", offset=0x28)
        if shentsize != _SHDR_SIZE:
            raise ObjectFormatError(f"ELF section header size {shentsize} is not {_SHDR_SIZE}", offset=0x3A)
        if shoff + _SHDR_SIZE > len(data):
            raise ObjectFormatError("ELF section headers lie past the end of the file", offset=0x28)
        shdr = _SHDR[self._bo]
        first = shdr.unpack_from(data, shoff)
        count = shnum or first[5]  # e_shnum 0: the count is section 0's sh_size
        if count <= 0 or count > _MAX_SECTIONS or shoff + count * _SHDR_SIZE > len(data):
            raise ObjectFormatError(f"ELF section header table of {count} entries does not fit the file", offset=shoff)
        raw = list(shdr.iter_unpack(data[shoff : shoff + count * _SHDR_SIZE]))
        if shstrndx == 0xFFFF:  # SHN_XINDEX: the real index is in section 0's sh_link
            shstrndx = first[6]
        if not 0 < shstrndx < count:
            raise ObjectFormatError(f"section name table index {shstrndx} is out of range", offset=0x3E)
        _, st_type, _, _, st_off, st_size, _, _, _, _ = raw[shstrndx]
        if st_type != SHT_STRTAB:
            raise ObjectFormatError("section name table is not a string table", offset=shoff + shstrndx * _SHDR_SIZE)
        names = self._slice(st_off, st_size, "section name table")
        self.sections: list[ElfSection] = []
        for i, (name_off, typ, flags, _addr, off, size, link, info, _align, entsize) in enumerate(raw):
            name = "" if i == 0 else _cstring(names, name_off, ".shstrtab")
            if typ not in (SHT_NOBITS, SHT_NULL) and off + size > len(data):
                raise ObjectFormatError(f"section {name!r} runs past the end of the file", section=name, offset=off)
            self.sections.append(ElfSection(i, name, typ, flags, off, size, link, info, entsize))

    def _slice(self, off: int, size: int, what: str) -> bytes:
        if off < 0 or size < 0 or off + size > len(self.data):
            raise ObjectFormatError(f"{what} runs past the end of the file", section=what, offset=off)
        return self.data[off : off + size]

    # ---- sections ----------------------------------------------------------

    def section(self, name: str) -> ElfSection | None:
        """The first section called ``name``, or None."""
        return self._by_name.get(name)

    def section_at(self, index: int) -> ElfSection:
        """The section with index ``index``; ObjectFormatError when there is none."""
        if not 0 <= index < len(self.sections):
            raise ObjectFormatError(f"section index {index} is out of range (0..{len(self.sections) - 1})")
        return self.sections[index]

    def section_data(self, sec: ElfSection) -> bytes:
        """The bytes of a section; zero-filled for SHT_NOBITS (.bss)."""
        if sec.flags & SHF_COMPRESSED:
            raise ObjectFormatError("compressed sections are not supported in BPF objects", section=sec.name, offset=sec.offset)
        if sec.type == SHT_NOBITS:
            if sec.size > _MAX_NOBITS:
                raise ObjectFormatError(f"SHT_NOBITS section of {sec.size} bytes is too big", section=sec.name)
            return bytes(sec.size)
        if sec.type == SHT_NULL:
            return b""
        return self._slice(sec.offset, sec.size, sec.name)

    # ---- symbols -----------------------------------------------------------

    @property
    def symbols(self) -> list[ElfSymbol]:
        """Every entry of the symbol table (index 0 included); empty when there is none."""
        if self._symbols is None:
            self._symbols = self._read_symbols()
        return self._symbols

    def _read_symbols(self) -> list[ElfSymbol]:
        st = self.symtab
        if st is None:
            return []
        if st.entsize != _SYM_SIZE or st.size % _SYM_SIZE:
            raise ObjectFormatError(f"symbol table entry size {st.entsize} is not {_SYM_SIZE}", section=st.name, offset=st.offset)
        strtab = self.section_at(st.link)
        if strtab.type != SHT_STRTAB:
            raise ObjectFormatError("symbol table is not linked to a string table", section=st.name, offset=st.offset)
        strs = self.section_data(strtab)
        data = self.section_data(st)
        out = []
        for i, (name_off, info, other, shndx, value, size) in enumerate(_SYM[self._bo].iter_unpack(data)):
            name = _cstring(strs, name_off, strtab.name) if name_off else ""
            out.append(ElfSymbol(i, name, value, size, info >> 4, info & 0xF, other & 0x3, shndx))
        return out

    def symbol(self, index: int, *, where: str | None = None) -> ElfSymbol:
        """The symbol with index ``index``; ObjectFormatError when out of range."""
        syms = self.symbols
        if not 0 <= index < len(syms):
            raise ObjectFormatError(f"symbol index {index} is out of range ({len(syms)} symbols)", section=where)
        return syms[index]

    # ---- relocations -------------------------------------------------------

    def relocations(self, sec: ElfSection) -> list[ElfRel]:
        """The entries of an SHT_REL section (BPF objects use REL, never RELA)."""
        if sec.type != SHT_REL:
            raise ObjectFormatError(f"section {sec.name!r} is not SHT_REL", section=sec.name, offset=sec.offset)
        if sec.entsize != _REL_SIZE or sec.size % _REL_SIZE:
            raise ObjectFormatError(f"relocation entry size {sec.entsize} is not {_REL_SIZE}", section=sec.name, offset=sec.offset)
        data = self.section_data(sec)
        out = []
        for k, (off, info) in enumerate(_REL[self._bo].iter_unpack(data)):
            rtype = info & 0xFFFFFFFF
            if rtype not in RELOC_TYPES:
                raise ObjectFormatError(f"unknown BPF relocation type {rtype}", section=sec.name, offset=sec.offset + k * _REL_SIZE)
            out.append(ElfRel(off, info >> 32, rtype))
        return out


def _cstring(table: bytes, off: int, where: str) -> str:
    """The NUL-terminated string at ``off`` of a string table, bounds-checked."""
    if off >= len(table):
        raise ObjectFormatError(f"string offset {off} is past the end of the string table", section=where, offset=off)
    end = table.find(b"\0", off)
    if end < 0:
        raise ObjectFormatError(f"string at offset {off} is not NUL-terminated", section=where, offset=off)
    return table[off:end].decode("utf-8", "replace")
