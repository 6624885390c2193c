"""bpfkit.load on real objects: constants, variables, attach/detach, errors, cleanup."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import bpfkit
from bpfkit.testing import compile_bpf

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "src" / "bpfkit" / "tools"
CORPUS = ROOT / "tests" / "bpf"


@pytest.fixture(scope="module")
def bootstrap_obj() -> Path:
    return compile_bpf(TOOLS / "bootstrap.bpf.c")


@pytest.fixture(scope="module")
def global_data_obj() -> Path:
    return compile_bpf(CORPUS / "global_data.bpf.c")


def test_bootstrap_loads_attaches_and_closes(bootstrap_obj: Path) -> None:
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
    with bpfkit.load(bootstrap_obj, programs=["handle_exit"]) as obj:
        assert list(obj.programs) == ["handle_exit"]
    with pytest.raises(KeyError):
        bpfkit.load(bootstrap_obj, programs=["nope"])


def test_unknown_map_name_lists_what_exists(bootstrap_obj: Path) -> None:
    with bpfkit.load(bootstrap_obj) as obj:
        with pytest.raises(KeyError, match="exec_start"):
            obj.maps["missing"]


def test_malformed_object_is_object_format_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"\x7fELF" + b"\0" * 60)
    with pytest.raises(bpfkit.ObjectFormatError):
        bpfkit.load(bad)


def test_reuse_maps_shares_state_between_loads(bootstrap_obj: Path) -> None:
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
