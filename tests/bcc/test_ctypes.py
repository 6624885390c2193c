"""ctypes types from BTF: clang lays out an initialised global, and the ctypes type must read it back."""

from __future__ import annotations

import ctypes as ct
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from bpfkit._uapi import BtfKind
from bpfkit.bcc._ctypes import btf_to_ctype, ctype_from_c_name
from bpfkit.bcc._loader import object_btf
from bpfkit.btf import Struct

C = r"""
typedef unsigned long long u64;
typedef unsigned int u32;
enum color { RED = 1, BLUE = 7 };
struct inner { short a; char tag[3]; };
struct sample {
    char c;
    u64 big;
    struct inner in[2];
    union { u32 word; unsigned char bytes[4]; };
    unsigned int lo: 3, mid: 9;
    int neg: 5;
    enum color col;
    void *ptr;
    char comm[16];
    _Bool flag;
};
struct __attribute__((packed)) packed { char a; u32 b; short c; };

struct sample g = { .c = 'x', .big = 0x1122334455667788ULL, .in = {{-3, "ab"}, {4, "cd"}}, .word = 0xdeadbeef,
                    .lo = 5, .mid = 300, .neg = -7, .col = BLUE, .ptr = (void *)0, .comm = "hello", .flag = 1 };
struct packed p = { 1, 0xabcdef01, -2 };
"""


@pytest.fixture(scope="module")
def obj(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    clang = shutil.which("clang")
    assert clang is not None, "clang is part of the toolchain the tests need"
    d = tmp_path_factory.mktemp("ct")
    (d / "t.c").write_text(C)
    subprocess.run([clang, "-g", "-O2", "-target", "bpf", "-c", str(d / "t.c"), "-o", str(d / "t.o")], check=True)
    return Path(d / "t.o").read_bytes()


def _data(elf: bytes, name: str) -> bytes:
    f = ELFFile(io.BytesIO(elf))
    symtab = f.get_section_by_name(".symtab")
    sym = symtab.get_symbol_by_name(name)[0]  # type: ignore[union-attr]
    sec = f.get_section(sym["st_shndx"])
    return sec.data()[sym["st_value"]: sym["st_value"] + sym["st_size"]]


def test_struct_layout_and_values_match_clang(obj: bytes) -> None:
    btf = object_btf(obj)
    assert btf is not None
    tid = btf.find("sample", BtfKind.STRUCT)[0]
    S = btf_to_ctype(btf, tid)
    t = btf[tid]
    assert isinstance(t, Struct)
    assert ct.sizeof(S) == t.size
    v = S.from_buffer_copy(_data(obj, "g"))
    assert v.c == b"x" and v.big == 0x1122334455667788
    assert v.in_[0].a == -3 and v.in_[0].tag == b"ab" and v.in_[1].a == 4 and v.in_[1].tag == b"cd"
    assert v.word == 0xDEADBEEF and bytes(v.bytes) == (0xDEADBEEF).to_bytes(4, "little")  # anonymous union
    assert (v.lo, v.mid, v.neg) == (5, 300, -7)  # bitfields, signed too
    assert v.col == 7 and v.ptr == 0 and v.comm == b"hello" and v.flag is True
    # offsets of the named members are the BTF's
    for m in t.members:
        if m.name and not m.bitfield_size:
            name = "in_" if m.name == "in" else m.name
            assert getattr(S, name).offset == m.offset // 8, m.name
    v.mid = 7
    assert v.mid == 7 and v.lo == 5 and v.neg == -7


def test_packed_struct(obj: bytes) -> None:
    btf = object_btf(obj)
    assert btf is not None
    P = btf_to_ctype(btf, btf.find("packed", BtfKind.STRUCT)[0])
    assert ct.sizeof(P) == 7
    p = P.from_buffer_copy(_data(obj, "p"))
    assert (p.a, p.b, p.c) == (b"\x01", 0xABCDEF01, -2)  # char is c_char, as in BCC


def test_typedefs_resolve_to_bccs_ctypes(obj: bytes) -> None:
    btf = object_btf(obj)
    assert btf is not None
    assert btf_to_ctype(btf, btf.find("u64", BtfKind.TYPEDEF)[0]) is ct.c_ulonglong
    assert btf_to_ctype(btf, btf.find("u32", BtfKind.TYPEDEF)[0]) is ct.c_uint
    assert ctype_from_c_name("unsigned   long long") is ct.c_ulonglong
    assert ctype_from_c_name("struct x") is None
