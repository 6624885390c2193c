"""CO-RE on clang-built objects: own-BTF identity, hand-built targets, vmlinux, libbpf.

The C programs live in core_progs/; each test compiles them with clang into a
temporary directory and reads .BTF/.BTF.ext itself (pyelftools + bpfkit.btf).
"""

from __future__ import annotations

import bisect
import copy
import difflib
import io
import json
import re
import shutil
import struct
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfkit._uapi import CoreReloKind
from bpfkit.btf import (
    Array,
    Btf,
    BtfType,
    Enum,
    EnumValue,
    Int,
    IntEncoding,
    Member,
    Ptr,
    Struct,
    Typedef,
    Union_,
)
from bpfkit.btf._ext import CoreRelo, parse_ext
from bpfkit.btf.core import POISON_IMM, CoreFixup, access_path, apply, describe, relocate, relocation_error
from bpfkit.errors import ObjectFormatError, RelocationError
from bpfkit.testing import require, require_libbpf

PROGS = Path(__file__).parent / "core_progs"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
K = CoreReloKind


@dataclass
class Insn:
    """A mutable instruction slot with the fields bpfkit.btf.core patches."""

    opcode: int
    dst_reg: int
    src_reg: int
    off: int
    imm: int


def decode(data: bytes) -> list[Insn]:
    return [Insn(op, regs & 0xF, regs >> 4, off, imm) for op, regs, off, imm in struct.iter_unpack("<BBhi", data)]


def encode(insns: list[Insn]) -> bytes:
    return b"".join(struct.pack("<BBhi", i.opcode, i.dst_reg | (i.src_reg << 4), i.off, i.imm) for i in insns)


@dataclass
class Prog:
    section: str
    insns: list[Insn]
    relos: list[CoreRelo]
    lines: list[tuple[int, str]]

    def line_of(self, idx: int) -> str | None:
        pos = bisect.bisect_right([i for i, _ in self.lines], idx) - 1
        return self.lines[pos][1] if pos >= 0 else None


@dataclass
class Obj:
    path: Path
    btf: Btf
    progs: dict[str, Prog]


def compile_obj(name: str, outdir: Path) -> Obj:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed")
    out = outdir / (name + ".o")
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-c", str(PROGS / (name + ".bpf.c")), "-o", str(out)], check=True)
    elf = ELFFile(io.BytesIO(out.read_bytes()))

    def section(name: str) -> bytes:
        sec = elf.get_section_by_name(name)
        assert sec is not None, name
        return bytes(sec.data())

    btf = Btf.from_bytes(section(".BTF"))
    ext = parse_ext(section(".BTF.ext"), btf)
    progs = {}
    for sec, relos in ext.core_relos.items():
        for r in relos:
            assert r.insn_off % 8 == 0
            r.insn_off //= 8  # relocate() takes instruction indexes
        lines = sorted((li.insn_off // 8, li.line) for li in ext.line_info.get(sec, []))
        progs[sec] = Prog(sec, decode(section(sec)), relos, lines)
    return Obj(out, btf, progs)


@pytest.fixture(scope="module")
def objs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Obj]:
    d = tmp_path_factory.mktemp("core")
    return {name: compile_obj(name, d) for name in ("fields", "task", "flavors")}


def run(obj: Obj, section: str, targets: list[Btf]) -> list[CoreFixup]:
    p = obj.progs[section]
    return relocate(p.relos, obj.btf, targets, p.insns, program=section, line_of=p.line_of)


def by_index(fixups: list[CoreFixup]) -> dict[int, CoreFixup]:
    return {f.relo_index: f for f in fixups}


# ---- the identity oracle ------------------------------------------------------


@pytest.mark.parametrize("name", ["fields", "task", "flavors"])
def test_own_btf_is_identity(objs: dict[str, Obj], name: str) -> None:
    obj = objs[name]
    assert obj.progs
    for sec, p in obj.progs.items():
        fixups = run(obj, sec, [obj.btf])
        assert len(fixups) == len(p.relos) > 0
        for f in fixups:
            assert not f.poison, describe(f, obj.btf)
            assert f.target_value == f.local_value, describe(f, obj.btf)
            assert f.target_btf == (None if f.kind == K.TYPE_ID_LOCAL else 0)
        patched = copy.deepcopy(p.insns)
        apply(fixups, patched)
        changed = {i for i in range(len(p.insns)) if encode([patched[i]]) != encode([p.insns[i]])}
        # clang and libbpf may pick different (equivalent) loads for a bitfield; libbpf
        # does not validate those values and neither do we: see test_bitfield_loads_are_equivalent
        assert changed == {
            f.insn_index for f in fixups if f.relo is not None and is_bitfield(obj.btf, f.relo) and insn_value(p.insns, f) != f.local_value
        }


def insn_value(insns: list[Insn], f: CoreFixup) -> int:
    i = insns[f.insn_index]
    if i.opcode == 0x18:
        return (i.imm & 0xFFFFFFFF) | (insns[f.insn_index + 1].imm & 0xFFFFFFFF) << 32
    return i.off if i.opcode & 7 in (1, 2, 3) else i.imm


def is_bitfield(btf: Btf, relo: CoreRelo) -> bool:
    if relo.kind not in (K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_LSHIFT_U64):
        return False
    *path, last = (int(x) for x in relo.access.split(":"))
    t = btf[btf.skip_modifiers(relo.type_id)]
    for idx in path[1:]:
        nxt = t.members[idx].type if isinstance(t, (Struct, Union_)) else t.type  # type: ignore[union-attr]
        t = btf[btf.skip_modifiers(nxt)]
    return isinstance(t, Struct) and t.members[last].bitfield_size > 0


def test_bitfield_loads_are_equivalent(objs: dict[str, Obj]) -> None:
    """Where clang's bitfield load differs from libbpf's rule, both extract the same bits."""
    obj = objs["fields"]
    p = obj.progs["raw_tp/sys_exit"]
    f = by_index(run(obj, "raw_tp/sys_exit", [obj.btf]))
    clang = [insn_value(p.insns, f[i]) for i in range(4)]  # bf2: offset, size, lshift, rshift
    ours = [f[i].target_value for i in range(4)]
    assert clang != ours  # clang 14 loads 8 bytes at 104, libbpf's rule 4 bytes at 108
    (sid,) = obj.btf.find("sample")
    bf2 = next(m for m in obj.btf[sid].members if m.name == "bf2")  # type: ignore[union-attr]
    bit, nbits = bf2.offset, bf2.bitfield_size
    for off, size, lshift, rshift in (clang, ours):
        assert off * 8 <= bit and bit + nbits <= (off + size) * 8  # the load covers the field
        assert off * 8 + 64 - lshift == bit + nbits  # and the left shift drops the bits above it
        assert rshift == 64 - nbits


def test_identity_covers_every_kind_clang_emits(objs: dict[str, Obj]) -> None:
    kinds = {r.kind for o in objs.values() for p in o.progs.values() for r in p.relos}
    # clang 14 emits every kind but TYPE_MATCHES (clang 15); test_core_synthetic covers that one
    assert kinds >= set(K) - {K.TYPE_MATCHES}


# ---- a hand-built target with a different layout --------------------------------


def sample_target(*, drop_count: bool = False, drop_blue: bool = False, with_typedef: bool = True) -> Btf:
    """A 'kernel' whose struct sample is laid out differently from fields.bpf.c's."""
    colors = [EnumValue("RED", 1), EnumValue("GREEN", 16)] + ([] if drop_blue else [EnumValue("BLUE", 8)])
    types: list[BtfType] = [
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Int("unsigned short", 2),  # 2
        Int("long", 8, IntEncoding.SIGNED),  # 3
        Int("char", 1, IntEncoding.SIGNED),  # 4
        Int("unsigned long long", 8),  # 5: count grows from u32 to u64
        Struct("inner", 8, [Member("y", 2, 0), Member("x", 1, 32)]),  # 6: members swapped
        Ptr(6),  # 7
        Union_("", 8, [Member("u2", 1, 0), Member("u1", 3, 0)]),  # 8
        Struct("", 8, [Member("c2", 1, 0), Member("c1", 4, 32)]),  # 9
        Array(1, 1, 6),  # 10: int[6]
        Array(1, 1, 5),  # 11: int[5]
        Array(11, 1, 4),  # 12: int[4][5]
        Enum("color", 4, colors),  # 13
        Array(1, 1, 0),  # 14: flexible int[]
        Int("unsigned int", 4),  # 15
        Typedef("u32", 5),  # 16
    ]
    members = [
        Member("pad", 3, 0),
        Member("a", 1, 64),
        Member("in", 6, 128),
        *([] if drop_count else [Member("count", 16, 192)]),
        Member("", 9, 256),
        Member("", 8, 320),
        Member("arr", 10, 384),
        Member("grid", 12, 576),
        Member("bf1", 15, 1216, 3),
        Member("bf2", 15, 1221, 9),
        Member("sbf", 1, 1230, 5),
        Member("sx", 1, 1248),  # long long -> int: a signed size change
        Member("ptr", 7, 1280),
        Member("col", 13, 1344),
        Member("tail", 14, 1376),
    ]
    types.append(Struct("sample", 176, members, kind_flag=True))  # 17
    if with_typedef:
        types.append(Typedef("sample_t", 17))  # 18
    return Btf.from_types(types)


def test_fields_against_hand_built_target(objs: dict[str, Obj]) -> None:
    obj = objs["fields"]
    target = sample_target()
    f = by_index(run(obj, "raw_tp/sys_enter", [target]))
    # byte offsets in the target: a@8 in@16 count@24 anon-struct@32 anon-union@40 arr@48 grid@72 ptr@160 tail@172, size 176
    expect = {0: 8, 1: 16, 2: 40, 3: 32, 4: 48 + 2 * 4, 5: 72 + 1 * 20, 6: 24, 7: 160, 8: 172 + 1 * 4, 10: 176 + 8}
    assert {i: x.target_value for i, x in f.items() if not x.poison} == expect
    assert f[2].target_access == "0:5:0"  # u2: through the anonymous union, now member 5
    assert f[3].target_access == "0:4:0"
    assert (f[6].local_size, f[6].target_size) == (4, 8)  # u32 -> u64: the load widens
    assert f[9].poison and "8 bytes locally but 4" in f[9].reason  # long long -> int: signed, cannot adjust
    assert all(x.target_btf == 0 and x.target_type_id == 17 for x in f.values() if not x.poison)

    g = by_index(run(obj, "raw_tp/sys_exit", [target]))
    # bf2 at bit 1221, 9 bits, in a 4-byte word at byte 152: lshift 64-(1221+9-1216), rshift 64-9
    assert [g[i].target_value for i in range(4)] == [152, 4, 64 - 14, 55]
    assert [g[i].target_value for i in (4, 5, 6, 7)] == [1, 64 - (1235 - 1216), 59, 64 - 3]
    assert [g[i].target_value for i in (8, 9, 10, 11, 12, 13)] == [1, 8, 1, 16, 72 + 2 * 20 + 4 * 4, 4]
    assert [g[i].target_value for i in (14, 15, 16)] == [1, 176, 176]
    assert (g[17].target_value, g[17].local_value) == (6, 6)  # local type id never changes
    assert g[18].target_value == 6  # struct inner's id in the target
    assert [g[i].target_value for i in (19, 20, 21, 22)] == [1, 8, 0, 8]
    assert not any(x.poison for x in g.values())


def test_missing_field_enum_value_and_typedef(objs: dict[str, Obj]) -> None:
    obj = objs["fields"]
    target = sample_target(drop_count=True, drop_blue=True, with_typedef=False)
    f = by_index(run(obj, "raw_tp/sys_enter", [target]))
    assert f[6].poison and f[6].target_value == 0
    assert not f[0].poison and f[0].target_value == 8
    g = by_index(run(obj, "raw_tp/sys_exit", [target]))
    assert not g[8].poison and g[8].target_value == 0  # FIELD_EXISTS of count
    assert g[9].poison  # FIELD_BYTE_SIZE of count
    assert not g[16].poison and g[16].target_value == 0  # TYPE_SIZE of a missing typedef is 0, like libbpf
    assert not g[19].poison and g[19].target_value == 1  # GREEN still exists
    assert g[20].poison  # BLUE's value


def test_apply_patches_in_place(objs: dict[str, Obj]) -> None:
    obj = objs["fields"]
    p = obj.progs["raw_tp/sys_enter"]
    fixups = run(obj, "raw_tp/sys_enter", [sample_target(drop_count=True)])
    insns = copy.deepcopy(p.insns)
    apply(fixups, insns)
    f = by_index(fixups)
    a = insns[f[0].insn_index]
    assert (a.opcode, a.off) == (p.insns[f[0].insn_index].opcode, 8)
    mov = insns[f[1].insn_index]
    assert (mov.opcode, mov.imm) == (0xB7, 16)
    for i in (6, 9):  # count is gone, sx changed signed size: both poisoned
        bad = insns[f[i].insn_index]
        assert (bad.opcode, bad.dst_reg, bad.src_reg, bad.off, bad.imm) == (0x85, 0, 0, 0, POISON_IMM)
    untouched = set(range(len(insns))) - {x.insn_index for x in fixups}
    assert all(encode([insns[i]]) == encode([p.insns[i]]) for i in untouched)

    fixups = run(obj, "raw_tp/sys_enter", [sample_target()])
    insns = copy.deepcopy(p.insns)
    apply(fixups, insns)
    count = insns[by_index(fixups)[6].insn_index]
    assert (count.opcode, count.off) == (0x79, 24)  # LDX W became LDX DW

    g = run(obj, "raw_tp/sys_exit", [sample_target()])
    q = obj.progs["raw_tp/sys_exit"]
    insns = copy.deepcopy(q.insns)
    apply(g, insns)
    blue = by_index(g)[20].insn_index
    assert (insns[blue].opcode, insns[blue].imm, insns[blue + 1].imm) == (0x18, 8, 0)


def test_flavors(objs: dict[str, Obj]) -> None:
    obj = objs["flavors"]
    sec = "raw_tp/sys_enter"
    target = Btf.from_types([Int("int", 4, IntEncoding.SIGNED), Struct("thing", 8, [Member("added", 1, 0), Member("before", 1, 32)])])
    f = run(obj, sec, [target])
    assert [(x.kind, x.poison, x.target_value) for x in f] == [
        (K.FIELD_EXISTS, False, 1),  # thing___new.added exists
        (K.FIELD_BYTE_OFFSET, False, 0),  # ... at 0
        (K.FIELD_BYTE_OFFSET, True, 0),  # thing___old.gone does not: poisoned (dead code here)
        (K.FIELD_BYTE_OFFSET, False, 4),  # thing.before moved
    ]
    # a target flavor (bpftool names a second dedup'd copy thing___2) is a candidate too; same layout: fine
    dup: list[BtfType] = [
        Int("int", 4, IntEncoding.SIGNED),
        Struct("thing___2", 8, [Member("added", 1, 0), Member("before", 1, 32)]),
        Struct("thing", 8, [Member("added", 1, 0), Member("before", 1, 32)]),
    ]
    f2 = run(obj, sec, [Btf.from_types(dup)])
    assert [x.target_value for x in f2] == [x.target_value for x in f]
    lazy = Btf.from_bytes(Btf.from_types(dup).to_bytes())
    assert [x.target_value for x in run(obj, sec, [lazy])] == [x.target_value for x in f]
    # ... but candidates that disagree are an error, not a guess
    dup[1] = Struct("thing___2", 8, [Member("before", 1, 0), Member("added", 1, 32)])
    for t in (Btf.from_types(dup), Btf.from_bytes(Btf.from_types(dup).to_bytes())):
        with pytest.raises(RelocationError) as e:
            run(obj, sec, [t])
        assert e.value.program == sec
        assert "ambiguous" in str(e.value)


# ---- the running kernel's BTF ---------------------------------------------------


def bpftool_members(struct_name: str) -> dict[str, tuple[int, int]]:
    """Member -> (bit offset, bitfield size) of a vmlinux struct, as `bpftool btf dump` prints it."""
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool is not installed")
    text = subprocess.run([bpftool, "btf", "dump", "file", str(VMLINUX)], check=True, capture_output=True, text=True).stdout
    m = re.search(rf"^\[\d+\] STRUCT '{struct_name}' size=\d+ vlen=\d+\n((?:\t.*\n)*)", text, re.M)
    assert m is not None
    out = {}
    for line in m.group(1).splitlines():
        mm = re.match(r"\t'(\w+)' type_id=\d+ bits_offset=(\d+)(?: bitfield_size=(\d+))?", line)
        if mm:
            out[mm.group(1)] = (int(mm.group(2)), int(mm.group(3) or 0))
    return out


@pytest.fixture(scope="module")
def vmlinux() -> Btf:
    if not VMLINUX.exists():
        pytest.skip("no /sys/kernel/btf/vmlinux")
    return Btf.from_bytes(VMLINUX.read_bytes())


def by_path(obj: Obj, fixups: list[CoreFixup]) -> dict[tuple[CoreReloKind, str], CoreFixup]:
    """Fixups keyed by (kind, C path of the local access), e.g. (FIELD_BYTE_OFFSET, 'struct task_struct.pid')."""
    out = {}
    for f in fixups:
        assert f.relo is not None
        out[f.kind, access_path(f.relo, obj.btf)] = f
    return out


def test_task_real_parent_tgid_against_vmlinux(objs: dict[str, Obj], vmlinux: Btf) -> None:
    obj = objs["task"]
    members = bpftool_members("task_struct")
    f = by_path(obj, run(obj, "raw_tp/sys_enter", [vmlinux]))

    def off(path: str) -> int:
        return f[K.FIELD_BYTE_OFFSET, path].target_value

    assert off("struct task_struct.real_parent") == members["real_parent"][0] // 8
    assert off("struct task_struct.tgid") == members["tgid"][0] // 8
    assert off("struct task_struct.pid") == members["pid"][0] // 8
    assert off("struct task_struct.comm[3]") == members["comm"][0] // 8 + 3
    bit, size = members["frozen"]
    word = bit // 8 // 4 * 4  # the containing 4-byte load
    frozen = [
        f[k, "struct task_struct.frozen"].target_value
        for k in (K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64)
    ]
    assert frozen == [word, 4, 64 - (bit + size - word * 8), 64 - size]
    bit, size = members["in_execve"]
    assert f[K.FIELD_LSHIFT_U64, "struct task_struct.in_execve"].target_value == 64 - (bit + size - bit // 8 // 4 * 4 * 8)
    assert off("struct task_struct___new.__state") == members["__state"][0] // 8  # via a flavor
    (tid,) = vmlinux.find("task_struct")
    assert f[K.TYPE_SIZE, "struct task_struct"].target_value == vmlinux.size_of(tid)
    assert f[K.TYPE_ID_TARGET, "struct task_struct"].target_value == tid
    (eid,) = vmlinux.find("bpf_map_type")
    ringbuf = next(v.value for v in vmlinux[eid].values if v.name == "BPF_MAP_TYPE_RINGBUF")  # type: ignore[union-attr]
    assert f[K.ENUMVAL_VALUE, "enum bpf_map_type::BPF_MAP_TYPE_RINGBUF"].target_value == ringbuf
    skb = bpftool_members("sk_buff")
    assert off("struct sk_buff.cb[5]") == skb["cb"][0] // 8 + 5
    assert f[K.FIELD_BYTE_OFFSET, "struct sk_buff.dev"].target_access.count(":") == 4  # three anonymous levels down
    assert all(not x.poison for x in f.values())

    s = by_path(obj, run(obj, "tp_btf/sched_switch", [vmlinux]))
    flags = s[K.FIELD_BYTE_OFFSET, "struct task_struct.flags"]
    assert (flags.target_value, flags.local_size, flags.target_size) == (members["flags"][0] // 8, 8, 4)

    g = by_path(obj, run(obj, "raw_tp/sys_exit", [vmlinux]))
    assert g[K.ENUMVAL_EXISTS, "enum bpf_map_type___gone::BPF_MAP_TYPE_NOT_A_MAP"].target_value == 0
    assert g[K.TYPE_EXISTS, "struct task_struct___old"].target_value == 1
    assert g[K.FIELD_EXISTS, "struct task_struct___old.state"].target_value == 0  # no 'state' since Linux 5.14
    assert g[K.FIELD_BYTE_OFFSET, "struct task_struct___old.state"].poison  # the read is guarded by the check


def test_vmlinux_stays_lazy_and_candidates_are_cached(objs: dict[str, Obj], monkeypatch: pytest.MonkeyPatch) -> None:
    if not VMLINUX.exists():
        pytest.skip("no /sys/kernel/btf/vmlinux")
    vm = Btf.from_bytes(VMLINUX.read_bytes())  # a fresh one: nothing decoded or cached yet
    obj = objs["task"]
    calls: list[str] = []
    real_find = vm.find

    def counting_find(name: str, kind: object = None) -> list[int]:
        calls.append(name)
        return real_find(name, kind)  # type: ignore[arg-type]

    monkeypatch.setattr(vm, "find", counting_find)
    first = [run(obj, sec, [vm]) for sec in obj.progs]
    decoded = sum(t is not None for t in vm._types)
    assert 0 < decoded < 500, decoded  # of ~127k types
    assert len(calls) == len(set(calls))  # each name looked up once
    calls.clear()
    again = [run(obj, sec, [vm]) for sec in obj.progs]
    assert calls == []  # the second relocation of the same objects hits the per-Btf cache
    assert again == first


def test_describe_and_relocation_error(objs: dict[str, Obj], vmlinux: Btf) -> None:
    obj = objs["task"]
    g = run(obj, "raw_tp/sys_exit", [vmlinux])
    bad = [x for x in g if x.poison]
    assert len(bad) == 1
    text = describe(bad[0], obj.btf)
    assert "struct task_struct___old.state" in text and "0:0" in text and "field_byte_offset" in text
    assert bad[0].source_line is not None and "old->state" in bad[0].source_line
    assert bad[0].source_line.strip() in text
    err = relocation_error(bad[0], obj.btf)
    assert isinstance(err, RelocationError)
    assert (err.program, err.insn, err.source_line) == ("raw_tp/sys_exit", bad[0].insn_index, bad[0].source_line)
    ok = run(obj, "raw_tp/sys_enter", [vmlinux])[0]
    assert "struct task_struct.real_parent" in describe(ok, obj.btf)
    assert ok.relo is not None
    assert "struct task_struct.real_parent" in describe(ok.relo, obj.btf)


def slot_map(ours: list[int], xlated: list[int]) -> dict[int, int]:
    """Our instruction index -> the kernel's xlated slot, by opcode sequence: newer kernels inline some
    helper calls (bpf_get_current_task is a few loads on 7.x), which shifts the slots after them."""
    sm = difflib.SequenceMatcher(a=ours, b=xlated, autojunk=False)
    out: dict[int, int] = {}
    for a, b, size in sm.get_matching_blocks():
        out.update((a + k, b + k) for k in range(size))
    unmatched = [ours[i] for i in range(len(ours)) if i not in out]
    assert all(op == 0x85 for op in unmatched), unmatched  # only (inlined) calls may be missing
    return out


def xlated_slots(bpftool: str, pinned: Path) -> list[tuple[int, int, int]]:
    """(opcode, off, imm) per instruction slot of a loaded program; an LD_IMM64's imm is its 64-bit value."""
    dump = subprocess.run(
        [bpftool, "-j", "prog", "dump", "xlated", "pinned", str(pinned), "opcodes"], check=True, capture_output=True, text=True
    ).stdout
    out: list[tuple[int, int, int]] = []
    for e in json.loads(dump):
        op = e["opcodes"]
        code = int(op["code"], 16)
        raw_imm = bytes(int(b, 16) for b in op["imm"])
        off = struct.unpack("<h", bytes(int(b, 16) for b in op["off"]))[0]
        if code == 0x18:
            out += [(code, off, struct.unpack("<I", raw_imm[:4])[0] | struct.unpack("<I", raw_imm[8:12])[0] << 32), (0, 0, 0)]
        else:
            out.append((code, off, struct.unpack("<i", raw_imm)[0]))
    return out


@pytest.mark.kernel
def test_same_offsets_as_libbpf(objs: dict[str, Obj], vmlinux: Btf) -> None:
    """bpftool (libbpf 1.1) loads the object; its xlated code carries libbpf's relocated values."""
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool is not installed")
    require("pinning")  # bpftool pins what it loads under /sys/fs/bpf
    require_libbpf("bpftool prog loadall")
    require("helper:probe_read_kernel@tracepoint")  # the task object's CO-RE reads (lockdown=confidentiality)
    # `prog dump xlated`: the kernel hands out the instructions only to a reader it shows kernel addresses
    # (bpf_dump_raw_ok is kallsyms_show_value: CAP_SYSLOG, or kptr_restrict=0 with perf_event_paranoid <= 1)
    require("kallsyms")
    obj = objs["task"]
    (tid,) = vmlinux.find("task_struct")
    task = vmlinux[tid]
    if not isinstance(task, Struct) or not any(m.name == "__state" for m in task.members):
        pytest.skip("probe: parent_tgid reads task_struct.__state (Linux 5.14 renamed state to it); "
                    "this kernel's BTF has no such member, so neither libbpf nor bpfkit can load it")
    pin = Path("/sys/fs/bpf") / f"bpfkit_core_{uuid.uuid4().hex[:8]}"
    progs = {"raw_tp/sys_enter": "parent_tgid", "tp_btf/sched_switch": "on_switch"}  # no dead code: slots stay aligned
    try:
        subprocess.run([bpftool, "prog", "loadall", str(obj.path), str(pin)], check=True, capture_output=True)
        xlated = {sec: xlated_slots(bpftool, pin / name) for sec, name in progs.items()}
    finally:
        if pin.exists():
            for pinned in pin.iterdir():
                pinned.unlink()
            pin.rmdir()
    changed = 0
    for sec in progs:
        p = obj.progs[sec]
        fixups = run(obj, sec, [vmlinux])
        insns = copy.deepcopy(p.insns)
        apply(fixups, insns)
        changed += sum(f.target_value != f.local_value for f in fixups)
        slot = slot_map([i.opcode for i in insns], [x[0] for x in xlated[sec]])
        for f in fixups:
            ours = insns[f.insn_index]
            assert f.insn_index in slot, describe(f, obj.btf)
            code, off, imm = xlated[sec][slot[f.insn_index]]
            assert code == ours.opcode, describe(f, obj.btf)  # includes libbpf's load-size adjustment
            if ours.opcode == 0x18:
                assert imm == (ours.imm & 0xFFFFFFFF) | (insns[f.insn_index + 1].imm & 0xFFFFFFFF) << 32
            elif ours.opcode & 7 in (1, 2, 3):
                assert off == ours.off, describe(f, obj.btf)
            else:
                assert imm == ours.imm, describe(f, obj.btf)
    assert changed >= 12  # the local layout is not the kernel's


# ---- malformed and mutated records --------------------------------------------


def test_malformed_records_are_object_format_errors(objs: dict[str, Obj]) -> None:
    obj = objs["fields"]
    p = obj.progs["raw_tp/sys_enter"]
    r = p.relos[0]  # FIELD_BYTE_OFFSET of sample.a on an LDX
    cases = [
        CoreRelo(len(p.insns) + 3, r.type_id, r.access, r.kind),  # insn out of range
        CoreRelo(r.insn_off, 9999, r.access, r.kind),  # type id out of range
        CoreRelo(r.insn_off, r.type_id, "0:99", r.kind),  # no member 99
        CoreRelo(r.insn_off, r.type_id, "0::1", r.kind),
        CoreRelo(r.insn_off, r.type_id, "", r.kind),
        CoreRelo(r.insn_off, r.type_id, "0:1", r.kind),  # sample.in is at 4, the LDX says 0
        CoreRelo(r.insn_off, r.type_id, "0:0", K.TYPE_SIZE),  # type relocations take "0"
        CoreRelo(r.insn_off + 1, r.type_id, r.access, r.kind),  # an ALU op on a register
    ]
    for bad in cases:
        with pytest.raises(ObjectFormatError):
            relocate([bad], obj.btf, [sample_target()], p.insns, program="x")


@pytest.fixture(scope="module")
def fuzz_target() -> Btf:
    return sample_target(drop_blue=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_records_never_crash(objs: dict[str, Obj], fuzz_target: Btf, data: st.DataObject) -> None:
    obj = objs["fields"]
    sec = data.draw(st.sampled_from(sorted(obj.progs)))
    p = obj.progs[sec]
    base = data.draw(st.sampled_from(p.relos))
    indexes = st.lists(st.integers(0, 20), min_size=1, max_size=6).map(lambda xs: ":".join(map(str, xs)))
    access = data.draw(st.one_of(st.just(base.access), indexes, st.text(alphabet="0123456789:-x ", max_size=12)))
    relo = CoreRelo(
        data.draw(st.one_of(st.just(base.insn_off), st.integers(-2, len(p.insns) + 2))),
        data.draw(st.one_of(st.just(base.type_id), st.integers(0, obj.btf.count + 2))),
        access,
        data.draw(st.sampled_from(list(K))),
    )
    insns = copy.deepcopy(p.insns)
    try:
        fixups = relocate([relo], obj.btf, [fuzz_target], insns, program=sec)
    except (ObjectFormatError, RelocationError):
        return
    assert len(fixups) == 1
    assert isinstance(describe(fixups[0], obj.btf), str)
    apply(fixups, insns)
