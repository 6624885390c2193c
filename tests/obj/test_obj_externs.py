"""__kconfig and __ksym externs, kfunc calls, the .kconfig map and its contents (pure)."""

from __future__ import annotations

import pytest

from bpfkit.btf import Datasec, Func, FuncLinkage, Var, VarLinkage
from bpfkit.errors import ObjectFormatError, RelocationError
from bpfkit.obj import ExternKind, KconfigType, MapKind, ObjectSpec, parse_kernel_config, resolve_kconfig

KV_6_18 = (6 << 16) | (18 << 8)


@pytest.fixture(scope="module")
def spec(compile_bpf) -> ObjectSpec:  # type: ignore[no-untyped-def]
    return ObjectSpec.from_file(compile_bpf("externs.bpf.c"))


def test_externs_collected(spec: ObjectSpec) -> None:
    by = {e.name: e for e in spec.externs}
    assert set(by) == {
        "LINUX_KERNEL_VERSION",
        "LINUX_HAS_BPF_COOKIE",
        "CONFIG_BPF_SYSCALL",
        "CONFIG_BPF_LSM",
        "CONFIG_DEFAULT_HOSTNAME",
        "CONFIG_HZ",
        "CONFIG_NR_CPUS",
        "CONFIG_CHAR_VAL",
        "CONFIG_SHORT_VAL",
        "runqueues",
        "bpf_link_fops",
        "bpf_weak_sym",
        "bpf_task_acquire",
        "bpf_task_release",
    }
    kinds = {
        "LINUX_KERNEL_VERSION": (KconfigType.INT, 4, False, False),
        "LINUX_HAS_BPF_COOKIE": (KconfigType.BOOL, 1, False, True),
        "CONFIG_BPF_SYSCALL": (KconfigType.BOOL, 1, False, False),
        "CONFIG_BPF_LSM": (KconfigType.TRISTATE, 4, False, True),
        "CONFIG_DEFAULT_HOSTNAME": (KconfigType.CHAR_ARRAY, 16, False, True),
        "CONFIG_HZ": (KconfigType.INT, 4, True, True),
        "CONFIG_NR_CPUS": (KconfigType.INT, 8, False, True),
        "CONFIG_CHAR_VAL": (KconfigType.CHAR, 1, False, True),
        "CONFIG_SHORT_VAL": (KconfigType.INT, 2, False, True),
    }
    for name, (kt, size, signed, weak) in kinds.items():
        e = by[name]
        assert e.kind is ExternKind.KCONFIG
        assert (e.kconfig_type, e.size, e.signed, e.weak) == (kt, size, signed, weak), name
    assert by["runqueues"].kind is ExternKind.KSYM and by["runqueues"].type_id != 0
    assert spec.btf is not None and spec.btf[by["runqueues"].type_id].name == "rq"
    assert by["bpf_link_fops"].kind is ExternKind.KSYM and by["bpf_link_fops"].type_id == 0  # untyped
    assert by["bpf_weak_sym"].weak
    assert by["bpf_task_acquire"].kind is ExternKind.KFUNC
    assert spec.btf[by["bpf_task_acquire"].type_id].kind.name == "FUNC_PROTO"


def test_kconfig_layout(spec: ObjectSpec) -> None:
    """Offsets as libbpf lays them out: by alignment (descending), size, then name; no overlaps."""
    kc = [e for e in spec.externs if e.kind is ExternKind.KCONFIG]
    order = [e.name for e in kc]
    assert order == [
        "CONFIG_NR_CPUS",
        "CONFIG_BPF_LSM",
        "CONFIG_HZ",
        "LINUX_KERNEL_VERSION",
        "CONFIG_SHORT_VAL",
        "CONFIG_BPF_SYSCALL",
        "CONFIG_CHAR_VAL",
        "LINUX_HAS_BPF_COOKIE",
        "CONFIG_DEFAULT_HOSTNAME",
    ]
    end = 0
    for e in kc:
        assert e.offset >= end and e.offset % min(e.size, 8) == 0 or e.kconfig_type is KconfigType.CHAR_ARRAY
        end = e.offset + e.size
    m = spec.maps[spec.kconfig_map or ""]
    assert m.kind is MapKind.KCONFIG and m.value_size == end and m.readonly and m.freeze
    assert m.name == "externs.kconfig"
    # the BTF DATASEC now describes the map value
    assert spec.btf is not None and m.value_type_id is not None
    ds = spec.btf[m.value_type_id]
    assert isinstance(ds, Datasec) and ds.size == end
    for vs in ds.vars:
        var = spec.btf[vs.type]
        assert isinstance(var, Var) and var.linkage == VarLinkage.GLOBAL
        assert vs.offset == next(e.offset for e in kc if e.name == var.name)


def test_ksyms_btf_fixup(spec: ObjectSpec) -> None:
    """.ksyms externs become 4-byte placeholders (kfuncs share one dummy VAR), as the kernel requires."""
    assert spec.btf is not None
    ds = spec.btf[spec.btf.find(".ksyms")[0]]
    assert isinstance(ds, Datasec)
    assert ds.size == 4 * len(ds.vars)
    for i, vs in enumerate(ds.vars):
        assert (vs.offset, vs.size) == (4 * i, 4)
        var = spec.btf[vs.type]
        assert isinstance(var, Var) and var.linkage == VarLinkage.GLOBAL
    f = spec.btf[spec.btf.find("bpf_task_acquire")[0]]
    assert isinstance(f, Func) and f.linkage == FuncLinkage.GLOBAL
    # the fixed-up BTF still marshals
    assert spec.btf.to_bytes()


def test_extern_references(spec: ObjectSpec) -> None:
    prog = spec.programs["handle_switch"]
    assert prog.type.name == "TRACING" and prog.attach_target == "sched_switch"
    refs = {(r.name, r.kind) for r in prog.extern_refs}
    assert ("bpf_task_acquire", ExternKind.KFUNC) in refs
    assert ("bpf_link_fops", ExternKind.KSYM) in refs
    assert ("CONFIG_HZ", ExternKind.KCONFIG) in refs
    for r in prog.extern_refs:
        ins = prog.instructions[r.insn]
        if r.kind is ExternKind.KFUNC:
            assert (ins.opcode, ins.src_reg, ins.imm, ins.off) == (0x85, 2, 0, 0)
        else:
            assert ins.opcode == 0x18
    # kconfig loads are map value references into the .kconfig map
    kmap = spec.kconfig_map
    by = {e.name: e for e in spec.externs}
    for r in prog.extern_refs:
        if r.kind is ExternKind.KCONFIG:
            ref = next(m for m in prog.map_refs if m.insn == r.insn)
            assert (ref.map, ref.offset) == (kmap, by[r.name].offset)
            assert prog.instructions[r.insn + 1].imm == by[r.name].offset
    assert ("handle_switch", next(r.insn for r in prog.extern_refs if r.name == "CONFIG_HZ")) in by["CONFIG_HZ"].references


def test_resolve_kconfig(spec: ObjectSpec) -> None:
    cfg = parse_kernel_config(
        "#\n# Automatically generated\n#\nCONFIG_BPF_SYSCALL=y\nCONFIG_BPF_LSM=m\n# CONFIG_FOO is not set\n"
        'CONFIG_DEFAULT_HOSTNAME="(none)"\nCONFIG_HZ=250\nCONFIG_NR_CPUS=0x2000\nCONFIG_CHAR_VAL=y\nCONFIG_SHORT_VAL=65535\n'
    )
    data = resolve_kconfig(spec, cfg, KV_6_18, extra={"LINUX_HAS_BPF_COOKIE": 1})
    by = {e.name: e for e in spec.externs}

    def get(name: str) -> bytes:
        e = by[name]
        return data[e.offset : e.offset + e.size]

    assert int.from_bytes(get("LINUX_KERNEL_VERSION"), "little") == KV_6_18
    assert get("LINUX_HAS_BPF_COOKIE") == b"\x01"
    assert get("CONFIG_BPF_SYSCALL") == b"\x01"
    assert int.from_bytes(get("CONFIG_BPF_LSM"), "little") == 2  # TRI_MODULE
    assert get("CONFIG_DEFAULT_HOSTNAME") == b"(none)" + bytes(10)
    assert int.from_bytes(get("CONFIG_HZ"), "little", signed=True) == 250
    assert int.from_bytes(get("CONFIG_NR_CPUS"), "little") == 0x2000
    assert get("CONFIG_CHAR_VAL") == b"y"
    assert int.from_bytes(get("CONFIG_SHORT_VAL"), "little") == 65535


def test_resolve_kconfig_defaults_and_failures(spec: ObjectSpec) -> None:
    """Weak externs default to zero; a strong one that is missing is a RelocationError."""
    data = resolve_kconfig(spec, {"CONFIG_BPF_SYSCALL": "n"}, KV_6_18)
    assert len(data) == spec.maps[spec.kconfig_map or ""].value_size
    by = {e.name: e for e in spec.externs}
    assert data[by["CONFIG_HZ"].offset : by["CONFIG_HZ"].offset + 4] == bytes(4)
    with pytest.raises(RelocationError) as exc:
        resolve_kconfig(spec, {}, KV_6_18)
    assert "CONFIG_BPF_SYSCALL" in str(exc.value)
    with pytest.raises(RelocationError):
        resolve_kconfig(spec, {"CONFIG_BPF_SYSCALL": "y"}, 0)  # kernel version unknown
    with pytest.raises(RelocationError):
        resolve_kconfig(spec, {"CONFIG_BPF_SYSCALL": "m"}, KV_6_18)  # 'm' for a bool
    with pytest.raises(RelocationError):
        resolve_kconfig(spec, {"CONFIG_BPF_SYSCALL": "y", "CONFIG_SHORT_VAL": "65536"}, KV_6_18)
    with pytest.raises(RelocationError):
        resolve_kconfig(spec, {"CONFIG_BPF_SYSCALL": "y", "CONFIG_HZ": '"str"'}, KV_6_18)
    with pytest.raises(RelocationError):
        resolve_kconfig(spec, {"CONFIG_BPF_SYSCALL": "y", "CONFIG_HZ": "12abc"}, KV_6_18)
    assert resolve_kconfig(ObjectSpec(name="empty"), {}, KV_6_18) == b""


def test_parse_kernel_config() -> None:
    text = "CONFIG_A=y\n\n# CONFIG_B is not set\nCONFIG_C=\"x y\"\nCONFIG_D=-3\n  CONFIG_E=m  \n"
    assert parse_kernel_config(text) == {"CONFIG_A": "y", "CONFIG_C": '"x y"', "CONFIG_D": "-3", "CONFIG_E": "m"}
    with pytest.raises(ObjectFormatError):
        parse_kernel_config("CONFIG_X\n")
    with pytest.raises(ObjectFormatError):
        parse_kernel_config("CONFIG_X=\n")


def test_kconfig_variables_are_readonly(spec: ObjectSpec) -> None:
    v = spec.variables["CONFIG_HZ"]
    assert v.map == spec.kconfig_map and v.readonly
    with pytest.raises(ValueError):
        spec.set_variable("CONFIG_HZ", 100)


def test_extern_without_btf_is_an_error(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    """Objects without BTF (no -g) cannot describe their externs."""
    src = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\nextern int CONFIG_HZ __kconfig;\nint out;\n'
    src += 'SEC("raw_tp/x") int p(void *c) { out = CONFIG_HZ; return 0; }\nchar L[] SEC("license") = "GPL";\n'
    path = compile_bpf(src, flags=("-g0",))
    with pytest.raises(ObjectFormatError):
        ObjectSpec.from_file(path)
