"""Linking: an entry-point program plus the .text subprograms it uses, as libbpf lays them out.

For each entry point, subprograms are appended depth-first in the order their
first call (or callback address load) is met, each once; call and
BPF_PSEUDO_FUNC immediates are rewritten to the appended positions.  The
.BTF.ext records of every part are re-based to the linked program, and map and
extern references are recorded (and their LD_IMM64s normalized, see spec.py).
"""

from __future__ import annotations

from enum import Enum

from .._record import Record, replace
from ..asm import Instruction
from ..btf._ext import BtfExt, CoreRelo, FuncInfo, LineInfo
from ..errors import ObjectFormatError
from ._elf import ElfSymbol
from ._spec import ExternKind, ExternReference, ExternSpec, MapReference, MapRefKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar
    _R = TypeVar("_R", FuncInfo, LineInfo, CoreRelo)

__all__ = ["Function", "LinkResult", "Reloc", "RelocKind", "link_program"]

OP_LD_IMM64 = 0x18
OP_CALL = 0x85
PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2
PSEUDO_CALL = 1
PSEUDO_KFUNC_CALL = 2
PSEUDO_FUNC = 4


class RelocKind(Enum):
    """What a relocated instruction refers to."""

    CALL = "call"  # bpf-to-bpf call into .text
    SUBPROG_ADDR = "subprog_addr"  # LD_IMM64 of a .text function's address (callbacks)
    MAP_FD = "map_fd"  # LD_IMM64 of a map
    MAP_VALUE = "map_value"  # LD_IMM64 of an address in a global data map
    EXTERN_LD64 = "extern_ld64"  # LD_IMM64 of a __kconfig or __ksym extern
    EXTERN_CALL = "extern_call"  # call to a kfunc


class Reloc(Record):
    """One recorded relocation of an instruction."""

    _fields = ("kind", "symbol", "sym_off", "map", "extern")
    __slots__ = _fields

    def __init__(self, kind: RelocKind, symbol: str, sym_off: int = 0, map: str = "", extern: ExternSpec | None = None) -> None:
        self.kind = kind
        self.symbol = symbol
        self.sym_off = sym_off
        self.map = map
        self.extern = extern


class Function(Record):
    """A function symbol of an executable section: its instructions and relocations."""

    _fields = ("name", "sec_index", "section", "start", "insns", "sym", "relocs")
    __slots__ = _fields

    def __init__(self, name: str, sec_index: int, section: str, start: int, insns: list[Instruction], sym: ElfSymbol,
                 relocs: dict[int, Reloc] | None = None) -> None:
        self.name = name
        self.sec_index = sec_index
        self.section = section
        self.start = start
        self.insns = insns
        self.sym = sym
        self.relocs: dict[int, Reloc] = {} if relocs is None else relocs


class LinkResult(Record):
    """Everything recorded while linking one program."""

    _fields = ("func_info", "line_info", "core_relos", "map_refs", "extern_refs", "subprograms")
    __slots__ = _fields

    def __init__(self) -> None:
        self.func_info: list[FuncInfo] = []
        self.line_info: list[LineInfo] = []
        self.core_relos: list[CoreRelo] = []
        self.map_refs: list[MapReference] = []
        self.extern_refs: list[ExternReference] = []
        self.subprograms: list[str] = []


def _rebase(records: list[_R], f: Function, base: int, what: str) -> list[_R]:
    """Records of ``f`` (byte offsets in its section) with offsets in instructions of the linked program."""
    lo, hi = f.start, f.start + len(f.insns)
    out = []
    for r in records:
        if r.insn_off % 8:
            raise ObjectFormatError(f".BTF.ext {what} offset {r.insn_off} in {f.section!r} is not instruction aligned", section=".BTF.ext")
        idx = r.insn_off // 8
        if lo <= idx < hi:
            out.append(replace(r, insn_off=idx - lo + base))
    return out


class _Linker:
    def __init__(self, main: Function, text_funcs: list[Function], ext: BtfExt | None, kconfig_map: str | None) -> None:
        self.main = main
        self.text = {f.start: f for f in text_funcs}
        self.text_index = text_funcs[0].sec_index if text_funcs else -1
        self.ext = ext
        self.kconfig_map = kconfig_map
        self.insns = [i.copy() for i in main.insns]
        self.placed: dict[int, int] = {}
        self.res = LinkResult()
        self.has_fi = False
        self.has_li = False

    def fail(self, f: Function, i: int, why: str) -> ObjectFormatError:
        return ObjectFormatError(f"program {self.main.name!r}: {f.name!r} insn {i}: {why}", section=f.section)

    def add_ext(self, f: Function, base: int) -> None:
        ext = self.ext
        if ext is None:
            return
        fi = _rebase(ext.func_info.get(f.section, []), f, base, "func_info")
        li = _rebase(ext.line_info.get(f.section, []), f, base, "line_info")
        if f is self.main:
            self.has_fi = bool(fi)
            self.has_li = bool(li)
        else:
            if self.has_fi and not fi:
                raise ObjectFormatError(f"program {self.main.name!r}: subprogram {f.name!r} has no .BTF.ext func_info", section=".BTF.ext")
            if self.has_li and not li:
                raise ObjectFormatError(f"program {self.main.name!r}: subprogram {f.name!r} has no .BTF.ext line_info", section=".BTF.ext")
        if self.has_fi:
            self.res.func_info.extend(fi)
        if self.has_li:
            self.res.line_info.extend(li)
        self.res.core_relos.extend(_rebase(ext.core_relos.get(f.section, []), f, base, "CO-RE relocation"))

    def data_reloc(self, f: Function, i: int, at: int, r: Reloc) -> None:
        """Record a map or extern reference at linked index ``at`` and normalize its instruction."""
        ins = self.insns[at]
        if r.kind is RelocKind.EXTERN_CALL:
            assert r.extern is not None
            ins.src_reg = PSEUDO_KFUNC_CALL
            ins.imm = 0
            ins.off = 0
            self.res.extern_refs.append(ExternReference(at, r.extern.name, ExternKind.KFUNC))
            return
        second = self.insns[at + 1]
        if r.kind is RelocKind.MAP_FD:
            ins.src_reg = PSEUDO_MAP_FD
            ins.imm = 0
            second.imm = 0
            self.res.map_refs.append(MapReference(at, r.map, MapRefKind.FD, 0, r.symbol))
        elif r.kind is RelocKind.MAP_VALUE:
            off = ins.imm + r.sym_off
            if not -(1 << 31) <= off < (1 << 31):
                raise self.fail(f, i, f"offset {off} into map {r.map!r} does not fit an instruction")
            ins.src_reg = PSEUDO_MAP_VALUE
            ins.imm = 0
            second.imm = off
            self.res.map_refs.append(MapReference(at, r.map, MapRefKind.VALUE, off, r.symbol))
        elif r.kind is RelocKind.EXTERN_LD64:
            e = r.extern
            assert e is not None
            self.res.extern_refs.append(ExternReference(at, e.name, e.kind))
            if e.kind is ExternKind.KCONFIG:
                assert self.kconfig_map is not None
                off = e.offset + ins.imm
                if not -(1 << 31) <= off < (1 << 31):
                    raise self.fail(f, i, f"offset {off} into extern {e.name!r} does not fit an instruction")
                ins.src_reg = PSEUDO_MAP_VALUE
                ins.imm = 0
                second.imm = off
                self.res.map_refs.append(MapReference(at, self.kconfig_map, MapRefKind.VALUE, off, e.name))
        else:
            raise self.fail(f, i, f"unexpected {r.kind.value} relocation")

    def target_of(self, f: Function, i: int, ins: Instruction, r: Reloc | None, is_func: bool) -> Function:
        """The .text function a call or callback address load refers to."""
        if r is not None:
            if r.kind is RelocKind.CALL:
                target = r.sym_off // 8 + ins.imm + 1
            elif r.kind is RelocKind.SUBPROG_ADDR:
                target = (r.sym_off + ins.imm) // 8
            else:
                raise self.fail(f, i, f"unexpected {r.kind.value} relocation on a call")
        elif is_func:
            raise self.fail(f, i, "callback address load without a relocation")
        else:
            if f.sec_index != self.text_index:
                raise self.fail(f, i, "call without relocation outside .text")
            target = f.start + i + ins.imm + 1
        sub = self.text.get(target)
        if sub is None:
            raise self.fail(f, i, f"call target (.text insn {target}) is not the start of a function")
        return sub

    def place(self, sub: Function) -> int:
        off = len(self.insns)
        self.placed[sub.start] = off
        self.insns.extend(i.copy() for i in sub.insns)
        self.res.subprograms.append(sub.name)
        self.add_ext(sub, off)
        return off

    def run(self) -> tuple[list[Instruction], LinkResult]:
        self.add_ext(self.main, 0)
        stack: list[tuple[Function, int, int]] = [(self.main, 0, 0)]
        while stack:
            f, base, i = stack.pop()
            n = len(f.insns)
            while i < n:
                ins = self.insns[base + i]
                r = f.relocs.get(i)
                is_call = ins.opcode == OP_CALL and ins.src_reg == PSEUDO_CALL
                is_func = ins.opcode == OP_LD_IMM64 and ins.src_reg == PSEUDO_FUNC
                step = 2 if ins.opcode == OP_LD_IMM64 else 1
                if r is not None and r.kind in (RelocKind.EXTERN_CALL, RelocKind.MAP_FD, RelocKind.MAP_VALUE, RelocKind.EXTERN_LD64):
                    self.data_reloc(f, i, base + i, r)
                    i += step
                    continue
                if not (is_call or is_func):
                    if r is not None:
                        raise self.fail(f, i, f"{r.kind.value} relocation on an instruction that is not a call")
                    i += step
                    continue
                sub = self.target_of(f, i, ins, r, is_func)
                off = self.placed.get(sub.start)
                descend = off is None
                if off is None:
                    off = self.place(sub)
                ins.imm = off - (base + i) - 1
                i += step
                if descend:
                    stack.append((f, base, i))
                    stack.append((sub, off, 0))
                    break
        self.res.map_refs.sort(key=lambda r: r.insn)
        self.res.extern_refs.sort(key=lambda r: r.insn)
        return self.insns, self.res


def link_program(
    main: Function, text_funcs: list[Function], ext: BtfExt | None, kconfig_map: str | None
) -> tuple[list[Instruction], LinkResult]:
    """Link ``main`` with the .text functions it reaches; returns the instructions and the references found."""
    return _Linker(main, text_funcs, ext, kconfig_map).run()
