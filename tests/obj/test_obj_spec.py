"""ObjectSpec of real objects against llvm-objdump and bpftool: the bootstrap tool, section names."""

from __future__ import annotations

import pytest
from obj_oracles import btf_maps, objdump_relocs, objdump_symbols

from bpfkit._uapi import AttachType, MapType, ProgFlags, ProgType
from bpfkit.btf import Func
from bpfkit.obj import MapKind, MapRefKind, ObjectSpec, parse_section


@pytest.fixture(scope="module")
def boot(compile_bpf):  # type: ignore[no-untyped-def]
    return compile_bpf("bootstrap.bpf.c")


def test_bootstrap_maps(boot) -> None:  # type: ignore[no-untyped-def]
    spec = ObjectSpec.from_file(boot)
    assert spec.name == "bootstrap"
    # .bss holds only unused_event, the pointer that keeps struct event in the BTF
    assert list(spec.maps) == ["exec_start", "rb", "rb_lost", "bootstra.rodata", "bootstra.bss"]
    es = spec.maps["exec_start"]
    assert (es.type, es.key_size, es.value_size, es.max_entries) == (MapType.HASH, 4, 8, 8192)
    rb = spec.maps["rb"]
    assert (rb.type, rb.key_size, rb.value_size, rb.max_entries) == (MapType.RINGBUF, 0, 0, 256 * 1024)
    lost = spec.maps["rb_lost"]
    assert (lost.type, lost.key_size, lost.value_size, lost.max_entries) == (MapType.PERCPU_ARRAY, 4, 8, 1)
    want = btf_maps(boot)
    assert es.key_type_id == want["exec_start"]["key_type_id"] and es.value_type_id == want["exec_start"]["value_type_id"]
    ro = spec.maps["bootstra.rodata"]
    assert ro.kind is MapKind.RODATA and ro.readonly and ro.freeze and ro.value_size == 24  # 3 u64 constants
    assert spec.license == "Dual MIT/GPL"


def test_bootstrap_variables(boot) -> None:  # type: ignore[no-untyped-def]
    spec = ObjectSpec.from_file(boot)
    syms = objdump_symbols(boot)
    # pidns_*: tools/pidns.h; unused_event: the pointer that keeps struct event in the BTF
    assert sorted(spec.variables) == ["min_duration_ns", "pidns_dev", "pidns_ino", "unused_event"]
    ue = spec.variables["unused_event"]
    assert (ue.map, ue.readonly, ue.size) == ("bootstra.bss", False, 8)
    v = spec.variables["min_duration_ns"]
    assert v.const_volatile and v.readonly and v.map == "bootstra.rodata"
    assert (v.offset, v.size) == (syms["min_duration_ns"][0], 8)
    assert spec.get_variable("min_duration_ns") == bytes(8)
    spec.set_variable("min_duration_ns", 1_000_000)
    data = spec.maps["bootstra.rodata"].data
    assert data == bytes(v.offset) + (1_000_000).to_bytes(8, "little") + bytes(24 - v.offset - 8)


def test_bootstrap_programs(boot) -> None:  # type: ignore[no-untyped-def]
    spec = ObjectSpec.from_file(boot)
    syms = objdump_symbols(boot)
    relocs = objdump_relocs(boot)
    assert spec.btf is not None
    for name, target in (("handle_exec", "sched/sched_process_exec"), ("handle_exit", "sched/sched_process_exit")):
        p = spec.programs[name]
        assert p.section == f"tp/{target}" == syms[name][3]
        assert (p.type, p.expected_attach_type, p.attach_target) == (ProgType.TRACEPOINT, None, target)
        assert p.auto_attach and p.autoload and not p.sleepable and p.flags == ProgFlags(0)
        assert p.license == "Dual MIT/GPL"
        assert len(p.instructions) * 8 == syms[name][1]  # no subprograms
        assert p.subprograms == []
        f = spec.btf[p.btf_func_type_id or 0]
        assert isinstance(f, Func) and f.name == name
        want = []
        for off, _t, sym in relocs[p.section]:
            value, _, _, section = syms[sym]
            kind = MapRefKind.FD if section == ".maps" else MapRefKind.VALUE
            want.append((off // 8, sym, kind, value if kind is MapRefKind.VALUE else 0))
        assert [(r.insn, r.symbol, r.kind, r.offset) for r in p.map_refs] == want
        assert {r.map for r in p.map_refs} >= {"exec_start", "rb", "bootstra.rodata"}


def test_copy_is_independent(boot) -> None:  # type: ignore[no-untyped-def]
    spec = ObjectSpec.from_file(boot)
    c = spec.copy()
    before = spec.programs["handle_exec"].instructions[0].imm
    c.programs["handle_exec"].instructions[0].imm = before + 99
    c.maps["exec_start"].max_entries = 1
    c.set_variable("min_duration_ns", 42)
    c.programs["handle_exec"].map_refs.clear()
    assert spec.programs["handle_exec"].instructions[0].imm == before
    assert spec.maps["exec_start"].max_entries == 8192
    assert spec.get_variable("min_duration_ns") == bytes(8)
    assert spec.programs["handle_exec"].map_refs
    assert c.btf is spec.btf


def test_program_types_by_section(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    path = compile_bpf("sections.bpf.c")
    spec = ObjectSpec.from_file(path)
    syms = objdump_symbols(path)
    names = [n for n, (_, _, flags, sec) in syms.items() if "F" in flags.split()]
    assert set(spec.programs) == set(names)
    for name, p in spec.programs.items():
        elf_section = syms[name][3]
        ps = parse_section(elf_section)
        assert p.section == elf_section.lstrip("?")
        assert p.type is ps.prog_type
        assert p.section_def is ps.definition
        assert p.attach_target == ps.target
        assert p.autoload == (not elf_section.startswith("?"))
        want_at = ps.definition.attach_type if ps.definition else None
        assert p.expected_attach_type is want_at
    P = spec.programs
    assert (P["s_tp_btf"].type, P["s_tp_btf"].expected_attach_type) == (ProgType.TRACING, AttachType.TRACE_RAW_TP)
    assert P["s_fentry_s"].sleepable and P["s_lsm_s"].sleepable and P["s_uretprobe_s"].sleepable and P["s_syscall"].sleepable
    assert P["s_xdp_frags"].flags == ProgFlags.XDP_HAS_FRAGS
    assert P["s_uretprobe_s"].attach_target == "/bin/bash:readline"
    assert P["s_kprobe_multi"].expected_attach_type is AttachType.TRACE_KPROBE_MULTI
    assert P["s_noautoload"].autoload is False and P["s_noautoload"].section == "tp/sched/sched_wakeup"
    assert P["s_unknown"].type is ProgType.UNSPEC and P["s_unknown"].section_def is None
    assert P["s_kprobe_bare"].auto_attach is False and P["s_kprobe"].auto_attach is True
    assert P["s_xdp"].auto_attach is False


def _var_at(spec: ObjectSpec, m: str, off: int) -> str:
    """The variable holding byte ``off`` of map ``m`` ('' when none; string literals have none)."""
    for v in spec.variables.values():
        if v.map == m and v.offset <= off < v.offset + max(v.size, 1):
            return v.name.rsplit(".", 1)[-1]
    return ""


def test_statically_linked_object(compile_bpf, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`bpftool gen object` output (DATASEC sizes filled in, sections merged) reads the same."""
    import subprocess

    a, b = compile_bpf("calls.bpf.c"), compile_bpf("globals.bpf.c")
    out = tmp_path / "linked.bpf.o"
    subprocess.run(["bpftool", "gen", "object", str(out), str(a), str(b)], check=True, capture_output=True)
    linked = ObjectSpec.from_file(out)
    assert linked.name == "linked"
    assert {"arr", "linked.bss", "linked.data", "linked.rodata", ".data.custom", ".rodata.custom"} <= set(linked.maps)
    for src in (a, b):
        orig = ObjectSpec.from_file(src)
        for name, p in orig.programs.items():
            q = linked.programs[name]
            assert (q.type, q.section, q.subprograms) == (p.type, p.section, p.subprograms)
            assert len(q.instructions) == len(p.instructions)
            assert [r.insn for r in q.map_refs] == [r.insn for r in p.map_refs]
            for r, s in zip(p.map_refs, q.map_refs, strict=True):
                assert r.kind == s.kind
                assert _var_at(orig, r.map, r.offset) == _var_at(linked, s.map, s.offset)
            skip = {r.insn + 1 for r in q.map_refs}
            for i, (x, y) in enumerate(zip(p.instructions, q.instructions, strict=True)):
                if i not in skip:
                    assert (x.opcode, x.dst_reg, x.src_reg, x.off, x.imm) == (y.opcode, y.dst_reg, y.src_reg, y.off, y.imm)
            assert [r.insn_off for r in q.func_info] == [r.insn_off for r in p.func_info]
    assert linked.get_variable("data_int") == (42).to_bytes(4, "little")
    assert linked.variables["ro_u64"].const_volatile
