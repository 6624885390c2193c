"""CO-RE on hand-built BTF and records: what clang 14 cannot emit, instruction forms, targets, fuzzing."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfkit._uapi import CoreReloKind
from bpfkit.btf import (
    Array,
    Btf,
    BtfType,
    Const,
    Enum,
    Enum64,
    EnumValue,
    Float,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Struct,
    Typedef,
    Union_,
    Volatile,
)
from bpfkit.btf._core_spec import FIELD_KINDS, TYPE_KINDS
from bpfkit.btf._ext import CoreRelo
from bpfkit.btf.core import POISON_IMM, apply, describe, essential_name, relocate
from bpfkit.errors import ObjectFormatError, RelocationError

K = CoreReloKind


@dataclass
class Insn:
    opcode: int
    dst_reg: int = 0
    src_reg: int = 0
    off: int = 0
    imm: int = 0


def mov(imm: int) -> Insn:
    return Insn(0xB7, 1, 0, 0, imm)  # ALU64 MOV K


def add(imm: int) -> Insn:
    return Insn(0x07, 1, 0, 0, imm)  # ALU64 ADD K


def ldx(off: int, size: int = 0x00) -> Insn:
    return Insn(0x61 | size, 1, 2, off, 0)  # LDX MEM (W by default)


def ld64(value: int) -> list[Insn]:
    return [Insn(0x18, 1, 0, 0, value & 0xFFFFFFFF), Insn(0, 0, 0, 0, (value >> 32) & 0xFFFFFFFF)]


def btf(*types: BtfType, base: Btf | None = None) -> Btf:
    return Btf.from_types(list(types), base=base)


def lazy(b: Btf, base: Btf | None = None) -> Btf:
    """The same types parsed back from bytes (the lazily indexed path vmlinux takes)."""
    return Btf.from_bytes(b.to_bytes(), base=base)


INT = Int("int", 4, IntEncoding.SIGNED)
UINT = Int("unsigned int", 4)
U64 = Int("unsigned long long", 8)


def one(relo: CoreRelo, local: Btf, targets: list[Btf], insns: list[Insn]) -> tuple[int, bool, list[Insn]]:
    (f,) = relocate([relo], local, targets, insns, program="p")
    patched = copy.deepcopy(insns)
    apply([f], patched)
    return f.target_value, f.poison, patched


# ---- names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "essential"),
    [
        ("task_struct", "task_struct"),
        ("task_struct___old", "task_struct"),
        ("task_struct___2", "task_struct"),
        ("a___b___c", "a___b"),
        ("foo____bar", "foo____bar"),  # four underscores: not a flavor separator
        ("foo___", "foo___"),
        ("___foo", "___foo"),
        ("x___y", "x"),
    ],
)
def test_essential_name(name: str, essential: str) -> None:
    assert essential_name(name) == essential


# ---- enums ----------------------------------------------------------------------


def test_enum64_values_via_ld_imm64() -> None:
    local = btf(Enum64("big", 8, [EnumValue("HUGE", 1 << 40), EnumValue("NEG", -3)], signed=True))
    target = btf(INT, Enum64("big", 8, [EnumValue("NEG", -7), EnumValue("HUGE", (1 << 50) + 5)], signed=True))
    value, poison, out = one(CoreRelo(0, 1, "0", K.ENUMVAL_VALUE), local, [target], ld64(1 << 40))
    assert (value, poison) == ((1 << 50) + 5, False)
    assert (out[0].imm & 0xFFFFFFFF) | (out[1].imm & 0xFFFFFFFF) << 32 == (1 << 50) + 5
    value, _, out = one(CoreRelo(0, 1, "1", K.ENUMVAL_VALUE), local, [target], ld64(-3))
    assert value == -7
    assert (out[0].imm & 0xFFFFFFFF, out[1].imm & 0xFFFFFFFF) == (0xFFFFFFF9, 0xFFFFFFFF)


def test_enum_and_enum64_relocate_against_each_other() -> None:
    local = btf(Enum("e", 4, [EnumValue("A", 1), EnumValue("B", 2)]))
    target = btf(Enum64("e", 8, [EnumValue("B", 1 << 33), EnumValue("A", 9)]))
    assert one(CoreRelo(0, 1, "0", K.ENUMVAL_VALUE), local, [target], ld64(1))[:2] == (9, False)
    assert one(CoreRelo(0, 1, "1", K.ENUMVAL_VALUE), local, [target], ld64(2))[:2] == (1 << 33, False)
    # a 64-bit value cannot go into a 32-bit immediate: an error, not a truncation
    with pytest.raises(RelocationError):
        relocate([CoreRelo(0, 1, "1", K.ENUMVAL_VALUE)], local, [target], [mov(2)])


def test_enumerator_flavors_and_missing_enumerators() -> None:
    local = btf(Enum("mode___v2", 4, [EnumValue("MODE_FAST___v2", 3), EnumValue("MODE_GONE", 4)]))
    target = btf(Enum("mode", 4, [EnumValue("MODE_SLOW", 0), EnumValue("MODE_FAST", 7)]))
    assert one(CoreRelo(0, 1, "0", K.ENUMVAL_VALUE), local, [target], [mov(3)])[:2] == (7, False)
    assert one(CoreRelo(0, 1, "0", K.ENUMVAL_EXISTS), local, [target], [mov(1)])[:2] == (1, False)
    assert one(CoreRelo(0, 1, "1", K.ENUMVAL_EXISTS), local, [target], [mov(1)])[:2] == (0, False)
    value, poison, out = one(CoreRelo(0, 1, "1", K.ENUMVAL_VALUE), local, [target], ld64(4))
    assert poison
    assert [(i.opcode, i.imm) for i in out] == [(0x85, POISON_IMM)] * 2  # both LD_IMM64 slots poisoned


# ---- types ------------------------------------------------------------------------


def test_type_exists_size_and_ids() -> None:
    local = btf(INT, Struct("s", 8, [Member("a", 1, 0)]), Typedef("handler_t", 4), Ptr(5), FuncProto(1, [Param("x", 1)]))
    target = btf(
        U64,
        INT,
        Struct("s", 16, [Member("b", 1, 0)]),
        Typedef("handler_t", 5),
        Ptr(6),
        FuncProto(2, [Param("x", 2), Param("y", 2)]),  # one more parameter: not compatible
    )
    assert one(CoreRelo(0, 2, "0", K.TYPE_EXISTS), local, [target], [mov(1)])[:2] == (1, False)
    assert one(CoreRelo(0, 2, "0", K.TYPE_SIZE), local, [target], [mov(8)])[:2] == (16, False)
    assert one(CoreRelo(0, 2, "0", K.TYPE_ID_TARGET), local, [target], ld64(2))[:2] == (3, False)
    assert one(CoreRelo(0, 2, "0", K.TYPE_ID_TARGET), local, [target], ld64(12345))[:2] == (3, False)  # never validated
    assert one(CoreRelo(0, 2, "0", K.TYPE_ID_LOCAL), local, [target], ld64(2))[:2] == (2, False)
    assert one(CoreRelo(0, 3, "0", K.TYPE_EXISTS), local, [target], [mov(1)])[:2] == (0, False)
    assert one(CoreRelo(0, 3, "0", K.TYPE_SIZE), local, [target], [mov(8)])[:2] == (0, False)
    # a TYPE_ID_TARGET with two compatible candidates of different ids is ambiguous (as in libbpf)
    two = btf(INT, Struct("s", 4, []), Struct("s___2", 4, []))
    with pytest.raises(RelocationError):
        relocate([CoreRelo(0, 2, "0", K.TYPE_ID_TARGET)], local, [two], ld64(2))
    assert relocate([CoreRelo(0, 2, "0", K.TYPE_SIZE)], local, [two], [mov(8)])[0].target_value == 4


def test_type_matches() -> None:
    local = btf(
        INT,  # 1
        Struct("s", 8, [Member("a", 1, 0), Member("p", 3, 32)]),  # 2
        Ptr(4),  # 3
        Struct("inner", 4, [Member("x", 1, 0)]),  # 4
        Enum("e", 4, [EnumValue("X", 1)]),  # 5
        Array(1, 1, 4),  # 6
        Typedef("arr_t", 6),  # 7
        Float("double", 8),  # 8
        Struct("f", 8, [Member("d", 8, 0)]),  # 9
    )

    def matches(local_id: int, *target_types: BtfType) -> int:
        value, poison, _ = one(CoreRelo(0, local_id, "0", K.TYPE_MATCHES), local, [btf(*target_types)], [mov(1)])
        assert not poison
        return value

    # members matched by name in any order; extra target members are fine; behind a pointer only names/kinds count
    assert matches(2, INT, Fwd("inner"), Ptr(2), Struct("s", 24, [Member("z", 1, 0), Member("p", 3, 64), Member("a", 1, 128)])) == 1
    assert matches(2, INT, Ptr(3), Struct("s", 8, [Member("a", 1, 0), Member("p", 2, 32)])) == 0  # p is not a pointer
    assert matches(2, Int("int", 8, IntEncoding.SIGNED), Ptr(4), Struct("s", 8, [Member("a", 1, 0), Member("p", 2, 32)])) == 0
    assert matches(2, INT, Struct("s", 8, [Member("a", 1, 0)])) == 0  # p missing
    assert matches(2, INT, Ptr(1), Union_("s", 8, [Member("a", 1, 0), Member("p", 2, 0)])) == 0  # a union is not a struct
    assert matches(5, Enum("e", 4, [EnumValue("Y", 5), EnumValue("X", 9)])) == 1  # values may differ, names may not
    assert matches(5, Enum("e", 4, [EnumValue("Y", 1)])) == 0
    assert matches(5, Enum64("e", 8, [EnumValue("X", 1)])) == 0  # size differs
    assert matches(7, INT, Array(1, 1, 4), Typedef("arr_t", 2)) == 1
    assert matches(7, INT, Array(1, 1, 5), Typedef("arr_t", 2)) == 0  # element count matters
    assert matches(9, Float("double", 8), Struct("f", 8, [Member("d", 1, 0)])) == 0  # libbpf never matches floats
    # TYPE_EXISTS is the looser test: any struct of the name will do
    assert one(CoreRelo(0, 2, "0", K.TYPE_EXISTS), local, [btf(INT, Struct("s", 8, [Member("a", 1, 0)]))], [mov(1)])[0] == 1


# ---- fields -------------------------------------------------------------------------


def test_nested_anonymous_members_and_arrays() -> None:
    # local: struct s { int a; struct { union { int b; int c[2][3]; }; }; int flex[]; }
    local = btf(
        INT,  # 1
        Array(1, 1, 3),  # 2
        Array(2, 1, 2),  # 3: int[2][3]
        Union_("", 24, [Member("b", 1, 0), Member("c", 3, 0)]),  # 4
        Struct("", 24, [Member("", 4, 0)]),  # 5
        Array(1, 1, 0),  # 6
        Struct("s", 28, [Member("a", 1, 0), Member("", 5, 32), Member("flex", 6, 224)]),  # 7
    )
    # target: the anonymous wrapping differs, c is [4][3], flex moved
    target = btf(
        INT,
        Array(1, 1, 3),
        Array(2, 1, 4),  # 3: int[4][3]
        Struct("", 48, [Member("c", 3, 0)]),  # 4
        Array(1, 1, 0),  # 5
        Struct("s", 120, [Member("x", 1, 0), Member("a", 1, 32), Member("b", 1, 64), Member("", 4, 128), Member("flex", 5, 960)]),
    )
    r = relocate([CoreRelo(0, 7, "0:1:0:1:1:2", K.FIELD_BYTE_OFFSET)], local, [target], [mov(4 + 12 + 8)])[0]
    assert (r.target_value, r.poison, r.target_access) == (16 + 12 + 8, False, "0:3:0:1:2")
    f = relocate([CoreRelo(0, 7, "0:1:0:0", K.FIELD_BYTE_OFFSET)], local, [target], [mov(4)])[0]
    assert (f.target_value, f.target_access) == (8, "0:2")
    g = relocate([CoreRelo(0, 7, "0:2:5", K.FIELD_BYTE_OFFSET)], local, [target], [mov(28 + 20)])[0]
    assert g.target_value == 120 + 20  # flexible arrays take any index
    assert one(CoreRelo(0, 7, "1:0", K.FIELD_BYTE_OFFSET), local, [target], [mov(28)])[0] == 120 + 4  # s[1].a
    smaller = btf(INT, Array(1, 1, 3), Array(2, 1, 1), Struct("s", 16, [Member("a", 1, 0), Member("c", 3, 32)]))
    p = relocate([CoreRelo(0, 7, "0:1:0:1:1:2", K.FIELD_BYTE_OFFSET)], local, [smaller], [mov(24)])[0]
    assert p.poison  # c[1] is beyond the target's int[1][3]
    e = relocate([CoreRelo(0, 7, "0:1:0:1:1:2", K.FIELD_EXISTS)], local, [smaller], [mov(1)])[0]
    assert (e.target_value, e.poison) == (0, False)


def test_field_kinds_and_compat() -> None:
    local = btf(
        INT,  # 1
        UINT,  # 2
        Ptr(1),  # 3
        Enum("e", 4, [EnumValue("A", 0)]),  # 4
        Const(2),  # 5
        Struct("s", 24, [Member("i", 1, 0), Member("u", 5, 32), Member("p", 3, 64), Member("e", 4, 128), Member("arr", 7, 160)]),  # 6
        Array(2, 2, 1),  # 7
    )
    target = btf(
        Int("long", 8, IntEncoding.SIGNED),  # 1
        Int("unsigned short", 2),  # 2
        Ptr(1),  # 3
        Enum("e", 4, [EnumValue("A", -1)], signed=True),  # 4
        Volatile(2),  # 5
        Struct("s", 40, [Member("u", 5, 0), Member("i", 1, 64), Member("p", 3, 128), Member("e", 4, 192), Member("arr", 7, 224)]),  # 6
        Array(2, 2, 3),  # 7
    )

    def fx(access: str, kind: CoreReloKind, insn: Insn) -> tuple[int, bool, Insn]:
        v, poison, out = one(CoreRelo(0, 6, access, kind), local, [target], [insn])
        return v, poison, out[0]

    assert fx("0:0", K.FIELD_SIGNED, mov(1))[:2] == (1, False)
    assert fx("0:1", K.FIELD_SIGNED, mov(0))[:2] == (0, False)
    assert fx("0:3", K.FIELD_SIGNED, mov(0))[:2] == (1, False)  # the target enum is signed
    assert fx("0:0", K.FIELD_BYTE_SIZE, mov(4))[:2] == (8, False)
    assert fx("0:1", K.FIELD_RSHIFT_U64, mov(32))[:2] == (48, False)
    assert fx("0:1", K.FIELD_LSHIFT_U64, mov(32))[:2] == (48, False)
    assert fx("0:4:0", K.FIELD_BYTE_SIZE, mov(4))[:2] == (2, False)
    v, poison, out = fx("0:1", K.FIELD_BYTE_OFFSET, ldx(4))
    assert (v, poison, out.opcode, out.off) == (0, False, 0x69, 0)  # unsigned 4 -> 2 bytes: LDX W becomes LDX H
    v, poison, out = fx("0:0", K.FIELD_BYTE_OFFSET, ldx(0))
    assert poison and out.imm == POISON_IMM  # signed int grew: no safe load
    v, poison, out = fx("0:0", K.FIELD_BYTE_OFFSET, mov(0))
    assert (v, poison) == (8, False)  # ... but an offset in an ALU op is fine
    v, poison, out = fx("0:2", K.FIELD_BYTE_OFFSET, ldx(8, 0x18))
    assert (v, poison, out.opcode, out.off) == (16, False, 0x79, 16)
    with pytest.raises(ObjectFormatError):  # FIELD_SIGNED of an array element makes no sense
        relocate([CoreRelo(0, 6, "0:4:0", K.FIELD_SIGNED)], local, [target], [mov(0)])
    # incompatible member kinds: a field named i that is a struct, a pointer to int that became an int
    other = btf(INT, Struct("x", 4, []), Struct("s", 16, [Member("i", 2, 0), Member("p", 1, 64)]))
    assert relocate([CoreRelo(0, 6, "0:0", K.FIELD_EXISTS)], local, [other], [mov(1)])[0].target_value == 0
    assert relocate([CoreRelo(0, 6, "0:2", K.FIELD_EXISTS)], local, [other], [mov(1)])[0].target_value == 0


def test_bitfields() -> None:
    local = btf(UINT, U64, Struct("s", 8, [Member("f", 1, 3, 5), Member("w", 2, 0, 0)], kind_flag=True))
    # target: f moves to bit 30 of a 4-byte unit and straddles into the next one -> an 8-byte load
    target = btf(UINT, U64, Struct("s", 16, [Member("f", 1, 30, 5), Member("w", 2, 60, 10)], kind_flag=True))
    vals = [one(CoreRelo(0, 3, "0:0", k), local, [target], [mov(0)])[0] for k in (K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE)]
    assert vals == [0, 8]
    assert one(CoreRelo(0, 3, "0:0", K.FIELD_LSHIFT_U64), local, [target], [mov(0)])[0] == 64 - 35
    assert one(CoreRelo(0, 3, "0:0", K.FIELD_RSHIFT_U64), local, [target], [mov(59)])[0] == 59
    # a bitfield at bits 60..69 cannot be read with one 64-bit load
    with pytest.raises(RelocationError):
        relocate([CoreRelo(0, 3, "0:1", K.FIELD_BYTE_OFFSET)], local, [target], [mov(0)])
    # big-endian objects shift from the other end
    be = Btf(byteorder="big")
    for t in (UINT, U64, Struct("s", 8, [Member("f", 1, 3, 5)], kind_flag=True)):
        be.add(t)
    assert relocate([CoreRelo(0, 3, "0:0", K.FIELD_LSHIFT_U64)], be, [target], [mov(0)])[0].target_value == (8 - 8) * 8 + 30


# ---- instruction forms ------------------------------------------------------------


def test_instruction_forms_are_checked() -> None:
    local = btf(INT, Struct("s", 8, [Member("a", 1, 0), Member("b", 1, 32)]))
    target = btf(INT, Struct("s", 8, [Member("b", 1, 0), Member("a", 1, 32)]))
    r = CoreRelo(0, 2, "0:1", K.FIELD_BYTE_OFFSET)

    def bad(insns: list[Insn]) -> None:
        with pytest.raises(ObjectFormatError):
            relocate([r], local, [target], insns)

    bad([ldx(0)])  # holds 0, local value is 4
    bad([mov(8)])
    bad([Insn(0x0F, 1, 2, 0, 4)])  # ALU64 ADD X: no immediate to patch
    bad([Insn(0x05, 0, 0, 4, 4)])  # a jump
    bad(ld64(4)[:1])  # LD_IMM64 without its second slot
    bad([ld64(4)[0], Insn(0x07, 0, 0, 0, 0)])
    bad([Insn(0x18, 1, 1, 0, 4), Insn(0)])  # a pseudo (map) LD_IMM64
    bad([Insn(0x18, 1, 0, 0, 4), Insn(0, 0, 0, 1, 0)])  # a second slot with an offset
    assert one(r, local, [target], [ldx(4)])[:2] == (0, False)
    assert one(r, local, [target], [Insn(0x63, 1, 2, 4, 0)])[2][0].off == 0  # STX
    assert one(r, local, [target], [Insn(0x62, 1, 0, 4, 7)])[2][0].off == 0  # ST
    assert one(r, local, [target], [Insn(0x04, 1, 0, 0, 4)])[2][0].imm == 0  # ALU32
    assert one(r, local, [target], ld64(4))[2][0].imm == 0
    far = btf(INT, Struct("s", 40000, [Member("a", 1, 0), Member("b", 1, 8 * 39000)]))
    with pytest.raises(RelocationError):  # 39000 does not fit a 16-bit offset
        relocate([r], local, [far], [ldx(4)])
    assert one(r, local, [far], [add(4)])[0] == 39000
    # a load whose width is not the local field's cannot have its size adjusted
    shrink = btf(Int("unsigned short", 2), Struct("s", 8, [Member("a", 1, 0), Member("b", 1, 32)]))
    ulocal = btf(UINT, Struct("s", 8, [Member("a", 1, 0), Member("b", 1, 32)]))
    with pytest.raises(ObjectFormatError):
        relocate([r], ulocal, [shrink], [Insn(0x69, 1, 2, 4, 0)])
    assert one(r, ulocal, [shrink], [ldx(4)])[2][0].opcode == 0x69


def test_registers_under_either_spelling() -> None:
    @dataclass
    class Short:
        opcode: int
        dst: int
        src: int
        off: int
        imm: int

    local = btf(Enum("e", 4, [EnumValue("A", 1)]))
    insns = [Short(0x18, 3, 0, 0, 1), Short(0, 0, 0, 0, 0)]
    (f,) = relocate([CoreRelo(0, 1, "0", K.ENUMVAL_VALUE)], local, [btf(INT)], insns)
    assert f.poison
    apply([f], insns)
    assert [(i.opcode, i.dst, i.src, i.imm) for i in insns] == [(0x85, 0, 0, POISON_IMM)] * 2
    insns = [Short(0x18, 3, 1, 0, 1), Short(0, 0, 0, 0, 0)]
    with pytest.raises(ObjectFormatError):
        relocate([CoreRelo(0, 1, "0", K.ENUMVAL_VALUE)], local, [local], insns)


# ---- candidates across targets --------------------------------------------------


def test_module_btf_candidates() -> None:
    local = btf(INT, Struct("mod_thing", 8, [Member("x", 1, 32)]), Struct("shared", 4, [Member("y", 1, 0)]))
    vm = btf(INT, Struct("shared", 8, [Member("y", 1, 32)]))
    mod_types: list[BtfType] = [Struct("mod_thing", 16, [Member("x", 1, 64)]), Struct("shared", 16, [Member("y", 1, 96)])]
    lazy_vm = lazy(vm)
    pairs = [(vm, btf(*mod_types, base=vm)), (lazy_vm, lazy(btf(*mod_types, base=lazy_vm), base=lazy_vm))]
    for v, m in pairs:
        f = relocate([CoreRelo(0, 2, "0:0", K.FIELD_BYTE_OFFSET)], local, [v, m], [mov(4)])[0]
        assert (f.target_value, f.target_btf, f.target_type_id) == (8, 1, v.count)  # the module's own type
        # vmlinux has 'shared', so module BTFs are not searched (libbpf's rule)
        g = relocate([CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET)], local, [v, m], [mov(0)])[0]
        assert (g.target_value, g.target_btf, g.target_type_id) == (4, 0, 2)
        # a split BTF given alone also searches its base: its own 'shared' and the base's disagree
        h = relocate([CoreRelo(0, 2, "0:0", K.FIELD_BYTE_OFFSET)], local, [m], [mov(4)])[0]
        assert (h.target_value, h.target_btf) == (8, 0)
        with pytest.raises(RelocationError):
            relocate([CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET)], local, [m], [mov(0)])
    assert relocate([CoreRelo(0, 2, "0:0", K.FIELD_BYTE_OFFSET)], local, [vm], [mov(4)])[0].poison


def test_candidates_matched_earlier_are_preferred() -> None:
    """Like libbpf, a local type's candidate list shrinks to those that matched its earlier relocations."""
    local = btf(INT, Struct("s", 8, [Member("only_here", 1, 0), Member("common", 1, 32)]))
    target = btf(
        INT,
        Struct("s", 8, [Member("only_here", 1, 0), Member("common", 1, 32)]),
        Struct("s___other", 16, [Member("common", 1, 96)]),
    )
    first = CoreRelo(0, 2, "0:0", K.FIELD_BYTE_OFFSET)
    second = CoreRelo(1, 2, "0:1", K.FIELD_BYTE_OFFSET)
    fixups = relocate([first, second], local, [target], [mov(0), mov(4)])
    assert [f.target_value for f in fixups] == [0, 4]
    with pytest.raises(RelocationError):
        relocate([second], local, [target], [mov(0), mov(4)])


def test_anonymous_and_unnamed_targets() -> None:
    local = btf(INT, Struct("", 4, [Member("a", 1, 0)]), Typedef("anon_t", 2))
    with pytest.raises(RelocationError):
        relocate([CoreRelo(0, 2, "0:0", K.FIELD_BYTE_OFFSET)], local, [local], [mov(0)])
    # through a named typedef it works: candidates are typedefs named anon_t
    target = btf(INT, Struct("", 8, [Member("b", 1, 0), Member("a", 1, 32)]), Typedef("anon_t", 2))
    assert one(CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET), local, [target], [mov(0)])[0] == 4
    # TYPE_ID_LOCAL needs no candidates at all
    assert one(CoreRelo(0, 2, "0", K.TYPE_ID_LOCAL), local, [btf(INT)], ld64(2))[0] == 2


def test_describe_names_the_access() -> None:
    local = btf(INT, Array(1, 1, 4), Struct("s", 20, [Member("a", 1, 0), Member("arr", 2, 32)]), Enum("e", 4, [EnumValue("V", 3)]))
    (f,) = relocate(
        [CoreRelo(0, 3, "0:1:2", K.FIELD_BYTE_OFFSET)], local, [btf(INT)], [mov(12)], program="prog", line_of=lambda i: " x = s->arr[2];"
    )
    text = describe(f, local)
    for part in ("struct s.arr[2]", "0:1:2", "field_byte_offset", "prog", "x = s->arr[2];", "insn #0"):
        assert part in text
    assert "enum e::V" in describe(CoreRelo(0, 4, "0", K.ENUMVAL_VALUE), local)
    assert "struct s[1].a" in describe(CoreRelo(0, 3, "1:0", K.FIELD_BYTE_OFFSET), local)
    assert "9999" in describe(CoreRelo(0, 9999, "0:7", K.FIELD_BYTE_OFFSET), local)  # never raises


# ---- fuzzing --------------------------------------------------------------------------

FUZZ_LOCAL = btf(
    INT,  # 1
    Array(1, 1, 3),  # 2
    Struct(
        "s", 24, [Member("a", 1, 0), Member("", 4, 32), Member("arr", 2, 64), Member("bf", 1, 160, 3), Member("fx", 6, 192)], kind_flag=True
    ),
    Union_("", 4, [Member("u", 1, 0), Member("v", 8, 0)]),  # 4
    Enum64("e", 8, [EnumValue("A", 1), EnumValue("B", 1 << 40)]),  # 5
    Array(1, 1, 0),  # 6
    Ptr(3),  # 7
    Typedef("t", 7),  # 8
)
FUZZ_TARGET_TYPES: list[BtfType] = [
    INT,
    Array(1, 1, 2),
    Struct(
        "s", 32, [Member("", 4, 0), Member("arr", 2, 32), Member("a", 1, 96), Member("bf", 1, 130, 7), Member("fx", 6, 256)], kind_flag=True
    ),
    Union_("", 8, [Member("v", 7, 0), Member("u", 1, 0)]),
    Enum("e", 4, [EnumValue("B", 5)]),
    Array(1, 1, 0),
    Ptr(3),
    Struct("s___2", 4, [Member("a", 1, 0)]),
    Typedef("t", 7),
]
FUZZ_TARGET = btf(*FUZZ_TARGET_TYPES)
SLOTS = st.builds(
    Insn,
    st.sampled_from([0x07, 0x0F, 0xB7, 0x04, 0x61, 0x69, 0x79, 0x62, 0x63, 0x18, 0x00, 0x05, 0x85, 0x95]),
    st.integers(0, 15),
    st.integers(0, 15),
    st.integers(-(1 << 15), (1 << 15) - 1),
    st.integers(-(1 << 31), (1 << 31) - 1),
)


@settings(max_examples=500, deadline=None)
@given(
    relos=st.lists(
        st.builds(
            CoreRelo,
            st.integers(-1, 5),
            st.integers(0, 10),
            st.one_of(
                st.lists(st.integers(0, 6), min_size=1, max_size=6).map(lambda xs: ":".join(map(str, xs))),
                st.text(alphabet="0123456789:-+ x", max_size=10),
            ),
            st.sampled_from(list(K)),
        ),
        max_size=4,
    ),
    insns=st.lists(SLOTS, min_size=1, max_size=5),
    lazy_target=st.booleans(),
)
def test_random_records_give_fixups_or_clean_errors(relos: list[CoreRelo], insns: list[Insn], lazy_target: bool) -> None:
    target = lazy(FUZZ_TARGET) if lazy_target else FUZZ_TARGET
    try:
        fixups = relocate(relos, FUZZ_LOCAL, [target, FUZZ_LOCAL], insns, program="fuzz")
    except (ObjectFormatError, RelocationError):
        return
    assert len(fixups) == len(relos)
    for f in fixups:
        assert isinstance(describe(f, FUZZ_LOCAL), str)
    apply(fixups, insns)


# ---- more cases of compatibility and malformed BTF ------------------------------------


def test_function_prototypes_and_forward_declarations() -> None:
    cint = Const(1)
    local = btf(INT, cint, FuncProto(1, [Param("a", 2), Param("b", 5)]), Ptr(3), Ptr(6), Struct("fwd_me", 0, []), Typedef("cb_t", 4))
    #           1    2     3                                              4        5       6                        7

    def exists(*target_types: BtfType) -> int:
        return one(CoreRelo(0, 7, "0", K.TYPE_EXISTS), local, [btf(*target_types)], [mov(1)])[0]

    def matches(*target_types: BtfType) -> int:
        return one(CoreRelo(0, 7, "0", K.TYPE_MATCHES), local, [btf(*target_types)], [mov(1)])[0]

    same: list[BtfType] = [INT, FuncProto(1, [Param("x", 1), Param("y", 4)]), Ptr(2), Ptr(5), Struct("other", 4, []), Typedef("cb_t", 3)]
    assert exists(*same) == 1  # qualifiers and parameter names do not matter
    assert matches(*same) == 0  # ... but TYPE_MATCHES compares names of what the pointers point to
    same_names: list[BtfType] = [INT, FuncProto(1, [Param("x", 1), Param("y", 4)]), Ptr(2), Ptr(5), Fwd("fwd_me"), Typedef("cb_t", 3)]
    assert matches(*same_names) == 1  # a struct behind a pointer matches a forward declaration of it
    union_fwd: list[BtfType] = [
        INT,
        FuncProto(1, [Param("x", 1), Param("y", 4)]),
        Ptr(2),
        Ptr(5),
        Fwd("fwd_me", is_union=True),
        Typedef("cb_t", 3),
    ]
    assert matches(*union_fwd) == 0
    swapped: list[BtfType] = [INT, FuncProto(1, [Param("x", 4), Param("y", 1)]), Ptr(2), Ptr(5), Struct("other", 4, []), Typedef("cb_t", 3)]
    assert exists(*swapped) == 0  # int vs pointer parameter
    # deprecated INT bitfields (bit offset inside the int) are never compatible
    assert (
        one(
            CoreRelo(0, 1, "0", K.TYPE_EXISTS),
            btf(Typedef("i_t", 2), INT),
            [btf(Typedef("i_t", 2), Int("int", 4, IntEncoding.SIGNED, 3, 5))],
            [mov(1)],
        )[0]
        == 0
    )


def test_malformed_btf_is_an_error_not_a_crash() -> None:
    loop: list[BtfType] = [Typedef("a", 2), Typedef("b", 1), Struct("s", 4, [Member("x", 1, 0)])]
    good = btf(INT, Struct("s", 4, [Member("x", 1, 0)]))
    # the local type's member loops through typedefs: the object is broken
    with pytest.raises(ObjectFormatError):
        relocate([CoreRelo(0, 3, "0:0", K.FIELD_BYTE_OFFSET)], btf(*loop), [good], [mov(0)])
    # the target's does: that target is unusable for this relocation
    with pytest.raises(RelocationError):
        relocate([CoreRelo(0, 2, "0:0", K.FIELD_BYTE_SIZE)], good, [btf(*loop)], [mov(4)])
    # an anonymous member of its own type, pointer loops, a struct that contains itself
    weird = btf(
        INT,  # 1
        Struct("s", 8, [Member("", 2, 0), Member("", 2, 0), Member("y", 1, 32)]),  # 2
        Ptr(4),  # 3
        Ptr(3),  # 4
        Typedef("p_t", 3),  # 5
    )
    assert relocate([CoreRelo(0, 2, "0:0", K.FIELD_EXISTS)], good, [weird], [mov(1)])[0].target_value == 0
    plocal = btf(INT, Ptr(3), Ptr(2), Typedef("p_t", 2))
    with pytest.raises(RelocationError):
        relocate([CoreRelo(0, 4, "0", K.TYPE_EXISTS)], plocal, [weird], [mov(1)])
    selfish = btf(INT, Struct("s", 8, [Member("x", 1, 0), Member("me", 2, 32)]))
    with pytest.raises(RelocationError):
        relocate([CoreRelo(0, 2, "0", K.TYPE_MATCHES)], selfish, [selfish], [mov(1)])
    with pytest.raises(ObjectFormatError):  # a forward declaration has no size to index by
        relocate([CoreRelo(0, 1, "0", K.FIELD_BYTE_OFFSET)], btf(Fwd("f")), [btf(Fwd("f"))], [mov(0)])
    for access in ("0:0:0:0", "0:5", "1:0:3"):  # into an int, past the members, past the array
        with pytest.raises(ObjectFormatError):
            relocate(
                [CoreRelo(0, 3, access, K.FIELD_BYTE_OFFSET)],
                btf(INT, Array(1, 1, 2), Struct("s", 8, [Member("a", 2, 0)])),
                [good],
                [mov(0)],
            )
    for access, kind in (("0", K.ENUMVAL_VALUE), ("0:1", K.ENUMVAL_EXISTS)):
        with pytest.raises(ObjectFormatError):
            relocate([CoreRelo(0, 1, access, kind)], good, [good], [mov(0)])


NAMES = st.sampled_from(["", "s", "s___a", "t", "e", "int"])  # FUZZ_LOCAL's names, to make candidates


def random_type(n: int) -> st.SearchStrategy[BtfType]:
    """Any BTF type whose references stay within ids 0..n (loops and nonsense included)."""
    ref = st.integers(0, n)
    names = st.sampled_from(["", "a", "u", "v", "arr", "bf", "fx"])
    members = st.lists(st.builds(Member, names, ref, st.integers(0, 200), st.integers(0, 9)), max_size=4)
    values = st.lists(st.builds(EnumValue, st.sampled_from(["A", "B", "A___x"]), st.integers(-5, 5)), max_size=3)
    return st.one_of(
        st.builds(Int, NAMES, st.sampled_from([1, 2, 4, 8]), st.sampled_from([IntEncoding.NONE, IntEncoding.SIGNED]), st.integers(0, 2)),
        st.builds(Ptr, ref),
        st.builds(Array, ref, ref, st.integers(0, 3)),
        st.builds(Struct, NAMES, st.integers(0, 40), members, st.booleans()),
        st.builds(Union_, NAMES, st.integers(0, 40), members, st.booleans()),
        st.builds(Enum, NAMES, st.sampled_from([1, 4, 8]), values, st.booleans()),
        st.builds(Enum64, NAMES, st.sampled_from([4, 8]), values, st.booleans()),
        st.builds(Fwd, NAMES, st.booleans()),
        st.builds(Typedef, NAMES, ref),
        st.builds(Const, ref),
        st.builds(Volatile, ref),
        st.builds(FuncProto, ref, st.lists(st.builds(Param, st.just("p"), ref), max_size=2)),
        st.builds(Float, NAMES, st.sampled_from([4, 8])),
    )


RANDOM_BTF = st.integers(1, 7).flatmap(lambda n: st.lists(random_type(n), min_size=n, max_size=n)).map(lambda ts: btf(*ts))


@settings(max_examples=400, deadline=None)
@given(
    local=RANDOM_BTF,
    target=RANDOM_BTF,
    relos=st.lists(
        st.builds(
            CoreRelo,
            st.just(0),
            st.integers(0, 8),
            st.lists(st.integers(0, 3), min_size=1, max_size=5).map(lambda xs: ":".join(map(str, xs))),
            st.sampled_from(list(K)),
        ),
        min_size=1,
        max_size=3,
    ),
    insn=SLOTS,
)
def test_random_btf_gives_fixups_or_clean_errors(local: Btf, target: Btf, relos: list[CoreRelo], insn: Insn) -> None:
    insns = [insn, Insn(0)]
    try:
        fixups = relocate(relos, local, [target], insns)
    except (ObjectFormatError, RelocationError):
        return
    for f in fixups:
        assert isinstance(describe(f, local), str)
    apply(fixups, insns)


FUZZ_LOCAL_RELOS = [
    *((3, a, k) for a in ("0:0", "0:1:0", "0:1:1", "0:2:1", "0:3", "0:4:7", "1:0") for k in K if k in FIELD_KINDS),
    *((t, "0", k) for t in (3, 5, 8) for k in K if k in TYPE_KINDS),
    *((5, a, k) for a in ("0", "1") for k in (K.ENUMVAL_EXISTS, K.ENUMVAL_VALUE)),
]


@settings(max_examples=400, deadline=None)
@given(
    target=st.one_of(
        RANDOM_BTF,
        # FUZZ_TARGET with about one type in four replaced by anything
        st.tuples(*(st.one_of(st.just(t), st.just(t), st.just(t), random_type(len(FUZZ_TARGET_TYPES))) for t in FUZZ_TARGET_TYPES)).map(
            lambda ts: btf(*ts)
        ),
    ),
    relos=st.lists(st.sampled_from(FUZZ_LOCAL_RELOS).map(lambda r: CoreRelo(0, *r)), min_size=1, max_size=3),
    insn=SLOTS,
)
def test_valid_records_against_random_targets(target: Btf, relos: list[CoreRelo], insn: Insn) -> None:
    insns = [insn, Insn(0)]
    try:
        fixups = relocate(relos, FUZZ_LOCAL, [target], insns)
    except (ObjectFormatError, RelocationError):
        return
    apply(fixups, insns)


def test_core_is_pure() -> None:
    """Importing and running CO-RE loads neither the syscall layer nor anything that opens files."""
    code = (
        "import sys, builtins, io, os\n"
        "def no(*a, **k): raise AssertionError(f'file access {a!r}')\n"
        "from bpfkit.btf import Btf, Int, Struct, Member\n"
        "from bpfkit.btf.core import relocate, apply\n"
        "from bpfkit.btf._ext import CoreRelo\n"
        "from bpfkit._uapi import CoreReloKind\n"
        "builtins.open = io.open = os.open = no\n"
        "class I:\n"
        "    def __init__(s): s.opcode, s.dst_reg, s.src_reg, s.off, s.imm = 0xB7, 1, 0, 0, 4\n"
        "b = Btf.from_types([Int('int', 4), Struct('s', 8, [Member('a', 1, 0), Member('b', 1, 32)])])\n"
        "t = Btf.from_types([Int('int', 4), Struct('s', 8, [Member('b', 1, 0), Member('a', 1, 32)])])\n"
        "insns = [I()]\n"
        "apply(relocate([CoreRelo(0, 2, '0:1', CoreReloKind.FIELD_BYTE_OFFSET)], b, [t], insns), insns)\n"
        "assert insns[0].imm == 0\n"
        "assert not [m for m in sys.modules if m.startswith('bpfkit._sys')], sorted(sys.modules)\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
