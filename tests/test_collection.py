"""bpfkit.load on real objects: constants, variables, attach/detach, errors, cleanup."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import bpfkit
from bpfkit import features
from bpfkit._uapi import MAP_MIN_KERNEL, PROG_MIN_KERNEL, MapType, ProgType
from bpfkit.btf import Btf
from bpfkit.testing import compile_bpf, require

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "src" / "bpfkit" / "tools"
CORPUS = ROOT / "tests" / "bpf"


@pytest.fixture(scope="module")
def bootstrap_obj() -> Path:
    return compile_bpf(TOOLS / "bootstrap.bpf.c", cflags=["-Werror"])


@pytest.fixture(scope="module")
def global_data_obj() -> Path:
    require("prog:syscall")  # its programs are syscall programs, run with test_run
    return compile_bpf(CORPUS / "global_data.bpf.c", cflags=["-Werror"])


@pytest.mark.quick
@pytest.mark.quick
def test_btf_kinds_the_kernel_lacks_are_sanitized() -> None:
    """An object whose BTF has FLOAT, DECL_TAG, TYPE_TAG and ENUM64 loads on every kernel: where the
    kernel's BTF loader lacks a kind, bpfkit replaces it (keeping type ids) as libbpf does."""
    from bpfkit.btf import BtfKind, DeclTag, Enum64, EnumValue, Float, Ptr, Typedef, TypeTag

    spec = bpfkit.ObjectSpec.from_file(compile_bpf(CORPUS / "map_lru_hash.bpf.c", cflags=["-Werror"]))
    assert spec.btf is not None
    types = [spec.btf[i] for i in spec.btf.own_ids()]
    first = spec.btf.count
    types += [Float("double", 8), Enum64("big", 8, [EnumValue("HUGE", 1 << 40)]), TypeTag("user", first),
              Ptr(first + 2), Typedef("double_t", first), DeclTag("tagged", first + 4, -1)]
    spec.btf = Btf.from_types(types)
    newer = {"FLOAT", "ENUM64", "TYPE_TAG", "DECL_TAG"}
    missing = {k for k in newer if not features.have_btf_kind(k)}
    with bpfkit.load(spec) as col:
        assert col.programs["lru_fill"].info().btf_id and col.btf_fd is not None
        loaded = btf_of_fd(col.btf_fd)  # the kernel's copy, read through our fd (by id would need CAP_SYS_ADMIN)
        kinds = {loaded.kind_of(i).name for i in loaded.own_ids()}
        assert kinds & newer == newer - missing  # what the kernel knows is kept, the rest replaced
        assert loaded.count == spec.btf.count  # same ids
        assert loaded.kind_of(first) == (BtfKind.STRUCT if "FLOAT" in missing else BtfKind.FLOAT)
        assert col.programs["lru_fill"].test_run(ctx=bytes(16), flags=1, cpu=0).retval == 0


def btf_of_fd(fd: int) -> Btf:
    from bpfkit._kbtf import btf_of_fd as parse

    return parse(fd)


def test_loader_refuses_map_and_program_types_the_kernel_lacks() -> None:
    """A map or program type the kernel lacks fails the load with NotSupportedError naming it."""
    base = bpfkit.ObjectSpec.from_file(compile_bpf(CORPUS / "map_lru_hash.bpf.c", cflags=["-Werror"]))
    missing_maps = [t for t in MapType if t != MapType.UNSPEC and not features.have_map_type(t)]
    missing_progs = [t for t in ProgType if t not in (ProgType.UNSPEC, ProgType.EXT) and not features.have_prog_type(t)]
    for t in missing_maps:
        spec = base.copy()
        spec.maps["lru"].type = t
        with pytest.raises(bpfkit.NotSupportedError) as ei:
            bpfkit.load(spec)
        assert (ei.value.feature, ei.value.min_kernel) == (f"map type {t.name.lower()}", MAP_MIN_KERNEL[t.name])
    for pt in missing_progs:
        spec = base.copy()
        spec.programs["lru_fill"].type = pt
        with pytest.raises(bpfkit.NotSupportedError) as ei:
            bpfkit.load(spec)
        assert (ei.value.feature, ei.value.min_kernel) == (f"program type {pt.name.lower()}", PROG_MIN_KERNEL[pt.name])
    if not missing_maps and not missing_progs:
        pytest.skip("probe: this kernel has every map and program type bpfkit knows: nothing to refuse")


@pytest.mark.quick
def test_bootstrap_loads_attaches_and_closes(bootstrap_obj: Path) -> None:
    require("tracefs")  # its tracepoints are found through tracefs
    require("helper:probe_read_kernel@tracepoint")  # BPF_CORE_READ
    with bpfkit.load(bootstrap_obj, constants={"min_duration_ns": 5_000_000}) as obj:
        assert set(obj.programs) == {"handle_exec", "handle_exit"}
        assert {"exec_start", "rb"} <= set(obj.maps)
        assert obj.variables["min_duration_ns"] == 5_000_000
        assert obj.maps["exec_start"].info().max_entries == 8192
        links = obj.attach()
        assert len(links) == 2
        subprocess.run(["/bin/sleep", "0.05"], check=True)
        assert all(not link.closed for link in links)
    assert all(link.closed for link in links)


def test_constants_and_variables(global_data_obj: Path) -> None:
    spec = bpfkit.ObjectSpec.from_file(global_data_obj)
    ro = [v for v in spec.variables.values() if v.const_volatile]
    assert ro, "global_data.bpf.c has const volatile variables"
    with bpfkit.load(spec) as obj:
        for name, v in spec.variables.items():
            assert len(obj.variables.raw(name)) == v.size


def test_unknown_constant_is_a_clear_key_error(bootstrap_obj: Path) -> None:
    with pytest.raises(KeyError, match="min_duration_ns"):
        bpfkit.load(bootstrap_obj, constants={"no_such_variable": 1})


def test_constant_out_of_range(bootstrap_obj: Path) -> None:
    with pytest.raises(ValueError):
        bpfkit.load(bootstrap_obj, constants={"min_duration_ns": -1})


def test_only_some_programs(bootstrap_obj: Path) -> None:
    require("helper:probe_read_kernel@tracepoint")  # loading bootstrap: its BPF_CORE_READ (lockdown=confidentiality)
    with bpfkit.load(bootstrap_obj, programs=["handle_exit"]) as obj:
        assert list(obj.programs) == ["handle_exit"]
    with pytest.raises(KeyError):
        bpfkit.load(bootstrap_obj, programs=["nope"])


def test_unknown_map_name_lists_what_exists(bootstrap_obj: Path) -> None:
    require("helper:probe_read_kernel@tracepoint")  # loading bootstrap: its BPF_CORE_READ (lockdown=confidentiality)
    with bpfkit.load(bootstrap_obj) as obj:
        with pytest.raises(KeyError, match="exec_start"):
            obj.maps["missing"]


def test_malformed_object_is_object_format_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"\x7fELF" + b"\0" * 60)
    with pytest.raises(bpfkit.ObjectFormatError):
        bpfkit.load(bad)


def test_reuse_maps_shares_state_between_loads(bootstrap_obj: Path) -> None:
    require("helper:probe_read_kernel@tracepoint")  # loading bootstrap: its BPF_CORE_READ (lockdown=confidentiality)
    with bpfkit.load(bootstrap_obj) as first:
        first.maps["exec_start"][4242] = 77
        with bpfkit.load(bootstrap_obj, reuse_maps={"exec_start": first.maps["exec_start"]}) as second:
            assert second.maps["exec_start"][4242] == 77
            assert second.maps["exec_start"].id == first.maps["exec_start"].id
            assert second.maps["rb"].id != first.maps["rb"].id
    with bpfkit.load(bootstrap_obj) as a, pytest.raises(bpfkit.BpfError):
        bpfkit.load(bootstrap_obj, reuse_maps={"exec_start": a.maps["rb"]})
    with pytest.raises(KeyError):
        bpfkit.load(bootstrap_obj, reuse_maps={"nope": 3})


def test_struct_and_array_variables_decode_from_btf() -> None:
    require("prog:syscall")  # global_aggregates.bpf.c's program is a syscall program
    obj = compile_bpf(CORPUS / "global_aggregates.bpf.c")
    spec = bpfkit.ObjectSpec.from_file(obj)
    with bpfkit.load(spec) as col:
        for name, v in spec.variables.items():
            value = col.variables[name]
            raw = col.variables.raw(name)
            assert len(raw) == v.size
            if not v.readonly:
                col.variables[name] = raw  # exact-size bytes are always accepted
                assert col.variables.raw(name) == raw
            if hasattr(value, "_asdict"):
                assert isinstance(value._asdict(), dict)


@pytest.mark.parametrize("name", ["../escaped", "sub/dir", "/tmp/abs", "..", "."])
def test_pinned_map_name_must_be_a_file_name(name: str, tmp_path: Path) -> None:
    """A map pinned by name whose name is a path ('../x', '/tmp/x') would pin, reuse or create
    directories outside pin_path (os.path.join drops the root for an absolute name): refused before
    anything is created."""
    import os

    from bpfkit.obj import ObjectSpec, Pinning
    from bpfkit.testing import bpf_pins, require

    require("pinning")  # the pin directory is made under /sys/fs/bpf
    spec = ObjectSpec.from_file(compile_bpf(CORPUS / "map_pinning.bpf.c", cflags=["-Werror"]))
    old = next(n for n, m in spec.maps.items() if m.pinning == Pinning.BY_NAME)
    spec.maps[name] = spec.maps.pop(old)
    spec.maps[name].name = name
    root = "/sys/fs/bpf/bpfkit-test-pinname"
    os.makedirs(root, exist_ok=True)
    before = bpf_pins()
    try:
        with pytest.raises(bpfkit.ObjectFormatError) as exc:  # no program: its type (syscall) needs Linux 5.14
            bpfkit.load(spec, pin_path=os.path.join(root, "inner"), programs=[])
        assert exc.value.section == ".maps"
        assert bpf_pins() == before
        assert not os.path.exists("/tmp/abs")
    finally:
        os.rmdir(root)


UNTYPED_KSYM = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
extern const void bpf_prog_put __ksym;
__u64 where;
SEC("raw_tracepoint/sys_enter")
int uses_an_address(void *ctx) { where = (__u64)&bpf_prog_put; return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_an_untyped_ksym_hidden_by_kallsyms_names_cap_syslog(tmp_path: Path) -> None:
    """A user without CAP_SYSLOG reads every /proc/kallsyms address as 0: the relocation error says so
    (not that the symbol is missing), and the kallsyms probe agrees."""
    import json
    import os
    import shutil
    import tempfile

    from hostenv import CAPS_ONLY, run_as

    src = tmp_path / "ksym.bpf.c"
    src.write_text(UNTYPED_KSYM)
    shared = tempfile.mkdtemp(prefix="bpfkit-ksym-")  # a directory uid 65534 may read
    try:
        os.chmod(shared, 0o755)
        obj = shutil.copy(compile_bpf(src), os.path.join(shared, "ksym.bpf.o"))
        os.chmod(obj, 0o644)
        code = ("import json, bpfkit\nfrom bpfkit import features\n"
                f"try:\n    bpfkit.load({obj!r}).close()\n    got = None\n"
                "except bpfkit.BpfError as exc:\n    got = [type(exc).__name__, str(exc)]\n"
                "print(json.dumps([got, features.check('kallsyms').available]))\n")
        r = run_as(CAPS_ONLY, ["-c", code])
    finally:
        shutil.rmtree(shared)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    got, probe = json.loads(r.stdout)
    if probe:  # this host shows addresses to everyone (kernel.perf_event_paranoid <= 1): the load works
        assert got is None
        return
    assert got is not None and got[0] == "RelocationError" and "CAP_SYSLOG" in got[1], got
