"""Builders for hand-written programs (feature probes, tests).

Every function returns a list of instruction slots (two for LD_IMM64) so that
programs compose with ``+``; argument order follows the kernel's ``BPF_*``
macros in include/linux/filter.h.  `Assembler` adds labels for jump targets.
Invalid operands raise ValueError (TypeError for wrong Python types).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import BpfTypeError, BpfValueError
from ._instruction import Instruction
from ._opcodes import (
    MAY_GOTO,
    MOVSX_OFFSETS,
    OP_CALL,
    OP_EXIT,
    OP_GOTOL,
    OP_JA,
    OP_LD_IMM64,
    SIGNED_DIVMOD_OFF,
    TO_BE,
    TO_LE,
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

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal
    _Field = Literal["off", "imm"]

__all__ = [
    "AluOpLike",
    "Assembler",
    "JmpOpLike",
    "SizeLike",
    "alu32_imm",
    "alu32_reg",
    "alu64_imm",
    "alu64_reg",
    "atomic_op",
    "bswap",
    "call_helper",
    "call_kfunc",
    "call_rel",
    "endian",
    "exit_insn",
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

# An ALU operation: an AluOp, its lowercase name ("add", "sdiv", ...) or the
# kernel's operator with or without "=" ("+=", "s>>", "s/=", "=").
AluOpLike = AluOp | str
# A conditional jump: a JmpOp, its lowercase name ("jeq") or operator ("==", "s<").
JmpOpLike = JmpOp | str
# An access size: a Size member or a byte count 1, 2, 4 or 8.
SizeLike = Size | int

_ALU_BY_SYMBOL: dict[str, tuple[AluOp, int]] = {
    "+": (AluOp.ADD, 0),
    "-": (AluOp.SUB, 0),
    "*": (AluOp.MUL, 0),
    "/": (AluOp.DIV, 0),
    "|": (AluOp.OR, 0),
    "&": (AluOp.AND, 0),
    "<<": (AluOp.LSH, 0),
    ">>": (AluOp.RSH, 0),
    "%": (AluOp.MOD, 0),
    "^": (AluOp.XOR, 0),
    "s>>": (AluOp.ARSH, 0),
    "s/": (AluOp.DIV, SIGNED_DIVMOD_OFF),
    "s%": (AluOp.MOD, SIGNED_DIVMOD_OFF),
}
_ALU_BY_NAME: dict[str, tuple[AluOp, int]] = {
    **{op.name.lower(): (op, 0) for op in AluOp if op not in (AluOp.NEG, AluOp.END)},
    "sdiv": (AluOp.DIV, SIGNED_DIVMOD_OFF),
    "smod": (AluOp.MOD, SIGNED_DIVMOD_OFF),
}

_JMP_BY_SYMBOL: dict[str, JmpOp] = {
    "==": JmpOp.JEQ,
    "!=": JmpOp.JNE,
    ">": JmpOp.JGT,
    ">=": JmpOp.JGE,
    "<": JmpOp.JLT,
    "<=": JmpOp.JLE,
    "&": JmpOp.JSET,
    "s>": JmpOp.JSGT,
    "s>=": JmpOp.JSGE,
    "s<": JmpOp.JSLT,
    "s<=": JmpOp.JSLE,
}
_CONDITIONAL_JMPS = frozenset(_JMP_BY_SYMBOL.values())
_JMP_BY_NAME: dict[str, JmpOp] = {op.name.lower(): op for op in _CONDITIONAL_JMPS}

_SIZE_BY_BYTES: dict[int, Size] = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}
_ATOMIC_RMW = frozenset(AtomicOp) - {AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL}


# -- operand checks -----------------------------------------------------------


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BpfTypeError(f"{what} must be an int, not {type(value).__name__}")
    return value


def _reg(value: object, what: str = "register") -> int:
    reg = _int(value, what)
    if not 0 <= reg <= 10:
        raise BpfValueError(f"{what} r{reg} does not exist (r0..r10)")
    return reg


def _imm(value: object, what: str = "imm") -> int:
    imm = _int(value, what)
    if not -(1 << 31) <= imm < (1 << 31):
        raise BpfValueError(f"{what} {imm} does not fit in a signed 32-bit immediate")
    return imm


def _off(value: object, what: str = "offset") -> int:
    off = _int(value, what)
    if not -(1 << 15) <= off < (1 << 15):
        raise BpfValueError(f"{what} {off} does not fit in a signed 16-bit offset")
    return off


def _size(size: object) -> Size:
    if isinstance(size, Size):
        return size
    count = _int(size, "size")
    try:
        return _SIZE_BY_BYTES[count]
    except KeyError:
        raise BpfValueError(
            f"size must be a Size or 1, 2, 4 or 8 bytes, not {count}"
        ) from None


def _alu(op: object) -> tuple[AluOp, int]:
    """Resolve an ALU operation to (AluOp, off)."""
    if isinstance(op, AluOp):
        if op in (AluOp.NEG, AluOp.END):
            raise BpfValueError(
                f"{op.name} is not a binary operation; use neg*/endian/bswap"
            )
        return op, 0
    if isinstance(op, str):
        key = op.strip().lower()
        if key in _ALU_BY_NAME:
            return _ALU_BY_NAME[key]
        if key == "=":
            return AluOp.MOV, 0
        key = key.removesuffix("=")
        if key in _ALU_BY_SYMBOL:
            return _ALU_BY_SYMBOL[key]
        raise BpfValueError(f"unknown ALU operation {op!r}")
    raise BpfTypeError(f"ALU operation must be an AluOp or str, not {type(op).__name__}")


def _jmp(op: object) -> JmpOp:
    """Resolve a conditional jump operation."""
    if isinstance(op, JmpOp):
        if op not in _CONDITIONAL_JMPS:
            raise BpfValueError(f"{op.name} is not a conditional jump")
        return op
    if isinstance(op, str):
        key = op.strip().lower()
        found = _JMP_BY_SYMBOL.get(key) or _JMP_BY_NAME.get(key)
        if found is None:
            raise BpfValueError(f"unknown jump condition {op!r}")
        return found
    raise BpfTypeError(f"jump condition must be a JmpOp or str, not {type(op).__name__}")


# -- ALU ------------------------------------------------------------------------


def _alu_imm(cls: InsnClass, op: AluOpLike, dst: int, imm: int) -> list[Instruction]:
    aop, off = _alu(op)
    return [Instruction(cls | aop | Source.K, _reg(dst, "dst"), 0, off, _imm(imm))]


def _alu_reg(cls: InsnClass, op: AluOpLike, dst: int, src: int) -> list[Instruction]:
    aop, off = _alu(op)
    return [
        Instruction(cls | aop | Source.X, _reg(dst, "dst"), _reg(src, "src"), off, 0)
    ]


def alu64_imm(op: AluOpLike, dst: int, imm: int) -> list[Instruction]:
    """``dst op= imm`` on 64 bits (imm sign-extended)."""
    return _alu_imm(InsnClass.ALU64, op, dst, imm)


def alu64_reg(op: AluOpLike, dst: int, src: int) -> list[Instruction]:
    """``dst op= src`` on 64 bits."""
    return _alu_reg(InsnClass.ALU64, op, dst, src)


def alu32_imm(op: AluOpLike, dst: int, imm: int) -> list[Instruction]:
    """``wdst op= imm`` on the low 32 bits, zero-extending the result."""
    return _alu_imm(InsnClass.ALU, op, dst, imm)


def alu32_reg(op: AluOpLike, dst: int, src: int) -> list[Instruction]:
    """``wdst op= wsrc`` on the low 32 bits, zero-extending the result."""
    return _alu_reg(InsnClass.ALU, op, dst, src)


def mov64_imm(dst: int, imm: int) -> list[Instruction]:
    """``dst = imm`` (sign-extended to 64 bits)."""
    return alu64_imm(AluOp.MOV, dst, imm)


def mov64_reg(dst: int, src: int) -> list[Instruction]:
    """``dst = src``."""
    return alu64_reg(AluOp.MOV, dst, src)


def mov32_imm(dst: int, imm: int) -> list[Instruction]:
    """``wdst = imm`` (upper 32 bits cleared)."""
    return alu32_imm(AluOp.MOV, dst, imm)


def mov32_reg(dst: int, src: int) -> list[Instruction]:
    """``wdst = wsrc`` (upper 32 bits cleared)."""
    return alu32_reg(AluOp.MOV, dst, src)


def movsx64_reg(dst: int, src: int, bits: int) -> list[Instruction]:
    """``dst = (s<bits>)src``: sign-extend the low 8/16/32 bits (Linux 6.6)."""
    if bits not in MOVSX_OFFSETS:
        raise BpfValueError(f"movsx64 extends from 8, 16 or 32 bits, not {bits}")
    return [
        Instruction(
            InsnClass.ALU64 | AluOp.MOV | Source.X, _reg(dst), _reg(src), bits, 0
        )
    ]


def movsx32_reg(dst: int, src: int, bits: int) -> list[Instruction]:
    """``wdst = (s<bits>)wsrc``: sign-extend the low 8/16 bits (Linux 6.6)."""
    if bits not in (8, 16):
        raise BpfValueError(f"movsx32 extends from 8 or 16 bits, not {bits}")
    return [
        Instruction(InsnClass.ALU | AluOp.MOV | Source.X, _reg(dst), _reg(src), bits, 0)
    ]


def neg64(dst: int) -> list[Instruction]:
    """``dst = -dst``."""
    return [Instruction(InsnClass.ALU64 | AluOp.NEG, _reg(dst))]


def neg32(dst: int) -> list[Instruction]:
    """``wdst = -wdst``."""
    return [Instruction(InsnClass.ALU | AluOp.NEG, _reg(dst))]


def endian(dst: int, bits: int, order: Literal["be", "le"]) -> list[Instruction]:
    """``dst = be<bits> dst`` / ``le<bits>``: convert the low bits to that byte order."""
    if bits not in (16, 32, 64):
        raise BpfValueError(f"byte swap width must be 16, 32 or 64, not {bits}")
    if order not in ("be", "le"):
        raise BpfValueError(f"byte order must be 'be' or 'le', not {order!r}")
    source = TO_BE if order == "be" else TO_LE
    return [Instruction(InsnClass.ALU | AluOp.END | source, _reg(dst), 0, 0, bits)]


def bswap(dst: int, bits: int) -> list[Instruction]:
    """``dst = bswap<bits> dst``: unconditional byte swap (ALU64 END, Linux 6.6)."""
    if bits not in (16, 32, 64):
        raise BpfValueError(f"byte swap width must be 16, 32 or 64, not {bits}")
    return [Instruction(InsnClass.ALU64 | AluOp.END, _reg(dst), 0, 0, bits)]


# -- loads and stores ---------------------------------------------------------------


def ld_pseudo(dst: int, src: int, imm: int, next_imm: int = 0) -> list[Instruction]:
    """Raw LD_IMM64 pair with pseudo source `src` (a PseudoLd) and both imm halves."""
    if not 0 <= _int(src, "src") <= 15:
        raise BpfValueError(f"LD_IMM64 src {src} does not fit in 4 bits")
    return [
        Instruction(OP_LD_IMM64, _reg(dst, "dst"), src, 0, _imm(imm)),
        Instruction(0, 0, 0, 0, _imm(next_imm, "next imm")),
    ]


def ld_imm64(dst: int, value: int) -> list[Instruction]:
    """``dst = value`` for a 64-bit constant (signed or unsigned); two slots."""
    value = _int(value, "value")
    if not -(1 << 63) <= value < (1 << 64):
        raise BpfValueError(f"LD_IMM64 constant {value} does not fit in 64 bits")
    first, second = ld_pseudo(dst, 0, 0)
    first.set_imm64(second, value)
    return [first, second]


def ld_map_fd(dst: int, fd: int) -> list[Instruction]:
    """``dst = map`` for the map open as `fd` (PSEUDO_MAP_FD); two slots."""
    if _int(fd, "fd") < 0:
        raise BpfValueError(f"map fd must not be negative, got {fd}")
    return ld_pseudo(dst, PseudoLd.MAP_FD, fd)


def ld_map_value(dst: int, fd: int, off: int = 0) -> list[Instruction]:
    """``dst = &value[0] + off`` of the array map `fd` (PSEUDO_MAP_VALUE); two slots."""
    if _int(fd, "fd") < 0:
        raise BpfValueError(f"map fd must not be negative, got {fd}")
    if _imm(off, "value offset") < 0:
        raise BpfValueError(f"map value offset must not be negative, got {off}")
    return ld_pseudo(dst, PseudoLd.MAP_VALUE, fd, off)


def ld_func(dst: int, off: int) -> list[Instruction]:
    """``dst = &subprog`` at pc-relative `off` (PSEUDO_FUNC, callbacks); two slots."""
    return ld_pseudo(dst, PseudoLd.FUNC, off)


def ld_abs(size: SizeLike, imm: int) -> list[Instruction]:
    """Legacy ``r0 = ntoh(*(size *)skb[imm])`` for socket filters."""
    sz = _size(size)
    if sz == Size.DW:
        raise BpfValueError("LD_ABS cannot load 8 bytes")
    return [Instruction(InsnClass.LD | Mode.ABS | sz, 0, 0, 0, _imm(imm))]


def ld_ind(size: SizeLike, src: int, imm: int) -> list[Instruction]:
    """Legacy ``r0 = ntoh(*(size *)skb[src + imm])`` for socket filters."""
    sz = _size(size)
    if sz == Size.DW:
        raise BpfValueError("LD_IND cannot load 8 bytes")
    return [
        Instruction(InsnClass.LD | Mode.IND | sz, 0, _reg(src, "src"), 0, _imm(imm))
    ]


def ldx_mem(size: SizeLike, dst: int, src: int, off: int) -> list[Instruction]:
    """``dst = *(size *)(src + off)`` zero-extended."""
    return [
        Instruction(
            InsnClass.LDX | Mode.MEM | _size(size),
            _reg(dst, "dst"),
            _reg(src, "src"),
            _off(off),
        )
    ]


def ldxsx_mem(size: SizeLike, dst: int, src: int, off: int) -> list[Instruction]:
    """``dst = *(s8/s16/s32 *)(src + off)`` sign-extended (Linux 6.6)."""
    sz = _size(size)
    if sz == Size.DW:
        raise BpfValueError("a sign-extending load is 1, 2 or 4 bytes")
    return [
        Instruction(
            InsnClass.LDX | Mode.MEMSX | sz,
            _reg(dst, "dst"),
            _reg(src, "src"),
            _off(off),
        )
    ]


def stx_mem(size: SizeLike, dst: int, src: int, off: int) -> list[Instruction]:
    """``*(size *)(dst + off) = src``."""
    return [
        Instruction(
            InsnClass.STX | Mode.MEM | _size(size),
            _reg(dst, "dst"),
            _reg(src, "src"),
            _off(off),
        )
    ]


def st_mem(size: SizeLike, dst: int, off: int, imm: int) -> list[Instruction]:
    """``*(size *)(dst + off) = imm``."""
    return [
        Instruction(
            InsnClass.ST | Mode.MEM | _size(size),
            _reg(dst, "dst"),
            0,
            _off(off),
            _imm(imm),
        )
    ]


def atomic_op(
    size: SizeLike, op: AtomicOp | int, dst: int, src: int, off: int
) -> list[Instruction]:
    """Atomic `op` on ``*(size *)(dst + off)`` with `src` (CMPXCHG also uses r0).

    Read-modify-write ops take 4 or 8 bytes; LOAD_ACQ (``src`` is the address,
    ``dst`` receives) and STORE_REL take any size.
    """
    try:
        aop = AtomicOp(_int(op, "atomic op"))
    except ValueError:
        raise BpfValueError(f"unknown atomic operation {op:#x}") from None
    sz = _size(size)
    if aop in _ATOMIC_RMW and sz not in (Size.W, Size.DW):
        raise BpfValueError(f"atomic {aop.name} works on 4 or 8 bytes, not {sz.name}")
    return [
        Instruction(
            InsnClass.STX | Mode.ATOMIC | sz,
            _reg(dst, "dst"),
            _reg(src, "src"),
            _off(off),
            aop,
        )
    ]


# -- jumps and calls ------------------------------------------------------------


def jmp_imm(op: JmpOpLike, dst: int, imm: int, off: int) -> list[Instruction]:
    """``if dst op imm goto pc+off`` comparing 64 bits."""
    return [
        Instruction(
            InsnClass.JMP | _jmp(op) | Source.K,
            _reg(dst, "dst"),
            0,
            _off(off),
            _imm(imm),
        )
    ]


def jmp_reg(op: JmpOpLike, dst: int, src: int, off: int) -> list[Instruction]:
    """``if dst op src goto pc+off`` comparing 64 bits."""
    return [
        Instruction(
            InsnClass.JMP | _jmp(op) | Source.X,
            _reg(dst, "dst"),
            _reg(src, "src"),
            _off(off),
        )
    ]


def jmp32_imm(op: JmpOpLike, dst: int, imm: int, off: int) -> list[Instruction]:
    """``if wdst op imm goto pc+off`` comparing the low 32 bits."""
    return [
        Instruction(
            InsnClass.JMP32 | _jmp(op) | Source.K,
            _reg(dst, "dst"),
            0,
            _off(off),
            _imm(imm),
        )
    ]


def jmp32_reg(op: JmpOpLike, dst: int, src: int, off: int) -> list[Instruction]:
    """``if wdst op wsrc goto pc+off`` comparing the low 32 bits."""
    return [
        Instruction(
            InsnClass.JMP32 | _jmp(op) | Source.X,
            _reg(dst, "dst"),
            _reg(src, "src"),
            _off(off),
        )
    ]


def ja(off: int) -> list[Instruction]:
    """``goto pc+off`` (16-bit offset)."""
    return [Instruction(OP_JA, 0, 0, _off(off))]


def gotol(off: int) -> list[Instruction]:
    """``gotol pc+off`` with a 32-bit offset (JMP32 JA, Linux 6.6)."""
    return [Instruction(OP_GOTOL, 0, 0, 0, _imm(off, "offset"))]


def may_goto(off: int) -> list[Instruction]:
    """``may_goto pc+off``: bounded-loop escape (JMP JCOND, Linux 6.9)."""
    return [Instruction(InsnClass.JMP | JmpOp.JCOND, 0, MAY_GOTO, _off(off))]


def call_helper(helper_id: int) -> list[Instruction]:
    """``call helper#id``."""
    if _int(helper_id, "helper id") < 0:
        raise BpfValueError(f"helper id must not be negative, got {helper_id}")
    return [Instruction(OP_CALL, 0, 0, 0, _imm(helper_id, "helper id"))]


def call_rel(off: int) -> list[Instruction]:
    """``call pc+off``: bpf-to-bpf call of the subprogram at pc-relative `off`."""
    return [Instruction(OP_CALL, 0, PseudoCall.CALL, 0, _imm(off, "offset"))]


def call_kfunc(btf_id: int, module: int = 0) -> list[Instruction]:
    """Call the kernel function `btf_id`; `module` is its BTF's fd_array index."""
    if _int(btf_id, "BTF id") <= 0:
        raise BpfValueError(f"BTF id must be positive, got {btf_id}")
    return [
        Instruction(
            OP_CALL, 0, PseudoCall.KFUNC_CALL, _off(module, "module"), _imm(btf_id)
        )
    ]


def exit_insn() -> list[Instruction]:
    """``exit``: return r0."""
    return [Instruction(OP_EXIT)]


# -- assembler with labels ------------------------------------------------------------

Target = str | int


class Assembler:
    """Program builder whose jumps and calls may name labels resolved by program().

    Methods mirror the module's builders and return the assembler so calls
    chain; a jump target is a label name or a raw pc-relative offset.
    """

    def __init__(self) -> None:
        self._insns: list[Instruction] = []
        self._labels: dict[str, int] = {}
        self._fixups: list[tuple[int, str, _Field]] = []

    def __len__(self) -> int:
        """Number of slots emitted so far."""
        return len(self._insns)

    @property
    def labels(self) -> dict[str, int]:
        """Slot index of each label defined so far (a copy)."""
        return dict(self._labels)

    def label(self, name: str) -> Assembler:
        """Mark the next emitted instruction as `name`."""
        if not isinstance(name, str) or not name:
            raise BpfValueError(f"label must be a non-empty str, not {name!r}")
        if name in self._labels:
            raise BpfValueError(
                f"label {name!r} is already defined at slot {self._labels[name]}"
            )
        self._labels[name] = len(self._insns)
        return self

    def emit(self, *insns: Instruction | Iterable[Instruction]) -> Assembler:
        """Append instructions (or lists of them, as the builders return) verbatim."""
        for item in insns:
            if isinstance(item, Instruction):
                self._insns.append(item.copy())
            else:
                for insn in item:
                    if not isinstance(insn, Instruction):
                        raise BpfTypeError(
                            f"expected an Instruction, got {type(insn).__name__}"
                        )
                    self._insns.append(insn.copy())
        return self

    def _emit_to(
        self, insns: list[Instruction], target: Target, field: _Field
    ) -> Assembler:
        """Append `insns` whose first slot's `field` is the offset to `target`."""
        if isinstance(target, str):
            self._fixups.append((len(self._insns), target, field))
        elif isinstance(target, bool) or not isinstance(target, int):
            raise BpfTypeError(
                f"jump target must be a label or int, not {type(target).__name__}"
            )
        self._insns.extend(insns)
        return self

    def program(self) -> list[Instruction]:
        """The instructions with every label resolved (fresh copies each call)."""
        insns = [insn.copy() for insn in self._insns]
        for index, name, field in self._fixups:
            target = self._labels.get(name)
            if target is None:
                raise BpfValueError(f"label {name!r} used at slot {index} is not defined")
            if target >= len(insns):
                raise BpfValueError(
                    f"label {name!r} is at the end of the program; no instruction follows"
                )
            delta = target - (index + 1)
            if field == "off":
                if not -(1 << 15) <= delta < (1 << 15):
                    raise BpfValueError(
                        f"jump at slot {index} to label {name!r} needs offset {delta}, beyond "
                        "16 bits; use gotol"
                    )
                insns[index].off = delta
            else:
                insns[index].imm = delta
        return insns

    # ALU
    def alu64_imm(self, op: AluOpLike, dst: int, imm: int) -> Assembler:
        """See `alu64_imm`."""
        return self.emit(alu64_imm(op, dst, imm))

    def alu64_reg(self, op: AluOpLike, dst: int, src: int) -> Assembler:
        """See `alu64_reg`."""
        return self.emit(alu64_reg(op, dst, src))

    def alu32_imm(self, op: AluOpLike, dst: int, imm: int) -> Assembler:
        """See `alu32_imm`."""
        return self.emit(alu32_imm(op, dst, imm))

    def alu32_reg(self, op: AluOpLike, dst: int, src: int) -> Assembler:
        """See `alu32_reg`."""
        return self.emit(alu32_reg(op, dst, src))

    def mov64_imm(self, dst: int, imm: int) -> Assembler:
        """See `mov64_imm`."""
        return self.emit(mov64_imm(dst, imm))

    def mov64_reg(self, dst: int, src: int) -> Assembler:
        """See `mov64_reg`."""
        return self.emit(mov64_reg(dst, src))

    def mov32_imm(self, dst: int, imm: int) -> Assembler:
        """See `mov32_imm`."""
        return self.emit(mov32_imm(dst, imm))

    def mov32_reg(self, dst: int, src: int) -> Assembler:
        """See `mov32_reg`."""
        return self.emit(mov32_reg(dst, src))

    def movsx64_reg(self, dst: int, src: int, bits: int) -> Assembler:
        """See `movsx64_reg`."""
        return self.emit(movsx64_reg(dst, src, bits))

    def movsx32_reg(self, dst: int, src: int, bits: int) -> Assembler:
        """See `movsx32_reg`."""
        return self.emit(movsx32_reg(dst, src, bits))

    def neg64(self, dst: int) -> Assembler:
        """See `neg64`."""
        return self.emit(neg64(dst))

    def neg32(self, dst: int) -> Assembler:
        """See `neg32`."""
        return self.emit(neg32(dst))

    def endian(self, dst: int, bits: int, order: Literal["be", "le"]) -> Assembler:
        """See `endian`."""
        return self.emit(endian(dst, bits, order))

    def bswap(self, dst: int, bits: int) -> Assembler:
        """See `bswap`."""
        return self.emit(bswap(dst, bits))

    # loads and stores
    def ld_imm64(self, dst: int, value: int) -> Assembler:
        """See `ld_imm64`."""
        return self.emit(ld_imm64(dst, value))

    def ld_pseudo(self, dst: int, src: int, imm: int, next_imm: int = 0) -> Assembler:
        """See `ld_pseudo`."""
        return self.emit(ld_pseudo(dst, src, imm, next_imm))

    def ld_map_fd(self, dst: int, fd: int) -> Assembler:
        """See `ld_map_fd`."""
        return self.emit(ld_map_fd(dst, fd))

    def ld_map_value(self, dst: int, fd: int, off: int = 0) -> Assembler:
        """See `ld_map_value`."""
        return self.emit(ld_map_value(dst, fd, off))

    def ld_func(self, dst: int, target: Target) -> Assembler:
        """`ld_func` to a label or pc-relative offset."""
        return self._emit_to(ld_func(dst, _raw(target)), target, "imm")

    def ld_abs(self, size: SizeLike, imm: int) -> Assembler:
        """See `ld_abs`."""
        return self.emit(ld_abs(size, imm))

    def ld_ind(self, size: SizeLike, src: int, imm: int) -> Assembler:
        """See `ld_ind`."""
        return self.emit(ld_ind(size, src, imm))

    def ldx_mem(self, size: SizeLike, dst: int, src: int, off: int) -> Assembler:
        """See `ldx_mem`."""
        return self.emit(ldx_mem(size, dst, src, off))

    def ldxsx_mem(self, size: SizeLike, dst: int, src: int, off: int) -> Assembler:
        """See `ldxsx_mem`."""
        return self.emit(ldxsx_mem(size, dst, src, off))

    def stx_mem(self, size: SizeLike, dst: int, src: int, off: int) -> Assembler:
        """See `stx_mem`."""
        return self.emit(stx_mem(size, dst, src, off))

    def st_mem(self, size: SizeLike, dst: int, off: int, imm: int) -> Assembler:
        """See `st_mem`."""
        return self.emit(st_mem(size, dst, off, imm))

    def atomic_op(
        self, size: SizeLike, op: AtomicOp | int, dst: int, src: int, off: int
    ) -> Assembler:
        """See `atomic_op`."""
        return self.emit(atomic_op(size, op, dst, src, off))

    # jumps and calls
    def jmp_imm(self, op: JmpOpLike, dst: int, imm: int, target: Target) -> Assembler:
        """`jmp_imm` to a label or pc-relative offset."""
        return self._emit_to(jmp_imm(op, dst, imm, _raw(target)), target, "off")

    def jmp_reg(self, op: JmpOpLike, dst: int, src: int, target: Target) -> Assembler:
        """`jmp_reg` to a label or pc-relative offset."""
        return self._emit_to(jmp_reg(op, dst, src, _raw(target)), target, "off")

    def jmp32_imm(self, op: JmpOpLike, dst: int, imm: int, target: Target) -> Assembler:
        """`jmp32_imm` to a label or pc-relative offset."""
        return self._emit_to(jmp32_imm(op, dst, imm, _raw(target)), target, "off")

    def jmp32_reg(self, op: JmpOpLike, dst: int, src: int, target: Target) -> Assembler:
        """`jmp32_reg` to a label or pc-relative offset."""
        return self._emit_to(jmp32_reg(op, dst, src, _raw(target)), target, "off")

    def ja(self, target: Target) -> Assembler:
        """`ja` to a label or pc-relative offset."""
        return self._emit_to(ja(_raw(target)), target, "off")

    def gotol(self, target: Target) -> Assembler:
        """`gotol` (32-bit offset) to a label or pc-relative offset."""
        return self._emit_to(gotol(_raw(target)), target, "imm")

    def may_goto(self, target: Target) -> Assembler:
        """`may_goto` to a label or pc-relative offset."""
        return self._emit_to(may_goto(_raw(target)), target, "off")

    def call_helper(self, helper_id: int) -> Assembler:
        """See `call_helper`."""
        return self.emit(call_helper(helper_id))

    def call_rel(self, target: Target) -> Assembler:
        """bpf-to-bpf `call_rel` to a label or pc-relative offset."""
        return self._emit_to(call_rel(_raw(target)), target, "imm")

    def call_kfunc(self, btf_id: int, module: int = 0) -> Assembler:
        """See `call_kfunc`."""
        return self.emit(call_kfunc(btf_id, module))

    def exit_insn(self) -> Assembler:
        """See `exit_insn`."""
        return self.emit(exit_insn())


def _raw(target: Target) -> int:
    """The offset to encode now: the raw int, or 0 until a label is resolved."""
    return target if isinstance(target, int) and not isinstance(target, bool) else 0
