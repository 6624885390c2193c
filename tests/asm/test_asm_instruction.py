"""Instruction, encode and decode: round trips, byte order, errors, fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpfkit.asm import (
    AluOp,
    AtomicOp,
    InsnClass,
    Instruction,
    JmpOp,
    Mode,
    PseudoCall,
    Size,
    Source,
    decode,
    disassemble,
    encode,
)
from bpfkit.errors import BpfError, ObjectFormatError

# r1 = *(u32 *)(r2 +8); r3 = 0x1122334455667788 ll; if r1 s> r3 goto pc-3; exit
PROGRAM = [
    Instruction(0x61, 1, 2, 8, 0),
    Instruction(0x18, 3, 0, 0, 0x55667788),
    Instruction(0x00, 0, 0, 0, 0x11223344),
    Instruction(0x6D, 1, 3, -3, 0),
    Instruction(0x95),
]
PROGRAM_LE = bytes.fromhex(
    "6121080000000000180300008877665500000000443322116d31fdff000000009500000000000000"
)
PROGRAM_BE = bytes.fromhex(
    "6112000800000000183000005566778800000000112233446d13fffd000000009500000000000000"
)


def test_encode_known_bytes_both_byte_orders() -> None:
    assert encode(PROGRAM) == PROGRAM_LE
    assert encode(PROGRAM, "little") == PROGRAM_LE
    # Big-endian: dst is the high nibble of the register byte, off/imm big-endian.
    assert encode(PROGRAM, "big") == PROGRAM_BE


def test_decode_known_bytes_both_byte_orders() -> None:
    assert decode(PROGRAM_LE) == PROGRAM
    assert decode(PROGRAM_BE, "big") == PROGRAM
    assert decode(bytearray(PROGRAM_LE)) == PROGRAM
    assert decode(memoryview(PROGRAM_LE)) == PROGRAM
    assert decode(memoryview(b"\xff" * 8 + PROGRAM_LE)[8:]) == PROGRAM
    assert decode(b"") == []


def test_decode_accepts_non_byte_memoryview() -> None:
    words = memoryview(bytearray(PROGRAM_LE)).cast("Q")
    assert decode(words) == PROGRAM


def test_bad_byteorder_is_rejected() -> None:
    with pytest.raises(ValueError, match="byteorder"):
        decode(PROGRAM_LE, "middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="byteorder"):
        encode(PROGRAM, "LITTLE")  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [1, 7, 9, 15, 17])
def test_decode_rejects_partial_slot(length: int) -> None:
    with pytest.raises(ObjectFormatError) as info:
        decode(bytes(length), section="xdp")
    assert info.value.offset == length - length % 8
    assert info.value.section == "xdp"
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, BpfError)


def test_decode_rejects_ld_imm64_without_second_slot() -> None:
    data = PROGRAM_LE[:8] + bytes.fromhex("1801000001000000")
    with pytest.raises(ObjectFormatError) as info:
        decode(data)
    assert info.value.offset == 8
    assert info.value.section is None


def test_decode_rejects_ld_imm64_followed_by_an_instruction() -> None:
    data = bytes.fromhex("1801000001000000b7000000000000009500000000000000")
    with pytest.raises(ObjectFormatError) as info:
        decode(data)
    assert info.value.offset == 0


def test_decode_pairs_consecutive_ld_imm64() -> None:
    data = bytes.fromhex("18010000010000000000000002000000") * 2
    insns = decode(data)
    assert [i.opcode for i in insns] == [0x18, 0, 0x18, 0]
    assert insns[2].imm64(insns[3]) == 0x200000001


def test_opcode_0x18_as_second_slot_is_an_error() -> None:
    # The second slot of a pair must have opcode 0, even when it looks like another LD_IMM64.
    data = bytes.fromhex("180100000100000018000000020000000000000000000000")
    with pytest.raises(ObjectFormatError) as info:
        decode(data)
    assert info.value.offset == 0


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("opcode", 256, ValueError),
        ("opcode", -1, ValueError),
        ("dst_reg", 16, ValueError),
        ("src_reg", -1, ValueError),
        ("off", 0x8000, ValueError),
        ("off", -0x8001, ValueError),
        ("imm", 1 << 31, ValueError),
        ("imm", -(1 << 31) - 1, ValueError),
        ("imm", 1.5, TypeError),
        ("opcode", "x", TypeError),
    ],
)
def test_encode_rejects_out_of_range_fields(
    field: str, value: object, error: type
) -> None:
    insns = [Instruction(0x95), Instruction(0xB7, 1, 0, 0, 5)]
    setattr(insns[1], field, value)
    with pytest.raises(error, match=f"slot 1: {field}"):
        encode(insns)


def test_encode_rejects_non_instructions() -> None:
    with pytest.raises(TypeError, match="slot 0"):
        encode([b"\x95" * 8])  # type: ignore[list-item]


def test_encode_field_limits_are_inclusive() -> None:
    insn = Instruction(0xFF, 15, 15, -0x8000, -(1 << 31))
    other = Instruction(0, 0, 0, 0x7FFF, (1 << 31) - 1)
    for order in ("little", "big"):
        assert decode(encode([insn, other], order), order) == [insn, other]


def test_imm64_get_and_set() -> None:
    first, second = Instruction(0x18, 1), Instruction(0)
    first.set_imm64(second, 0xFFFFFFFF_00000001)
    assert (first.imm, second.imm) == (1, -1)
    assert first.imm64(second) == 0xFFFFFFFF_00000001
    first.set_imm64(second, -2)
    assert (first.imm, second.imm) == (-2, -1)
    assert first.imm64(second) == (1 << 64) - 2
    first.set_imm64(second, 0x80000000)
    assert (first.imm, second.imm) == (-(1 << 31), 0)
    assert encode([first, second]) == bytes.fromhex("18010000000000800000000000000000")
    for bad in (1 << 64, -(1 << 63) - 1):
        with pytest.raises(ValueError, match="64 bits"):
            first.set_imm64(second, bad)


def test_field_accessors() -> None:
    insn = Instruction(
        InsnClass.STX | Mode.ATOMIC | Size.DW, 1, 2, 0, AtomicOp.FETCH_ADD
    )
    assert insn.insn_class is InsnClass.STX
    assert insn.mode == Mode.ATOMIC
    assert insn.size is Size.DW
    assert insn.atomic_op is AtomicOp.FETCH_ADD
    assert insn.size_bytes == 8
    jmp = Instruction(InsnClass.JMP32 | JmpOp.JSLT | Source.X, 1, 2, -2)
    assert jmp.insn_class is InsnClass.JMP32
    assert jmp.op == JmpOp.JSLT
    assert jmp.source is Source.X
    alu = Instruction(InsnClass.ALU64 | AluOp.ARSH | Source.K, 1, 0, 0, 3)
    assert alu.op == AluOp.ARSH
    assert alu.source is Source.K


@pytest.mark.parametrize(
    ("insn", "true"),
    [
        (Instruction(0x18, 1), {"is_ld_imm64"}),
        (Instruction(0x85, 0, 0, 0, 1), {"is_call", "is_helper_call"}),
        (Instruction(0x85, 0, PseudoCall.CALL, 0, 4), {"is_call", "is_pseudo_call"}),
        (
            Instruction(0x85, 0, PseudoCall.KFUNC_CALL, 0, 99),
            {"is_call", "is_kfunc_call"},
        ),
        (Instruction(0x8D, 3), {"is_call"}),
        (Instruction(0x95), {"is_exit"}),
        (Instruction(0x05, 0, 0, 3), {"is_jump"}),
        (Instruction(0x06, 0, 0, 0, 70000), {"is_jump"}),
        (Instruction(0xE5, 0, 0, 3), {"is_jump"}),
        (Instruction(0x1D, 1, 2, 3), {"is_jump"}),
        (Instruction(0xA6, 1, 0, 3, 7), {"is_jump"}),
        (Instruction(0x61, 1, 2, 4), {"is_mem_load"}),
        (Instruction(0x91, 1, 2, 4), {"is_mem_load"}),
        (Instruction(0x7B, 10, 1, -8), {"is_mem_store"}),
        (Instruction(0x62, 10, 0, -8, 1), {"is_mem_store"}),
        (Instruction(0xC3, 1, 2, 0, 0), {"is_atomic"}),
        (Instruction(0xB7, 1, 0, 0, 1), set()),
        (Instruction(0x30, 0, 0, 0, 1), set()),
    ],
)
def test_predicates(insn: Instruction, true: set[str]) -> None:
    names = {
        "is_ld_imm64",
        "is_call",
        "is_helper_call",
        "is_pseudo_call",
        "is_kfunc_call",
        "is_exit",
        "is_jump",
        "is_mem_load",
        "is_mem_store",
        "is_atomic",
    }
    assert {name for name in names if getattr(insn, name)} == true


@pytest.mark.parametrize(
    ("opcode", "size"),
    [(0x71, 1), (0x69, 2), (0x61, 4), (0x79, 8), (0x91, 1), (0x72, 1), (0x6B, 2),
     (0x63, 4), (0x7B, 8), (0xC3, 4), (0xDB, 8), (0x30, 1), (0x28, 2), (0x40, 4)],
)  # fmt: skip
def test_size_bytes(opcode: int, size: int) -> None:
    assert Instruction(opcode).size_bytes == size


@pytest.mark.parametrize("opcode", [0x18, 0xB7, 0x85, 0x05, 0x00])
def test_size_bytes_of_non_memory_instruction(opcode: int) -> None:
    with pytest.raises(ValueError, match="does not access memory"):
        _ = Instruction(opcode).size_bytes


def test_atomic_op_of_non_atomic() -> None:
    with pytest.raises(ValueError, match="not an atomic"):
        _ = Instruction(0x61).atomic_op


def test_copy_is_independent_and_repr_is_readable() -> None:
    insn = Instruction(0xB7, 1, 0, 0, 5)
    clone = insn.copy()
    clone.imm = 6
    assert insn.imm == 5
    assert clone != insn
    assert repr(insn) == "Instruction(opcode=0xb7, dst_reg=1, src_reg=0, off=0, imm=5)"
    assert eval(repr(insn)) == insn


# -- properties ------------------------------------------------------------------

_slots = st.integers(0, 64).flatmap(lambda n: st.binary(min_size=8 * n, max_size=8 * n))

# Opcode 0x18 (LD_IMM64) and 0 (its second slot) often, so pairing paths are hit.
_opcodes = st.one_of(
    st.sampled_from([0x18, 0x00, 0x85, 0x95, 0xDB, 0xC3]), st.integers(0, 255)
)
_raw_slot = st.builds(
    lambda op, regs, off, imm: struct.pack("<BBhi", op, regs, off, imm),
    _opcodes,
    st.integers(0, 255),
    st.integers(-0x8000, 0x7FFF),
    st.integers(-(1 << 31), (1 << 31) - 1),
)
_biased = st.lists(_raw_slot, max_size=40).map(b"".join)


def _fuzz_decode(data: bytes) -> None:
    for order in ("little", "big"):
        try:
            insns = decode(data, order)
        except ObjectFormatError as exc:
            assert exc.offset is not None
            assert 0 <= exc.offset <= len(data)
            continue
        assert len(insns) == len(data) // 8
        assert encode(insns, order) == data
        lines = disassemble(insns)
        pairs = sum(1 for i in insns if i.is_ld_imm64)
        assert len(lines) == len(insns) - pairs
        assert all(isinstance(line, str) and line for line in lines)


@given(_slots)
def test_decode_arbitrary_bytes_gives_instructions_or_format_error(data: bytes) -> None:
    _fuzz_decode(data)


@given(_biased)
def test_decode_instruction_like_bytes_gives_instructions_or_format_error(
    data: bytes,
) -> None:
    _fuzz_decode(data)


@given(st.binary(max_size=200))
def test_decode_any_length(data: bytes) -> None:
    try:
        insns = decode(data)
    except ObjectFormatError:
        return
    assert len(data) % 8 == 0
    assert encode(insns) == data


_single = st.builds(
    Instruction,
    st.integers(0, 255).filter(lambda op: op != 0x18),
    st.integers(0, 15),
    st.integers(0, 15),
    st.integers(-0x8000, 0x7FFF),
    st.integers(-(1 << 31), (1 << 31) - 1),
)
_pair = st.tuples(
    st.builds(
        Instruction,
        st.just(0x18),
        st.integers(0, 15),
        st.integers(0, 15),
        st.integers(-0x8000, 0x7FFF),
        st.integers(-(1 << 31), (1 << 31) - 1),
    ),
    st.builds(
        Instruction,
        st.just(0),
        st.integers(0, 15),
        st.integers(0, 15),
        st.integers(-0x8000, 0x7FFF),
        st.integers(-(1 << 31), (1 << 31) - 1),
    ),
).map(list)
_programs = st.lists(st.one_of(_single.map(lambda i: [i]), _pair), max_size=40).map(
    lambda units: [insn for unit in units for insn in unit]
)


@given(_programs, st.sampled_from(["little", "big"]))
def test_decode_encode_round_trip(insns: list[Instruction], order: str) -> None:
    data = encode(insns, order)  # type: ignore[arg-type]
    assert len(data) == 8 * len(insns)
    assert decode(data, order) == insns  # type: ignore[arg-type]


@given(_programs)
def test_byte_orders_differ_only_in_layout(insns: list[Instruction]) -> None:
    little, big = encode(insns, "little"), encode(insns, "big")
    for i in range(len(insns)):
        le, be = little[8 * i : 8 * i + 8], big[8 * i : 8 * i + 8]
        assert le[0] == be[0]
        assert le[1] == ((be[1] & 0xF) << 4 | be[1] >> 4)
        assert le[2:4] == be[2:4][::-1]
        assert le[4:8] == be[4:8][::-1]
