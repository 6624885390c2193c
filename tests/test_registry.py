"""The registry of per-type facts (bpfkit._registry) agrees with the enums, the classes and the readers."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import bpfkit
import bpfkit.maps
from bpfkit import _registry as R
from bpfkit._uapi import MapFlags, MapType, ProgType

ROOT = Path(__file__).resolve().parent.parent


def test_every_kernel_map_type_has_a_row() -> None:
    """A map type the uapi enum gains needs a row (a class, or a row saying it has none)."""
    names = {f.name for f in R.MAP_TYPES}
    missing = [m for m in MapType.__members__ if m != "UNSPEC" and m not in names]
    assert missing == []
    assert len(names) == len(R.MAP_TYPES)


@pytest.mark.parametrize("facts", [f for f in R.MAP_TYPES if f.cls is not None], ids=lambda f: f.name)
def test_row_names_its_class(facts: R.MapTypeFacts) -> None:
    from bpfkit.maps._base import _class_for

    module = importlib.import_module(f"bpfkit.maps.{facts.module}")
    cls = getattr(module, facts.cls or "")
    t = MapType[facts.name]
    assert t in cls.map_types
    assert _class_for(int(t)) is cls
    assert R.facts_of(t) is facts
    # the class's create defaults are the row's, not a second copy
    assert (cls.default_key_size, cls.default_value_size, cls.default_max_entries) == (
        facts.key_size, facts.value_size, facts.max_entries)
    assert cls.required_flags == MapFlags(sum(int(MapFlags[n]) for n in facts.flags))
    # exported from the package and from bpfkit
    assert facts.cls in bpfkit.__all__ and facts.cls in bpfkit.maps.__all__
    assert getattr(bpfkit, facts.cls) is cls


def test_alias_resolves_to_the_row_with_a_class() -> None:
    facts = R.facts_of(MapType.CGROUP_STORAGE)
    assert facts is not None and facts.cls == "CgroupStorageMap"


def test_readers_derive_from_the_registry() -> None:
    from bpfkit import collection
    from bpfkit.maps import _base as base

    assert {m.name for m in collection._FD_VALUE_TYPES} == {f.name for f in R.MAP_TYPES if f.value == "fd"}
    assert {m.name for m in base._NO_BTF_TYPES} == {f.name for f in R.MAP_TYPES if not f.btf}
    assert {k: v for k, v in bpfkit._uapi.MAP_MIN_KERNEL.items()} == {f.name: f.since for f in R.MAP_TYPES if f.since}


def test_attach_families_name_existing_functions() -> None:
    from bpfkit.obj._sections import SECTION_DEFS

    assert {d.attach for d in SECTION_DEFS if d.attach is not None} <= set(R.ATTACH_FAMILIES)
    assert set(R.PROG_TYPE_FAMILIES.values()) <= set(R.ATTACH_FAMILIES)
    assert all(name in ProgType.__members__ for name in R.PROG_TYPE_FAMILIES)
    for fam in R.ATTACH_FAMILIES.values():
        module = importlib.import_module(f"bpfkit.links.{fam.module}")
        assert callable(getattr(module, fam.function))
        if fam.probe is not None:
            assert callable(getattr(module, fam.probe)) and fam.since and fam.label


def test_generated_exports_are_current() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_exports.py"), "--check"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
