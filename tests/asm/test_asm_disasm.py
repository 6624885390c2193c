"""disassemble/format_insn: the kernel verifier's syntax for every instruction kind."""

from __future__ import annotations

import pytest

from bpfkit import asm
from bpfkit.asm import AtomicOp, Instruction, PseudoLd, disassemble, format_insn


def _v4_program() -> list[Instruction]:
    """A program of the ISA's newer instructions (Linux 6.6-6.15)."""
    a = asm.Assembler()
    a.mov64_imm(1, 300).movsx64_reg(2, 1, 8).movsx32_reg(3, 1, 16).movsx64_reg(4, 1, 32)
    a.alu64_imm("s/=", 1, 3).alu64_imm("s%=", 2, 5).alu32_imm("sdiv", 3, -2)
    a.alu32_imm("smod", 4, 7)
    a.bswap(1, 16).bswap(2, 32).bswap(3, 64).endian(4, 16, "be").endian(4, 32, "le")
    a.jmp_imm("==", 1, 77, "skip").gotol("next").label("skip").mov64_imm(0, 1)
    a.label("next").stx_mem(8, 10, 1, -8)
    a.ldxsx_mem(1, 5, 10, -8).ldxsx_mem(2, 6, 10, -8).ldxsx_mem(4, 7, 10, -8)
    a.atomic_op(8, AtomicOp.LOAD_ACQ, 8, 10, -8).atomic_op(
        4, AtomicOp.STORE_REL, 10, 8, -16
    )
    a.atomic_op(1, AtomicOp.LOAD_ACQ, 9, 10, -16)
    a.mov64_imm(0, 0).st_mem(4, 10, -24, 7)
    a.atomic_op(4, AtomicOp.FETCH_XOR, 10, 8, -24).atomic_op(
        4, AtomicOp.CMPXCHG, 10, 8, -24
    )
    a.atomic_op(4, AtomicOp.XCHG, 10, 8, -24).atomic_op(4, AtomicOp.OR, 10, 8, -24)
    a.mov64_imm(0, 0).neg64(1).neg32(2).jmp32_reg("s<", 1, 2, 0).jmp32_imm(
        "&", 1, -3, 0
    )
    a.exit_insn()
    return a.program()


# Linux 6.18's verifier log (log_level 2) for _v4_program() loaded as a socket
# filter: the kernel's own disassembler is the reference syntax.
KERNEL_6_18_LOG = """\
0: (b7) r1 = 300
1: (bf) r2 = (s8)r1
2: (bc) w3 = (s16)w1
3: (bf) r4 = (s32)r1
4: (37) r1 s/= 3
5: (97) r2 s%= 5
6: (34) w3 s/= -2
7: (94) w4 s%= 7
8: (d7) r1 = bswap16 r1
9: (d7) r2 = bswap32 r2
10: (d7) r3 = bswap64 r3
11: (dc) r4 = be16 r4
12: (d4) r4 = le32 r4
13: (15) if r1 == 0x4d goto pc+1
14: (06) gotol pc+1
15: (b7) r0 = 1
16: (7b) *(u64 *)(r10 -8) = r1
17: (91) r5 = *(s8 *)(r10 -8)
18: (89) r6 = *(s16 *)(r10 -8)
19: (81) r7 = *(s32 *)(r10 -8)
20: (db) r8 = load_acquire((u64 *)(r10 -8))
21: (c3) store_release((u32 *)(r10 -16), r8)
22: (d3) r9 = load_acquire((u8 *)(r10 -16))
23: (b7) r0 = 0
24: (62) *(u32 *)(r10 -24) = 7
25: (c3) r8 = atomic_fetch_xor((u32 *)(r10 -24), r8)
26: (c3) r0 = atomic_cmpxchg((u32 *)(r10 -24), r0, r8)
27: (c3) r8 = atomic_xchg((u32 *)(r10 -24), r8)
28: (c3) lock *(u32 *)(r10 -24) |= r8
29: (b7) r0 = 0
30: (87) r1 = -r1
31: (84) w2 = -w2
32: (ce) if w1 s< w2 goto pc+0
33: (46) if w1 & 0xfffffffd goto pc+0
34: (95) exit"""


def test_matches_kernel_verifier_log() -> None:
    lines = disassemble(_v4_program(), numbered=True, show_opcode=True)
    assert lines == KERNEL_6_18_LOG.splitlines()


def test_plain_lines_have_no_prefix() -> None:
    lines = disassemble(_v4_program())
    assert lines[0] == "r1 = 300"
    assert lines[-1] == "exit"


# From the 6.18 kernel's xlated dump of a clang-built XDP program (bpftool prog
# dump xlated), where map references carry map ids.
@pytest.mark.parametrize(
    ("insns", "text"),
    [
        (asm.ld_pseudo(1, PseudoLd.MAP_FD, 167), "r1 = map[id:167]"),
        (asm.ld_pseudo(1, PseudoLd.MAP_VALUE, 169, 0), "r1 = map[id:169][0]+0"),
        (asm.atomic_op(8, AtomicOp.FETCH_OR, 1, 2, 0), "r2 = atomic64_fetch_or((u64 *)(r1 +0), r2)"),
        (asm.atomic_op(8, AtomicOp.CMPXCHG, 1, 3, 0), "r0 = atomic64_cmpxchg((u64 *)(r1 +0), r0, r3)"),
        (asm.atomic_op(8, AtomicOp.XCHG, 1, 3, 0), "r3 = atomic64_xchg((u64 *)(r1 +0), r3)"),
        (asm.atomic_op(8, AtomicOp.ADD, 1, 2, 0), "lock *(u64 *)(r1 +0) += r2"),
        (asm.jmp_imm("==", 0, 0, 1), "if r0 == 0x0 goto pc+1"),
        (asm.ldx_mem(8, 2, 1, 8), "r2 = *(u64 *)(r1 +8)"),
        (asm.stx_mem(4, 10, 3, -4), "*(u32 *)(r10 -4) = r3"),
        (asm.mov32_imm(3, 1), "w3 = 1"),
    ],
)  # fmt: skip
def test_matches_kernel_xlated_dump(insns: list[Instruction], text: str) -> None:
    assert disassemble(insns, map_ref="id") == [text]


@pytest.mark.parametrize(
    ("insns", "text"),
    [
        (asm.ld_imm64(1, 0x123456789ABCDEF0), "r1 = 0x123456789abcdef0 ll"),
        (asm.ld_imm64(1, -1), "r1 = 0xffffffffffffffff ll"),
        (asm.ld_imm64(2, 0), "r2 = 0x0 ll"),
        (asm.ld_map_fd(1, 5), "r1 = map[fd:5]"),
        (asm.ld_map_value(2, 5, 16), "r2 = map[fd:5][0]+16"),
        (asm.ld_pseudo(1, PseudoLd.MAP_IDX, 2), "r1 = map[idx:2]"),
        (asm.ld_pseudo(1, PseudoLd.MAP_IDX_VALUE, 2, 8), "r1 = map[idx:2][0]+8"),
        (asm.ld_pseudo(1, PseudoLd.BTF_ID, 1234), "r1 = ksym[btf_id:1234]"),
        (asm.ld_pseudo(1, PseudoLd.BTF_ID, 1234, 7), "r1 = ksym[btf_id:1234,btf_fd:7]"),
        (asm.ld_func(2, 5), "r2 = func[pc+5]"),
        (asm.ld_pseudo(1, 9, 1, 2), "r1 = <ld_imm64 src=9 value=0x200000001>"),
        (asm.call_helper(1), "call #1"),
        (asm.call_rel(4), "call pc+4"),
        (asm.call_rel(-12), "call pc-12"),
        (asm.call_kfunc(777), "call kfunc#777"),
        (asm.call_kfunc(777, 2), "call kfunc#777@2"),
        ([Instruction(0x8D, 3)], "callx r3"),
        (asm.ja(-1), "goto pc-1"),
        (asm.gotol(-70000), "gotol pc-70000"),
        (asm.may_goto(3), "may_goto pc+3"),
        (asm.jmp_imm("s>", 1, -1, 0), "if r1 s> 0xffffffff goto pc+0"),
        (asm.jmp_reg(">=", 1, 2, -5), "if r1 >= r2 goto pc-5"),
        (asm.jmp32_imm("<=", 3, 9, 2), "if w3 <= 0x9 goto pc+2"),
        (asm.alu64_imm("%=", 1, 10), "r1 %= 10"),
        (asm.alu64_reg("<<", 1, 2), "r1 <<= r2"),
        (asm.alu32_reg("^", 1, 2), "w1 ^= w2"),
        (asm.alu32_imm("s>>", 1, 2), "w1 s>>= 2"),
        (asm.alu32_reg("smod", 1, 2), "w1 s%= w2"),
        (asm.ld_abs(2, 12), "r0 = *(u16 *)skb[12]"),
        (asm.ld_ind(1, 3, 4), "r0 = *(u8 *)skb[r3 + 4]"),
        (asm.st_mem(8, 10, -8, -1), "*(u64 *)(r10 -8) = -1"),
        (asm.atomic_op(4, AtomicOp.FETCH_ADD, 1, 2, 4), "r2 = atomic_fetch_add((u32 *)(r1 +4), r2)"),
        (asm.atomic_op(8, AtomicOp.FETCH_AND, 1, 2, 0), "r2 = atomic64_fetch_and((u64 *)(r1 +0), r2)"),
        (asm.atomic_op(8, AtomicOp.STORE_REL, 1, 2, 0), "store_release((u64 *)(r1 +0), r2)"),
        (asm.atomic_op(2, AtomicOp.LOAD_ACQ, 1, 2, 6), "r1 = load_acquire((u16 *)(r2 +6))"),
        ([Instruction(0xBF, 1, 2, 1, 1)], "r1 = addr_space_cast(r2, 0, 1)"),
        ([Instruction(0xBF, 1, 2, 1, 0x10000)], "r1 = addr_space_cast(r2, 1, 0)"),
        ([Instruction(0xBF, 1, 2, -1)], "r1 = &(void __percpu *)(r2)"),
        ([Instruction(0xC2)], "nospec"),
    ],
)  # fmt: skip
def test_formats(insns: list[Instruction], text: str) -> None:
    assert disassemble(insns) == [text]


def test_helper_and_kfunc_names() -> None:
    insns = asm.call_helper(1) + asm.call_helper(2) + asm.call_kfunc(900)
    assert disassemble(
        insns,
        helper_names={1: "bpf_map_lookup_elem"},
        kfunc_names={900: "bpf_rcu_read_lock"},
    ) == ["call bpf_map_lookup_elem#1", "call #2", "call kfunc:bpf_rcu_read_lock#900"]
    assert format_insn(insns[0], helper_names={1: "bpf_map_lookup_elem"}) == (
        "call bpf_map_lookup_elem#1"
    )


def test_ld_imm64_is_one_line_and_numbering_counts_slots() -> None:
    insns = (
        asm.mov64_imm(0, 0) + asm.ld_imm64(1, 7) + asm.ld_map_fd(2, 3) + asm.exit_insn()
    )
    assert disassemble(insns, numbered=True) == [
        "0: r0 = 0",
        "1: r1 = 0x7 ll",
        "3: r2 = map[fd:3]",
        "5: exit",
    ]
    assert format_insn(insns[1], insns[2]) == "r1 = 0x7 ll"


def test_ld_imm64_without_second_slot_does_not_raise() -> None:
    insns = asm.ld_imm64(1, 7)[:1]
    assert disassemble(insns) == ["r1 = <ld_imm64 without its second slot, imm=7>"]
    assert format_insn(insns[0]).startswith("r1 = <ld_imm64 without")


@pytest.mark.parametrize(
    "insn",
    [
        Instruction(0xFF),  # ALU64 op 0xf0
        Instruction(0xE4),  # ALU op 0xe0
        Instruction(0xDF, 1, 0, 0, 16),  # ALU64 END with X
        Instruction(0xB7, 1, 0, 5, 1),  # mov with a stray off
        Instruction(0x0F, 1, 2, 3),  # add with a stray off
        Instruction(0xBC, 1, 2, 32),  # movsx32 from 32 bits
        Instruction(0x99, 1, 2, 0),  # LDX MEMSX DW
        Instruction(0x21, 1, 2, 0),  # LDX ABS
        Instruction(0x22, 1, 0, 0),  # ST ABS
        Instruction(0x23, 1, 2, 0),  # STX ABS
        Instruction(0xDB, 1, 2, 0, 0x02),  # atomic op 2
        Instruction(0x60),  # LD MEM
        Instruction(0x86, 0, 0, 0, 1),  # JMP32 CALL
        Instruction(0x96),  # JMP32 EXIT
        Instruction(0x9D),  # EXIT with X
        Instruction(0x0D),  # JA with X
        Instruction(0xF5, 1),  # JMP op 0xf0
        Instruction(0xE5, 0, 1, 3),  # JCOND with src 1
        Instruction(0x85, 0, 5, 0, 1),  # call with unknown src
    ],
)
def test_invalid_instructions_are_shown_not_raised(insn: Instruction) -> None:
    text = format_insn(insn)
    assert text.startswith("<invalid opcode=")
    assert f"{insn.opcode:#04x}" in text


def test_show_opcode_prefix() -> None:
    assert disassemble(asm.mov64_reg(1, 2), show_opcode=True) == ["(bf) r1 = r2"]


def test_bad_map_ref() -> None:
    with pytest.raises(ValueError, match="map_ref"):
        format_insn(Instruction(0x95), map_ref="name")  # type: ignore[arg-type]
