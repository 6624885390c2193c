"""The raw listing (bpfkit.btf.format.write_raw) compared line for line with ``bpftool btf dump``."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from btf_samples import every_kind, tool
from elftools.elf.elffile import ELFFile

from bpfkit.btf import Btf, Datasec, Member, Ptr, Struct, VarSecinfo
from bpfkit.btf.format import format_raw, write_raw

VMLINUX = "/sys/kernel/btf/vmlinux"


def bpftool_raw(path: Path | str, base: Path | None = None) -> str:
    cmd = [tool("bpftool"), "btf", "dump", "file", str(path)]
    if base is not None:
        cmd += ["-B", str(base)]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


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
    clang = tool("clang")
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
