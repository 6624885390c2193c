"""The 8-byte eBPF instruction slot and its binary encoding.

An instruction is ``struct bpf_insn``: opcode u8, dst_reg u4, src_reg u4, off
s16, imm s32.  ``LD | IMM | DW`` (LD_IMM64) takes two slots; the second has
opcode 0 and carries the high 32 bits of the constant in its imm.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from .._record import record
from ..errors import BpfTypeError, BpfValueError, ObjectFormatError
from ._opcodes import (
    CLASS_MASK,
    MODE_MASK,
    OP_CALL,
    OP_EXIT,
    OP_LD_IMM64,
    OP_MASK,
    SIZE_MASK,
    SOURCE_MASK,
    AtomicOp,
    InsnClass,
    JmpOp,
    Mode,
    PseudoCall,
    Size,
    Source,
    size_bytes_of,
)

__all__ = ["ByteOrder", "Instruction", "decode", "encode"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal
    ByteOrder = Literal["little", "big"]
else:
    ByteOrder = 'Literal["little", "big"]'  # type checkers read the alias above; typing stays unimported (issue 18)

_STRUCTS: dict[str, struct.Struct] = {
    "little": struct.Struct("<BBhi"),
    "big": struct.Struct(">BBhi"),
}

_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


def _s32(value: int) -> int:
    """Reinterpret the low 32 bits of `value` as a signed 32-bit integer."""
    value &= _U32
    return value - 0x100000000 if value & 0x80000000 else value


def _struct_for(byteorder: str) -> struct.Struct:
    """The precompiled Struct for `byteorder`, or ValueError."""
    try:
        return _STRUCTS[byteorder]
    except (KeyError, TypeError):
        raise BpfValueError(
            f"byteorder must be 'little' or 'big', not {byteorder!r}"
        ) from None


@record(slots=True)
class Instruction:
    """One 8-byte instruction slot; mutable so a loader can patch it in place."""

    opcode: int
    dst_reg: int = 0
    src_reg: int = 0
    off: int = 0
    imm: int = 0

    def __repr__(self) -> str:
        op = self.opcode
        code = f"{op:#04x}" if isinstance(op, int) else repr(op)
        return (
            f"Instruction(opcode={code}, dst_reg={self.dst_reg}, "
            f"src_reg={self.src_reg}, off={self.off}, imm={self.imm})"
        )

    def copy(self) -> Instruction:
        """An independent copy of this slot."""
        return Instruction(self.opcode, self.dst_reg, self.src_reg, self.off, self.imm)

    # -- opcode fields -------------------------------------------------------

    @property
    def insn_class(self) -> InsnClass:
        """The instruction class (``BPF_CLASS``)."""
        return InsnClass(self.opcode & CLASS_MASK)

    @property
    def op(self) -> int:
        """The ALU or JMP operation bits (``BPF_OP``); compare with AluOp/JmpOp."""
        return self.opcode & OP_MASK

    @property
    def mode(self) -> int:
        """The load/store mode bits (``BPF_MODE``); compare with Mode."""
        return self.opcode & MODE_MASK

    @property
    def size(self) -> Size:
        """The load/store size field (``BPF_SIZE``)."""
        return Size(self.opcode & SIZE_MASK)

    @property
    def source(self) -> Source:
        """The operand source bit (``BPF_SRC``): K (imm) or X (src_reg)."""
        return Source(self.opcode & SOURCE_MASK)

    # -- predicates ----------------------------------------------------------

    @property
    def is_ld_imm64(self) -> bool:
        """True for the first slot of a two-slot ``LD | IMM | DW``."""
        return self.opcode == OP_LD_IMM64

    @property
    def is_call(self) -> bool:
        """True for any ``JMP | CALL`` (helper, bpf-to-bpf, kfunc or callx)."""
        return self.opcode & ~SOURCE_MASK == OP_CALL

    @property
    def is_helper_call(self) -> bool:
        """True for a call of a kernel helper by id (src_reg 0)."""
        return self.opcode == OP_CALL and self.src_reg == 0

    @property
    def is_pseudo_call(self) -> bool:
        """True for a bpf-to-bpf call (src_reg PSEUDO_CALL, imm pc-relative)."""
        return self.opcode == OP_CALL and self.src_reg == PseudoCall.CALL

    @property
    def is_kfunc_call(self) -> bool:
        """True for a kernel function call (src_reg PSEUDO_KFUNC_CALL, imm BTF id)."""
        return self.opcode == OP_CALL and self.src_reg == PseudoCall.KFUNC_CALL

    @property
    def is_exit(self) -> bool:
        """True for ``JMP | EXIT``."""
        return self.opcode == OP_EXIT

    @property
    def is_jump(self) -> bool:
        """True for a branch (JA, gotol, may_goto, conditional), not call/exit."""
        cls = self.opcode & CLASS_MASK
        if cls != InsnClass.JMP and cls != InsnClass.JMP32:
            return False
        op = self.opcode & OP_MASK
        return op != JmpOp.CALL and op != JmpOp.EXIT

    @property
    def is_mem_load(self) -> bool:
        """True for ``LDX | MEM`` and ``LDX | MEMSX`` (load ``dst = *(src + off)``)."""
        if self.opcode & CLASS_MASK != InsnClass.LDX:
            return False
        mode = self.opcode & MODE_MASK
        return mode == Mode.MEM or mode == Mode.MEMSX

    @property
    def is_mem_store(self) -> bool:
        """True for ``ST | MEM`` and ``STX | MEM`` (store to ``*(dst + off)``)."""
        cls = self.opcode & CLASS_MASK
        return (cls == InsnClass.ST or cls == InsnClass.STX) and (
            self.opcode & MODE_MASK == Mode.MEM
        )

    @property
    def is_atomic(self) -> bool:
        """True for ``STX | ATOMIC`` (operation in imm, memory at dst + off)."""
        return self.opcode & (CLASS_MASK | MODE_MASK) == InsnClass.STX | Mode.ATOMIC

    @property
    def atomic_op(self) -> AtomicOp:
        """The operation of an atomic instruction; ValueError if unknown."""
        if not self.is_atomic:
            raise BpfValueError(f"{self!r} is not an atomic instruction")
        return AtomicOp(self.imm)

    @property
    def size_bytes(self) -> int:
        """Bytes accessed by a memory instruction; ValueError for other kinds."""
        mode = self.opcode & MODE_MASK
        if (
            self.is_mem_load
            or self.is_mem_store
            or self.is_atomic
            or (
                self.opcode & CLASS_MASK == InsnClass.LD
                and mode in (Mode.ABS, Mode.IND)
            )
        ):
            return size_bytes_of(self.opcode)
        raise BpfValueError(f"{self!r} does not access memory")

    # -- LD_IMM64 pairs ------------------------------------------------------

    def imm64(self, second: Instruction) -> int:
        """The unsigned 64-bit constant of an LD_IMM64 given its second slot."""
        return ((second.imm & _U32) << 32) | (self.imm & _U32)

    def set_imm64(self, second: Instruction, value: int) -> None:
        """Store a 64-bit constant (signed or unsigned) into an LD_IMM64 pair."""
        if not -(1 << 63) <= value <= _U64:
            raise BpfValueError(f"LD_IMM64 constant {value} does not fit in 64 bits")
        value &= _U64
        self.imm = _s32(value)
        second.imm = _s32(value >> 32)


def decode(
    data: bytes | bytearray | memoryview,
    byteorder: ByteOrder = "little",
    *,
    section: str | None = None,
) -> list[Instruction]:
    """Decode raw instruction bytes; malformed input raises ObjectFormatError.

    `section` only names the source in error messages.
    """
    st = _struct_for(byteorder)
    view = memoryview(data).cast("B") if isinstance(data, memoryview) else data
    n = len(view)
    where = f" in section {section!r}" if section is not None else ""
    if n % 8:
        raise ObjectFormatError(
            f"instruction bytes{where}: length {n} is not a multiple of 8",
            section=section,
            offset=n - n % 8,
        )
    if byteorder == "little":
        insns = [
            Instruction(code, regs & 0xF, regs >> 4, off, imm)
            for code, regs, off, imm in st.iter_unpack(view)
        ]
    else:
        insns = [
            Instruction(code, regs >> 4, regs & 0xF, off, imm)
            for code, regs, off, imm in st.iter_unpack(view)
        ]
    # Every LD_IMM64 needs a second slot with opcode 0. Scan the opcode bytes.
    opcodes = bytes(view[0::8])
    find = opcodes.find
    i = find(OP_LD_IMM64)
    count = len(opcodes)
    while i >= 0:
        if i + 1 >= count:
            raise ObjectFormatError(
                f"instruction bytes{where}: LD_IMM64 at offset {i * 8} has no second slot",
                section=section,
                offset=i * 8,
            )
        if opcodes[i + 1] != 0:
            raise ObjectFormatError(
                f"instruction bytes{where}: LD_IMM64 at offset {i * 8} is followed by "
                f"opcode {opcodes[i + 1]:#04x} instead of its second slot (opcode 0)",
                section=section,
                offset=i * 8,
            )
        i = find(OP_LD_IMM64, i + 2)
    return insns


def _explain_bad_slot(index: int, insn: object) -> Exception:
    """Build the TypeError/ValueError describing why slot `index` cannot be encoded."""
    if not isinstance(insn, Instruction):
        return BpfTypeError(
            f"slot {index}: expected an Instruction, got {type(insn).__name__}"
        )
    limits = (
        ("opcode", 0, 0xFF),
        ("dst_reg", 0, 0xF),
        ("src_reg", 0, 0xF),
        ("off", -0x8000, 0x7FFF),
        ("imm", -0x80000000, 0x7FFFFFFF),
    )
    for name, low, high in limits:
        value = getattr(insn, name)
        if not isinstance(value, int):
            return BpfTypeError(
                f"slot {index}: {name} must be an int, not {type(value).__name__} ({insn!r})"
            )
        if not low <= value <= high:
            return BpfValueError(
                f"slot {index}: {name}={value} is outside [{low}, {high}] ({insn!r})"
            )
    return BpfValueError(f"slot {index}: cannot encode {insn!r}")


def encode(insns: Iterable[Instruction], byteorder: ByteOrder = "little") -> bytes:
    """Encode instructions to raw bytes; out-of-range fields raise ValueError."""
    st = _struct_for(byteorder)
    pack = st.pack
    out: list[bytes] = []
    append = out.append
    little = byteorder == "little"
    for index, insn in enumerate(insns):
        try:
            dst = insn.dst_reg
            src = insn.src_reg
            if (dst | src) & ~0xF:
                raise ValueError
            regs = (src << 4) | dst if little else (dst << 4) | src
            append(pack(insn.opcode, regs, insn.off, insn.imm))
        except (struct.error, ValueError, TypeError, AttributeError):
            raise _explain_bad_slot(index, insn) from None
    return b"".join(out)
