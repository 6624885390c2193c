"""bpfkit.asm: eBPF instructions, their encoding, a builder and a disassembler.

Pure: no syscalls, no kernel or /sys access, standard library only.
"""

from __future__ import annotations

from .._uapi._base import import_module
from ._instruction import ByteOrder, Instruction, decode, encode
from ._opcodes import (
    AluOp,
    AtomicOp,
    InsnClass,
    JmpOp,
    Mode,
    PseudoCall,
    PseudoLd,
    Reg,
    Size,
    Source,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._builder import (
        Assembler,
        alu32_imm,
        alu32_reg,
        alu64_imm,
        alu64_reg,
        atomic_op,
        bswap,
        call_helper,
        call_kfunc,
        call_rel,
        endian,
        exit_insn,
        gotol,
        ja,
        jmp32_imm,
        jmp32_reg,
        jmp_imm,
        jmp_reg,
        ld_abs,
        ld_func,
        ld_imm64,
        ld_ind,
        ld_map_fd,
        ld_map_value,
        ld_pseudo,
        ldx_mem,
        ldxsx_mem,
        may_goto,
        mov32_imm,
        mov32_reg,
        mov64_imm,
        mov64_reg,
        movsx32_reg,
        movsx64_reg,
        neg32,
        neg64,
        st_mem,
        stx_mem,
    )
    from ._disasm import MapRef, disassemble, format_insn

# the builder and the disassembler are imported on first use (loading an object needs neither)
_BUILDER = (
    "Assembler", "alu32_imm", "alu32_reg", "alu64_imm", "alu64_reg", "atomic_op", "bswap", "call_helper",
    "call_kfunc", "call_rel", "endian", "exit_insn", "gotol", "ja", "jmp32_imm", "jmp32_reg", "jmp_imm",
    "jmp_reg", "ld_abs", "ld_func", "ld_imm64", "ld_ind", "ld_map_fd", "ld_map_value", "ld_pseudo", "ldx_mem",
    "ldxsx_mem", "may_goto", "mov32_imm", "mov32_reg", "mov64_imm", "mov64_reg", "movsx32_reg", "movsx64_reg",
    "neg32", "neg64", "st_mem", "stx_mem",
)
_WHERE: dict[str, str] = {**dict.fromkeys(_BUILDER, "_builder"), **dict.fromkeys(("MapRef", "disassemble", "format_insn"), "_disasm")}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "AluOp",
    "Assembler",
    "AtomicOp",
    "ByteOrder",
    "InsnClass",
    "Instruction",
    "JmpOp",
    "MapRef",
    "Mode",
    "PseudoCall",
    "PseudoLd",
    "Reg",
    "Size",
    "Source",
    "alu32_imm",
    "alu32_reg",
    "alu64_imm",
    "alu64_reg",
    "atomic_op",
    "bswap",
    "call_helper",
    "call_kfunc",
    "call_rel",
    "decode",
    "disassemble",
    "encode",
    "endian",
    "exit_insn",
    "format_insn",
    "gotol",
    "ja",
    "jmp32_imm",
    "jmp32_reg",
    "jmp_imm",
    "jmp_reg",
    "ld_abs",
    "ld_func",
    "ld_imm64",
    "ld_ind",
    "ld_map_fd",
    "ld_map_value",
    "ld_pseudo",
    "ldx_mem",
    "ldxsx_mem",
    "may_goto",
    "mov32_imm",
    "mov32_reg",
    "mov64_imm",
    "mov64_reg",
    "movsx32_reg",
    "movsx64_reg",
    "neg32",
    "neg64",
    "st_mem",
    "stx_mem",
]
