"""The C header dump: compiled by clang, layouts checked by clang, text compared with bpftool."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from btf_samples import tool
from elftools.elf.elffile import ELFFile
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfkit import features, host
from bpfkit.btf import (
    Array,
    Btf,
    BtfKind,
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
from bpfkit.btf.format import format_c, format_raw, type_decl, write_c
from bpfkit.errors import NotSupportedError, ObjectFormatError
from bpfkit.testing import require, require_libbpf, vmlinux_header
from bpfkit.testing.compile import VMLINUX_H_CFLAGS

VMLINUX = "/sys/kernel/btf/vmlinux"


def clang(*args: str | Path, cwd: Path) -> None:
    res = subprocess.run([tool("clang"), *map(str, args)], cwd=cwd, check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-4000:]


def bpftool_c(path: Path | str, base: Path | None = None) -> str:
    cmd = [tool("bpftool"), "btf", "dump", "file", str(path)]
    if base is not None:
        cmd += ["-B", str(base)]
    res = subprocess.run([*cmd, "format", "c"], check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


def blocks(header: str) -> list[str]:
    """Type definitions of a header, without the preamble, kfunc section and epilogue.

    Spellings that differ between bpftool releases are normalized on both
    sides: ``(void)`` for prototypes without arguments and the ``mode(byte)``
    and ``mode(word)`` that size 1- and 8-byte enums (newer libbpf writes
    them, as bpfkit does; Debian's bpftool 7.1 does not).
    """
    out = []
    for block in header.split("\n\n"):
        block = block.strip("\n")
        if not block or block.startswith("#") or "BPF kfuncs" in block:
            continue
        block = block.replace(" __attribute__((mode(byte)))", "").replace(" __attribute__((mode(word)))", "")
        block = block.replace("(void)", "()")
        out.append(block)
    return out


def elf_btf(path: Path) -> Btf:
    with open(path, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF")
        assert sec is not None
        return Btf.from_bytes(sec.data())


def layout_asserts(btf: Btf) -> tuple[str, int]:
    """_Static_asserts of sizeof and offsetof for every uniquely named struct/union of ``btf``.

    Computed from the decoded types (not from the dumper).  Types that embed
    ``__builtin_va_list`` are left out: its size is the compiler's, not BTF's.
    """
    names: dict[str, int] = {}
    for tid in btf.own_ids() if btf.base is None else range(1, btf.count):
        if btf.kind_of(tid) in (BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.ENUM64):
            name = btf[tid].name
            if name:
                names[name] = names.get(name, 0) + 1
    va: dict[int, bool] = {}

    def has_va_list(tid: int, depth: int = 0) -> bool:
        if tid in va:
            return va[tid]
        t = btf[tid]
        if depth > 64:
            return False
        if isinstance(t, Typedef) and t.name == "__builtin_va_list":
            found = True
        elif isinstance(t, (Typedef, Const, Volatile, TypeTag)):
            found = has_va_list(t.type, depth + 1)
        elif isinstance(t, Array):
            found = has_va_list(t.type, depth + 1)
        elif isinstance(t, (Struct, Union_)):
            found = any(has_va_list(m.type, depth + 1) for m in t.members)
        else:
            found = False
        va[tid] = found
        return found

    lines = ["#define OFF(T, m) __builtin_offsetof(T, m)"]
    count = 0
    for tid in range(1, btf.count):
        if btf.kind_of(tid) not in (BtfKind.STRUCT, BtfKind.UNION):
            continue
        t = btf[tid]
        assert isinstance(t, (Struct, Union_))
        if not t.name or names[t.name] != 1 or has_va_list(tid):
            continue
        ctype = f"{'struct' if isinstance(t, Struct) else 'union'} {t.name}"
        lines.append(f'_Static_assert(sizeof({ctype}) == {t.size}, "sizeof {t.name}");')
        count += 1
        for m in t.members:
            if m.name and not m.bitfield_size:
                lines.append(f'_Static_assert(OFF({ctype}, {m.name}) == {m.offset // 8}, "{t.name}.{m.name}");')
                count += 1
    return "\n".join(lines) + "\n", count


def check_layout(btf: Btf, header: str, tmp: Path) -> int:
    (tmp / "vmlinux.h").write_text(header)
    asserts, count = layout_asserts(btf)
    (tmp / "layout.c").write_text('#include "vmlinux.h"\n' + asserts)
    clang("-target", "bpf", "-fsyntax-only", "-ferror-limit=20", "layout.c", cwd=tmp)
    return count


# ---- an object clang made from tricky C ---------------------------------------

TRICKY_C = r"""
struct list { struct list *next, *prev; };
struct a;
struct b { struct a *pa; int x; };
struct a { struct b *pb; struct b embedded; };
typedef struct { int x; } anon_td;
typedef struct named_s named_t;
struct named_s { named_t *self; anon_td td; };
union u { int i; float f; char c[3]; };
struct bits { unsigned a:3; unsigned b:5; int :0; unsigned long long c:40; char d; unsigned e:1; };
struct __attribute__((packed)) pk { char a; int b; short c; };
struct __attribute__((aligned(16))) al { int x; };
struct holder { char c; struct al a; struct pk p; long tail; };
struct __attribute__((packed)) outer_pk { char c; struct al in; };
struct __attribute__((packed, aligned(4))) pk4 { char c; long l; };
struct tail_pad { long l; char c; };
struct mid_bits { char c; unsigned x: 4; unsigned long long big: 60; short s; };
enum e1 { A = 1, B = -1 };
enum __attribute__((packed)) small_e { S1, S2 };
struct with_anon {
	union { int x; long y; };
	struct { char p; } s;
	enum { IN1, IN2 } e;
	struct { struct { int deep; } inner; } *pa;
};
typedef int (*fn_t)(int, const char *, ...);
struct ops {
	int (*fns[4])(void *);
	void (*(*getter)(int))(long);
	fn_t cb;
	const volatile int * restrict * const cvp;
	int arr[2][3];
	char *(*arr_of_ptrs)[5];
	int (*noargs)(void);
	struct list *(*ret_ptr)(struct list *l, union u);
	double d;
	float f;
	_Bool flag;
	unsigned char bytes[0];
};
struct tagged_s { int __attribute__((btf_type_tag("user"))) *up; };
struct empty {};
typedef struct empty empty_t;
struct all {
	struct list l; struct b b; struct a a; anon_td t; named_t n; union u u; struct bits bits;
	struct pk pk; struct holder h; struct outer_pk opk; struct pk4 pk4; struct tail_pad tp;
	struct mid_bits mb; enum e1 e1; enum small_e se; struct with_anon wa; fn_t fn;
	struct ops ops; struct tagged_s ts; empty_t em;
};
struct all g_all __attribute__((section(".data")));
int __attribute__((btf_decl_tag("my_tag"))) tagged_var __attribute__((section(".data")));
__attribute__((section("tc"), used)) int prog(struct all *ctx) { return ctx->l.next != 0; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"""


@pytest.fixture(scope="module")
def tricky_obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("tricky")
    (tmp / "tricky.bpf.c").write_text(TRICKY_C)
    clang("-g", "-O2", "-target", "bpf", "-c", "tricky.bpf.c", "-o", "tricky.bpf.o", cwd=tmp)
    return tmp / "tricky.bpf.o"


def test_tricky_object_matches_bpftool(tricky_obj: Path) -> None:
    ours = format_c(elf_btf(tricky_obj))
    assert blocks(ours) == blocks(bpftool_c(tricky_obj))


def test_tricky_object_declarations(tricky_obj: Path) -> None:
    text = format_c(elf_btf(tricky_obj))
    for decl in [
        "\tint (*fns[4])(void *);",
        "\tvoid (* (*getter)(int))(long);",
        "\tvolatile const int * restrict * const cvp;",
        "\tint arr[2][3];",
        "\tchar *(*arr_of_ptrs)[5];",
        "\tint (*noargs)(void);",
        "typedef int (*fn_t)(int, const char *, ...);",
        '\tint __attribute__((btf_type_tag("user"))) *up;',
        "struct a;\n\nstruct b {",  # a pointer cycle needs a forward declaration
        "typedef struct {\n\tint x;\n} anon_td;",
        "struct empty {};",
        "} __attribute__((packed));",
        "\tunsigned int b: 5;\n\tlong: 56;\n\tunsigned long long c: 40;",  # int :0 became explicit padding
        "} __attribute__((mode(byte)));",
        "\tunion {\n\t\tint x;\n\t\tlong y;\n\t};",
        "\tstruct {\n\t\tstruct {\n\t\t\tint deep;\n\t\t} inner;\n\t} *pa;",
    ]:
        assert decl in text, decl
    assert "my_tag" not in text and "g_all" not in text and "prog" not in text


def test_tricky_object_layout_compiles(tricky_obj: Path, tmp_path: Path) -> None:
    btf = elf_btf(tricky_obj)
    assert check_layout(btf, format_c(btf), tmp_path) > 50


# ---- hand-made BTF: names, enums, tags, kfuncs, skipped kinds -----------------


def conflicts_btf() -> Btf:
    i = Int("int", 4, IntEncoding.SIGNED)
    return Btf.from_types(
        [
            i,  # 1
            Struct("dup", 4, [Member("x", 1, 0)]),  # 2
            Struct("dup", 8, [Member("x", 1, 0), Member("y", 1, 32)]),  # 3
            Typedef("dup_t", 2),  # 4
            Typedef("dup_t", 3),  # 5
            Enum("color", 4, [EnumValue("RED", 0), EnumValue("GREEN", 1)]),  # 6
            Enum("paint", 4, [EnumValue("RED", 5)]),  # 7
            Enum64("big", 8, [EnumValue("NEG", -5), EnumValue("HUGE", 1 << 40)], signed=True),  # 8
            Enum64("ubig", 8, [EnumValue("U", (1 << 64) - 1)]),  # 9
            Enum64("small64", 8, [EnumValue("ONE", 1)]),  # 10
            Fwd("fwd_union", is_union=True),  # 11
            Ptr(11),  # 12
            Union_("dup", 4, [Member("z", 1, 0)]),  # 13: a union shares the tag namespace
            Enum("", 4, [EnumValue("RED", 9)]),  # 14: top-level anonymous enum
            Struct(
                "user",
                40,
                [
                    Member("a", 4, 0),
                    Member("b", 5, 64),
                    Member("c", 12, 128),
                    Member("d", 13, 192),
                    Member("e", 8, 256),
                ],
            ),  # 15
            Float("double", 8),  # 16
            Var("v", 15, VarLinkage.GLOBAL),  # 17
            Datasec(".data", 40, [VarSecinfo(17, 0, 40)]),  # 18
            FuncProto(1, [Param("a", 1), Param("", 0)]),  # 19
            Func("f", 19, FuncLinkage.GLOBAL),  # 20
            DeclTag("tag", 15, 0),  # 21
            Struct("fp", 8, [Member("d", 16, 0)]),  # 22
        ]
    )


def test_name_conflicts_match_bpftool(tmp_path: Path) -> None:
    btf = conflicts_btf()
    blob = tmp_path / "conflicts.btf"
    blob.write_bytes(btf.to_bytes())
    ours = format_c(btf)
    assert blocks(ours) == blocks(bpftool_c(blob))
    for frag in [
        "struct dup {\n\tint x;\n};",
        "struct dup___2 {\n\tint x;\n\tint y;\n};",
        "typedef struct dup dup_t;",
        "typedef struct dup___2 dup_t___2;",
        "\tRED___2 = 5,",
        "union dup___3 {",
        "\tRED___3 = 9,",
        "\tNEG = -5LL,\n\tHUGE = 1099511627776LL,\n};",
        "\tU = 18446744073709551615ULL,\n};",
        "\tONE = 1ULL,\n} __attribute__((mode(word)));",
        "union fwd_union;",
        "\tunion fwd_union *c;",
    ]:
        assert frag in ours, frag
    assert "tag" not in ours.replace("btf_type_tag", "")
    assert ".data" not in ours and " v;" not in ours


def test_name_conflicts_compile(tmp_path: Path) -> None:
    btf = conflicts_btf()
    assert check_layout(btf, format_c(btf), tmp_path) > 3


def tags_btf() -> Btf:
    return Btf.from_types(
        [
            Int("int", 4, IntEncoding.SIGNED),  # 1
            TypeTag("user", 1),  # 2
            Ptr(2),  # 3
            TypeTag("address_space(1)", 1, kind_flag=True),  # 4
            Ptr(4),  # 5
            Ptr(0),  # 6
            Typedef("__builtin_va_list", 6),  # 7
            Typedef("__gnuc_va_list", 0),  # 8
            Struct("tagged", 24, [Member("u", 3, 0), Member("a", 5, 64), Member("va", 7, 128)]),  # 9
            Ptr(9),  # 10
            FuncProto(10, [Param("t", 10), Param("n", 1)]),  # 11
            Func("bpf_thing_acquire", 11, FuncLinkage.GLOBAL),  # 12
            DeclTag("bpf_kfunc", 12),  # 13
            FuncProto(0, []),  # 14
            Func("bpf_nothing", 14, FuncLinkage.GLOBAL),  # 15
            DeclTag("bpf_kfunc", 15),  # 16
            DeclTag("bpf_fastcall", 15),  # 17
            Func("not_a_kfunc", 14, FuncLinkage.GLOBAL),  # 18
            Typedef("va_wrap", 8),  # 19
        ]
    )


def test_type_tags_kfuncs_and_va_list(tmp_path: Path) -> None:
    btf = tags_btf()
    text = format_c(btf)
    assert '\tint __attribute__((btf_type_tag("user"))) *u;' in text
    assert "\tint __attribute__((address_space(1))) *a;" in text
    assert "\t__builtin_va_list va;" in text
    assert "typedef void *__builtin_va_list" not in text
    assert "typedef __builtin_va_list __gnuc_va_list;" in text
    kfuncs = text[text.index("/* BPF kfuncs */") :]
    assert kfuncs.splitlines()[1:5] == [
        "#ifndef BPF_NO_KFUNC_PROTOTYPES",
        "extern __bpf_fastcall void bpf_nothing(void) __weak __ksym;",  # sorted by name
        "extern struct tagged *bpf_thing_acquire(struct tagged *t, int n) __weak __ksym;",
        "#endif",
    ]
    assert "not_a_kfunc" not in text
    assert "BPF kfuncs" not in format_c(btf, kfuncs=False)
    (tmp_path / "vmlinux.h").write_text(text)
    (tmp_path / "use.c").write_text('#include "vmlinux.h"\nint use(struct tagged *t) { return bpf_thing_acquire(t, 1) != 0; }\n')
    clang("-target", "bpf", "-O2", "-c", "use.c", "-o", "use.o", cwd=tmp_path)


def test_type_decl() -> None:
    btf = Btf.from_types(
        [
            Int("int", 4, IntEncoding.SIGNED),  # 1
            Ptr(1),  # 2
            Const(2),  # 3
            Array(3, 1, 4),  # 4
            FuncProto(2, [Param("x", 1)]),  # 5
            Ptr(5),  # 6
            Array(6, 1, 2),  # 7
            Struct("s", 4, [Member("i", 1, 0)]),  # 8
            Volatile(8),  # 9
        ]
    )
    assert type_decl(btf, 3, "p") == "int * const p"
    assert type_decl(btf, 4, "arr") == "int * const arr[4]"
    assert type_decl(btf, 7, "handlers") == "int * (*handlers[2])(int x)"  # libbpf spacing
    assert type_decl(btf, 9) == "volatile struct s"
    assert type_decl(btf, 0, "v") == "void v"
    with pytest.raises(IndexError):
        type_decl(btf, 99)


@pytest.mark.parametrize(
    "types",
    [
        # an anonymous struct that contains a pointer to itself cannot be written in C
        [Int("int", 4, IntEncoding.SIGNED), Struct("", 8, [Member("self", 3, 0)]), Ptr(2)],
        # a qualifier that qualifies itself
        [Const(1)],
        # a pointer cycle without any named type
        [Ptr(2), Ptr(1), Struct("s", 8, [Member("p", 1, 0)])],
        # a member type id past the last type
        [Struct("s", 8, [Member("p", 40, 0)])],
        # a struct that embeds itself
        [Struct("s", 8, [Member("me", 1, 0)])],
        # a pointer to a FUNC: not a C type
        [Int("int", 4), FuncProto(1, []), Func("f", 2), Ptr(3), Struct("s", 8, [Member("p", 4, 0)])],
    ],
)
def test_malformed_btf_gives_object_format_error(types: list) -> None:
    btf = Btf.from_types(types)
    with pytest.raises(ObjectFormatError):
        write_c(btf, io.StringIO())


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    types: list = [Int("int", 4, IntEncoding.SIGNED), Struct("", 4, [Member("x", 1, 0)])]
    for _ in range(400):  # each anonymous struct wraps the previous one
        types.append(Struct("", 4, [Member("in", len(types), 0)]))
    types.append(Struct("outer", 4, [Member("in", len(types), 0)]))
    with pytest.raises(ObjectFormatError):
        format_c(Btf.from_types(types))
    ok = format_c(Btf.from_types(types[:40] + [Struct("outer", 4, [Member("in", 40, 0)])]))
    assert ok.count("struct {") == 39


def test_big_endian_blob_dumps_the_same() -> None:
    le = conflicts_btf()
    be = conflicts_btf()
    be.byteorder = "big"
    back = Btf.from_bytes(be.to_bytes())
    assert back.byteorder == "big"
    assert format_c(back) == format_c(le)
    assert format_raw(back) == format_raw(le)


def test_type_decl_of_broken_chain() -> None:
    btf = Btf.from_types([Ptr(7)])
    with pytest.raises(ObjectFormatError):
        type_decl(btf, 1, "p")


_KINDS = st.sampled_from(
    [
        "int",
        "ptr",
        "array",
        "struct",
        "union",
        "enum",
        "enum64",
        "fwd",
        "typedef",
        "const",
        "volatile",
        "restrict",
        "tag",
        "proto",
        "func",
        "var",
        "datasec",
        "float",
        "decl_tag",
    ]
)


@st.composite
def random_types(draw: st.DrawFn) -> list:
    n = draw(st.integers(1, 12))
    ref = st.integers(0, n + 1)  # sometimes one past the end
    name = st.sampled_from(["", "", "a", "b", "dup", "long", "__builtin_va_list"])
    out: list = []
    for _ in range(n):
        kind = draw(_KINDS)
        if kind == "int":
            out.append(Int(draw(name) or "int", draw(st.sampled_from([1, 2, 4, 8, 16])), IntEncoding.SIGNED))
        elif kind == "ptr":
            out.append(Ptr(draw(ref)))
        elif kind == "array":
            out.append(Array(draw(ref), draw(ref), draw(st.integers(0, 5))))
        elif kind in ("struct", "union"):
            members = [
                Member(draw(name), draw(ref), draw(st.integers(0, 96)), draw(st.integers(0, 3))) for _ in range(draw(st.integers(0, 3)))
            ]
            cls = Struct if kind == "struct" else Union_
            out.append(cls(draw(name), draw(st.integers(0, 16)), members))
        elif kind == "enum":
            out.append(Enum(draw(name), draw(st.sampled_from([1, 4, 8])), [EnumValue("E", 1)] * draw(st.integers(0, 2))))
        elif kind == "enum64":
            out.append(Enum64(draw(name), 8, [EnumValue("F", 1 << 33)] * draw(st.integers(0, 2))))
        elif kind == "fwd":
            out.append(Fwd(draw(name), draw(st.booleans())))
        elif kind == "typedef":
            out.append(Typedef(draw(name), draw(ref)))
        elif kind == "const":
            out.append(Const(draw(ref)))
        elif kind == "volatile":
            out.append(Volatile(draw(ref)))
        elif kind == "restrict":
            out.append(Restrict(draw(ref)))
        elif kind == "tag":
            out.append(TypeTag(draw(name) or "user", draw(ref), draw(st.booleans())))
        elif kind == "proto":
            out.append(FuncProto(draw(ref), [Param(draw(name), draw(ref)) for _ in range(draw(st.integers(0, 3)))]))
        elif kind == "func":
            out.append(Func(draw(name) or "f", draw(ref)))
        elif kind == "var":
            out.append(Var(draw(name) or "v", draw(ref)))
        elif kind == "datasec":
            out.append(Datasec(".data", 8, [VarSecinfo(draw(ref), 0, 4)]))
        elif kind == "float":
            out.append(Float("double", 8))
        else:
            out.append(DeclTag(draw(st.sampled_from(["bpf_kfunc", "x"])), draw(ref), draw(st.sampled_from([-1, 0, 5]))))
    return out


@settings(max_examples=400, deadline=None)
@given(random_types())
def test_fuzz_dump_gives_text_or_format_error(types: list) -> None:
    btf = Btf.from_bytes(Btf.from_types(types).to_bytes())
    for dump in (format_c, format_raw):
        try:
            text = dump(btf)
        except ObjectFormatError:
            continue
        assert isinstance(text, str)


def test_split_btf_matches_bpftool(tmp_path: Path) -> None:
    base = conflicts_btf()
    base_file = tmp_path / "base.btf"
    base_file.write_bytes(base.to_bytes())
    base = Btf.from_bytes(base_file.read_bytes())
    split = Btf(base=base)
    sid = split.add(Struct("modstruct", 16, [Member("d", 2, 0), Member("p", 12, 64)]))
    split.add(Typedef("dup_t", sid))
    split_file = tmp_path / "split.btf"
    split_file.write_bytes(split.to_bytes())
    back = Btf.from_bytes(split_file.read_bytes(), base=base)
    ours = format_c(back)
    assert "typedef struct modstruct dup_t___3;" in ours
    assert blocks(ours) == blocks(bpftool_c(split_file, base=base_file))
    assert format_c(split) == ours  # a Btf built in memory dumps the same


# ---- vmlinux: the header the project's BPF programs compile against -----------


@pytest.fixture(scope="module")
def vmlinux() -> Btf:
    with open(VMLINUX, "rb") as f:
        return Btf.from_bytes(f.read())


@pytest.fixture(scope="module")
def vmlinux_h(vmlinux: Btf, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vmlinux") / "vmlinux.h"
    if Path(VMLINUX).resolve() == Path(host.VMLINUX_BTF_PATH).resolve():
        # the header bpfkit.testing caches for this kernel is write_c's output too: dumped once per
        # kernel (the corpus tests use it), which saves a dump in the slow QEMU guests
        shutil.copyfile(vmlinux_header() / "vmlinux.h", path)
    else:
        with open(path, "w") as f:
            write_c(vmlinux, f)
    return path


@pytest.fixture(scope="module")
def bpftool_vmlinux_h() -> str:
    return bpftool_c(VMLINUX)


_DEF = re.compile(r"^(?:(struct|union|enum) (\w+) \{|typedef .*?(\w+)(?:\)\(.*\))?(?:\[\d+\])*(?: __attribute__.*)?;$)", re.M)


def named_definitions(header: str) -> set[str]:
    found = set()
    for m in _DEF.finditer(header):
        found.add(f"{m.group(1)} {m.group(2)}" if m.group(1) else f"typedef {m.group(3)}")
    return found


def test_vmlinux_same_named_types_as_bpftool(vmlinux_h: Path, bpftool_vmlinux_h: str) -> None:
    ours = named_definitions(vmlinux_h.read_text())
    theirs = named_definitions(bpftool_vmlinux_h)
    assert len(ours) > 10000
    assert {"struct task_struct", "struct sk_buff", "typedef u32", "enum bpf_map_type"} <= ours
    assert ours == theirs


def test_vmlinux_matches_bpftool_text(vmlinux_h: Path, bpftool_vmlinux_h: str) -> None:
    ours = blocks(vmlinux_h.read_text())
    theirs = blocks(bpftool_vmlinux_h)
    assert len(ours) == len(theirs)
    diff = [(a, b) for a, b in zip(ours, theirs) if a != b]
    assert diff == []


def test_vmlinux_layouts_compile(vmlinux: Btf, vmlinux_h: Path, tmp_path: Path) -> None:
    count = check_layout(vmlinux, vmlinux_h.read_text(), tmp_path)
    assert count > 10000


def test_vmlinux_kfunc_prototypes(vmlinux_h: Path) -> None:
    text = vmlinux_h.read_text()
    kfuncs = text[text.index("/* BPF kfuncs */") :]
    assert "extern struct task_struct *bpf_task_acquire(struct task_struct *p) __weak __ksym;" in kfuncs


BPF_PROGRAMS = {
    "bootstrap": r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
char LICENSE[] SEC("license") = "Dual BSD/GPL";
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8192); __type(key, pid_t); __type(value, u64); } exec_start SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 256 * 1024); } rb SEC(".maps");
const volatile unsigned long long min_duration_ns = 0;
struct event { int pid; int ppid; unsigned exit_code; unsigned long long duration_ns; char comm[16]; char filename[127]; bool exit_event; };
SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned fname_off = ctx->__data_loc_filename & 0xFFFF;
	pid_t pid = bpf_get_current_pid_tgid() >> 32;
	u64 ts = bpf_ktime_get_ns();
	struct event *e;
	bpf_map_update_elem(&exec_start, &pid, &ts, BPF_ANY);
	if (min_duration_ns)
		return 0;
	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e)
		return 0;
	e->exit_event = false;
	e->pid = pid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_probe_read_str(&e->filename, sizeof(e->filename), (void *)ctx + fname_off);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
SEC("tp/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_template *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	pid_t pid = bpf_get_current_pid_tgid() >> 32;
	struct event *e;
	u64 *start = bpf_map_lookup_elem(&exec_start, &pid);
	if (!start)
		return 0;
	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e)
		return 0;
	e->exit_event = true;
	e->duration_ns = bpf_ktime_get_ns() - *start;
	e->pid = pid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = (BPF_CORE_READ(task, exit_code) >> 8) & 0xff;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_map_delete_elem(&exec_start, &pid);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
""",
    "tp_btf": r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
char LICENSE[] SEC("license") = "GPL";
u64 seen;
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct task_struct *cur = bpf_get_current_task_btf();
	seen += cur->pid + prev->tgid + next->prio;
	return 0;
}
""",
    "xdp": r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
char LICENSE[] SEC("license") = "GPL";
SEC("xdp")
int xdp_udp_drop(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(0x0800))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	return ip->protocol == IPPROTO_UDP ? XDP_DROP : XDP_PASS;
}
""",
    "tc": r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
SEC("tc")
int tc_mark(struct __sk_buff *skb)
{
	skb->mark = skb->len > 100 ? 1 : 2;
	return 0; /* TC_ACT_OK */
}
""",
    "syscall": r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct args { int pid; u64 ret; };
SEC("syscall")
int probe(struct args *ctx)
{
	struct task_struct *t = bpf_task_from_pid(ctx->pid);
	if (!t)
		return 1;
	ctx->ret = t->tgid;
	bpf_task_release(t);
	return 0;
}
""",
}


# what the programs need beyond the basics of a BTF kernel (their source needs the kfunc in vmlinux.h)
BPF_NEEDS = {
    # BPF_CORE_READ and bpf_probe_read_str read kernel memory: lockdown=confidentiality refuses them
    "bootstrap": ("helper:probe_read_kernel@tracepoint", "helper:probe_read_str@tracepoint"),
    "syscall": ("prog:syscall", "kfunc:bpf_task_from_pid", "kfunc:bpf_task_release"),
    "tp_btf": ("helper:get_current_task_btf@tracing",),
}


def unmet_need(name: str) -> str | None:
    """A probe's reason why program ``name`` cannot build or load on this kernel, else None
    (also None where the probes may not run: without privileges every program is compiled)."""
    try:
        return _unmet(name)
    except PermissionError:
        return None


def _unmet(name: str) -> str | None:
    for need in BPF_NEEDS.get(name, ()):
        kind, _, what = need.partition(":")
        if kind == "kfunc":
            if not features.have_kfunc(what, "syscall"):
                return f"probe: this kernel has no kfunc {what} for syscall programs"
            continue
        try:
            features.require(need)
        except NotSupportedError as exc:
            return f"probe: {exc}"
    return None


@pytest.fixture(scope="module")
def bpf_objects(vmlinux_h: Path) -> dict[str, Path]:
    tmp = vmlinux_h.parent
    procs = {}
    for name, src in BPF_PROGRAMS.items():  # compiled side by side: each parses all of vmlinux.h
        if unmet_need(name):
            continue
        (tmp / f"{name}.bpf.c").write_text(src)
        procs[name] = subprocess.Popen(
            [
                tool("clang"),
                "-g",
                "-O2",
                "-target",
                "bpf",
                "-D__TARGET_ARCH_x86",
                "-Wall",
                "-Werror",
                *VMLINUX_H_CFLAGS,
                "-c",
                f"{name}.bpf.c",
                "-o",
                f"{name}.bpf.o",
            ],
            cwd=tmp,
            stderr=subprocess.PIPE,
            text=True,
        )
    for name, proc in procs.items():
        _, err = proc.communicate()
        assert proc.returncode == 0, f"{name}: {err[-4000:]}"
    return {name: tmp / f"{name}.bpf.o" for name in BPF_PROGRAMS}


def test_bpf_programs_compile(bpf_objects: dict[str, Path]) -> None:
    for name, obj in bpf_objects.items():
        with open(obj, "rb") as f:
            elf = ELFFile(f)
            assert elf.get_section_by_name(".BTF") is not None, name
            assert elf.get_section_by_name(".text") is not None or elf.num_sections() > 5


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(BPF_PROGRAMS))
def test_bpf_programs_load(bpf_objects: dict[str, Path], name: str) -> None:
    """libbpf (through bpftool) relocates the programs against the kernel and loads them."""
    reason = unmet_need(name)
    if reason:
        pytest.skip(reason)
    require("pinning")  # bpftool pins what it loads under /sys/fs/bpf
    require_libbpf("bpftool prog loadall")
    bpftool = tool("bpftool")
    obj = bpf_objects[name]
    pin = Path(f"/sys/fs/bpf/bpfkit-btfdump-{os.getpid()}-{name}")
    try:
        res = subprocess.run([bpftool, "prog", "loadall", str(obj), str(pin)], check=False, capture_output=True, text=True)
        assert res.returncode == 0, f"{name}: {res.stderr[-3000:]}"
        assert os.listdir(pin), name
    finally:
        shutil.rmtree(pin, ignore_errors=True)
