"""Builder functions and the Assembler: encodings, labels, operand checks."""

from __future__ import annotations

import pytest

from bpfkit import asm
from bpfkit.asm import AluOp, Assembler, AtomicOp, Instruction, JmpOp, Reg, Size, encode


# Encodings that llvm-mc 14 cannot assemble (see test_asm_llvm), written out from
# the opcode tables of Documentation/bpf/standardization/instruction-set.rst.
@pytest.mark.parametrize(
    ("insns", "hex_le"),
    [
        (asm.alu64_imm("%=", 1, 10), "97 01 0000 0a000000"),
        (asm.alu64_reg("mod", 1, 2), "9f 21 0000 00000000"),
        (asm.alu64_imm("s/=", 1, 3), "37 01 0100 03000000"),
        (asm.alu64_reg("sdiv", 1, 2), "3f 21 0100 00000000"),
        (asm.alu32_imm("s%", 1, -2), "94 01 0100 feffffff"),
        (asm.alu32_reg("smod", 1, 2), "9c 21 0100 00000000"),
        (asm.movsx64_reg(2, 1, 8), "bf 12 0800 00000000"),
        (asm.movsx64_reg(2, 1, 16), "bf 12 1000 00000000"),
        (asm.movsx64_reg(2, 1, 32), "bf 12 2000 00000000"),
        (asm.movsx32_reg(2, 1, 16), "bc 12 1000 00000000"),
        (asm.bswap(3, 64), "d7 03 0000 40000000"),
        (asm.bswap(3, 16), "d7 03 0000 10000000"),
        (asm.ldxsx_mem(1, 5, 10, -8), "91 a5 f8ff 00000000"),
        (asm.ldxsx_mem(2, 5, 10, -8), "89 a5 f8ff 00000000"),
        (asm.ldxsx_mem(Size.W, 5, 10, -8), "81 a5 f8ff 00000000"),
        (asm.gotol(70000), "06 00 0000 70110100"),
        (asm.may_goto(5), "e5 00 0500 00000000"),
        (asm.jmp_imm("&", 1, 4, 2), "45 01 0200 04000000"),
        (asm.jmp32_reg("jset", 1, 2, 2), "4e 21 0200 00000000"),
        (asm.st_mem(8, 10, -8, 77), "7a 0a f8ff 4d000000"),
        (asm.st_mem(1, 10, -1, -1), "72 0a ffff ffffffff"),
        (asm.atomic_op(8, AtomicOp.FETCH_ADD, 1, 2, 0), "db 21 0000 01000000"),
        (asm.atomic_op(4, AtomicOp.FETCH_XOR, 1, 2, 4), "c3 21 0400 a1000000"),
        (asm.atomic_op(8, AtomicOp.XCHG, 1, 3, 0), "db 31 0000 e1000000"),
        (asm.atomic_op(8, AtomicOp.CMPXCHG, 1, 3, 8), "db 31 0800 f1000000"),
        (asm.atomic_op(4, AtomicOp.AND, 1, 3, 0), "c3 31 0000 50000000"),
        (asm.atomic_op(1, AtomicOp.LOAD_ACQ, 0, 1, 0), "d3 10 0000 00010000"),
        (asm.atomic_op(8, AtomicOp.STORE_REL, 1, 2, 0), "db 21 0000 10010000"),
        (asm.call_rel(-1), "85 10 0000 ffffffff"),
        (asm.call_kfunc(12345, 1), "85 20 0100 39300000"),
        (asm.ld_map_fd(1, 7), "18 11 0000 07000000 00 00 0000 00000000"),
        (asm.ld_map_value(1, 7, 24), "18 21 0000 07000000 00 00 0000 18000000"),
        (asm.ld_func(2, 9), "18 42 0000 09000000 00 00 0000 00000000"),
        (asm.ld_imm64(1, 1 << 32), "18 01 0000 00000000 00 00 0000 01000000"),
    ],
)  # fmt: skip
def test_known_encodings(insns: list[Instruction], hex_le: str) -> None:
    assert encode(insns) == bytes.fromhex(hex_le)


def test_builders_compose_with_plus() -> None:
    prog = asm.mov64_imm(Reg.R0, 0) + asm.ld_imm64(Reg.R1, 5) + asm.exit_insn()
    assert [i.opcode for i in prog] == [0xB7, 0x18, 0x00, 0x95]
    assert Reg(10) is Reg.FP
    assert int(Reg.R10) == 10


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        ("+=", (AluOp.ADD, 0)), ("+", (AluOp.ADD, 0)), ("add", (AluOp.ADD, 0)),
        ("ADD", (AluOp.ADD, 0)), ("-", (AluOp.SUB, 0)), ("*=", (AluOp.MUL, 0)),
        ("/", (AluOp.DIV, 0)), ("s/=", (AluOp.DIV, 1)), ("sdiv", (AluOp.DIV, 1)),
        ("%", (AluOp.MOD, 0)), ("s%", (AluOp.MOD, 1)), ("|=", (AluOp.OR, 0)),
        ("&", (AluOp.AND, 0)), ("<<=", (AluOp.LSH, 0)), (">>", (AluOp.RSH, 0)),
        ("s>>=", (AluOp.ARSH, 0)), ("^", (AluOp.XOR, 0)), ("=", (AluOp.MOV, 0)),
        ("mov", (AluOp.MOV, 0)), (AluOp.XOR, (AluOp.XOR, 0)),
    ],
)  # fmt: skip
def test_alu_operation_spellings(op: str | AluOp, expected: tuple[AluOp, int]) -> None:
    (insn,) = asm.alu64_reg(op, 1, 2)
    assert (insn.op, insn.off) == expected
    assert insn.opcode & 0x0F == 0x0F  # ALU64 | X


@pytest.mark.parametrize(
    ("op", "expected"),
    [("==", JmpOp.JEQ), ("jeq", JmpOp.JEQ), ("!=", JmpOp.JNE), (">", JmpOp.JGT),
     (">=", JmpOp.JGE), ("<", JmpOp.JLT), ("<=", JmpOp.JLE), ("&", JmpOp.JSET),
     ("s>", JmpOp.JSGT), ("s>=", JmpOp.JSGE), ("s<", JmpOp.JSLT), ("s<=", JmpOp.JSLE),
     ("JSLE", JmpOp.JSLE), (JmpOp.JNE, JmpOp.JNE)],
)  # fmt: skip
def test_jump_condition_spellings(op: str | JmpOp, expected: JmpOp) -> None:
    (insn,) = asm.jmp32_imm(op, 1, 0, 0)
    assert insn.op == expected
    assert insn.opcode & 0x0F == 0x06  # JMP32 | K


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: asm.mov64_imm(11, 0), ValueError),
        (lambda: asm.mov64_reg(1, -1), ValueError),
        (lambda: asm.mov64_imm(True, 0), TypeError),
        (lambda: asm.mov64_imm(1, 1 << 31), ValueError),
        (lambda: asm.mov64_imm(1, "1"), TypeError),  # type: ignore[arg-type]
        (lambda: asm.alu64_imm("neg", 1, 0), ValueError),
        (lambda: asm.alu64_imm(AluOp.END, 1, 16), ValueError),
        (lambda: asm.alu64_imm("**", 1, 0), ValueError),
        (lambda: asm.alu64_imm(3, 1, 0), TypeError),  # type: ignore[arg-type]
        (lambda: asm.jmp_imm("===", 1, 0, 0), ValueError),
        (lambda: asm.jmp_imm(JmpOp.CALL, 1, 0, 0), ValueError),
        (lambda: asm.jmp_imm(JmpOp.JA, 1, 0, 0), ValueError),
        (lambda: asm.jmp_imm(None, 1, 0, 0), TypeError),  # type: ignore[arg-type]
        (lambda: asm.jmp_imm("==", 1, 0, 1 << 15), ValueError),
        (lambda: asm.ldx_mem(3, 1, 2, 0), ValueError),
        (lambda: asm.ldx_mem("u32", 1, 2, 0), TypeError),  # type: ignore[arg-type]
        (lambda: asm.ldxsx_mem(8, 1, 2, 0), ValueError),
        (lambda: asm.ld_abs(8, 0), ValueError),
        (lambda: asm.ld_ind(Size.DW, 1, 0), ValueError),
        (lambda: asm.stx_mem(4, 10, 1, -(1 << 15) - 1), ValueError),
        (lambda: asm.atomic_op(1, AtomicOp.ADD, 1, 2, 0), ValueError),
        (lambda: asm.atomic_op(2, AtomicOp.CMPXCHG, 1, 2, 0), ValueError),
        (lambda: asm.atomic_op(4, 0x02, 1, 2, 0), ValueError),
        (lambda: asm.movsx64_reg(1, 2, 64), ValueError),
        (lambda: asm.movsx32_reg(1, 2, 32), ValueError),
        (lambda: asm.bswap(1, 8), ValueError),
        (lambda: asm.endian(1, 16, "xe"), ValueError),  # type: ignore[arg-type]
        (lambda: asm.ld_imm64(1, 1 << 64), ValueError),
        (lambda: asm.ld_map_fd(1, -1), ValueError),
        (lambda: asm.ld_map_value(1, 3, -4), ValueError),
        (lambda: asm.ld_pseudo(1, 16, 0), ValueError),
        (lambda: asm.call_helper(-1), ValueError),
        (lambda: asm.call_kfunc(0), ValueError),
    ],
)
def test_bad_operands(call: object, error: type) -> None:
    with pytest.raises(error):
        call()  # type: ignore[operator]


def test_size_by_bytes_and_member_agree() -> None:
    for count, size in ((1, Size.B), (2, Size.H), (4, Size.W), (8, Size.DW)):
        assert asm.ldx_mem(count, 1, 2, 0) == asm.ldx_mem(size, 1, 2, 0)
    # Size.H is the int 8 but means two bytes, not eight.
    assert asm.ldx_mem(Size.H, 1, 2, 0)[0].size_bytes == 2


def test_assembler_resolves_forward_and_backward_labels() -> None:
    a = Assembler()
    a.mov64_imm(0, 0)
    a.label("loop")
    a.alu64_imm("+=", 0, 1)
    a.jmp_imm("==", 0, 10, "out")
    a.ld_imm64(2, 1 << 40)  # two slots between the jump and its target
    a.ja("loop")
    a.label("out")
    a.exit_insn()
    prog = a.program()
    assert a.labels == {"loop": 1, "out": 6}
    assert len(a) == 7
    assert prog[2] == Instruction(0x15, 0, 0, 3, 10)  # 3 + 1 -> slot 6
    assert prog[5] == Instruction(0x05, 0, 0, -5, 0)  # -5 + 1 -> slot 1
    assert asm.disassemble(prog, numbered=True) == [
        "0: r0 = 0",
        "1: r0 += 1",
        "2: if r0 == 0xa goto pc+3",
        "3: r2 = 0x10000000000 ll",
        "5: goto pc-5",
        "6: exit",
    ]


def test_assembler_brief_example() -> None:
    a = Assembler()
    a.mov64_imm(0, 1).jmp_imm("==", 1, 0, "out").mov64_imm(0, 2).label(
        "out"
    ).exit_insn()
    assert a.program()[1].off == 1


def test_assembler_call_and_func_labels_use_imm() -> None:
    a = Assembler()
    a.ld_func(2, "callback").call_rel("sub").call_rel("sub").exit_insn()
    a.label("sub").mov64_imm(0, 7).exit_insn()
    a.label("callback").mov64_imm(0, 0).exit_insn()
    prog = a.program()
    # slots: 0-1 ld_func, 2-3 calls, 4 exit, 5-6 sub, 7-8 callback
    assert prog[0].imm == 7 - 1
    assert prog[2].imm == 5 - 3
    assert prog[3].imm == 5 - 4
    assert prog[2].is_pseudo_call and prog[0].src_reg == asm.PseudoLd.FUNC
    assert all(i.off == 0 for i in prog)


def test_assembler_raw_offsets_and_jmp32() -> None:
    a = Assembler()
    a.jmp32_reg("s<", 1, 2, 1).jmp32_imm(">", 1, 5, "x").jmp_reg("!=", 1, 2, "x")
    a.may_goto("x").label("x").exit_insn()
    prog = a.program()
    assert [i.off for i in prog] == [1, 2, 1, 0, 0]


def test_assembler_far_targets() -> None:
    a = Assembler()
    a.gotol("far").ja("far")
    a.emit([Instruction(0xB7)] * 40000)
    a.label("far").exit_insn()
    with pytest.raises(ValueError, match="gotol"):
        a.program()
    b = Assembler()
    b.gotol("far").emit([Instruction(0xB7)] * 40000).label("far").exit_insn()
    assert b.program()[0].imm == 40000


def test_assembler_label_errors() -> None:
    a = Assembler().label("x")
    with pytest.raises(ValueError, match="already defined"):
        a.label("x")
    with pytest.raises(ValueError, match="non-empty"):
        a.label("")
    a.ja("nowhere").exit_insn()
    with pytest.raises(ValueError, match="'nowhere'"):
        a.program()
    b = Assembler().ja("end").exit_insn().label("end")
    with pytest.raises(ValueError, match="end of the program"):
        b.program()
    with pytest.raises(TypeError):
        Assembler().ja(1.5)  # type: ignore[arg-type]


def test_assembler_program_returns_fresh_copies() -> None:
    insns = asm.mov64_imm(0, 0)
    a = Assembler().emit(insns, asm.exit_insn()[0])
    insns[0].imm = 99  # the assembler kept its own copy
    first = a.program()
    first[0].imm = 42
    assert a.program() == asm.mov64_imm(0, 0) + asm.exit_insn()
    with pytest.raises(TypeError):
        a.emit([b"\x95"])  # type: ignore[list-item]


def test_assembler_mirrors_every_builder() -> None:
    a = Assembler()
    (
        a.alu64_imm("+", 1, 1).alu64_reg("+", 1, 2).alu32_imm("+", 1, 1).alu32_reg("+", 1, 2)
        .mov64_imm(1, 1).mov64_reg(1, 2).mov32_imm(1, 1).mov32_reg(1, 2)
        .movsx64_reg(1, 2, 8).movsx32_reg(1, 2, 8).neg64(1).neg32(1)
        .endian(1, 16, "le").bswap(1, 32).ld_imm64(1, 2).ld_pseudo(1, 5, 0)
        .ld_map_fd(1, 3).ld_map_value(1, 3, 0).ld_abs(1, 0).ld_ind(1, 2, 0)
        .ldx_mem(1, 1, 2, 0).ldxsx_mem(1, 1, 2, 0).stx_mem(1, 1, 2, 0).st_mem(1, 1, 0, 0)
        .atomic_op(8, AtomicOp.ADD, 1, 2, 0).call_helper(1).call_kfunc(5).exit_insn()
    )  # fmt: skip
    expected = (
        asm.alu64_imm("+", 1, 1) + asm.alu64_reg("+", 1, 2) + asm.alu32_imm("+", 1, 1)
        + asm.alu32_reg("+", 1, 2) + asm.mov64_imm(1, 1) + asm.mov64_reg(1, 2)
        + asm.mov32_imm(1, 1) + asm.mov32_reg(1, 2) + asm.movsx64_reg(1, 2, 8)
        + asm.movsx32_reg(1, 2, 8) + asm.neg64(1) + asm.neg32(1) + asm.endian(1, 16, "le")
        + asm.bswap(1, 32) + asm.ld_imm64(1, 2) + asm.ld_pseudo(1, 5, 0) + asm.ld_map_fd(1, 3)
        + asm.ld_map_value(1, 3, 0) + asm.ld_abs(1, 0) + asm.ld_ind(1, 2, 0)
        + asm.ldx_mem(1, 1, 2, 0) + asm.ldxsx_mem(1, 1, 2, 0) + asm.stx_mem(1, 1, 2, 0)
        + asm.st_mem(1, 1, 0, 0) + asm.atomic_op(8, AtomicOp.ADD, 1, 2, 0)
        + asm.call_helper(1) + asm.call_kfunc(5) + asm.exit_insn()
    )  # fmt: skip
    assert a.program() == expected
