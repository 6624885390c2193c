"""USDT probes (``.note.stapsdt``) as pure values: notes, argument specs, libbpf's spec record.

A ``sys/sdt.h`` probe is a ``nop`` at ``pc`` plus a note of type 3 owned by
"stapsdt": pc, the link-time address of ``.stapsdt.base``, the semaphore's
address (0: none), then "provider\\0name\\0args\\0". Each argument is
``[-]SIZE@LOCATION`` in the assembler's syntax (``-4@%edi``, ``8@-16(%rbp)``,
``-4@$5`` on x86_64; ``-4@x0``, ``8@[sp, 16]``, ``-4@5`` on aarch64).
:func:`encode_spec` lays the arguments out as libbpf's ``struct
__bpf_usdt_spec`` (usdt.bpf.h), so ``bpf_usdt_arg()`` in BPF reads them.
No file or kernel access here.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from ..errors import BpfValueError, ObjectFormatError
from ._native import EM_AARCH64, EM_X86_64, NativeElf, parse_notes

__all__ = [
    "MAX_ARGS",
    "SPEC_SIZE",
    "ArgKind",
    "UsdtArg",
    "UsdtNote",
    "UsdtProbe",
    "encode_spec",
    "parse_arg",
    "parse_args",
    "parse_stapsdt",
    "pt_regs_offsets",
    "usdt_probes",
]

NT_STAPSDT = 3
MAX_ARGS = 12  # BPF_USDT_MAX_ARG_CNT of usdt.bpf.h
_ARG_SPEC = struct.Struct("<QihBb")  # val_off, arg_type, reg_off, arg_signed, arg_bitshift
_ARG_SPEC_SIZE = 16
SPEC_SIZE = 208  # sizeof(struct __bpf_usdt_spec): 12 * 16 + u64 cookie + short arg_cnt, padded to 8


class ArgKind(IntEnum):
    """Where an argument lives (``enum __bpf_usdt_arg_type``)."""

    CONST = 0
    REG = 1
    REG_DEREF = 2


@dataclass(frozen=True)
class UsdtArg:
    """One decoded argument: size in bytes, signedness, and where to read it."""

    size: int
    signed: bool
    kind: ArgKind
    reg: str | None = None  # the pt_regs slot name ('di', 'x0', 'sp' ...)
    value: int = 0  # the constant (CONST) or the displacement (REG_DEREF)
    text: str = ""


@dataclass(frozen=True)
class UsdtNote:
    """One ``.note.stapsdt`` entry as the file has it (addresses are link-time addresses)."""

    provider: str
    name: str
    pc: int
    base: int
    semaphore: int
    args_text: str


@dataclass(frozen=True)
class UsdtProbe:
    """A probe site ready for a uprobe: file offsets, semaphore and decoded arguments."""

    provider: str
    name: str
    address: int  # the pc after the .stapsdt.base adjustment (virtual address in the file)
    offset: int  # file offset of the pc: what a uprobe takes
    semaphore: int  # virtual address of the semaphore after adjustment (0: none)
    semaphore_offset: int  # its file offset: the uprobe's ref_ctr_offset (0: none)
    args: tuple[UsdtArg, ...]
    args_text: str


# ---- registers ----------------------------------------------------------------------------

# struct pt_regs of x86_64 (arch/x86/include/uapi/asm/ptrace.h, the kernel ABI) and arm64's user_pt_regs
_X86_64_PT_REGS = {
    "r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56, "r9": 64, "r8": 72,
    "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112, "orig_ax": 120, "ip": 128, "cs": 136, "flags": 144,
    "sp": 152, "ss": 160,
}
_AARCH64_PT_REGS = {**{f"x{i}": 8 * i for i in range(31)}, "sp": 248, "pc": 256, "pstate": 264}


def pt_regs_offsets(machine: int) -> Mapping[str, int]:
    """Offsets of the registers in ``struct pt_regs`` of ``machine`` (EM_X86_64 or EM_AARCH64)."""
    if machine == EM_X86_64:
        return _X86_64_PT_REGS
    if machine == EM_AARCH64:
        return _AARCH64_PT_REGS
    raise ObjectFormatError(f"USDT arguments of ELF machine {machine} are not supported (x86_64 and aarch64 are)")


def _x86_reg(name: str) -> str | None:
    """The pt_regs slot of an x86 register name of any width (%edi -> di, %r8d -> r8), None if unknown."""
    n = name.lower()
    m = re.fullmatch(r"r(8|9|1[0-5])[dwb]?", n)
    if m:
        return f"r{m.group(1)}"
    legacy = {"ax": "ax", "bx": "bx", "cx": "cx", "dx": "dx", "si": "si", "di": "di", "bp": "bp", "sp": "sp"}
    if n in ("rip", "eip", "ip"):
        return "ip"
    if len(n) == 3 and n[0] in "re" and n[1:] in legacy:
        return legacy[n[1:]]
    if n in legacy:
        return n
    if n in ("al", "bl", "cl", "dl"):
        return n[0] + "x"
    if n in ("sil", "dil", "bpl", "spl"):
        return n[:2]
    return None


def _aarch64_reg(name: str) -> str | None:
    n = name.lower()
    if n == "sp":
        return "sp"
    m = re.fullmatch(r"[xw]([0-9]|[12][0-9]|30)", n)
    return f"x{m.group(1)}" if m else None


# ---- argument specs --------------------------------------------------------------------------

_X86_CONST = re.compile(r"\$(-?(?:0x[0-9a-fA-F]+|\d+))")
_X86_REG = re.compile(r"%([a-z0-9]+)")
_X86_DEREF = re.compile(r"(-?(?:0x[0-9a-fA-F]+|\d+))?\(%([a-z0-9]+)\)")
_A64_CONST = re.compile(r"#?(-?(?:0x[0-9a-fA-F]+|\d+))")
_A64_REG = re.compile(r"([a-z][a-z0-9]*)")
_A64_DEREF = re.compile(r"\[\s*([a-z][a-z0-9]*)\s*(?:,\s*#?(-?(?:0x[0-9a-fA-F]+|\d+))\s*)?\]")


def parse_arg(text: str, machine: int) -> UsdtArg:
    """Decode one argument spec (``-4@%edi``, ``8@[sp, 16]``) for ELF ``machine``."""
    size_text, at, loc = text.strip().partition("@")
    if not at:  # very old notes carry no size: a 64-bit value
        size_text, loc = "8", text.strip()
    try:
        size_signed = int(size_text)
    except ValueError:
        raise ObjectFormatError(f"USDT argument {text!r}: size {size_text!r} is not a number") from None
    size = abs(size_signed)
    if size not in (1, 2, 4, 8):
        raise ObjectFormatError(f"USDT argument {text!r}: size {size} is not 1, 2, 4 or 8 bytes")
    signed = size_signed < 0
    loc = loc.strip()
    if machine == EM_X86_64:
        reg_of, const, reg, deref = _x86_reg, _X86_CONST, _X86_REG, _X86_DEREF
    elif machine == EM_AARCH64:
        reg_of, const, reg, deref = _aarch64_reg, _A64_CONST, _A64_REG, _A64_DEREF
    else:
        pt_regs_offsets(machine)  # raises
        raise AssertionError("unreachable")
    m = const.fullmatch(loc)
    if m:
        return UsdtArg(size, signed, ArgKind.CONST, None, int(m.group(1), 0), text)
    m = deref.fullmatch(loc)
    if m:
        if machine == EM_X86_64:
            disp, name = m.group(1), m.group(2)
        else:
            name, disp = m.group(1), m.group(2)
        slot = reg_of(name)
        if slot is None:
            raise ObjectFormatError(f"USDT argument {text!r}: unknown register {name!r}")
        return UsdtArg(size, signed, ArgKind.REG_DEREF, slot, int(disp, 0) if disp else 0, text)
    m = reg.fullmatch(loc)
    if m:
        slot = reg_of(m.group(1))
        if slot is None:
            raise ObjectFormatError(f"USDT argument {text!r}: unknown register {m.group(1)!r}")
        return UsdtArg(size, signed, ArgKind.REG, slot, 0, text)
    raise ObjectFormatError(f"USDT argument {text!r}: location {loc!r} is not a constant, register or "
                            "register+offset memory operand (symbol-relative operands are not supported)")


def _split_args(text: str) -> list[str]:
    """Split an argument string on spaces, keeping aarch64's ``[sp, 16]`` together."""
    out: list[str] = []
    depth = 0
    cur = ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch.isspace() and depth == 0:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def parse_args(text: str, machine: int) -> tuple[UsdtArg, ...]:
    """Decode a note's whole argument string (at most 12 arguments, as libbpf)."""
    args = tuple(parse_arg(a, machine) for a in _split_args(text))
    if len(args) > MAX_ARGS:
        raise ObjectFormatError(f"USDT probe has {len(args)} arguments; at most {MAX_ARGS} are supported")
    return args


# ---- notes ---------------------------------------------------------------------------------


def parse_stapsdt(desc: bytes, byteorder: str = "little") -> UsdtNote:
    """Decode the descriptor of one stapsdt note (ELF64: three 8-byte addresses, then three strings)."""
    if len(desc) < 24:
        raise ObjectFormatError(f"stapsdt note of {len(desc)} bytes is shorter than its three addresses")
    pc, base, sema = struct.unpack_from("<QQQ" if byteorder == "little" else ">QQQ", desc)
    parts = desc[24:].split(b"\0")
    if len(parts) < 3:
        raise ObjectFormatError("stapsdt note lacks its provider, name or argument string")
    provider, name, args = (p.decode("utf-8", "replace") for p in parts[:3])
    if not provider or not name:
        raise ObjectFormatError("stapsdt note has an empty provider or probe name")
    return UsdtNote(provider, name, pc, base, sema, args)


def usdt_probes(elf: NativeElf) -> list[UsdtProbe]:
    """Every USDT probe of an executable or shared object, with file offsets for uprobes."""
    notes = [n for n in _stapsdt_notes(elf)]
    if not notes:
        return []
    base_sec = elf.section(".stapsdt.base")
    out: list[UsdtProbe] = []
    for note in notes:
        shift = base_sec.addr - note.base if base_sec is not None and note.base else 0
        pc = note.pc + shift
        offset = elf.vaddr_to_offset(pc, executable=True)
        sema = note.semaphore + shift if note.semaphore else 0
        sema_off = elf.vaddr_to_offset(sema, executable=False) if sema else 0
        try:
            args = parse_args(note.args_text, elf.machine)
        except ObjectFormatError as exc:
            raise ObjectFormatError(f"{elf.what}: USDT probe {note.provider}:{note.name}: {exc}") from None
        out.append(UsdtProbe(note.provider, note.name, pc, offset, sema, sema_off, args, note.args_text))
    return out


def _stapsdt_notes(elf: NativeElf) -> list[UsdtNote]:
    sec = elf.section(".note.stapsdt")
    if sec is None:
        return []
    notes = parse_notes(elf.section_data(sec), elf.byteorder, where=".note.stapsdt")
    return [parse_stapsdt(n.desc, elf.byteorder) for n in notes if n.name == "stapsdt" and n.type == NT_STAPSDT]


# ---- libbpf's spec record --------------------------------------------------------------------


def encode_spec(args: Sequence[UsdtArg], cookie: int, reg_offsets: Mapping[str, int]) -> bytes:
    """``struct __bpf_usdt_spec`` of usdt.bpf.h for ``args`` (little-endian), with the user's ``cookie``."""
    if len(args) > MAX_ARGS:
        raise BpfValueError(f"a USDT spec holds at most {MAX_ARGS} arguments, got {len(args)}")
    out = bytearray(SPEC_SIZE)
    for i, a in enumerate(args):
        reg_off = 0
        if a.kind != ArgKind.CONST:
            assert a.reg is not None
            if a.reg not in reg_offsets:
                raise BpfValueError(f"USDT argument {a.text!r}: register {a.reg!r} has no pt_regs offset")
            reg_off = reg_offsets[a.reg]
        _ARG_SPEC.pack_into(out, i * _ARG_SPEC_SIZE, a.value & 0xFFFFFFFFFFFFFFFF, int(a.kind), reg_off,
                            int(a.signed), 64 - 8 * a.size)
    struct.pack_into("<Qh", out, MAX_ARGS * _ARG_SPEC_SIZE, cookie & 0xFFFFFFFFFFFFFFFF, len(args))
    return bytes(out)
