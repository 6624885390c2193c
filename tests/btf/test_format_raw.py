"""The raw listing (bpfkit.btf.format.write_raw) compared line for line with ``bpftool btf dump``."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from bpfkit.btf import (
    Array,
    Btf,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union_,
    Var,
    VarLinkage,
    VarSecinfo,
    Volatile,
)
from bpfkit.btf.format import format_raw, write_raw

VMLINUX = "/sys/kernel/btf/vmlinux"


def bpftool_raw(path: Path | str, base: Path | None = None) -> str:
    exe = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if exe is None:
        pytest.skip("bpftool is not installed")
    cmd = [exe, "btf", "dump", "file", str(path)]
    if base is not None:
        cmd += ["-B", str(base)]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


def every_kind() -> list:
    return [
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Int("unsigned char", 1, IntEncoding.CHAR),  # 2
        Int("_Bool", 1, IntEncoding.BOOL),  # 3
        Int("unsigned int", 4),  # 4
        Ptr(6),  # 5
        Array(1, 4, 16),  # 6
        Struct("s", 24, [Member("a", 1, 0), Member("b", 5, 64), Member("c", 1, 128, 3), Member("", 4, 131, 5)], True),  # 7
        Struct("plain", 8, [Member("x", 1, 0), Member("y", 1, 32)]),  # 8
        Union_("u", 8, [Member("x", 1, 0), Member("y", 5, 0)]),  # 9
        Enum("e", 4, [EnumValue("A", 0), EnumValue("B", -5)], signed=True),  # 10
        Enum("ue", 4, [EnumValue("BIG", 0xFFFFFFFF)]),  # 11
        Enum64("e64", 8, [EnumValue("HUGE", 1 << 40), EnumValue("U", (1 << 64) - 1)]),  # 12
        Enum64("se64", 8, [EnumValue("NEG", -(1 << 40))], signed=True),  # 13
        Fwd("later"),  # 14
        Fwd("later_u", is_union=True),  # 15
        Typedef("int_t", 1),  # 16
        Volatile(16),  # 17
        Const(17),  # 18
        Restrict(5),  # 19
        TypeTag("user", 5),  # 20
        FuncProto(1, [Param("x", 1), Param("", 0)]),  # 21
        Func("f", 21, FuncLinkage.GLOBAL),  # 22
        Func("g", 21, FuncLinkage.STATIC),  # 23
        Func("h", 21, FuncLinkage.EXTERN),  # 24
        Var("v", 1, VarLinkage.GLOBAL),  # 25
        Var("sv", 8, VarLinkage.STATIC),  # 26
        Datasec(".data", 12, [VarSecinfo(25, 0, 4), VarSecinfo(26, 4, 8)]),  # 27
        Float("double", 8),  # 28
        DeclTag("tag", 7, 1),  # 29
        DeclTag("tag2", 22, -1),  # 30
        FuncProto(0, []),  # 31
    ]


def test_every_kind_matches_bpftool(tmp_path: Path) -> None:
    blob = tmp_path / "every.btf"
    blob.write_bytes(Btf.from_types(every_kind()).to_bytes())
    ours = format_raw(Btf.from_bytes(blob.read_bytes()))
    assert ours == bpftool_raw(blob)
    assert "[7] STRUCT 's' size=24 vlen=4\n\t'a' type_id=1 bits_offset=0\n" in ours
    assert "\t'(anon)' type_id=4 bits_offset=131 bitfield_size=5\n" in ours
    assert "\t'B' val=-5\n" in ours and "\t'NEG' val=-1099511627776LL\n" in ours
    assert "[25] VAR 'v' type_id=1, linkage=global\n" in ours
    assert "\ttype_id=26 offset=4 size=8 (VAR 'sv')\n" in ours
    # a Btf built in memory lists the same
    assert format_raw(Btf.from_types(every_kind())) == ours


def test_split_lists_only_its_own_types(tmp_path: Path) -> None:
    base_file = tmp_path / "base.btf"
    base_file.write_bytes(Btf.from_types(every_kind()).to_bytes())
    base = Btf.from_bytes(base_file.read_bytes())
    split = Btf(base=base)
    sid = split.add(Struct("modstruct", 16, [Member("d", 12, 0), Member("p", 5, 64)]))
    split.add(Ptr(sid))
    split.add(Datasec(".bss", 8, [VarSecinfo(25, 0, 8)]))
    split_file = tmp_path / "split.btf"
    split_file.write_bytes(split.to_bytes())
    ours = format_raw(Btf.from_bytes(split_file.read_bytes(), base=base))
    assert ours.startswith(f"[{sid}] STRUCT 'modstruct' size=16 vlen=2\n")
    assert ours == bpftool_raw(split_file, base=base_file)


def test_clang_object_matches_bpftool(tmp_path: Path) -> None:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed")
    (tmp_path / "obj.bpf.c").write_text(
        r"""
struct pair { int a; unsigned b: 3; unsigned c: 29; struct pair *next; };
typedef unsigned long long u64;
enum state { IDLE, RUNNING = -1 };
union val { u64 x; double d; const char *s; };
int counter __attribute__((section(".bss")));
struct pair table[4] __attribute__((section(".data")));
static __attribute__((noinline)) int helper(struct pair *p, union val *v) { return p->a + (int)v->x; }
__attribute__((section("tc"), used)) int prog(struct pair *ctx)
{
	union val v = { .x = ctx->b };
	counter += helper(ctx, &v) + (ctx->c == RUNNING);
	return table[1].a;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"""
    )
    res = subprocess.run(
        [clang, "-g", "-O2", "-target", "bpf", "-c", "obj.bpf.c", "-o", "obj.bpf.o"],
        cwd=tmp_path,
        check=False,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "obj.bpf.o", "rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF")
        assert sec is not None
        btf = Btf.from_bytes(sec.data())
    ours = format_raw(btf)
    assert "FUNC 'helper' type_id=" in ours and "linkage=static" in ours
    assert ours == bpftool_raw(tmp_path / "obj.bpf.o")


def test_vmlinux_matches_bpftool() -> None:
    with open(VMLINUX, "rb") as f:
        btf = Btf.from_bytes(f.read())
    buf = io.StringIO()
    write_raw(btf, buf)
    ours = buf.getvalue().splitlines()
    theirs = bpftool_raw(VMLINUX).splitlines()
    assert len(ours) == len(theirs) > 100000
    mismatches = [(i, a, b) for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    assert mismatches[:5] == []
