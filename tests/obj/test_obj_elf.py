"""The ELF facade against llvm-objdump, in both byte orders, and on malformed headers."""

from __future__ import annotations

import struct

import pytest
from obj_oracles import objdump_relocs, objdump_sections, objdump_symbols

from bpfkit.errors import ObjectFormatError
from bpfkit.obj._elf import R_BPF_64_32, R_BPF_64_64, SHT_REL, ElfFile

RTYPES = {"R_BPF_64_64": 1, "R_BPF_64_ABS64": 2, "R_BPF_64_ABS32": 3, "R_BPF_64_NODYLD32": 4, "R_BPF_64_32": 10}


@pytest.mark.parametrize("target", ["bpf", "bpfel", "bpfeb"])
def test_sections_symbols_relocations_match_objdump(compile_bpf, target: str) -> None:  # type: ignore[no-untyped-def]
    path = compile_bpf("bootstrap.bpf.c", target=target)
    elf = ElfFile(path.read_bytes())
    assert elf.byteorder == ("big" if target == "bpfeb" else "little")
    want_secs = objdump_sections(path)
    got_secs = {s.name: s.size for s in elf.sections[1:]}
    assert got_secs == want_secs
    syms = {s.name: s for s in elf.symbols if s.name}
    for name, (value, size, _flags, section) in objdump_symbols(path).items():
        if section.startswith("*") or name == section:
            continue
        assert syms[name].value == value, name
        assert syms[name].size == size, name
        assert elf.sections[syms[name].shndx].name == section, name
    want_rel = objdump_relocs(path)
    checked = 0
    for sec in elf.sections:
        if sec.type != SHT_REL or sec.name.startswith(".rel.debug"):
            continue
        target_name = elf.sections[sec.info].name
        got = []
        for r in elf.relocations(sec):
            sym = elf.symbols[r.sym]
            name = sym.name or elf.sections[sym.shndx].name
            got.append((r.offset, r.type, name))
        want = [(off, RTYPES[t], name) for off, t, name in want_rel[target_name]]
        assert got == want, target_name
        checked += len(got)
    assert checked > 10


def test_program_relocation_types(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """Calls use R_BPF_64_32, LD_IMM64 use R_BPF_64_64 (what the reader relies on)."""
    elf = ElfFile(compile_bpf("calls.bpf.c").read_bytes())
    kinds = set()
    for sec in elf.sections:
        if sec.type == SHT_REL and elf.sections[sec.info].is_exec:
            kinds |= {r.type for r in elf.relocations(sec)}
    assert kinds == {R_BPF_64_64, R_BPF_64_32}


def test_big_and_little_endian_decode_alike(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """The same program compiled for bpfel and bpfeb gives the same specs, instruction by instruction."""
    from bpfkit.obj import ObjectSpec

    le = ObjectSpec.from_file(compile_bpf("calls.bpf.c", target="bpfel"))
    be = ObjectSpec.from_file(compile_bpf("calls.bpf.c", target="bpfeb"))
    assert be.byteorder == "big"
    assert list(le.maps) == list(be.maps)
    for name, p in le.programs.items():
        q = be.programs[name]
        assert [(i.opcode, i.dst_reg, i.src_reg, i.off, i.imm) for i in p.instructions] == [
            (i.opcode, i.dst_reg, i.src_reg, i.off, i.imm) for i in q.instructions
        ]
        assert p.map_refs == q.map_refs
        assert [(r.insn_off, r.type_id) for r in p.func_info] == [(r.insn_off, r.type_id) for r in q.func_info]
    for name, m in le.maps.items():
        n = be.maps[name]
        assert (m.type, m.key_size, m.value_size, m.max_entries, m.flags) == (n.type, n.key_size, n.value_size, n.max_entries, n.flags)


def _elf_header(**over: int) -> bytearray:
    """A 64-byte little-endian ELF64 header of a BPF ET_REL with no sections, fields overridable."""
    f = {"e_type": 1, "e_machine": 247, "e_shoff": 0, "e_shentsize": 64, "e_shnum": 0, "e_shstrndx": 0} | over
    h = bytearray(b"\x7fELF\x02\x01\x01" + bytes(9))
    fields = (f["e_type"], f["e_machine"], 1, 0, 0, f["e_shoff"], 0, 64, 0, 0, f["e_shentsize"], f["e_shnum"], f["e_shstrndx"])
    h += struct.pack("<HHIQQQIHHHHHH", *fields)
    return h


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x7fELF",
        b"not an elf file at all" * 4,
        bytes(_elf_header()[:4]) + b"\x01" + bytes(_elf_header()[5:]),  # ELF32
        bytes(_elf_header(e_type=2)),  # ET_EXEC
        bytes(_elf_header(e_machine=62)),  # x86-64
        bytes(_elf_header()),  # no section headers
        bytes(_elf_header(e_shoff=64, e_shnum=3)),  # headers past EOF
        bytes(_elf_header(e_shoff=64, e_shnum=1, e_shentsize=40)) + bytes(64),
        bytes(_elf_header(e_shoff=64, e_shnum=0)) + struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 1 << 40, 0, 0, 0, 0),
    ],
)
def test_malformed_headers(data: bytes) -> None:
    with pytest.raises(ObjectFormatError):
        ElfFile(data)


def test_section_past_end_of_file(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(compile_bpf("legacy.bpf.c").read_bytes())
    elf = ElfFile(bytes(data))
    sec = elf.section("maps")
    assert sec is not None
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    struct.pack_into("<Q", data, shoff + 64 * sec.index + 0x20, 1 << 32)  # sh_size
    with pytest.raises(ObjectFormatError) as exc:
        ElfFile(bytes(data))
    assert exc.value.section == "maps"
