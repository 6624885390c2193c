"""BTF the dumps met in the mutation fuzzer (bpfkit.testing.fuzz): each case once crashed or ran away."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from bpfkit.btf import Btf, Func, FuncLinkage, FuncProto, Int, IntEncoding, Member, Struct
from bpfkit.btf.format import format_c, format_raw
from bpfkit.errors import ObjectFormatError


def test_btf_without_types_dumps() -> None:
    """No type at all (type_len 0) once raised IndexError in both formats."""
    btf = Btf.from_bytes(Btf.from_types([]).to_bytes())
    assert format_raw(btf) == ""
    text = format_c(btf)
    assert "#ifndef __VMLINUX_H__" in text or "#pragma" in text


def _blob_with_member_name_at(name_off: int) -> bytes:
    """An int and a struct with one member whose name offset is then overwritten."""
    blob = bytearray(Btf.from_types([Int("int", 4, IntEncoding.SIGNED), Struct("s", 4, [Member("m", 1, 0)])]).to_bytes())
    hdr_len, type_off = struct.unpack_from("<II", blob, 4)
    member = hdr_len + type_off + 16 + 12  # the INT record is 16 bytes, the STRUCT's own part 12
    struct.pack_into("<I", blob, member, name_off)
    return bytes(blob)


@pytest.mark.parametrize("name_off", [0x10000, 0xFFFFFFFF])
def test_member_name_past_the_strings(name_off: int) -> None:
    """The C dump raised ValueError('subsection not found'); both formats now say which offset is bad."""
    btf = Btf.from_bytes(_blob_with_member_name_at(name_off))
    with pytest.raises(ObjectFormatError, match="offset"):
        format_c(btf)
    with pytest.raises(ObjectFormatError):
        format_raw(btf)


def test_kfunc_name_past_the_strings() -> None:
    """A FUNC tagged bpf_kfunc whose name offset runs past the strings: an ObjectFormatError too."""
    from bpfkit.btf import DeclTag

    types = [Int("int", 4, IntEncoding.SIGNED), FuncProto(1, []), Func("kf", 2, FuncLinkage.GLOBAL), DeclTag("bpf_kfunc", 3, -1)]
    blob = bytearray(Btf.from_types(types).to_bytes())
    hdr_len, type_off = struct.unpack_from("<II", blob, 4)
    func = hdr_len + type_off + 16 + 12  # INT 16 bytes, FUNC_PROTO without params 12
    struct.pack_into("<I", blob, func, 0x7FFFFFF0)
    with pytest.raises(ObjectFormatError):
        format_c(Btf.from_bytes(bytes(blob)))


@pytest.mark.parametrize("size", [(2 << 20) + 3, 0xFFFFFFF0])
def test_huge_struct_padding_is_one_array(size: int, tmp_path: Path) -> None:
    """A struct of 4 GiB with one int once made the C dump emit half a billion `long: 64;` lines
    (22 GB of memory before the OOM killer): a gap above 1 MiB is a char array of the same bytes."""
    b_off = min(size - 4, 256 << 20) & ~3  # a member offset is in bits, in 32 bits
    types = [Int("int", 4, IntEncoding.SIGNED), Struct("big", size, [Member("a", 1, 0), Member("b", 1, 8 * b_off)])]
    text = format_c(Btf.from_types(types))
    assert len(text) < 100_000
    assert "char __pad_4[" in text
    # clang agrees on the layout: the size and where the second member sits
    src = tmp_path / "t.c"
    src.write_text(text + f'\n_Static_assert(sizeof(struct big) == {size}UL, "size");\n'
                   f'_Static_assert(__builtin_offsetof(struct big, b) == {b_off}UL, "offset of b");\n')
    res = subprocess.run(["clang", "-fsyntax-only", "-target", "bpf", str(src)], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
