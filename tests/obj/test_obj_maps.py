"""BTF-defined and legacy map definitions, compared with bpftool's view of the same objects."""

from __future__ import annotations

import pytest
from obj_oracles import btf_maps, objdump_relocs, objdump_sections, objdump_symbols

from bpfkit._uapi import MapFlags, MapType
from bpfkit.errors import ObjectFormatError
from bpfkit.obj import MapKind, ObjectSpec, Pinning
from bpfkit.obj._maps import internal_map_name, parse_legacy_map_def


def test_btf_maps_agree_with_bpftool(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    path = compile_bpf("maps.bpf.c")
    spec = ObjectSpec.from_file(path)
    want = btf_maps(path)
    assert set(want) == {n for n, m in spec.maps.items() if m.kind is MapKind.BTF}
    for name, attrs in want.items():
        m = spec.maps[name]
        assert m.type == MapType(attrs["type"]), name
        assert m.max_entries == attrs.get("max_entries", 0), name
        assert m.flags == attrs.get("map_flags", 0), name
        assert m.numa_node == attrs.get("numa_node", 0), name
        assert m.pinning == attrs.get("pinning", 0), name
        assert m.key_size == attrs.get("key_size", 0), name
        assert m.value_size == attrs.get("value_size", 4 if "values" in attrs else 0), name
        if "key_type_id" in attrs:
            assert m.key_type_id == attrs["key_type_id"], name
            assert m.key_size == attrs["key_size"], name
        else:
            assert m.key_type_id is None
        if "value_type_id" in attrs:
            assert m.value_type_id == attrs["value_type_id"], name
            assert m.value_size == attrs["value_size"], name
        elif "values" in attrs:
            assert m.value_size == 4
        else:
            assert m.value_type_id is None
            assert m.value_size == attrs.get("value_size", 0), name
    # .maps offsets are the ELF symbols' values
    syms = objdump_symbols(path)
    for name in want:
        assert spec.maps[name].offset == syms[name][0]


def test_map_attributes(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    spec = ObjectSpec.from_file(compile_bpf("maps.bpf.c"))
    m = spec.maps
    assert (m["by_type"].key_size, m["by_type"].value_size, m["by_type"].flags) == (16, 8, MapFlags.NO_PREALLOC)
    assert (m["by_size"].key_size, m["by_size"].value_size, m["by_size"].key_type_id) == (4, 24, None)
    assert m["pinned_lru"].pinning is Pinning.BY_NAME
    assert m["pinned_lru"].flags == MapFlags.NUMA_NODE
    assert m["bloom"].map_extra == 3 and m["bloom"].key_size == 0 and m["bloom"].value_size == 4
    assert m["events"].type is MapType.PERF_EVENT_ARRAY and m["events"].max_entries == 0
    assert m["percpu"].type is MapType.PERCPU_ARRAY and m["percpu"].value_size == 16


def test_maps_of_maps_and_prog_arrays(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """__array(values, ...) gives the inner template; .rel.maps gives the static initial values."""
    path = compile_bpf("maps.bpf.c")
    spec = ObjectSpec.from_file(path)
    outer = spec.maps["outer_arr"]
    assert outer.type is MapType.ARRAY_OF_MAPS
    assert outer.value_size == 4
    assert outer.inner is not None
    assert (outer.inner.name, outer.inner.type, outer.inner.max_entries, outer.inner.key_size, outer.inner.value_size) == (
        "outer_arr.inner",
        MapType.ARRAY,
        4,
        4,
        8,
    )
    assert outer.contents == {0: "inner_a", 2: "inner_b"}
    hm = spec.maps["outer_hash"]
    assert hm.inner is not None and hm.inner.type is MapType.HASH and hm.inner.max_entries == 2
    assert hm.contents == {}
    jt = spec.maps["jmp_table"]
    assert jt.type is MapType.PROG_ARRAY and jt.inner is None
    assert (jt.key_size, jt.value_size) == (4, 4)
    assert jt.contents == {1: "tail_a", 5: "tail_b"}
    # the slots agree with the relocations llvm-objdump lists for .maps
    relocs = objdump_relocs(path)[".maps"]
    slots = {name for _, _, name in relocs}
    assert slots == {"inner_a", "inner_b", "tail_a", "tail_b"}


def test_map_references_in_instructions(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """Every R_BPF_64_64 against a map symbol becomes an fd MapReference at that instruction."""
    path = compile_bpf("maps.bpf.c")
    spec = ObjectSpec.from_file(path)
    prog = spec.programs["entry"]
    relocs = [(off // 8, name) for off, t, name in objdump_relocs(path)["raw_tp/sys_enter"] if t == "R_BPF_64_64"]
    start = objdump_symbols(path)["entry"][0] // 8
    want = sorted((i - start, n) for i, n in relocs if i >= start)
    assert sorted((r.insn, r.map) for r in prog.map_refs) == want
    for r in prog.map_refs:
        ins = prog.instructions[r.insn]
        assert ins.opcode == 0x18 and ins.src_reg == 1 and ins.imm == 0
        assert prog.instructions[r.insn + 1].imm == 0


def test_legacy_maps(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """SEC("maps") struct bpf_map_def (source document 001), sized by symbol, relocated as map fds."""
    path = compile_bpf("legacy.bpf.c")
    spec = ObjectSpec.from_file(path)
    counts, table = spec.maps["counts"], spec.maps["table"]
    assert counts.kind is MapKind.LEGACY and counts.section == "maps"
    assert (counts.type, counts.key_size, counts.value_size, counts.max_entries, counts.flags) == (MapType.HASH, 4, 8, 256, 0)
    assert (table.type, table.key_size, table.value_size, table.max_entries) == (MapType.ARRAY, 4, 16, 10)
    assert objdump_sections(path)["maps"] == 40
    prog = spec.programs["count_packets"]
    assert {r.map for r in prog.map_refs} == {"counts", "table"}
    assert spec.license == "GPL" and prog.license == "GPL"
    assert spec.kernel_version == 0x060C00 == prog.kernel_version
    assert spec.btf is not None


def test_legacy_def_parsing() -> None:
    raw = bytes.fromhex("01000000 04000000 08000000 00010000 01000000 07000000".replace(" ", ""))
    m = parse_legacy_map_def("x", raw, "little")
    assert (m.type, m.key_size, m.value_size, m.max_entries, m.flags) == (MapType.HASH, 4, 8, 256, MapFlags.NO_PREALLOC)
    assert m.extra == b"\x07\0\0\0"
    short = parse_legacy_map_def("y", raw[:12], "little")
    assert (short.value_size, short.max_entries) == (8, 0)
    be = parse_legacy_map_def("z", bytes.fromhex("00000002000000040000000400000001"), "big")
    assert (be.type, be.key_size, be.value_size, be.max_entries) == (MapType.ARRAY, 4, 4, 1)
    with pytest.raises(ObjectFormatError):
        parse_legacy_map_def("w", b"\xff\xff\0\0" + bytes(16), "little")


@pytest.mark.parametrize(
    ("obj", "section", "expected"),
    [
        ("bootstrap", ".rodata", "bootstra.rodata"),
        ("bootstrap", ".bss", "bootstra.bss"),
        ("bootstrap", ".data", "bootstra.data"),
        ("bootstrap", ".kconfig", "bootstr.kconfig"),
        ("t", ".bss", "t.bss"),
        ("", ".data", ".data"),
        ("bootstrap", ".rodata.str1.1", ".rodata.str1.1"),
        ("bootstrap", ".data.custom", ".data.custom"),
        ("x", ".rodata.abracadabra", ".rodata.abracad"),
        ("my-obj", ".bss", "my_obj.bss"),
    ],
)
def test_internal_map_names(obj: str, section: str, expected: str) -> None:
    """libbpf's naming, so that bpftool shows the same names for maps bpfkit creates."""
    assert internal_map_name(obj, section) == expected
