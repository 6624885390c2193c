"""Minimal private instruction slots for obj/ until bpfkit.asm lands.

Same shape as ``bpfkit.asm.Instruction`` (opcode, dst_reg, src_reg, off, imm;
one object per 8-byte slot, LD_IMM64 taking two) so that switching to it is a
one-line import change in the modules that use these names.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ObjectFormatError

__all__ = ["Instruction", "decode", "encode"]

OP_LD_IMM64 = 0x18
OP_CALL = 0x85
_STRUCTS = {"little": struct.Struct("<BBhi"), "big": struct.Struct(">BBhi")}


@dataclass(slots=True)
class Instruction:
    """One 8-byte instruction slot (struct bpf_insn); mutable so relocation can patch it."""

    opcode: int
    dst_reg: int = 0
    src_reg: int = 0
    off: int = 0
    imm: int = 0

    def copy(self) -> Instruction:
        """An independent copy of this slot."""
        return Instruction(self.opcode, self.dst_reg, self.src_reg, self.off, self.imm)


def decode(data: bytes | bytearray | memoryview, byteorder: str = "little", *, section: str | None = None) -> list[Instruction]:
    """Decode instruction bytes into slots; a length that is not a multiple of 8 is an ObjectFormatError."""
    st = _STRUCTS[byteorder]
    n = len(data)
    if n % 8:
        raise ObjectFormatError(f"instruction bytes of length {n} are not a multiple of 8", section=section, offset=n - n % 8)
    if byteorder == "little":
        return [Instruction(c, r & 0xF, r >> 4, o, i) for c, r, o, i in st.iter_unpack(data)]
    return [Instruction(c, r >> 4, r & 0xF, o, i) for c, r, o, i in st.iter_unpack(data)]


def encode(insns: Iterable[Instruction], byteorder: str = "little") -> bytes:
    """Encode slots back into bytes."""
    st = _STRUCTS[byteorder]
    little = byteorder == "little"
    out = []
    for ins in insns:
        regs = (ins.src_reg << 4) | ins.dst_reg if little else (ins.dst_reg << 4) | ins.src_reg
        out.append(st.pack(ins.opcode, regs, ins.off, ins.imm))
    return b"".join(out)
