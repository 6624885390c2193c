"""Disassembler printing instructions in the kernel verifier's / bpftool's syntax.

One line per instruction (an LD_IMM64 pair is one line); jump and call
targets are pc-relative (``goto pc+3``) like the kernel's own log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import BpfValueError
from ._instruction import Instruction
from ._opcodes import (
    ADDR_SPACE_CAST,
    CLASS_MASK,
    MAY_GOTO,
    MODE_MASK,
    MOVSX_OFFSETS,
    OP_MASK,
    SIGNED_DIVMOD_OFF,
    SIZE_MASK,
    SOURCE_MASK,
    TO_BE,
    AluOp,
    AtomicOp,
    InsnClass,
    JmpOp,
    Mode,
    PseudoCall,
    PseudoLd,
    Size,
    Source,
)

__all__ = ["MapRef", "disassemble", "format_insn"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal
    MapRef = Literal["fd", "id"]
else:
    MapRef = 'Literal["fd", "id"]'  # type checkers read the alias above; typing stays unimported (issue 18)

_ALU_SYMBOL: dict[int, str] = {
    AluOp.ADD: "+=",
    AluOp.SUB: "-=",
    AluOp.MUL: "*=",
    AluOp.DIV: "/=",
    AluOp.OR: "|=",
    AluOp.AND: "&=",
    AluOp.LSH: "<<=",
    AluOp.RSH: ">>=",
    AluOp.MOD: "%=",
    AluOp.XOR: "^=",
    AluOp.MOV: "=",
    AluOp.ARSH: "s>>=",
}
_SIGNED_ALU_SYMBOL: dict[int, str] = {AluOp.DIV: "s/=", AluOp.MOD: "s%="}
_MOVSX_CAST: dict[int, str] = {8: "(s8)", 16: "(s16)", 32: "(s32)"}

_JMP_SYMBOL: dict[int, str] = {
    JmpOp.JEQ: "==",
    JmpOp.JGT: ">",
    JmpOp.JGE: ">=",
    JmpOp.JSET: "&",
    JmpOp.JNE: "!=",
    JmpOp.JSGT: "s>",
    JmpOp.JSGE: "s>=",
    JmpOp.JLT: "<",
    JmpOp.JLE: "<=",
    JmpOp.JSLT: "s<",
    JmpOp.JSLE: "s<=",
}

_UNSIGNED_TYPE: dict[int, str] = {
    Size.W: "u32",
    Size.H: "u16",
    Size.B: "u8",
    Size.DW: "u64",
}
_SIGNED_TYPE: dict[int, str] = {Size.W: "s32", Size.H: "s16", Size.B: "s8"}

_ATOMIC_ALU: dict[int, str] = {
    AtomicOp.ADD: "+=",
    AtomicOp.OR: "|=",
    AtomicOp.AND: "&=",
    AtomicOp.XOR: "^=",
}
_ATOMIC_FETCH: dict[int, str] = {
    AtomicOp.FETCH_ADD: "add",
    AtomicOp.FETCH_OR: "or",
    AtomicOp.FETCH_AND: "and",
    AtomicOp.FETCH_XOR: "xor",
}

# Kernel-internal encodings that only appear in xlated dumps (include/linux/filter.h).
_ADDR_PERCPU_OFF = -1  # ALU64 MOV|X: r = &(void __percpu *)(r)
_MODE_NOSPEC = 0xC0  # ST class: speculation barrier


def _invalid(insn: Instruction) -> str:
    return (
        f"<invalid opcode={insn.opcode:#04x} dst=r{insn.dst_reg} src=r{insn.src_reg} "
        f"off={insn.off} imm={insn.imm}>"
    )


def _mem(
    size: int, base: int, off: int, types: Mapping[int, str] = _UNSIGNED_TYPE
) -> str:
    return f"*({types[size]} *)(r{base} {off:+d})"


def _fmt_alu(insn: Instruction, cls: int) -> str:
    r = "w" if cls == InsnClass.ALU else "r"
    op = insn.opcode & OP_MASK
    dst, src, off = insn.dst_reg, insn.src_reg, insn.off
    x = insn.opcode & SOURCE_MASK == Source.X
    if op == AluOp.END:
        if off != 0 or (cls == InsnClass.ALU64 and x):
            return _invalid(insn)
        if cls == InsnClass.ALU64:
            return f"r{dst} = bswap{insn.imm} r{dst}"
        kind = "be" if insn.opcode & SOURCE_MASK == TO_BE else "le"
        return f"r{dst} = {kind}{insn.imm} r{dst}"
    if op == AluOp.NEG:
        return f"{r}{dst} = -{r}{dst}" if off == 0 and not x else _invalid(insn)
    if x and op == AluOp.MOV:
        if cls == InsnClass.ALU64 and off == ADDR_SPACE_CAST:
            imm = insn.imm & 0xFFFFFFFF
            return f"r{dst} = addr_space_cast(r{src}, {imm >> 16}, {imm & 0xFFFF})"
        if cls == InsnClass.ALU64 and off == _ADDR_PERCPU_OFF:
            return f"r{dst} = &(void __percpu *)(r{src})"
        if off == 0:
            return f"{r}{dst} = {r}{src}"
        if off in MOVSX_OFFSETS and not (cls == InsnClass.ALU and off == 32):
            return f"{r}{dst} = {_MOVSX_CAST[off]}{r}{src}"
        return _invalid(insn)
    if off == 0:
        symbol = _ALU_SYMBOL.get(op)
    elif off == SIGNED_DIVMOD_OFF:
        symbol = _SIGNED_ALU_SYMBOL.get(op)
    else:
        symbol = None
    if symbol is None:
        return _invalid(insn)
    return f"{r}{dst} {symbol} {r}{src}" if x else f"{r}{dst} {symbol} {insn.imm}"


def _fmt_atomic(insn: Instruction) -> str:
    size = insn.opcode & SIZE_MASK
    dst, src, off, imm = insn.dst_reg, insn.src_reg, insn.off, insn.imm
    ty = _UNSIGNED_TYPE[size]
    width = "64" if size == Size.DW else ""
    if imm in _ATOMIC_ALU:
        return f"lock {_mem(size, dst, off)} {_ATOMIC_ALU[imm]} r{src}"
    if imm in _ATOMIC_FETCH:
        name = _ATOMIC_FETCH[imm]
        return f"r{src} = atomic{width}_fetch_{name}(({ty} *)(r{dst} {off:+d}), r{src})"
    if imm == AtomicOp.CMPXCHG:
        return f"r0 = atomic{width}_cmpxchg(({ty} *)(r{dst} {off:+d}), r0, r{src})"
    if imm == AtomicOp.XCHG:
        return f"r{src} = atomic{width}_xchg(({ty} *)(r{dst} {off:+d}), r{src})"
    if imm == AtomicOp.LOAD_ACQ:
        return f"r{dst} = load_acquire(({ty} *)(r{src} {off:+d}))"
    if imm == AtomicOp.STORE_REL:
        return f"store_release(({ty} *)(r{dst} {off:+d}), r{src})"
    return _invalid(insn)


def _fmt_ld_imm64(
    insn: Instruction,
    second: Instruction | None,
    map_ref: MapRef,
) -> str:
    dst, src = insn.dst_reg, insn.src_reg
    if second is None:
        return f"r{dst} = <ld_imm64 without its second slot, imm={insn.imm}>"
    hi = second.imm
    if src == 0:
        return f"r{dst} = {insn.imm64(second):#x} ll"
    if src == PseudoLd.MAP_FD:
        return f"r{dst} = map[{map_ref}:{insn.imm}]"
    if src == PseudoLd.MAP_VALUE:
        return f"r{dst} = map[{map_ref}:{insn.imm}][0]+{hi}"
    if src == PseudoLd.MAP_IDX:
        return f"r{dst} = map[idx:{insn.imm}]"
    if src == PseudoLd.MAP_IDX_VALUE:
        return f"r{dst} = map[idx:{insn.imm}][0]+{hi}"
    if src == PseudoLd.BTF_ID:
        btf_obj = f",btf_fd:{hi}" if hi else ""
        return f"r{dst} = ksym[btf_id:{insn.imm}{btf_obj}]"
    if src == PseudoLd.FUNC:
        return f"r{dst} = func[pc{insn.imm:+d}]"
    return f"r{dst} = <ld_imm64 src={src} value={insn.imm64(second):#x}>"


def _fmt_call(
    insn: Instruction,
    helper_names: Mapping[int, str] | None,
    kfunc_names: Mapping[int, str] | None,
) -> str:
    if insn.opcode & SOURCE_MASK == Source.X:
        return f"callx r{insn.dst_reg}"
    src, imm = insn.src_reg, insn.imm
    if src == PseudoCall.CALL:
        return f"call pc{imm:+d}"
    if src == PseudoCall.KFUNC_CALL:
        name = kfunc_names.get(imm) if kfunc_names is not None else None
        module = f"@{insn.off}" if insn.off else ""
        return f"call {'kfunc:' + name if name else 'kfunc'}#{imm}{module}"
    if src != 0:
        return _invalid(insn)
    name = helper_names.get(imm) if helper_names is not None else None
    return f"call {name or ''}#{imm}"


def _fmt_jmp(
    insn: Instruction,
    cls: int,
    helper_names: Mapping[int, str] | None,
    kfunc_names: Mapping[int, str] | None,
) -> str:
    op = insn.opcode & OP_MASK
    jmp64 = cls == InsnClass.JMP
    if op == JmpOp.CALL:
        return _fmt_call(insn, helper_names, kfunc_names) if jmp64 else _invalid(insn)
    if op == JmpOp.EXIT:
        return (
            "exit"
            if jmp64 and insn.opcode & SOURCE_MASK == Source.K
            else _invalid(insn)
        )
    if op == JmpOp.JA:
        if insn.opcode & SOURCE_MASK == Source.X:
            return _invalid(insn)
        return f"goto pc{insn.off:+d}" if jmp64 else f"gotol pc{insn.imm:+d}"
    if op == JmpOp.JCOND:
        if jmp64 and insn.src_reg == MAY_GOTO and insn.opcode & SOURCE_MASK == Source.K:
            return f"may_goto pc{insn.off:+d}"
        return _invalid(insn)
    symbol = _JMP_SYMBOL.get(op)
    if symbol is None:
        return _invalid(insn)
    r = "r" if jmp64 else "w"
    if insn.opcode & SOURCE_MASK == Source.X:
        rhs = f"{r}{insn.src_reg}"
    else:
        rhs = f"{insn.imm & 0xFFFFFFFF:#x}"
    return f"if {r}{insn.dst_reg} {symbol} {rhs} goto pc{insn.off:+d}"


def format_insn(
    insn: Instruction,
    next_insn: Instruction | None = None,
    *,
    helper_names: Mapping[int, str] | None = None,
    kfunc_names: Mapping[int, str] | None = None,
    map_ref: MapRef = "fd",
) -> str:
    """Format one instruction; an LD_IMM64 needs its second slot as `next_insn`.

    `helper_names`/`kfunc_names` map ids to names; `map_ref` says whether a
    map's imm is an fd (as loaded) or an id (as in the kernel's xlated dump).
    """
    if map_ref not in ("fd", "id"):
        raise BpfValueError(f"map_ref must be 'fd' or 'id', not {map_ref!r}")
    cls = insn.opcode & CLASS_MASK
    if cls == InsnClass.ALU or cls == InsnClass.ALU64:
        return _fmt_alu(insn, cls)
    if cls == InsnClass.JMP or cls == InsnClass.JMP32:
        return _fmt_jmp(insn, cls, helper_names, kfunc_names)
    size = insn.opcode & SIZE_MASK
    mode = insn.opcode & MODE_MASK
    if cls == InsnClass.LDX:
        if mode == Mode.MEM:
            return f"r{insn.dst_reg} = {_mem(size, insn.src_reg, insn.off)}"
        if mode == Mode.MEMSX and size in _SIGNED_TYPE:
            return (
                f"r{insn.dst_reg} = {_mem(size, insn.src_reg, insn.off, _SIGNED_TYPE)}"
            )
        return _invalid(insn)
    if cls == InsnClass.ST:
        if mode == Mode.MEM:
            return f"{_mem(size, insn.dst_reg, insn.off)} = {insn.imm}"
        if mode == _MODE_NOSPEC:
            return "nospec"
        return _invalid(insn)
    if cls == InsnClass.STX:
        if mode == Mode.MEM:
            return f"{_mem(size, insn.dst_reg, insn.off)} = r{insn.src_reg}"
        if mode == Mode.ATOMIC:
            return _fmt_atomic(insn)
        return _invalid(insn)
    # InsnClass.LD
    if mode == Mode.ABS:
        return f"r0 = *({_UNSIGNED_TYPE[size]} *)skb[{insn.imm}]"
    if mode == Mode.IND:
        return f"r0 = *({_UNSIGNED_TYPE[size]} *)skb[r{insn.src_reg} + {insn.imm}]"
    if mode == Mode.IMM and size == Size.DW:
        return _fmt_ld_imm64(insn, next_insn, map_ref)
    return _invalid(insn)


def disassemble(
    insns: Sequence[Instruction],
    *,
    helper_names: Mapping[int, str] | None = None,
    kfunc_names: Mapping[int, str] | None = None,
    map_ref: MapRef = "fd",
    numbered: bool = False,
    show_opcode: bool = False,
) -> list[str]:
    """Disassemble a program, one line per instruction (LD_IMM64 shown once).

    `numbered` prefixes the slot index (``"12: "``), `show_opcode` the opcode
    byte (``"(bf) "``), as in ``bpftool prog dump xlated``.
    """
    lines: list[str] = []
    count = len(insns)
    i = 0
    while i < count:
        insn = insns[i]
        second = None
        if insn.is_ld_imm64 and i + 1 < count:
            second = insns[i + 1]
        text = format_insn(
            insn,
            second,
            helper_names=helper_names,
            kfunc_names=kfunc_names,
            map_ref=map_ref,
        )
        if show_opcode:
            text = f"({insn.opcode:02x}) {text}"
        if numbered:
            text = f"{i}: {text}"
        lines.append(text)
        i += 2 if second is not None else 1
    return lines
