""".BTF.ext parsing on real clang objects and on fuzzed bytes (pure)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfkit.btf import Btf
from bpfkit.btf._ext import CoreRelo, FuncInfo, LineInfo, encode_core_relos, encode_func_info, encode_line_info, parse_ext
from bpfkit.errors import ObjectFormatError
from bpfkit.testing import compile_bpf

ROOT = Path(__file__).resolve().parents[2]


def sections(path: Path) -> tuple[bytes, bytes]:
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        elf = ELFFile(f)
        return elf.get_section_by_name(".BTF").data(), elf.get_section_by_name(".BTF.ext").data()


@pytest.fixture(scope="module")
def bootstrap() -> tuple[Btf, bytes]:
    btf_data, ext_data = sections(compile_bpf(ROOT / "src" / "bpfkit" / "tools" / "bootstrap.bpf.c"))
    return Btf.from_bytes(btf_data), ext_data


def test_bootstrap_ext_has_func_line_and_core_records(bootstrap: tuple[Btf, bytes]) -> None:
    btf, data = bootstrap
    ext = parse_ext(data, btf)
    assert set(ext.func_info) == {"tp/sched/sched_process_exec", "tp/sched/sched_process_exit"}
    for sec, recs in ext.func_info.items():
        assert recs[0].insn_off == 0
        assert btf[recs[0].type_id].kind.name == "FUNC"
    lines = ext.line_info["tp/sched/sched_process_exec"]
    assert any("bootstrap.bpf.c" in li.file_name for li in lines)
    assert any(li.line_num > 0 for li in lines)
    relos = [r for recs in ext.core_relos.values() for r in recs]
    assert relos, "BPF_CORE_READ(task, real_parent, tgid) makes CO-RE relocations"
    assert all(r.access.count(":") >= 1 for r in relos)


def test_records_encode_as_the_kernel_expects() -> None:
    assert encode_func_info([FuncInfo(3, 7)]) == struct.pack("<II", 3, 7)
    li = LineInfo(2, "f.c", "x = 1;", 10, 5, 11, 22)
    assert encode_line_info([li]) == struct.pack("<IIII", 2, 11, 22, (10 << 10) | 5)
    from bpfkit._uapi import CoreReloKind

    cr = CoreRelo(4, 9, "0:1", CoreReloKind.FIELD_BYTE_OFFSET, 33)
    assert encode_core_relos([cr]) == struct.pack("<IIII", 4, 9, 33, 0)


def test_round_trip_through_bytes(bootstrap: tuple[Btf, bytes]) -> None:
    btf, data = bootstrap
    ext = parse_ext(data, btf)
    for sec, recs in ext.func_info.items():
        again = [FuncInfo(*struct.unpack_from("<II", encode_func_info(recs), 8 * i)) for i in range(len(recs))]
        assert again == recs


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 64), st.integers(0, 64))
def test_fuzz_gives_ext_or_format_error(body: bytes, fi_len: int, li_len: int) -> None:
    btf = Btf.from_bytes(Btf.from_types([]).to_bytes())
    hdr = struct.pack("<HBBIIIIIII", 0xEB9F, 1, 0, 32, 0, fi_len, fi_len, li_len, fi_len + li_len, max(0, len(body) - fi_len - li_len))
    try:
        parse_ext(hdr + body, btf)
    except ObjectFormatError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_mutations_of_a_real_ext(bootstrap: tuple[Btf, bytes], data: st.DataObject) -> None:
    btf, ext = bootstrap
    buf = bytearray(ext)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    try:
        parse_ext(bytes(buf), btf)
    except ObjectFormatError:
        pass
