"""Linking: subprograms appended, calls and callback addresses fixed, .BTF.ext re-based (pure)."""

from __future__ import annotations

from obj_oracles import objdump_symbols

from bpfkit.asm import decode
from bpfkit.btf import Func
from bpfkit.obj import ObjectSpec
from bpfkit.obj._elf import ElfFile

# The call graph of calls.bpf.c as written in its source (callbacks included).
CALLS = {
    "prog_one": {"top", "loop_cb"},
    "prog_two": {"each_cb", "other", "mid"},
    "top": {"mid"},
    "mid": {"leaf"},
    "other": {"leaf"},
    "each_cb": {"leaf"},
    "leaf": set(),
    "loop_cb": set(),
    "prog_plain": set(),
}


def reachable(name: str) -> set[str]:
    seen: set[str] = set()
    todo = [name]
    while todo:
        for callee in CALLS[todo.pop()]:
            if callee not in seen:
                seen.add(callee)
                todo.append(callee)
    return seen


def func_names(spec: ObjectSpec, prog_name: str) -> dict[int, str]:
    """Linked instruction offset -> function name, from the program's func_info."""
    assert spec.btf is not None
    out = {}
    for r in spec.programs[prog_name].func_info:
        t = spec.btf[r.type_id]
        assert isinstance(t, Func)
        out[r.insn_off] = t.name
    return out


def test_instruction_counts_match_symbol_sizes(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    path = compile_bpf("calls.bpf.c")
    spec = ObjectSpec.from_file(path)
    sizes = {n: s for n, (_, s, _, _) in objdump_symbols(path).items()}
    for name in ("prog_one", "prog_two", "prog_plain"):
        prog = spec.programs[name]
        want = sizes[name] + sum(sizes[f] for f in reachable(name))
        assert len(prog.instructions) * 8 == want, name
        assert set(prog.subprograms) == reachable(name)
        assert len(prog.subprograms) == len(set(prog.subprograms))
    assert set(spec.programs) == {"prog_one", "prog_two", "prog_plain"}  # .text functions are not programs


def test_call_graph_after_linking(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """Every call and callback load lands on the start of the right function."""
    spec = ObjectSpec.from_file(compile_bpf("calls.bpf.c"))
    for pname in ("prog_one", "prog_two"):
        prog = spec.programs[pname]
        starts = func_names(spec, pname)
        assert starts[0] == pname
        assert sorted(starts.values()) == sorted([pname, *prog.subprograms])
        bounds = sorted(starts)
        edges: set[tuple[str, str]] = set()
        for i, ins in enumerate(prog.instructions):
            is_call = ins.opcode == 0x85 and ins.src_reg == 1
            is_cb = ins.opcode == 0x18 and ins.src_reg == 4
            if not (is_call or is_cb):
                continue
            target = i + ins.imm + 1
            assert target in starts, (pname, i)
            caller = starts[max(b for b in bounds if b <= i)]
            edges.add((caller, starts[target]))
        want = {(c, d) for c in [pname, *prog.subprograms] for d in CALLS[c]}
        assert edges == want, pname


def test_subprogram_bodies_are_copies(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """Appended code equals the .text function, except the immediates linking rewrote."""
    path = compile_bpf("calls.bpf.c")
    spec = ObjectSpec.from_file(path)
    elf = ElfFile(path.read_bytes())
    text = elf.section(".text")
    assert text is not None
    text_insns = decode(elf.section_data(text))
    syms = objdump_symbols(path)
    for pname in ("prog_one", "prog_two"):
        prog = spec.programs[pname]
        for off, name in func_names(spec, pname).items():
            if name == pname:
                continue
            start, size = syms[name][0] // 8, syms[name][1] // 8
            orig = text_insns[start : start + size]
            linked = prog.instructions[off : off + size]
            for a, b in zip(orig, linked, strict=True):
                assert (a.opcode, a.dst_reg, a.off) == (b.opcode, b.dst_reg, b.off)
                if a.opcode not in (0x85, 0x18) and a.opcode != 0:
                    assert (a.src_reg, a.imm) == (b.src_reg, b.imm)


def test_btf_ext_rebased(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    spec = ObjectSpec.from_file(compile_bpf("calls.bpf.c"))
    for prog in spec.programs.values():
        n = len(prog.instructions)
        assert [r.insn_off for r in prog.func_info] == sorted(r.insn_off for r in prog.func_info)
        assert len(prog.func_info) == 1 + len(prog.subprograms)
        offs = [r.insn_off for r in prog.line_info]
        assert offs == sorted(offs) and offs[0] == 0 and offs[-1] < n
        # every function start has a line record
        assert {r.insn_off for r in prog.func_info} <= set(offs)
        assert prog.btf_func_type_id == prog.func_info[0].type_id


def test_data_references_in_subprograms(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """Global data used inside appended subprograms is referenced at the linked positions."""
    spec = ObjectSpec.from_file(compile_bpf("calls.bpf.c"))
    bss = spec.variables["total"].map
    for pname in ("prog_one", "prog_two"):
        prog = spec.programs[pname]
        starts = func_names(spec, pname)
        bounds = sorted(starts)
        users = {starts[max(b for b in bounds if b <= r.insn)] for r in prog.map_refs if r.map == bss}
        assert "leaf" in users
        for r in prog.map_refs:
            ins = prog.instructions[r.insn]
            assert ins.opcode == 0x18
            assert ins.src_reg == (2 if r.kind.value == "value" else 1)
            assert prog.instructions[r.insn + 1].imm == r.offset
    two = spec.programs["prog_two"]
    assert any(r.map == "arr" and r.kind.value == "fd" for r in two.map_refs)


def test_core_relocations_rebased(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """CO-RE records of each program section land on the same instructions of the linked program."""
    path = compile_bpf("bootstrap.bpf.c")
    spec = ObjectSpec.from_file(path)
    assert spec.btf_ext is not None
    syms = objdump_symbols(path)
    for prog in spec.programs.values():
        recs = spec.btf_ext.core_relos[prog.section]
        start = syms[prog.name][0] // 8
        assert [(r.insn_off // 8 - start, r.access, r.kind) for r in recs] == [(r.insn_off, r.access, r.kind) for r in prog.core_relos]
        assert prog.core_relos  # BPF_CORE_READ(task, real_parent, tgid)


def test_programs_are_independent(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """A subprogram used by two programs is linked into each separately."""
    spec = ObjectSpec.from_file(compile_bpf("calls.bpf.c"))
    a, b = spec.programs["prog_one"], spec.programs["prog_two"]
    leaf_a = next(o for o, n in func_names(spec, "prog_one").items() if n == "leaf")
    leaf_b = next(o for o, n in func_names(spec, "prog_two").items() if n == "leaf")
    before = b.instructions[leaf_b].imm
    a.instructions[leaf_a].imm = before + 12345
    assert b.instructions[leaf_b].imm == before
