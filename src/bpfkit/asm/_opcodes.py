"""eBPF opcode fields, special operand values and register numbers.

Values follow the kernel's ``include/uapi/linux/bpf.h``, ``bpf_common.h`` and
``Documentation/bpf/standardization/instruction-set.rst``.  An opcode byte is
the OR of its fields, e.g. ``InsnClass.LDX | Mode.MEM | Size.W`` (0x61).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from enum import IntEnum
    from typing import Final
else:  # the class statements below return IntEnums built by make_enum, at half the import time (issue 18)
    from .._uapi._base import EnumBodyPlainInt as IntEnum

__all__ = [
    "ADDR_SPACE_CAST",
    "CLASS_MASK",
    "FETCH",
    "MAY_GOTO",
    "MODE_MASK",
    "MOVSX_OFFSETS",
    "OP_CALL",
    "OP_CALLX",
    "OP_EXIT",
    "OP_GOTOL",
    "OP_JA",
    "OP_LD_IMM64",
    "OP_MASK",
    "SIGNED_DIVMOD_OFF",
    "SIZE_MASK",
    "SOURCE_MASK",
    "TO_BE",
    "TO_LE",
    "AluOp",
    "AtomicOp",
    "InsnClass",
    "JmpOp",
    "Mode",
    "PseudoCall",
    "PseudoLd",
    "Reg",
    "Size",
    "Source",
    "size_bytes_of",
]


class InsnClass(IntEnum):
    """Instruction class, the low 3 bits of the opcode (``BPF_CLASS``)."""

    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class Size(IntEnum):
    """Access size of a load/store, opcode bits 3-4 (``BPF_SIZE``)."""

    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


class Mode(IntEnum):
    """Addressing mode of a load/store, opcode bits 5-7 (``BPF_MODE``)."""

    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80  # sign-extending load, LDX only (Linux 6.6)
    ATOMIC = 0xC0  # STX only; the operation is in imm (was BPF_XADD)


class AluOp(IntEnum):
    """Arithmetic operation of ALU/ALU64, opcode bits 4-7 (``BPF_OP``)."""

    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30  # off=1: signed division (Linux 6.6)
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90  # off=1: signed modulo (Linux 6.6)
    XOR = 0xA0
    MOV = 0xB0  # X with off=8/16/32: sign-extending move (Linux 6.6)
    ARSH = 0xC0
    END = 0xD0  # byte swap; with ALU64 an unconditional BSWAP (Linux 6.6)


class JmpOp(IntEnum):
    """Branch operation of JMP/JMP32, opcode bits 4-7 (``BPF_OP``)."""

    JA = 0x00  # with JMP32: gotol, the target offset is in imm (Linux 6.6)
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0
    JCOND = 0xE0  # may_goto when src_reg is MAY_GOTO (Linux 6.9)


class Source(IntEnum):
    """Operand source, opcode bit 3: the immediate (K) or src_reg (X)."""

    K = 0x00
    X = 0x08


# For AluOp.END with the ALU class, bit 3 selects the target byte order.
TO_LE: Final = 0x00
TO_BE: Final = 0x08


class AtomicOp(IntEnum):
    """Operation of a ``STX | ATOMIC`` instruction, carried in imm."""

    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH_ADD = 0x01
    FETCH_OR = 0x41
    FETCH_AND = 0x51
    FETCH_XOR = 0xA1
    XCHG = 0xE1
    CMPXCHG = 0xF1
    LOAD_ACQ = 0x100  # Linux 6.15
    STORE_REL = 0x110  # Linux 6.15


# Modifier OR-ed into an atomic op: the old value is returned in src_reg.
FETCH: Final = 0x01


class PseudoLd(IntEnum):
    """``src_reg`` of an LD_IMM64 saying how the loader resolves the constant."""

    MAP_FD = 1  # imm: map fd -> map pointer
    MAP_VALUE = 2  # imm: map fd, next imm: offset into the value
    BTF_ID = 3  # imm: BTF id of a kernel variable, next imm: BTF object fd
    FUNC = 4  # imm: pc-relative offset of a subprogram (Linux 5.13)
    MAP_IDX = 5  # imm: index into fd_array (Linux 5.14)
    MAP_IDX_VALUE = 6  # imm: index into fd_array, next imm: value offset


class PseudoCall(IntEnum):
    """``src_reg`` of a call: 0 is a helper call by id."""

    CALL = 1  # bpf-to-bpf call, imm is pc-relative (Linux 4.16)
    KFUNC_CALL = 2  # kernel function by BTF id, off: fd_array index (Linux 5.13)


class Reg(IntEnum):
    """The eBPF registers; R10 (alias FP) is the read-only frame pointer."""

    R0 = 0
    R1 = 1
    R2 = 2
    R3 = 3
    R4 = 4
    R5 = 5
    R6 = 6
    R7 = 7
    R8 = 8
    R9 = 9
    R10 = 10
    FP = 10


# Masks extracting the opcode fields.
CLASS_MASK: Final = 0x07
SIZE_MASK: Final = 0x18
MODE_MASK: Final = 0xE0
OP_MASK: Final = 0xF0
SOURCE_MASK: Final = 0x08

# `off` of ALU DIV/MOD selecting the signed variant.
SIGNED_DIVMOD_OFF: Final = 1
# `off` values of ALU MOV|X selecting sign extension from 8, 16 or 32 bits.
MOVSX_OFFSETS: Final = (8, 16, 32)
# `off` of ALU64 MOV|X marking an address space cast (arena, Linux 6.9).
ADDR_SPACE_CAST: Final = 1
# src_reg of JMP|JCOND for may_goto.
MAY_GOTO: Final = 0

# Whole opcodes used often enough to name.
OP_LD_IMM64: Final = 0x18  # LD | IMM | DW
OP_JA: Final = 0x05  # JMP | JA
OP_GOTOL: Final = 0x06  # JMP32 | JA
OP_CALL: Final = 0x85  # JMP | CALL | K
OP_CALLX: Final = 0x8D  # JMP | CALL | X (indirect call through dst_reg)
OP_EXIT: Final = 0x95  # JMP | EXIT

_SIZE_BYTES: Final = {Size.W: 4, Size.H: 2, Size.B: 1, Size.DW: 8}


def size_bytes_of(size: int) -> int:
    """Bytes accessed for the size field `size` (``Size.B`` -> 1, ...)."""
    return _SIZE_BYTES[Size(size & SIZE_MASK)]
