"""Malformed or unsupported objects: each is an ObjectFormatError that names what is wrong."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bpfkit.errors import ObjectFormatError
from bpfkit.obj import ObjectSpec
from bpfkit.obj._elf import SHT_REL, ElfFile


def _rel_section(elf: ElfFile, target: str):  # type: ignore[no-untyped-def]
    for s in elf.sections:
        if s.type == SHT_REL and elf.sections[s.info].name == target:
            return s
    raise AssertionError(f"no relocations for {target}")


def _patched(path: Path, patch) -> bytes:  # type: ignore[no-untyped-def]
    data = bytearray(path.read_bytes())
    patch(ElfFile(bytes(data)), data)
    return bytes(data)


def _expect(data: bytes, section: str | None = None, text: str = "") -> ObjectFormatError:
    with pytest.raises(ObjectFormatError) as exc:
        ObjectSpec.from_bytes(data)
    if section is not None:
        assert exc.value.section == section
    assert text in str(exc.value)
    return exc.value


@pytest.fixture(scope="module")
def boot(compile_bpf) -> Path:  # type: ignore[no-untyped-def]
    return compile_bpf("bootstrap.bpf.c")  # type: ignore[no-any-return]


def test_misaligned_relocation(boot: Path) -> None:
    def patch(elf, data):  # type: ignore[no-untyped-def]
        rs = _rel_section(elf, "tp/sched/sched_process_exec")
        off = struct.unpack_from("<Q", data, rs.offset)[0]
        struct.pack_into("<Q", data, rs.offset, off + 3)

    _expect(_patched(boot, patch), ".reltp/sched/sched_process_exec", "outside the instructions")


def test_relocation_symbol_out_of_range(boot: Path) -> None:
    def patch(elf, data):  # type: ignore[no-untyped-def]
        rs = _rel_section(elf, "tp/sched/sched_process_exec")
        info = struct.unpack_from("<Q", data, rs.offset + 8)[0]
        struct.pack_into("<Q", data, rs.offset + 8, (0xFFFFFF << 32) | (info & 0xFFFFFFFF))

    _expect(_patched(boot, patch), ".reltp/sched/sched_process_exec", "symbol index")


def test_unknown_relocation_type(boot: Path) -> None:
    def patch(elf, data):  # type: ignore[no-untyped-def]
        rs = _rel_section(elf, "tp/sched/sched_process_exec")
        info = struct.unpack_from("<Q", data, rs.offset + 8)[0]
        struct.pack_into("<Q", data, rs.offset + 8, (info >> 32 << 32) | 77)

    _expect(_patched(boot, patch), ".reltp/sched/sched_process_exec", "relocation type 77")


def test_relocation_on_a_plain_instruction(boot: Path) -> None:
    """A relocation must point at a call or an LD_IMM64."""

    def patch(elf, data):  # type: ignore[no-untyped-def]
        rs = _rel_section(elf, "tp/sched/sched_process_exec")
        off = struct.unpack_from("<Q", data, rs.offset)[0]
        struct.pack_into("<Q", data, rs.offset, off + 16)  # past the two LD_IMM64 slots

    _expect(_patched(boot, patch), ".reltp/sched/sched_process_exec", "neither a call nor an LD_IMM64")


def test_function_past_its_section(boot: Path) -> None:
    def patch(elf, data):  # type: ignore[no-untyped-def]
        sym = next(s for s in elf.symbols if s.name == "handle_exit")
        assert elf.symtab is not None
        struct.pack_into("<Q", data, elf.symtab.offset + 24 * sym.index + 16, sym.size + 8)

    _expect(_patched(boot, patch), "tp/sched/sched_process_exit", "does not fit")


def test_truncated_object(boot: Path) -> None:
    data = boot.read_bytes()
    for n in (0, 10, 63, 64, 200, len(data) // 2, len(data) - 1):
        with pytest.raises(ObjectFormatError):
            ObjectSpec.from_bytes(data[:n])


def test_no_symbol_table(boot: Path) -> None:
    def patch(elf, data):  # type: ignore[no-untyped-def]
        assert elf.symtab is not None
        shoff = struct.unpack_from("<Q", data, 0x28)[0]
        struct.pack_into("<I", data, shoff + 64 * elf.symtab.index + 4, 1)  # SHT_SYMTAB -> SHT_PROGBITS

    _expect(_patched(boot, patch), text="symbol table")


BAD_MAPS = {
    "unknown attribute": "__uint(type, BPF_MAP_TYPE_HASH); __uint(colour, 3); __type(key, int); __type(value, int);",
    "map type is not specified": "__uint(max_entries, 3); __type(key, int); __type(value, int);",
    "conflicting key size": "__uint(type, BPF_MAP_TYPE_HASH); __uint(key_size, 8); __type(key, int); __type(value, int);",
    "needs a map of maps or a prog array": "__uint(type, BPF_MAP_TYPE_HASH); __type(key, int); __array(values, int (void *));",
    "unknown map type 999": "__uint(type, 999); __type(key, int); __type(value, int);",
}


@pytest.mark.parametrize("why", list(BAD_MAPS))
def test_bad_btf_map_definitions(compile_bpf, why: str) -> None:  # type: ignore[no-untyped-def]
    src = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
    src += "struct { " + BAD_MAPS[why] + ' } bad SEC(".maps");\n'
    src += 'SEC("xdp") int p(void *c) { int k = 0; return bpf_map_lookup_elem(&bad, &k) != 0; }\n'
    exc = _expect(compile_bpf(src).read_bytes(), text=why)
    assert "'bad'" in str(exc)


def test_static_entry_program(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    src = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
    src += 'static __attribute__((used)) SEC("xdp") int p(void *c) { return 2; }\n'
    _expect(compile_bpf(src).read_bytes(), "xdp", "static")


def test_bad_legacy_maps_section(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    src = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
    src += 'struct d { unsigned a, b, c, e, f; };\nstruct d m1 SEC("maps") = {1, 4, 4, 1, 0};\n'
    src += 'char pad SEC("maps") = 1;\n'
    src += 'SEC("xdp") int p(void *c) { return bpf_map_lookup_elem(&m1, &m1) != 0; }\n'
    _expect(compile_bpf(src).read_bytes(), "maps")


def test_random_garbage_is_a_format_error() -> None:
    for data in (b"\x7fELF" + bytes(60), b"\x7fELF\x02\x01\x01" + b"\xff" * 200):
        with pytest.raises(ObjectFormatError):
            ObjectSpec.from_bytes(data)


@pytest.mark.parametrize("name", ["LICENSE", "min_duration_ns"])
@pytest.mark.parametrize("value", [2**32, 2**40, 2**64 - 8])
def test_data_symbol_past_its_section(boot: Path, name: str, value: int) -> None:
    """Found by the fuzzer: a variable's symbol value (its DATASEC offset) far past the section went
    through parsing and failed in BTF encoding with struct.error at load; the parser refuses it."""

    def patch(elf: ElfFile, data: bytearray) -> None:
        sym = next(s for s in elf.symbols if s.name == name)
        assert elf.symtab is not None
        struct.pack_into("<Q", data, elf.symtab.offset + 24 * sym.index + 8, value)

    exc = _expect(_patched(boot, patch), ".BTF", name)
    assert "outside" in str(exc)


@pytest.mark.parametrize("size", [4, 0xFFFFFFFE])
def test_datasec_size_differs_from_its_section(boot: Path, size: int) -> None:
    """Found by the fuzzer: a .rodata DATASEC claiming another size than its ELF section parsed, then
    wrapping the map (value of the section's size, type of the DATASEC's) raised a plain ValueError."""
    from bpfkit.testing.fuzz import make_target

    data = bytearray(boot.read_bytes())
    t = make_target("bootstrap", bytes(data))
    assert t.btf_strings is not None
    so, _ = t.btf_strings
    for pos, _size in t.records["btf_type"]:
        name_off, info = struct.unpack_from("<II", data, pos)
        if (info >> 24) & 0x1F == 15 and data[so + name_off : so + name_off + 8] == b".rodata\0":
            struct.pack_into("<I", data, pos + 8, size)
            break
    else:
        raise AssertionError("no .rodata DATASEC")
    exc = _expect(bytes(data), ".BTF", ".rodata")
    assert str(size) in str(exc)
