"""Global data: .data/.rodata/.bss (and custom ones) as array maps, variables, constants= (pure)."""

from __future__ import annotations

import struct

import pytest
from obj_oracles import btf_json, objdump_sections, objdump_symbols

from bpfkit._uapi import MapFlags, MapType
from bpfkit.obj import MapKind, ObjectSpec


@pytest.fixture(scope="module")
def path(compile_bpf):  # type: ignore[no-untyped-def]
    return compile_bpf("globals.bpf.c")


@pytest.fixture
def spec(path) -> ObjectSpec:  # type: ignore[no-untyped-def]
    return ObjectSpec.from_file(path)


def test_data_maps(spec: ObjectSpec, path) -> None:  # type: ignore[no-untyped-def]
    secs = objdump_sections(path)
    want = {
        "globals.data": (".data", MapKind.DATA, MapFlags.MMAPABLE),
        "globals.rodata": (".rodata", MapKind.RODATA, MapFlags.RDONLY_PROG | MapFlags.MMAPABLE),
        "globals.bss": (".bss", MapKind.BSS, MapFlags.MMAPABLE),
        ".data.custom": (".data.custom", MapKind.DATA, MapFlags.MMAPABLE),
        ".rodata.custom": (".rodata.custom", MapKind.RODATA, MapFlags.RDONLY_PROG | MapFlags.MMAPABLE),
    }
    for name, (section, kind, flags) in want.items():
        m = spec.maps[name]
        assert (m.type, m.key_size, m.max_entries) == (MapType.ARRAY, 4, 1)
        assert (m.section, m.kind, m.flags) == (section, kind, flags), name
        assert m.value_size == secs[section]
        assert m.readonly == m.freeze == (kind is MapKind.RODATA)
        assert m.key_type_id is None and m.value_type_id is not None
        assert spec.btf is not None and spec.btf[m.value_type_id].name == section
        assert (m.data is None) == (kind is MapKind.BSS)
    # string literals land in .rodata.str1.1, a map without variables (not mmapable)
    strs = [m for m in spec.maps.values() if m.section.startswith(".rodata.str")]
    assert len(strs) == 1 and strs[0].flags == MapFlags.RDONLY_PROG and strs[0].value_type_id is None
    assert strs[0].data is not None and b"literal %d\n" in strs[0].data
    assert strs[0].name == ".rodata.str1.1"


def test_variables(spec: ObjectSpec, path) -> None:  # type: ignore[no-untyped-def]
    syms = objdump_symbols(path)
    v = spec.variables
    for name in ("data_int", "data_neg", "ro_u64", "ro_arr", "ro_flag", "ro_plain", "bss_u32", "bss_arr", "custom_data", "custom_ro"):
        value, size, _, section = syms[name]
        assert (v[name].offset, v[name].size, v[name].section) == (value, size, section), name
        assert v[name].is_global
    assert v["ro_u64"].const_volatile and v["ro_u64"].readonly
    assert v["ro_arr"].const_volatile and v["custom_ro"].const_volatile
    assert not v["ro_plain"].const_volatile and v["ro_plain"].readonly
    assert not v["data_int"].readonly and not v["data_int"].const_volatile
    assert not v["static_counter"].is_global  # static: libbpf's skeletons do not show it
    assert not v["hidden_int"].is_global  # hidden visibility counts as static
    assert v["custom_data"].map == ".data.custom"
    assert spec.get_variable("data_int") == struct.pack("<i", 42)
    assert spec.get_variable("data_neg") == struct.pack("<q", -5)
    assert spec.get_variable("ro_u64") == struct.pack("<Q", 0x1122334455667788)
    assert spec.get_variable("ro_arr") == struct.pack("<3i", 7, 8, 9)
    assert spec.get_variable("ro_flag") == b"\x01"
    assert spec.get_variable("ro_plain") == b"abc\0"
    assert spec.get_variable("static_counter") == struct.pack("<i", 3)
    assert spec.get_variable("hidden_int") == struct.pack("<i", 11)
    assert spec.get_variable("custom_ro") == struct.pack("<i", 99)
    assert spec.get_variable("bss_arr") == bytes(64)


def test_btf_datasec_fixed_up(spec: ObjectSpec, path) -> None:  # type: ignore[no-untyped-def]
    """clang leaves DATASEC sizes and offsets zero; the spec's BTF carries the ELF's values."""
    raw = btf_json(path)
    raw_secs = {t["name"]: t for t in raw.values() if t["kind"] == "DATASEC"}
    assert raw_secs[".data"]["size"] == 0  # what clang wrote
    secs = objdump_sections(path)
    syms = objdump_symbols(path)
    assert spec.btf is not None
    for name in (".data", ".rodata", ".bss", ".data.custom", ".rodata.custom"):
        ds = spec.btf[spec.btf.find(name)[0]]
        assert ds.size == secs[name]  # type: ignore[union-attr]
        for vs in ds.vars:  # type: ignore[union-attr]
            var = spec.btf[vs.type]
            if var.name in syms:
                assert vs.offset == syms[var.name][0], var.name


def test_set_variable(spec: ObjectSpec) -> None:
    """constants= before load: ints encoded by size and BTF signedness, bytes as they are."""
    copy = spec.copy()
    spec.set_variable("ro_u64", 5)
    assert spec.get_variable("ro_u64") == struct.pack("<Q", 5)
    spec.set_variable("data_neg", -1)
    assert spec.get_variable("data_neg") == b"\xff" * 8
    spec.set_variable("ro_arr", struct.pack("<3i", 1, 2, 3))
    assert spec.get_variable("ro_arr") == struct.pack("<3i", 1, 2, 3)
    spec.set_variable("ro_flag", False)
    assert spec.get_variable("ro_flag") == b"\0"
    spec.set_variable("bss_u32", 0xFFFFFFFF)
    assert spec.maps["globals.bss"].data is not None and spec.get_variable("bss_u32") == b"\xff" * 4
    # neighbours untouched
    assert spec.get_variable("ro_plain") == b"abc\0"
    # the copy kept the original values
    assert copy.get_variable("ro_u64") == struct.pack("<Q", 0x1122334455667788)
    assert copy.maps["globals.bss"].data is None
    with pytest.raises(ValueError):
        spec.set_variable("bss_u32", -1)  # unsigned
    with pytest.raises(ValueError):
        spec.set_variable("data_int", 1 << 31)
    with pytest.raises(ValueError):
        spec.set_variable("ro_arr", b"\0" * 4)  # wrong size
    with pytest.raises(TypeError):
        spec.set_variable("ro_arr", 1)  # an array is set from bytes
    with pytest.raises(TypeError):
        spec.set_variable("data_int", "1")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        spec.set_variable("nope", 1)


def test_object_name_prefix(path) -> None:  # type: ignore[no-untyped-def]
    named = ObjectSpec.from_file(path, name="a_much_longer_name")
    assert "a_much_l.rodata" in named.maps and "a_much_l.data" in named.maps and "a_much_.kconfig" not in named.maps
    anon = ObjectSpec.from_bytes(path.read_bytes())
    assert ".rodata" in anon.maps and anon.variables["ro_u64"].map == ".rodata"


def test_globals_without_btf(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """No BTF: variables come from ELF symbols, maps carry no type ids."""
    path = compile_bpf("globals.bpf.c", flags=("-g0",))
    spec = ObjectSpec.from_file(path)
    assert spec.btf is None
    v = spec.variables
    assert v["data_int"].type_id is None and spec.get_variable("data_int") == struct.pack("<i", 42)
    assert v["ro_u64"].readonly and not v["ro_u64"].const_volatile
    assert all(m.value_type_id is None for m in spec.maps.values())
    assert spec.programs["use_globals"].func_info == []
    spec.set_variable("data_int", 7)
    assert spec.get_variable("data_int") == struct.pack("<i", 7)
