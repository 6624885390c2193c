"""USDT notes and argument specs on bytes (x86_64 and aarch64), and the native ELF reader: pure, no kernel."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from bpfkit.errors import ObjectFormatError
from bpfkit.obj._native import EM_AARCH64, EM_X86_64, NativeElf, parse_notes
from bpfkit.obj._usdt import (
    MAX_ARGS,
    SPEC_SIZE,
    ArgKind,
    UsdtArg,
    encode_spec,
    parse_arg,
    parse_args,
    parse_stapsdt,
    pt_regs_offsets,
)

X86 = EM_X86_64
A64 = EM_AARCH64


def stapsdt_desc(pc: int, base: int, sema: int, provider: str, name: str, args: str) -> bytes:
    return struct.pack("<QQQ", pc, base, sema) + f"{provider}\0{name}\0{args}\0".encode()


def note(name: bytes, ntype: int, desc: bytes) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + bytes(-len(b) % 4)

    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def test_stapsdt_note_decodes() -> None:
    desc = stapsdt_desc(0x11CC, 0x202D, 0x4038, "bpfkit_test", "hit", "-4@%edi 8@-16(%rbp)")
    blob = note(b"stapsdt\0", 3, desc) + note(b"stapsdt\0", 3, stapsdt_desc(0x10, 0, 0, "p", "n", ""))
    notes = parse_notes(blob)
    assert [(n.name, n.type) for n in notes] == [("stapsdt", 3), ("stapsdt", 3)]
    first = parse_stapsdt(notes[0].desc)
    assert (first.provider, first.name, first.pc, first.base, first.semaphore) == ("bpfkit_test", "hit", 0x11CC,
                                                                                  0x202D, 0x4038)
    assert first.args_text == "-4@%edi 8@-16(%rbp)"
    second = parse_stapsdt(notes[1].desc)
    assert second.semaphore == 0 and second.args_text == ""


def test_stapsdt_big_endian() -> None:
    desc = struct.pack(">QQQ", 1, 2, 3) + b"p\0n\0\0"
    n = parse_stapsdt(desc, "big")
    assert (n.pc, n.base, n.semaphore) == (1, 2, 3)


@pytest.mark.parametrize("desc", [b"", bytes(23), struct.pack("<QQQ", 1, 2, 3) + b"p\0", struct.pack("<QQQ", 1, 2, 3) + b"\0n\0\0"])
def test_bad_stapsdt_is_object_format_error(desc: bytes) -> None:
    with pytest.raises(ObjectFormatError):
        parse_stapsdt(desc)


def test_truncated_note_is_object_format_error() -> None:
    blob = note(b"stapsdt\0", 3, stapsdt_desc(1, 2, 3, "p", "n", ""))
    with pytest.raises(ObjectFormatError):
        parse_notes(blob[:-8])


@pytest.mark.parametrize(("text", "want"), [
    ("-4@%edi", UsdtArg(4, True, ArgKind.REG, "di")),
    ("8@%rax", UsdtArg(8, False, ArgKind.REG, "ax")),
    ("-1@%dil", UsdtArg(1, True, ArgKind.REG, "di")),
    ("2@%si", UsdtArg(2, False, ArgKind.REG, "si")),
    ("4@%r8d", UsdtArg(4, False, ArgKind.REG, "r8")),
    ("8@%r15", UsdtArg(8, False, ArgKind.REG, "r15")),
    ("1@%al", UsdtArg(1, False, ArgKind.REG, "ax")),
    ("8@-16(%rbp)", UsdtArg(8, False, ArgKind.REG_DEREF, "bp", -16)),
    ("-4@0x10(%r12)", UsdtArg(4, True, ArgKind.REG_DEREF, "r12", 16)),
    ("8@(%rsp)", UsdtArg(8, False, ArgKind.REG_DEREF, "sp", 0)),
    ("-4@$5", UsdtArg(4, True, ArgKind.CONST, None, 5)),
    ("-8@$-9", UsdtArg(8, True, ArgKind.CONST, None, -9)),
    ("%rdi", UsdtArg(8, False, ArgKind.REG, "di")),
])
def test_x86_64_arg_specs(text: str, want: UsdtArg) -> None:
    got = parse_arg(text, X86)
    assert (got.size, got.signed, got.kind, got.reg, got.value) == (want.size, want.signed, want.kind, want.reg,
                                                                    want.value)
    assert got.text == text


@pytest.mark.parametrize(("text", "want"), [
    ("-4@x0", UsdtArg(4, True, ArgKind.REG, "x0")),
    ("8@x30", UsdtArg(8, False, ArgKind.REG, "x30")),
    ("4@w3", UsdtArg(4, False, ArgKind.REG, "x3")),
    ("8@sp", UsdtArg(8, False, ArgKind.REG, "sp")),
    ("8@[sp, 16]", UsdtArg(8, False, ArgKind.REG_DEREF, "sp", 16)),
    ("8@[x1]", UsdtArg(8, False, ArgKind.REG_DEREF, "x1", 0)),
    ("-4@[x29, -8]", UsdtArg(4, True, ArgKind.REG_DEREF, "x29", -8)),
    ("-4@5", UsdtArg(4, True, ArgKind.CONST, None, 5)),
    ("8@#-3", UsdtArg(8, False, ArgKind.CONST, None, -3)),
])
def test_aarch64_arg_specs(text: str, want: UsdtArg) -> None:
    got = parse_arg(text, A64)
    assert (got.size, got.signed, got.kind, got.reg, got.value) == (want.size, want.signed, want.kind, want.reg,
                                                                    want.value)


def test_aarch64_argument_string_keeps_brackets_together() -> None:
    args = parse_args("-4@x0 8@[sp, 16] 8@[x1] -4@5", A64)
    assert [a.kind for a in args] == [ArgKind.REG, ArgKind.REG_DEREF, ArgKind.REG_DEREF, ArgKind.CONST]
    assert args[1].reg == "sp" and args[1].value == 16


@pytest.mark.parametrize(("text", "machine"), [
    ("3@%eax", X86), ("8@foo(%rip)", X86), ("8@%xmm0", X86), ("x@%eax", X86), ("4@%ah", X86),
    ("8@[q9, 4]", A64), ("16@x0", A64), ("8@x31", A64),
])
def test_bad_arg_specs_are_object_format_errors(text: str, machine: int) -> None:
    with pytest.raises(ObjectFormatError):
        parse_arg(text, machine)


def test_unknown_machine_is_refused() -> None:
    with pytest.raises(ObjectFormatError):
        parse_arg("4@r0", 243)  # RISC-V
    with pytest.raises(ObjectFormatError):
        pt_regs_offsets(243)


def test_too_many_arguments() -> None:
    with pytest.raises(ObjectFormatError):
        parse_args(" ".join(["-4@$1"] * (MAX_ARGS + 1)), X86)


def test_spec_record_layout() -> None:
    regs = pt_regs_offsets(X86)
    args = parse_args("-4@%edi 8@-16(%rbp) -1@$-3 2@%si", X86)
    spec = encode_spec(args, 0x1122, regs)
    assert len(spec) == SPEC_SIZE
    rows = [struct.unpack_from("<QihBb", spec, 16 * i) for i in range(MAX_ARGS)]
    assert rows[0] == (0, ArgKind.REG, regs["di"], 1, 32)
    assert rows[1] == (2**64 - 16, ArgKind.REG_DEREF, regs["bp"], 0, 0)
    assert rows[2] == (2**64 - 3, ArgKind.CONST, 0, 1, 56)
    assert rows[3] == (0, ArgKind.REG, regs["si"], 0, 48)
    assert all(r == (0, 0, 0, 0, 0) for r in rows[4:])
    assert struct.unpack_from("<Qh", spec, 16 * MAX_ARGS) == (0x1122, 4)


def test_aarch64_register_offsets() -> None:
    regs = pt_regs_offsets(A64)
    assert regs["x0"] == 0 and regs["x30"] == 240 and regs["sp"] == 248
    spec = encode_spec(parse_args("8@[sp, 16]", A64), 0, regs)
    assert struct.unpack_from("<QihBb", spec, 0) == (16, ArgKind.REG_DEREF, 248, 0, 0)


# ---- the native ELF reader -------------------------------------------------------------------------


def tiny_elf(machine: int = X86) -> bytes:
    """An ELF64 ET_DYN with one PT_LOAD (R+X at vaddr 0x1000, file offset 0) and no sections."""
    ehdr = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 3, machine, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x1000, 0x1000, 0x200, 0x200, 0x1000)
    return ehdr + phdr + bytes(0x200 - 120)


def test_native_elf_segments_and_offsets() -> None:
    elf = NativeElf.from_bytes(tiny_elf())
    assert elf.machine == X86 and elf.type == 3 and elf.sections == []
    assert elf.vaddr_to_offset(0x1100, executable=True) == 0x100
    assert elf.offset_to_vaddr(0x100) == 0x1100
    assert elf.functions == {}
    with pytest.raises(ObjectFormatError):
        elf.vaddr_to_offset(0x5000)


def test_native_elf_truncations_and_noise_are_object_format_errors() -> None:
    data = tiny_elf()
    rng = random.Random(7)
    for cut in (0, 10, 63, 64, 100):
        with pytest.raises(ObjectFormatError):
            NativeElf.from_bytes(data[:cut])
    for _ in range(300):
        b = bytearray(data)
        for _ in range(4):
            b[rng.randrange(16, 120)] = rng.randrange(256)
        try:
            NativeElf.from_bytes(bytes(b))
        except ObjectFormatError:
            pass


def test_resolve_agrees_with_the_full_symbol_table() -> None:
    """resolve() searches the string tables (tails shared by linkers); it finds what the decoded table has."""
    path = next((p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6")
                 if Path(p).exists()), None)
    assert path is not None
    elf = NativeElf.from_bytes(Path(path).read_bytes())
    table = elf.functions
    names = random.Random(3).sample(sorted(table), 200)
    found = elf.resolve([*names, "no_such_function_anywhere", ""])
    assert {n: (s.address, s.size) for n, s in found.items()} == {n: (table[n].address, table[n].size) for n in names}
    assert elf.resolve(["malloc@GLIBC_2.2.5"])["malloc@GLIBC_2.2.5"].address == table["malloc"].address
