"""ELF object -> ObjectSpec: sections, BTF fixups, externs, maps, programs, relocations.

The steps follow what libbpf does when it opens an object (so that map names,
layouts and linked instructions come out the same), written for bpfkit:
collect sections; parse .BTF/.BTF.ext; collect externs; fix up the object's
BTF the way the compiler could not (DATASEC sizes and offsets, .kconfig
layout, .ksyms placeholders, hidden symbols); build maps; split programs into
functions; record relocations; link each entry point with its subprograms.
Every problem with the input is an ObjectFormatError.
"""

from __future__ import annotations

import bisect
import itertools
import struct

from .._record import Record
from .._uapi import BtfKind, MapFlags, MapType, ProgFlags
from ..asm import decode
from ..btf import Array, Btf, Const, Datasec, Func, FuncLinkage, FuncProto, Int, Struct, Var, VarLinkage, Volatile
from ..btf._ext import BtfExt, FuncInfo, parse_ext
from ..errors import BpfError, ObjectFormatError
from ._elf import (
    SHN_LORESERVE,
    SHT_LLVM_ADDRSIG,
    SHT_NOBITS,
    SHT_PROGBITS,
    SHT_REL,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_OBJECT,
    STT_SECTION,
    ElfFile,
    ElfSection,
    ElfSymbol,
)
from ._link import Function, Reloc, RelocKind, link_program
from ._maps import BPF_OBJ_NAME_LEN, internal_map_name, parse_btf_map_def, parse_legacy_map_def
from ._sections import parse_section
from ._spec import ExternKind, ExternSpec, MapKind, MapSpec, ProgramSpec, VariableSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._object import ObjectSpec

__all__ = ["read_object"]

OP_LD_IMM64 = 0x18
OP_CALL = 0x85
PSEUDO_CALL = 1
PSEUDO_FUNC = 4

_DATA_KINDS = {MapKind.DATA, MapKind.RODATA, MapKind.BSS}
# Errors the lower layers raise on malformed input (bad BTF ids, sizes of sizeless types ...).
_INPUT_ERRORS = (IndexError, ValueError, struct.error, RecursionError, OverflowError, UnicodeError)


def read_object(data: bytes, name: str, cls: type[ObjectSpec]) -> ObjectSpec:
    """Parse and link a BPF ELF object; any malformed input raises ObjectFormatError."""
    try:
        return _Reader(data, name, cls).read()
    except BpfError as exc:
        # BpfIndexError and its kin also derive from the builtins: from a parser they mean malformed input
        if isinstance(exc, ObjectFormatError) or not isinstance(exc, _INPUT_ERRORS):
            raise
        raise ObjectFormatError(f"malformed object: {exc}") from None
    except _INPUT_ERRORS as exc:
        raise ObjectFormatError(f"malformed object: {type(exc).__name__}: {exc}") from None


def _is_dwarf(name: str) -> bool:
    return name.startswith(".debug") or name.startswith(".zdebug")


def _ignored(sec: ElfSection) -> bool:
    """Sections libbpf never looks at: string tables, address-significance tables, DWARF, empty .text."""
    if sec.type in (SHT_STRTAB, SHT_LLVM_ADDRSIG):
        return True
    name = sec.name
    if sec.type == SHT_PROGBITS and sec.size == 0 and name == ".text":
        return True
    if _is_dwarf(name):
        return True
    if name.startswith(".rel"):
        rest = name[4:]
        if _is_dwarf(rest) or rest in (".BTF", ".BTF.ext"):
            return True
    return False


class _DataSection(Record):
    _fields = ("sec", "kind", "map_name")
    __slots__ = _fields

    def __init__(self, sec: ElfSection, kind: MapKind, map_name: str = "") -> None:
        self.sec = sec
        self.kind = kind
        self.map_name = map_name


class _State(Record):
    """What the reader collects before it builds the spec."""

    _fields = ("license", "kernel_version", "legacy_maps", "btf_maps", "btf_sec", "ext_sec", "text", "exec_secs",
               "data_secs", "rel_secs")
    __slots__ = _fields

    def __init__(self) -> None:
        self.license = ""
        self.kernel_version = 0
        self.legacy_maps: ElfSection | None = None
        self.btf_maps: ElfSection | None = None
        self.btf_sec: ElfSection | None = None
        self.ext_sec: ElfSection | None = None
        self.text: ElfSection | None = None
        self.exec_secs: list[ElfSection] = []
        self.data_secs: dict[int, _DataSection] = {}
        self.rel_secs: dict[int, ElfSection] = {}


class _Reader:
    def __init__(self, data: bytes, name: str, cls: type[ObjectSpec]) -> None:
        self.elf = ElfFile(data)
        self.name = name[: BPF_OBJ_NAME_LEN - 1]
        self.order = self.elf.byteorder
        self.st = _State()
        self.btf: Btf | None = None
        self.ext: BtfExt | None = None
        self.spec = cls(name=self.name, byteorder=self.order)
        self.externs_by_sym: dict[int, ExternSpec] = {}
        self.maps_by_offset: dict[tuple[int, int], str] = {}  # (section index, offset) -> map name
        self.functions: dict[int, list[Function]] = {}  # section index -> functions sorted by start
        self._btf_maps_datasec: Datasec | None = None
        self._starts: dict[int, list[int]] = {}

    # ---- driver ------------------------------------------------------------

    def read(self) -> ObjectSpec:
        if self.elf.symtab is None:
            raise ObjectFormatError("object has no symbol table (stripped?)")
        self._collect_sections()
        self._load_btf()
        self._collect_externs()
        self._fixup_btf()
        self._init_maps()
        self._init_programs()
        self._collect_prog_relocs()
        self._link_programs()
        self._collect_map_relocs()
        self._init_variables()
        return self.spec

    # ---- sections ----------------------------------------------------------

    def _collect_sections(self) -> None:
        st = self.st
        elf = self.elf
        for sec in elf.sections[1:]:
            if _ignored(sec):
                continue
            name = sec.name
            if name == "license":
                raw = elf.section_data(sec)
                st.license = raw.split(b"\0", 1)[0][:63].decode("utf-8", "replace")
            elif name == "version":
                raw = elf.section_data(sec)
                if len(raw) != 4:
                    raise ObjectFormatError(f"version section is {len(raw)} bytes, not 4", section=name, offset=sec.offset)
                st.kernel_version = int.from_bytes(raw, self.order)  # type: ignore[arg-type]
            elif name == "maps":
                st.legacy_maps = sec
            elif name == ".maps":
                st.btf_maps = sec
            elif name in (".BTF", ".BTF.ext"):
                if sec.type != SHT_PROGBITS:
                    raise ObjectFormatError(f"{name} is not SHT_PROGBITS", section=name, offset=sec.offset)
                if name == ".BTF":
                    st.btf_sec = sec
                else:
                    st.ext_sec = sec
            elif sec.type == SHT_SYMTAB:
                continue
            elif sec.type == SHT_PROGBITS and sec.size > 0:
                if sec.is_exec:
                    if name == ".text":
                        st.text = sec
                    st.exec_secs.append(sec)
                elif name == ".data" or name.startswith(".data."):
                    st.data_secs[sec.index] = _DataSection(sec, MapKind.DATA)
                elif name == ".rodata" or name.startswith(".rodata."):
                    st.data_secs[sec.index] = _DataSection(sec, MapKind.RODATA)
            elif sec.type == SHT_REL:
                target = sec.info
                if not 0 < target < len(elf.sections):
                    raise ObjectFormatError(f"relocation section targets section index {target}", section=name, offset=sec.offset)
                tsec = elf.sections[target]
                if tsec.is_exec or tsec.name in (".maps", "maps"):
                    if target in st.rel_secs:
                        raise ObjectFormatError(f"section {tsec.name!r} has two relocation sections", section=name)
                    st.rel_secs[target] = sec
            elif sec.type == SHT_NOBITS and sec.size > 0 and (name == ".bss" or name.startswith(".bss.")):
                st.data_secs[sec.index] = _DataSection(sec, MapKind.BSS)
        self.spec.license = st.license
        self.spec.kernel_version = st.kernel_version

    def _load_btf(self) -> None:
        st = self.st
        if st.btf_sec is None:
            return
        self.btf = Btf.from_bytes(self.elf.section_data(st.btf_sec))
        if st.ext_sec is not None:
            self.ext = parse_ext(self.elf.section_data(st.ext_sec), self.btf)
        self.spec.btf = self.btf
        self.spec.btf_ext = self.ext

    # ---- externs -----------------------------------------------------------

    def _datasecs(self) -> dict[int, int]:
        """VAR/FUNC type id -> id of the DATASEC that lists it."""
        btf = self.btf
        assert btf is not None
        out: dict[int, int] = {}
        for tid in btf.own_ids():
            if btf.kind_of(tid) == BtfKind.DATASEC:
                sec = btf[tid]
                assert isinstance(sec, Datasec)
                for vs in sec.vars:
                    out.setdefault(vs.type, tid)
        return out

    def _find_extern_btf(self, name: str) -> int:
        btf = self.btf
        assert btf is not None
        for tid in btf.find(name):
            t = btf[tid]
            if isinstance(t, Var):
                if t.linkage != VarLinkage.EXTERN:
                    raise ObjectFormatError(f"extern {name!r}: its BTF VAR is not extern", section=".BTF")
                return tid
            if isinstance(t, Func):
                if t.linkage != FuncLinkage.EXTERN:
                    raise ObjectFormatError(f"extern {name!r}: its BTF FUNC is not extern", section=".BTF")
                return tid
        raise ObjectFormatError(f"extern {name!r} has no BTF VAR or FUNC", section=".BTF")

    def _collect_externs(self) -> None:
        syms = [s for s in self.elf.symbols if s.is_extern and s.name]
        if not syms:
            return
        btf = self.btf
        if btf is None:
            raise ObjectFormatError(f"extern {syms[0].name!r} needs BTF, and the object has none")
        secs = self._datasecs()
        kconfig: list[tuple[ExternSpec, int]] = []
        others: list[ExternSpec] = []
        for sym in syms:
            tid = self._find_extern_btf(sym.name)
            t = btf[tid]
            assert isinstance(t, (Var, Func))
            sec_id = secs.get(tid)
            if sec_id is None:
                raise ObjectFormatError(f"extern {sym.name!r} is in no BTF DATASEC", section=".BTF")
            sec_name = btf[sec_id].name
            essential = t.name.split("___", 1)[0] if "___" in t.name else t.name
            weak = sym.bind == STB_WEAK
            if sec_name == ".kconfig":
                from ._kconfig import alignment_of, kconfig_type_of

                if isinstance(t, Func):
                    raise ObjectFormatError(f"extern function {t.name!r} cannot be __kconfig", section=".BTF")
                size = btf.size_of(t.type)
                if size <= 0:
                    raise ObjectFormatError(f"__kconfig extern {t.name!r} has size {size}", section=".BTF")
                kt = kconfig_type_of(btf, t.type)
                if kt is None:
                    raise ObjectFormatError(f"__kconfig extern {t.name!r} has an unsupported type", section=".BTF")
                ext = ExternSpec(t.name, ExternKind.KCONFIG, weak, tid, t.type, essential, kt[0], kt[1], 0, size)
                kconfig.append((ext, alignment_of(btf, t.type)))
            elif sec_name == ".ksyms":
                if isinstance(t, Func):
                    ext = ExternSpec(t.name, ExternKind.KFUNC, weak, tid, btf.skip_modifiers(t.type), essential)
                else:
                    ext = ExternSpec(t.name, ExternKind.KSYM, weak, tid, btf.skip_modifiers(t.type), essential)
                others.append(ext)
            else:
                raise ObjectFormatError(f"extern {t.name!r} is in unrecognized section {sec_name!r}", section=".BTF")
            self.externs_by_sym[sym.index] = ext
        kconfig.sort(key=lambda e: (-e[1], e[0].size, e[0].name))
        off = 0
        for ext, align in kconfig:
            ext.offset = (off + align - 1) // align * align
            off = ext.offset + ext.size
        others.sort(key=lambda e: e.name)
        self.spec.externs = [e for e, _ in kconfig] + others

    # ---- BTF fixups --------------------------------------------------------

    def _fixup_btf(self) -> None:
        """Fill in what clang leaves to the loader, as libbpf does when it opens an object."""
        btf = self.btf
        if btf is None:
            return
        var_syms: dict[str, ElfSymbol] = {}
        for s in self.elf.symbols:
            if s.type == STT_OBJECT and s.bind in (STB_GLOBAL, STB_WEAK) and s.name:
                var_syms.setdefault(s.name, s)
        externs = {e.btf_id: e for e in self.spec.externs}
        datasecs = [tid for tid in btf.own_ids() if btf.kind_of(tid) == BtfKind.DATASEC]
        for tid in datasecs:
            sec = btf[tid]
            assert isinstance(sec, Datasec)
            if sec.name == ".kconfig":
                self._fixup_kconfig(sec, externs)
            elif sec.name == ".ksyms":
                self._fixup_ksyms(sec)
            else:
                self._fixup_datasec(sec, var_syms)
            sec.vars.sort(key=lambda v: v.offset)
        self._fixup_hidden_funcs()

    def _fixup_datasec(self, sec: Datasec, var_syms: dict[str, ElfSymbol]) -> None:
        btf = self.btf
        assert btf is not None
        fix_offsets = False
        if sec.size == 0:
            esec = self.elf.section(sec.name)
            if esec is None or esec.size == 0:
                raise ObjectFormatError(f"BTF DATASEC {sec.name!r} has no ELF section to take its size from", section=".BTF")
            sec.size = esec.size
            fix_offsets = True
        else:
            esec = self.elf.section(sec.name)
            if esec is not None and esec.size != sec.size:
                # the map is made with the section's size: a type of another size cannot describe its value
                raise ObjectFormatError(
                    f"BTF DATASEC {sec.name!r} is {sec.size} bytes but its ELF section is {esec.size}", section=".BTF")
        for vs in sec.vars:
            var = btf[vs.type]
            if not isinstance(var, Var):
                raise ObjectFormatError(f"DATASEC {sec.name!r} lists a {var.kind.name}, not a VAR", section=".BTF")
            if var.linkage == VarLinkage.EXTERN:
                continue
            if var.linkage == VarLinkage.STATIC:
                self._check_in_datasec(sec, var.name, vs.offset, vs.size)
                continue
            sym = var_syms.get(var.name)
            if sym is None:
                raise ObjectFormatError(f"DATASEC {sec.name!r}: no ELF symbol for variable {var.name!r}", section=".BTF")
            if fix_offsets:
                vs.offset = sym.value
            self._check_in_datasec(sec, var.name, vs.offset, vs.size)
            if sym.is_hidden:
                var.linkage = VarLinkage.STATIC

    @staticmethod
    def _check_in_datasec(sec: Datasec, name: str, offset: int, size: int) -> None:
        """A variable lies inside its DATASEC (as the kernel's BTF check requires), whatever the section."""
        if offset + size > sec.size:
            raise ObjectFormatError(
                f"DATASEC {sec.name!r}: variable {name!r} (offset {offset}, {size} bytes) lies outside the "
                f"section's {sec.size} bytes", section=".BTF")

    def _fixup_kconfig(self, sec: Datasec, externs: dict[int, ExternSpec]) -> None:
        btf = self.btf
        assert btf is not None
        end = 0
        for vs in sec.vars:
            ext = externs.get(vs.type)
            if ext is None:
                raise ObjectFormatError(f".kconfig lists type {vs.type}, which is no extern of this object", section=".BTF")
            var = btf[vs.type]
            assert isinstance(var, Var)
            var.linkage = VarLinkage.GLOBAL
            vs.offset = ext.offset
            end = max(end, ext.offset + ext.size)
        kc = [e for e in self.spec.externs if e.kind is ExternKind.KCONFIG]
        sec.size = max([end] + [e.offset + e.size for e in kc])

    def _fixup_ksyms(self, sec: Datasec) -> None:
        """Make .ksyms loadable: every extern becomes a 4-byte int VAR (functions share one dummy VAR)."""
        btf = self.btf
        assert btf is not None
        int_id = 0
        for tid in btf.own_ids():
            if btf.kind_of(tid) == BtfKind.INT:
                t = btf[tid]
                if isinstance(t, Int) and t.bits == 32:
                    int_id = tid
                    break
        has_func = any(isinstance(btf[vs.type], Func) for vs in sec.vars)
        dummy = btf.add(Var("dummy_ksym", int_id, VarLinkage.GLOBAL)) if has_func else 0
        for i, vs in enumerate(sec.vars):
            t = btf[vs.type]
            if isinstance(t, Func):
                proto = btf[t.type]
                if isinstance(proto, FuncProto):
                    for prm in proto.params:
                        if prm.type and not prm.name:
                            prm.name = "dummy_ksym"
                t.linkage = FuncLinkage.GLOBAL
                vs.type = dummy
            elif isinstance(t, Var):
                t.linkage = VarLinkage.GLOBAL
                t.type = int_id
            vs.offset = 4 * i
            vs.size = 4
        sec.size = 4 * len(sec.vars)

    def _fixup_hidden_funcs(self) -> None:
        """Global .text functions with hidden visibility are verified as static (libbpf's rule)."""
        btf = self.btf
        text = self.st.text
        if btf is None or text is None:
            return
        for s in self.elf.symbols:
            if s.shndx == text.index and s.type == STT_FUNC and s.bind != STB_LOCAL and s.is_hidden:
                for tid in btf.find(s.name, BtfKind.FUNC):
                    f = btf[tid]
                    if isinstance(f, Func) and f.linkage == FuncLinkage.GLOBAL:
                        f.linkage = FuncLinkage.STATIC
                        break

    # ---- maps --------------------------------------------------------------

    def _add_map(self, m: MapSpec) -> None:
        if m.name in self.spec.maps:
            raise ObjectFormatError(f"two maps are named {m.name!r}", section=m.section)
        self.spec.maps[m.name] = m

    def _init_maps(self) -> None:
        self._init_legacy_maps()
        self._init_btf_maps()
        self._init_data_maps()
        self._init_kconfig_map()

    def _init_legacy_maps(self) -> None:
        sec = self.st.legacy_maps
        if sec is None:
            return
        data = self.elf.section_data(sec)
        syms = sorted(
            (s for s in self.elf.symbols if s.shndx == sec.index and s.type != STT_SECTION and s.name),
            key=lambda s: s.value,
        )
        if not syms:
            if data:
                raise ObjectFormatError("legacy maps section has no map symbols", section=sec.name, offset=sec.offset)
            return
        if not data or len(data) % len(syms):
            raise ObjectFormatError(
                f"legacy maps section of {len(data)} bytes does not divide into {len(syms)} map definitions",
                section=sec.name,
                offset=sec.offset,
            )
        each = len(data) // len(syms)
        for s in syms:
            size = s.size or each
            if s.value + size > len(data):
                raise ObjectFormatError(f"legacy map {s.name!r} runs past its section", section=sec.name, offset=sec.offset + s.value)
            m = parse_legacy_map_def(s.name, data[s.value : s.value + size], self.order, section=sec.name, offset=s.value)
            self._add_map(m)
            self.maps_by_offset[(sec.index, s.value)] = m.name

    def _init_btf_maps(self) -> None:
        sec = self.st.btf_maps
        if sec is None:
            return
        btf = self.btf
        if btf is None:
            raise ObjectFormatError(".maps section needs BTF, and the object has none", section=".maps")
        ids = btf.find(".maps", BtfKind.DATASEC)
        if not ids:
            raise ObjectFormatError("BTF has no DATASEC '.maps'", section=".BTF")
        ds = btf[ids[0]]
        assert isinstance(ds, Datasec)
        size = sec.size
        for vs in ds.vars:
            var = btf[vs.type]
            if not isinstance(var, Var):
                raise ObjectFormatError(f"DATASEC '.maps' lists a {var.kind.name}, not a VAR", section=".BTF")
            name = var.name
            if not name:
                raise ObjectFormatError("a map in '.maps' has no name", section=".maps")
            if vs.offset + vs.size > size:
                raise ObjectFormatError(f"map {name!r} lies outside the .maps section", section=".maps", offset=vs.offset)
            if var.linkage != VarLinkage.GLOBAL:
                raise ObjectFormatError(f"map {name!r} has {var.linkage.name.lower()} linkage; maps must be global", section=".maps")
            d = btf[btf.skip_modifiers(var.type)]
            if not isinstance(d, Struct):
                raise ObjectFormatError(f"map {name!r} is a {d.kind.name.lower()}, not a struct", section=".maps")
            if d.size > vs.size:
                raise ObjectFormatError(f"map {name!r}: definition is bigger than its variable", section=".maps")
            m = parse_btf_map_def(btf, name, var.type, section=".maps", offset=vs.offset)
            self._add_map(m)
            self.maps_by_offset[(sec.index, vs.offset)] = name
        self._btf_maps_datasec = ds

    def _datasec_id(self, name: str) -> int | None:
        if self.btf is None:
            return None
        ids = self.btf.find(name, BtfKind.DATASEC)
        return ids[0] if ids else None

    def _mmapable(self, datasec_id: int | None) -> bool:
        """libbpf makes a data map mmap()able when its DATASEC has a non-static variable."""
        if datasec_id is None or self.btf is None:
            return False
        ds = self.btf[datasec_id]
        assert isinstance(ds, Datasec)
        for vs in ds.vars:
            v = self.btf[vs.type]
            if isinstance(v, Var) and v.linkage != VarLinkage.STATIC:
                return True
        return False

    def _init_data_maps(self) -> None:
        for idx in sorted(self.st.data_secs):
            d = self.st.data_secs[idx]
            sec = d.sec
            ds_id = self._datasec_id(sec.name)
            flags = MapFlags(0)
            if d.kind is MapKind.RODATA:
                flags |= MapFlags.RDONLY_PROG
            if self._mmapable(ds_id):
                flags |= MapFlags.MMAPABLE
            d.map_name = internal_map_name(self.name, sec.name)
            m = MapSpec(
                name=d.map_name,
                type=MapType.ARRAY,
                key_size=4,
                value_size=sec.size,
                max_entries=1,
                flags=flags,
                value_type_id=ds_id,
                data=None if d.kind is MapKind.BSS else self.elf.section_data(sec),
                readonly=d.kind is MapKind.RODATA,
                freeze=d.kind is MapKind.RODATA,
                section=sec.name,
                kind=d.kind,
            )
            self._add_map(m)

    def _init_kconfig_map(self) -> None:
        kc = [e for e in self.spec.externs if e.kind is ExternKind.KCONFIG]
        if not kc:
            return
        size = max(e.offset + e.size for e in kc)
        ds_id = self._datasec_id(".kconfig")
        flags = MapFlags.RDONLY_PROG
        if self._mmapable(ds_id):
            flags |= MapFlags.MMAPABLE
        m = MapSpec(
            name=internal_map_name(self.name, ".kconfig"),
            type=MapType.ARRAY,
            key_size=4,
            value_size=size,
            max_entries=1,
            flags=flags,
            value_type_id=ds_id,
            readonly=True,
            freeze=True,
            section=".kconfig",
            kind=MapKind.KCONFIG,
        )
        self._add_map(m)
        self.spec.kconfig_map = m.name

    # ---- programs ----------------------------------------------------------

    def _init_programs(self) -> None:
        text_idx = self.st.text.index if self.st.text is not None else -1
        by_sec: dict[int, list[ElfSymbol]] = {}
        for s in self.elf.symbols:
            if s.type == STT_FUNC and s.shndx:
                by_sec.setdefault(s.shndx, []).append(s)
        for sec in self.st.exec_secs:
            insns = decode(self.elf.section_data(sec), "big" if self.order == "big" else "little", section=sec.name)
            funcs: list[Function] = []
            for s in sorted(by_sec.get(sec.index, []), key=lambda s: s.value):
                if s.value % 8 or s.size % 8 or s.size == 0 or s.value + s.size > sec.size:
                    raise ObjectFormatError(
                        f"function {s.name!r} (offset {s.value}, {s.size} bytes) does not fit its section",
                        section=sec.name,
                        offset=sec.offset + s.value,
                    )
                if sec.index != text_idx and s.bind == STB_LOCAL:
                    raise ObjectFormatError(f"program {s.name!r} is static; entry-point programs must be global", section=sec.name)
                if not s.name:
                    raise ObjectFormatError("a function symbol has no name", section=sec.name, offset=sec.offset + s.value)
                start = s.value // 8
                funcs.append(Function(s.name, sec.index, sec.name, start, insns[start : start + s.size // 8], s))
            for a, b in itertools.pairwise(funcs):
                if a.start + len(a.insns) > b.start:
                    raise ObjectFormatError(f"functions {a.name!r} and {b.name!r} overlap", section=sec.name)
            self.functions[sec.index] = funcs

    def _function_at(self, sec_index: int, insn: int) -> Function | None:
        """The function of a section whose instructions include ``insn`` (a section-relative index)."""
        funcs = self.functions.get(sec_index, [])
        starts = self._starts.get(sec_index)
        if starts is None:
            starts = self._starts[sec_index] = [f.start for f in funcs]
        i = bisect.bisect_right(starts, insn) - 1
        if i >= 0 and insn < funcs[i].start + len(funcs[i].insns):
            return funcs[i]
        return None

    def _collect_prog_relocs(self) -> None:
        for sec in self.st.exec_secs:
            rsec = self.st.rel_secs.get(sec.index)
            if rsec is None:
                continue
            for k, rel in enumerate(self.elf.relocations(rsec)):
                where = rsec.offset + 16 * k
                if rel.offset % 8 or rel.offset >= sec.size:
                    raise ObjectFormatError(
                        f"relocation at offset {rel.offset} is outside the instructions", section=rsec.name, offset=where
                    )
                sym = self.elf.symbol(rel.sym, where=rsec.name)
                if sym.shndx >= len(self.elf.sections) and sym.shndx < SHN_LORESERVE:
                    raise ObjectFormatError(f"symbol {sym.name!r} points to section {sym.shndx}", section=rsec.name, offset=where)
                f = self._function_at(sec.index, rel.offset // 8)
                if f is None:
                    continue  # an overridden weak function, as libbpf treats it
                idx = rel.offset // 8 - f.start
                if idx in f.relocs:
                    raise ObjectFormatError(f"two relocations for instruction {idx} of {f.name!r}", section=rsec.name, offset=where)
                f.relocs[idx] = self._record_reloc(f, idx, sym, rsec.name, where)

    def _record_reloc(self, f: Function, idx: int, sym: ElfSymbol, rsec: str, where: int) -> Reloc:
        """Classify one relocation of instruction ``idx`` of function ``f`` (libbpf's record_reloc)."""
        insn = f.insns[idx]
        sname = sym.name or (self.elf.sections[sym.shndx].name if sym.type == STT_SECTION and sym.shndx < len(self.elf.sections) else "?")

        def bad(why: str) -> ObjectFormatError:
            return ObjectFormatError(f"function {f.name!r} insn {idx}: relocation against {sname!r}: {why}", section=rsec, offset=where)

        is_call = insn.opcode == OP_CALL
        is_ld64 = insn.opcode == OP_LD_IMM64
        if not is_call and not is_ld64:
            raise bad(f"instruction (opcode {insn.opcode:#04x}) is neither a call nor an LD_IMM64")
        if is_ld64 and (idx + 1 >= len(f.insns) or f.insns[idx + 1].opcode != 0):
            raise bad("LD_IMM64 lacks its second slot")
        text = self.st.text
        if sym.is_extern:
            ext = self.externs_by_sym.get(sym.index)
            if ext is None:
                raise bad("extern without a BTF description")
            if is_call and ext.kind is not ExternKind.KFUNC:
                raise bad(f"call to {ext.kind.value} extern, which is not a function")
            return Reloc(RelocKind.EXTERN_CALL if is_call else RelocKind.EXTERN_LD64, sname, extern=ext)
        if is_call:
            if insn.src_reg != PSEUDO_CALL:
                raise bad("call relocation on a helper call")
            if text is None or sym.shndx != text.index:
                raise bad("call target is not in .text")
            if sym.value % 8:
                raise bad(f"call target offset {sym.value} is not instruction aligned")
            return Reloc(RelocKind.CALL, sname, sym_off=sym.value)
        if sym.shndx == 0 or sym.shndx >= SHN_LORESERVE:
            raise bad("symbol is in a special section (an uninitialized global variable?)")
        if text is not None and sym.shndx == text.index and (
            (sym.bind == STB_LOCAL and sym.type == STT_SECTION) or (sym.bind in (STB_GLOBAL, STB_WEAK) and sym.type == STT_FUNC)
        ):
            if sym.value % 8 or insn.imm % 8:
                raise bad(f"subprogram address {sym.value}+{insn.imm} is not instruction aligned")
            insn.src_reg = PSEUDO_FUNC  # clang leaves it 0; libbpf marks these loads too
            return Reloc(RelocKind.SUBPROG_ADDR, sname, sym_off=sym.value)
        if (self.st.btf_maps is not None and sym.shndx == self.st.btf_maps.index) or (
            self.st.legacy_maps is not None and sym.shndx == self.st.legacy_maps.index
        ):
            mname = self.maps_by_offset.get((sym.shndx, sym.value))
            if mname is None:
                raise bad(f"no map at offset {sym.value} of its section")
            return Reloc(RelocKind.MAP_FD, sname, map=mname)
        d = self.st.data_secs.get(sym.shndx)
        if d is None:
            raise bad(f"section {self.elf.sections[sym.shndx].name!r} holds no map or global data")
        return Reloc(RelocKind.MAP_VALUE, sname, map=d.map_name, sym_off=sym.value)

    def _link_programs(self) -> None:
        st = self.st
        text_idx = st.text.index if st.text is not None else -1
        text_funcs = self.functions.get(text_idx, [])
        for sec in st.exec_secs:
            if sec.index == text_idx:
                continue
            ps = parse_section(sec.name)
            for f in self.functions.get(sec.index, []):
                insns, refs = link_program(f, text_funcs, self.ext, self.spec.kconfig_map)
                d = ps.definition
                prog = ProgramSpec(
                    name=f.name,
                    section=ps.section,
                    type=ps.prog_type,
                    instructions=insns,
                    expected_attach_type=d.attach_type if d is not None else None,
                    attach_target=ps.target,
                    flags=d.prog_flags if d is not None else ProgFlags(0),
                    section_def=d,
                    autoload=ps.autoload,
                    auto_attach=ps.auto_attach,
                    license=st.license,
                    kernel_version=st.kernel_version,
                    func_info=refs.func_info,
                    line_info=refs.line_info,
                    core_relos=refs.core_relos,
                    map_refs=refs.map_refs,
                    extern_refs=refs.extern_refs,
                    btf_func_type_id=self._func_type_id(f.name, refs.func_info),
                    subprograms=refs.subprograms,
                )
                if f.name in self.spec.programs:
                    raise ObjectFormatError(f"two programs are named {f.name!r}", section=sec.name)
                self.spec.programs[f.name] = prog
                for r in refs.extern_refs:
                    for e in self.spec.externs:
                        if e.name == r.name:
                            e.references.append((f.name, r.insn))

    def _func_type_id(self, name: str, func_info: list[FuncInfo]) -> int | None:
        if func_info:
            return func_info[0].type_id or None
        if self.btf is None:
            return None
        ids = self.btf.find(name, BtfKind.FUNC)
        return ids[0] if ids else None

    # ---- static contents of prog arrays and maps of maps ---------------------

    def _collect_map_relocs(self) -> None:
        st = self.st
        sec = st.btf_maps
        if sec is None:
            return
        rsec = st.rel_secs.get(sec.index)
        if rsec is None:
            return
        btf = self.btf
        assert btf is not None
        ds = self._btf_maps_datasec
        assert ds is not None
        for k, rel in enumerate(self.elf.relocations(rsec)):
            where = rsec.offset + 16 * k

            def bad(why: str, where: int = where) -> ObjectFormatError:
                return ObjectFormatError(why, section=rsec.name, offset=where)

            sym = self.elf.symbol(rel.sym, where=rsec.name)
            vs = next((v for v in ds.vars if v.offset <= rel.offset and rel.offset + 8 <= v.offset + v.size), None)
            if vs is None:
                raise bad(f"relocation at .maps offset {rel.offset} is inside no map")
            var = btf[vs.type]
            assert isinstance(var, Var)
            m = self.spec.maps[var.name]
            if m.type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
                if sym.shndx != sec.index:
                    raise bad(f"map {m.name!r}: initial value {sym.name!r} is not a BTF-defined map")
                if m.type == MapType.HASH_OF_MAPS and m.key_size != 4:
                    raise bad(f"hash of maps {m.name!r} must have 4-byte keys to be initialized")
                if sym.name not in self.spec.maps:
                    raise bad(f"map {m.name!r}: initial value {sym.name!r} is no map")
            elif m.type == MapType.PROG_ARRAY:
                prog = self.spec.programs.get(sym.name)
                funcs = self.functions.get(sym.shndx, [])
                f = next((fn for fn in funcs if fn.name == sym.name), None)
                if prog is None or f is None or f.start * 8 != sym.value:
                    raise bad(f"prog array {m.name!r}: {sym.name!r} is not an entry-point program")
            else:
                raise bad(f"map {m.name!r} of type {m.type.name} cannot have initial values")
            d = btf[btf.skip_modifiers(var.type)]
            assert isinstance(d, Struct)
            if not d.members or d.members[-1].name != "values":
                raise bad(f"map {m.name!r} has initial values but no 'values' member")
            moff = d.members[-1].offset // 8
            rel_off = rel.offset - vs.offset - moff
            if rel_off < 0 or rel_off % 8:
                raise bad(f"map {m.name!r}: initial value at a bad offset {rel.offset}")
            m.contents[rel_off // 8] = sym.name

    # ---- variables ---------------------------------------------------------

    def _init_variables(self) -> None:
        btf = self.btf
        out: dict[str, VariableSpec] = {}
        statics: list[VariableSpec] = []
        for idx in sorted(self.st.data_secs):
            d = self.st.data_secs[idx]
            ro = d.kind is MapKind.RODATA
            ds_id = self._datasec_id(d.sec.name)
            if btf is not None and ds_id is not None:
                ds = btf[ds_id]
                assert isinstance(ds, Datasec)
                for vs in ds.vars:
                    var = btf[vs.type]
                    if not isinstance(var, Var) or not var.name:
                        continue
                    if vs.offset + vs.size > d.sec.size:
                        raise ObjectFormatError(f"variable {var.name!r} lies outside its section", section=d.sec.name, offset=vs.offset)
                    v = VariableSpec(
                        var.name,
                        d.map_name,
                        d.sec.name,
                        vs.offset,
                        vs.size,
                        var.type,
                        ro,
                        self._const_volatile(var.type),
                        var.linkage != VarLinkage.STATIC,
                    )
                    if v.is_global:
                        out.setdefault(var.name, v)
                    else:
                        statics.append(v)
            else:
                for s in self.elf.symbols:
                    if s.shndx != idx or s.type != STT_OBJECT or not s.name or s.size == 0:
                        continue
                    if s.value + s.size > d.sec.size:
                        raise ObjectFormatError(f"variable {s.name!r} lies outside its section", section=d.sec.name, offset=s.value)
                    exported = s.bind != STB_LOCAL and not s.is_hidden
                    v = VariableSpec(s.name, d.map_name, d.sec.name, s.value, s.size, None, ro, False, exported)
                    if v.is_global:
                        out.setdefault(s.name, v)
                    else:
                        statics.append(v)
        for v in statics:
            out.setdefault(v.name, v)
        if self.spec.kconfig_map is not None:
            for e in self.spec.externs:
                if e.kind is ExternKind.KCONFIG:
                    v = VariableSpec(e.name, self.spec.kconfig_map, ".kconfig", e.offset, e.size, e.type_id, True, False, True)
                    out.setdefault(e.name, v)
        self.spec.variables = out

    def _const_volatile(self, type_id: int) -> bool:
        """Whether a type is qualified both const and volatile (through typedefs and array elements)."""
        btf = self.btf
        assert btf is not None
        const = vol = False
        for _ in range(64):
            t = btf[type_id]
            if isinstance(t, Const):
                const = True
            elif isinstance(t, Volatile):
                vol = True
            elif isinstance(t, Array):
                pass
            elif t.kind not in (BtfKind.TYPEDEF, BtfKind.RESTRICT, BtfKind.TYPE_TAG):
                break
            type_id = t.type  # type: ignore[union-attr]
        return const and vol
