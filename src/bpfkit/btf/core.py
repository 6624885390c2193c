"""CO-RE: relocate compiled BPF instructions to a target kernel's BTF (pure; no kernel access).

``relocate`` turns a program's ``bpf_core_relo`` records, the object's own
(local) BTF and the target BTFs (vmlinux first, then module BTFs) into
:class:`CoreFixup` values; ``apply`` patches them into the instructions.  The
rules are libbpf's (tools/lib/bpf/relo_core.c, shared with the kernel):
candidates by essential name (``___flavor`` stripped) among target types of a
compatible kind, fields matched by name through anonymous structs/unions,
ambiguous candidates refused, and an unsatisfiable relocation *poisons* its
instruction (``call 0xbad2310``) so the program fails only if that path runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .._record import Record, record
from .._uapi import CoreReloKind
from ..errors import CoreError, ObjectFormatError, RelocationError
from ._core_spec import (
    ENUMVAL_KINDS,
    FIELD_KINDS,
    TYPE_KINDS,
    Poison,
    Spec,
    essential_name,
    find_candidates,
    get_type,
    match_spec,
    parse_spec,
    resolve_size,
    skip_mods,
)
from ._ext import CoreRelo
from ._parse import Btf
from ._types import BtfType, Enum, Enum64, Int, IntEncoding, Ptr, Struct, Union_

__all__ = [
    "POISON_IMM",
    "CoreFixup",
    "Slot",
    "access_path",
    "apply",
    "describe",
    "essential_name",
    "relocate",
    "relocation_error",
]

POISON_IMM = 0xBAD2310
"""The helper id libbpf calls in a poisoned instruction (195896080, "bad relo")."""

_CLASS_MASK = 0x07
_LD, _LDX, _ST, _STX, _ALU, _ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x07
_SRC_X = 0x08
_SIZE_MASK = 0x18
_LD_IMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW
_CALL = 0x85  # BPF_JMP | BPF_CALL
_SIZE_BYTES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
_SIZE_CODE = {v: k for k, v in _SIZE_BYTES.items()}
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class Slot(Protocol):
        """What type checkers read of :class:`Slot` (documented on the run-time class)."""

        opcode: int
        off: int
        imm: int

else:  # the same name at run time, where typing's Protocol is not imported (issue 18)

    class Slot:
        """One mutable 8-byte instruction slot, as ``bpfkit.asm.Instruction`` provides.

        Only ``opcode``, ``off`` and ``imm`` are required here; the registers are read
        and cleared under either spelling, ``dst_reg``/``src_reg`` or ``dst``/``src``.
        """


@record(slots=True)
class CoreFixup:
    """What one CO-RE relocation does to the instruction at ``insn_index``.

    ``local_value`` is what the compiler assumed from the object's BTF and
    ``target_value`` what the target BTF demands; ``poison`` means the
    relocation cannot be satisfied and the instruction becomes ``call
    0xbad2310`` (``reason`` says why; ``target_value`` is then 0).  ``local_size``/``target_size`` are the
    field sizes behind a FIELD_BYTE_OFFSET (a load/store's width is adjusted
    when they differ); ``target_btf`` indexes the ``targets`` list given to
    :func:`relocate` (None when nothing matched or for TYPE_ID_LOCAL).
    """

    insn_index: int
    kind: CoreReloKind
    local_value: int
    target_value: int
    poison: bool
    relo: CoreRelo | None = None
    relo_index: int = 0
    local_size: int = 0
    target_size: int = 0
    target_type_id: int = 0
    target_btf: int | None = None
    target_access: str = ""
    reason: str = ""
    program: str = ""
    source_line: str | None = None


# ---- register access under either field spelling -----------------------------


def _reg(insn: Slot, name: str) -> int:
    value = getattr(insn, name + "_reg", None)
    if value is None:
        value = getattr(insn, name, 0)
    return int(value or 0)


def _clear_regs(insn: Slot) -> None:
    for name in ("dst", "src"):
        attr = name + "_reg" if hasattr(insn, name + "_reg") else name
        setattr(insn, attr, 0)


def _s32(v: int) -> int:
    v &= _U32
    return v - (1 << 32) if v & 0x80000000 else v


# ---- value computation (libbpf's bpf_core_calc_relo) ------------------------


class _Res(Record):
    _fields = ("orig", "new", "poison", "validate", "fail_memsz", "orig_sz", "new_sz", "orig_type", "new_type", "reason")
    __slots__ = _fields

    def __init__(self, orig: int = 0, new: int = 0, validate: bool = True) -> None:
        self.orig = orig
        self.new = new
        self.poison = False
        self.validate = validate
        self.fail_memsz = False
        self.orig_sz = 0
        self.new_sz = 0
        self.orig_type = 0
        self.new_type = 0
        self.reason = ""


def _calc_field(kind: CoreReloKind, spec: Spec | None, big_endian: bool, local: bool) -> tuple[int, int, int, bool]:
    """(value, field size, field type id, validate) of a field relocation for one spec."""
    if kind == CoreReloKind.FIELD_EXISTS:
        return (1 if spec is not None else 0), 0, 0, True
    if spec is None:
        raise Poison
    btf = spec.btf
    acc = spec.accessors[-1]
    if acc.name is None:
        if kind == CoreReloKind.FIELD_BYTE_OFFSET:
            return spec.bit_offset // 8, resolve_size(btf, acc.type_id, local=local), acc.type_id, True
        if kind == CoreReloKind.FIELD_BYTE_SIZE:
            return resolve_size(btf, acc.type_id, local=local), 0, 0, True
        raise CoreError(f"{kind.name.lower()} cannot apply to an array element or root access", malformed=local)
    t = get_type(btf, acc.type_id, local=local)
    assert isinstance(t, (Struct, Union_))
    m = t.members[acc.idx]
    ftid, mt = skip_mods(btf, m.type, local=local)
    bit_off = spec.bit_offset
    bit_sz = m.bitfield_size if t.kind_flag else 0
    bitfield = bit_sz > 0
    if bitfield:
        if not isinstance(mt, (Int, Enum, Enum64)) or mt.size <= 0:
            raise CoreError(f"bitfield {m.name!r} has a {mt.kind.name} type", malformed=local)
        byte_sz = mt.size
        byte_off = bit_off // 8 // byte_sz * byte_sz
        while bit_off + bit_sz - byte_off * 8 > byte_sz * 8:
            if byte_sz >= 8:
                raise CoreError(f"bitfield {m.name!r} cannot be read with one 64-bit load")
            byte_sz *= 2
            byte_off = bit_off // 8 // byte_sz * byte_sz
    else:
        byte_sz = resolve_size(btf, ftid, local=local)
        byte_off = bit_off // 8
        bit_sz = byte_sz * 8
    validate = not bitfield  # bitfield layout is ambiguous: only signedness/rshift are checked
    field_sz = 0
    field_type = 0
    if kind == CoreReloKind.FIELD_BYTE_OFFSET:
        value = byte_off
        if not bitfield:
            field_sz, field_type = byte_sz, ftid
    elif kind == CoreReloKind.FIELD_BYTE_SIZE:
        value = byte_sz
    elif kind == CoreReloKind.FIELD_SIGNED:
        value = int((isinstance(mt, (Enum, Enum64)) and mt.signed) or (isinstance(mt, Int) and bool(mt.encoding & IntEncoding.SIGNED)))
        validate = True
    elif kind == CoreReloKind.FIELD_LSHIFT_U64:
        # the shift that puts the field's top bit at bit 63 of the loaded (byte_sz) word
        value = (8 - byte_sz) * 8 + (bit_off - byte_off * 8) if big_endian else 64 - (bit_off + bit_sz - byte_off * 8)
    else:  # FIELD_RSHIFT_U64
        value = 64 - bit_sz
        validate = True
    return value, field_sz, field_type, validate


def _calc_type(kind: CoreReloKind, spec: Spec | None, local: bool) -> tuple[int, bool]:
    if spec is None:
        return 0, True
    if kind == CoreReloKind.TYPE_ID_TARGET:
        return spec.root_type_id, False  # ids change in linking: never validated
    if kind == CoreReloKind.TYPE_SIZE:
        return resolve_size(spec.btf, spec.root_type_id, local=local), True
    return 1, True  # TYPE_EXISTS, TYPE_MATCHES


def _calc_enumval(kind: CoreReloKind, spec: Spec | None) -> int:
    if kind == CoreReloKind.ENUMVAL_EXISTS:
        return 1 if spec is not None else 0
    if spec is None:
        raise Poison
    acc = spec.accessors[0]
    t = get_type(spec.btf, acc.type_id)
    assert isinstance(t, (Enum, Enum64))
    return t.values[acc.idx].value


def _calc(kind: CoreReloKind, local: Spec, targ: Spec | None, big_endian: bool) -> _Res:
    res = _Res()
    try:
        if kind in FIELD_KINDS:
            res.orig, res.orig_sz, res.orig_type, res.validate = _calc_field(kind, local, big_endian, True)
            res.new, res.new_sz, res.new_type, _ = _calc_field(kind, targ, big_endian, False)
            if res.orig_sz != res.new_sz:
                ot = get_type(local.btf, res.orig_type, local=True)
                nt: BtfType = get_type(targ.btf, res.new_type) if targ is not None else ot
                # libbpf compares the encoding with SIGNED exactly (a CHAR or BOOL int counts as unsigned)
                unsigned = isinstance(ot, Int) and isinstance(nt, Int) and IntEncoding.SIGNED not in (ot.encoding, nt.encoding)
                if not (isinstance(ot, Ptr) and isinstance(nt, Ptr)) and not unsigned:
                    res.fail_memsz = True
        elif kind in TYPE_KINDS:
            res.orig, res.validate = _calc_type(kind, local, True)
            res.new, _ = _calc_type(kind, targ, False)
        else:
            res.orig = _calc_enumval(kind, local)
            res.new = _calc_enumval(kind, targ)
    except Poison:
        res.poison = True
        res.new = 0
    return res


# ---- the relocation driver ---------------------------------------------------


def _type_str(btf: Btf, type_id: int) -> str:
    """'struct foo', 'enum bar', 'typedef baz', 'int' ... for messages; never raises."""
    try:
        t = btf[type_id]
    except (IndexError, ValueError):
        return f"<bad type id {type_id}>"
    word = {"STRUCT": "struct", "UNION": "union", "ENUM": "enum", "ENUM64": "enum", "FWD": "struct", "TYPEDEF": "typedef"}
    name = t.name or "<anon>"
    kw = word.get(t.kind.name)
    if kw is None:
        return t.name or f"<{t.kind.name.lower()} [{type_id}]>"
    return f"{kw} {name}"


def _spec_path(spec: Spec) -> str:
    """A C-like path of a parsed spec: ``struct s.a[2].b`` (libbpf's notation)."""
    out = _type_str(spec.btf, spec.root_type_id)
    if spec.kind in TYPE_KINDS:
        return out
    if spec.kind in ENUMVAL_KINDS:
        return f"{out}::{spec.accessors[0].name}"
    for i, acc in enumerate(spec.accessors):
        if acc.name is not None:
            out += f".{acc.name}"
        elif i > 0 or acc.idx > 0:
            out += f"[{acc.idx}]"
    return out


def _kind_name(kind: int) -> str:
    try:
        return CoreReloKind(kind).name.lower()
    except (ValueError, TypeError):
        return f"kind {kind!r}"


def access_path(relo: CoreRelo, local: Btf) -> str:
    """The relocated access as C: ``struct s.a[2].b``, ``enum e::V``, or the type; never raises."""
    try:
        return _spec_path(parse_spec(local, relo.type_id, relo.access, CoreReloKind(relo.kind)))
    except (CoreError, ValueError, TypeError):
        return f"{_type_str(local, relo.type_id)} [{relo.type_id}]"


def _what(relo: CoreRelo, local: Btf) -> str:
    """The relocation's kind and its local access as a C-like path and raw string; never raises."""
    return f"{_kind_name(relo.kind)} of {access_path(relo, local)} (access {relo.access})"


def describe(fixup_or_relo: CoreFixup | CoreRelo, local: Btf) -> str:
    """Name a relocation: kind, local type and access path, instruction and source line if known."""
    if isinstance(fixup_or_relo, CoreRelo):
        return f"CO-RE relocation {_what(fixup_or_relo, local)} at insn #{fixup_or_relo.insn_off}"
    f = fixup_or_relo
    what = _what(f.relo, local) if f.relo is not None else _kind_name(f.kind)
    text = f"CO-RE relocation #{f.relo_index} {what}"
    text += f" in program {f.program!r}" if f.program else ""
    text += f" at insn #{f.insn_index}"
    if f.source_line:
        text += f" ({f.source_line.strip()})"
    if f.poison:
        text += f": cannot be satisfied: {f.reason}" if f.reason else ": cannot be satisfied"
    else:
        text += f": {f.local_value} -> {f.target_value}"
    return text


def relocation_error(fixup: CoreFixup, local: Btf) -> RelocationError:
    """The error a loader raises when the verifier reaches ``fixup``'s poisoned instruction."""
    reason = f": {fixup.reason}" if fixup.reason else ""
    what = _what(fixup.relo, local) if fixup.relo is not None else _kind_name(fixup.kind)
    return RelocationError(
        f"CO-RE relocation #{fixup.relo_index} {what} cannot be satisfied{reason}",
        program=fixup.program or None,
        insn=fixup.insn_index,
        source_line=fixup.source_line,
    )


def relocate(
    relos: Sequence[CoreRelo],
    local: Btf,
    targets: Sequence[Btf],
    insns: Sequence[Slot],
    *,
    program: str = "",
    line_of: Callable[[int], str | None] | None = None,
) -> list[CoreFixup]:
    """Compute the fixup of every relocation (``insn_off`` = instruction index into ``insns``).

    ``targets``: vmlinux BTF first, then module BTFs; as in libbpf, the others
    are searched only when the first has no candidate of the type's name, and
    a split BTF whose base is not in ``targets`` is searched with its base.
    Candidate lists are cached per target Btf across calls.  Raises ObjectFormatError
    for records inconsistent with the object (bad type id, access string or
    instruction) and RelocationError for an ambiguous or impossible
    relocation; an unsatisfiable one yields a poisoned fixup instead.
    """
    target_list = targets  # indexed lazily: module BTF of a lazy sequence loads only when searched
    cands_cache: dict[int, list[tuple[int, int]]] = {}
    big_endian = local.byteorder == "big"
    fixups: list[CoreFixup] = []
    patched: set[int] = set()
    for n, relo in enumerate(relos):
        idx = relo.insn_off
        line = None
        if line_of is not None and 0 <= idx < len(insns):
            line = line_of(idx)
        try:
            if idx in patched:
                raise CoreError(f"a second CO-RE relocation for instruction #{idx}", malformed=True)
            patched.add(idx)
            fixups.append(_relocate_one(n, relo, local, target_list, insns, cands_cache, big_endian, program, line))
        except CoreError as e:
            what = f"CO-RE relocation #{n} {_what(relo, local)}: {e}"
            if e.malformed:
                where = f" in program {program!r}" if program else ""
                raise ObjectFormatError(f"{what}{where} insn #{idx}", section=".BTF.ext") from None
            raise RelocationError(what, program=program or None, insn=idx, source_line=line) from None
    return fixups


def _relocate_one(
    n: int,
    relo: CoreRelo,
    local: Btf,
    targets: Sequence[Btf],
    insns: Sequence[Slot],
    cands_cache: dict[int, list[tuple[int, int]]],
    big_endian: bool,
    program: str,
    line: str | None,
) -> CoreFixup:
    idx = relo.insn_off
    if not 0 <= idx < len(insns):
        raise CoreError(f"instruction index {idx} outside the program's {len(insns)} instructions", malformed=True)
    try:
        kind = CoreReloKind(relo.kind)
    except ValueError:
        raise CoreError(f"unknown relocation kind {relo.kind!r}", malformed=True) from None
    local_type = get_type(local, relo.type_id, local=True)
    spec = parse_spec(local, relo.type_id, relo.access, kind)
    targ_spec: Spec | None = None
    targ_index: int | None = None
    if kind == CoreReloKind.TYPE_ID_LOCAL:
        res = _Res(orig=relo.type_id, new=relo.type_id, validate=False)
    else:
        if not local_type.name:
            raise CoreError("CO-RE cannot relocate an anonymous type (it has no name to search the target for)")
        cands = cands_cache.get(relo.type_id)
        if cands is None:
            cands = find_candidates(local_type, targets)
        best: _Res | None = None
        matched: list[tuple[int, int]] = []
        for ti, tid in cands:
            ts = match_spec(spec, targets[ti], tid)
            if ts is None:
                continue
            res = _calc(kind, spec, ts, big_endian)
            if best is None or targ_spec is None:
                best, targ_spec, targ_index = res, ts, ti
            elif ts.bit_offset != targ_spec.bit_offset or res.new != best.new or res.poison != best.poison:
                first = f"{_type_str(targets[targ_index or 0], targ_spec.root_type_id)} [{targ_spec.root_type_id}]"
                other = f"{_type_str(targets[ti], tid)} [{tid}]"
                raise CoreError(
                    f"ambiguous: target candidates {first} and {other} give different results "
                    f"({best.new} at bit {targ_spec.bit_offset} vs {res.new} at bit {ts.bit_offset})"
                )
            matched.append((ti, tid))
        # like libbpf, later relocations of the same local type only consider candidates that matched
        cands_cache[relo.type_id] = matched if matched else cands
        if best is None:
            res = _calc(kind, spec, None, big_endian)
            if res.poison:
                if cands:
                    res.reason = f"none of {len(cands)} target candidates for {_type_str(local, relo.type_id)} has {_spec_path(spec)}"
                else:
                    res.reason = f"the target BTF has no type matching {_type_str(local, relo.type_id)}"
        else:
            res = best
    fixup = CoreFixup(
        insn_index=idx,
        kind=kind,
        local_value=res.orig,
        target_value=res.new,
        poison=res.poison,
        relo=relo,
        relo_index=n,
        local_size=res.orig_sz,
        target_size=res.new_sz,
        target_type_id=targ_spec.root_type_id if targ_spec is not None else 0,
        target_btf=targ_index,
        target_access=targ_spec.raw_str if targ_spec is not None else "",
        reason=res.reason,
        program=program,
        source_line=line,
    )
    if not res.poison:
        _check_insn(fixup, res, insns)
    return fixup


def _check_insn(fixup: CoreFixup, res: _Res, insns: Sequence[Slot]) -> None:
    """libbpf's bpf_core_patch_insn checks: a patchable form holding the local value."""
    idx = fixup.insn_index
    insn = insns[idx]
    cls = insn.opcode & _CLASS_MASK
    orig, new = res.orig, res.new
    if cls in (_ALU, _ALU64):
        if insn.opcode & _SRC_X:
            raise CoreError(f"instruction {insn.opcode:#04x} is an ALU op on a register, not an immediate", malformed=True)
        if res.validate and (insn.imm - orig) & _U32:
            raise CoreError(f"instruction holds {insn.imm}, not the expected local value {orig}", malformed=True)
        if not -(1 << 31) <= new < (1 << 32):
            raise CoreError(f"value {new} does not fit the 32-bit immediate of an ALU instruction")
    elif cls in (_LDX, _ST, _STX):
        if res.validate and (insn.off - orig) & _U64:
            raise CoreError(f"instruction offset is {insn.off}, not the expected local value {orig}", malformed=True)
        if new > 0x7FFF or new < 0:
            raise CoreError(f"offset {new} does not fit a load/store instruction's 16-bit offset")
        if res.fail_memsz:
            fixup.poison = True
            fixup.target_value = 0
            fixup.reason = (
                f"the field is {res.orig_sz} bytes locally but {res.new_sz} in the target, and only "
                "unsigned integers and pointers may be read with an adjusted load size"
            )
            return
        if res.new_sz != res.orig_sz:
            have = _SIZE_BYTES[insn.opcode & _SIZE_MASK]
            if have != res.orig_sz:
                raise CoreError(f"instruction accesses {have} bytes, not the field's {res.orig_sz}", malformed=True)
            if res.new_sz not in _SIZE_CODE:
                raise CoreError(f"the target field's size {res.new_sz} is not a load/store size")
    elif cls == _LD:
        if (
            insn.opcode != _LD_IMM64
            or _reg(insn, "src") != 0
            or insn.off != 0
            or idx + 1 >= len(insns)
            or insns[idx + 1].opcode != 0
            or _reg(insns[idx + 1], "dst") != 0
            or _reg(insns[idx + 1], "src") != 0
            or insns[idx + 1].off != 0
        ):
            raise CoreError("instruction is not a plain 64-bit immediate load (LD_IMM64)", malformed=True)
        imm64 = (insn.imm & _U32) | ((insns[idx + 1].imm & _U32) << 32)
        if res.validate and (imm64 - orig) & _U64:
            raise CoreError(f"instruction holds {imm64}, not the expected local value {orig}", malformed=True)
    else:
        raise CoreError(f"instruction {insn.opcode:#04x} cannot carry a CO-RE relocation", malformed=True)


# ---- patching -----------------------------------------------------------------


def _poison(insn: Slot) -> None:
    insn.opcode = _CALL
    _clear_regs(insn)
    insn.off = 0
    insn.imm = POISON_IMM


def apply(fixups: Sequence[CoreFixup], insns: Sequence[Slot]) -> None:
    """Patch ``insns`` in place: immediates, offsets and load sizes, or poison calls."""
    for f in fixups:
        idx = f.insn_index
        if not 0 <= idx < len(insns):
            raise RelocationError(f"CO-RE fixup for instruction #{idx} outside the program", program=f.program or None, insn=idx)
        insn = insns[idx]
        if f.poison:
            if insn.opcode == _LD_IMM64 and idx + 1 < len(insns):
                _poison(insns[idx + 1])
            _poison(insn)
            continue
        cls = insn.opcode & _CLASS_MASK
        value = f.target_value
        if cls in (_ALU, _ALU64) and not insn.opcode & _SRC_X:
            insn.imm = _s32(value)
        elif cls in (_LDX, _ST, _STX):
            if not 0 <= value <= 0x7FFF:
                raise RelocationError(f"CO-RE offset {value} does not fit in 16 bits", program=f.program or None, insn=idx)
            insn.off = value
            if f.target_size != f.local_size and f.target_size in _SIZE_CODE:
                insn.opcode = (insn.opcode & ~_SIZE_MASK) | _SIZE_CODE[f.target_size]
        elif insn.opcode == _LD_IMM64 and idx + 1 < len(insns):
            insn.imm = _s32(value)
            insns[idx + 1].imm = _s32(value >> 32)
        else:
            raise RelocationError(f"CO-RE fixup cannot patch instruction {insn.opcode:#04x}", program=f.program or None, insn=idx)
