"""bpfkit loads what libbpf loads, with the same maps and programs (bpftool prog loadall is the oracle),
and relocating each object's CO-RE records against its own BTF is the identity."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

import bpfkit
import corpus_kernel
from bpfkit.btf import core
from bpfkit.obj import Pinning
from bpfkit.testing import compile_bpf, require, require_libbpf

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "tests" / "bpf" / "manifest.json").read_text())
SOURCES = [ROOT / "tests" / "bpf" / o["file"] for o in MANIFEST["objects"] if o.get("libbpf") == "same"
           and o["load"]["expect"] == "ok" and not o.get("requires")]
SOURCES += sorted((ROOT / "src" / "bpfkit" / "tools").glob("*.bpf.c"))
# what the shipped tools need beyond loading (the corpus says it in its manifest)
TOOL_NEEDS = {"bootstrap.bpf.c": ("helper:probe_read_kernel@tracepoint",  # lockdown=confidentiality refuses both
                                  "helper:probe_read_kernel_str@tracepoint")}


def bpftool(*args: str) -> Any:
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def libbpf_view(obj: Path) -> tuple[dict[str, tuple[Any, ...]], dict[str, str]]:
    """Load with libbpf (bpftool prog loadall) and describe the maps and programs it made."""
    pin_dir = Path("/sys/fs/bpf") / f"bpfkit-parity-{uuid.uuid4().hex[:8]}"
    subprocess.run(["bpftool", "prog", "loadall", str(obj), str(pin_dir)], check=True, capture_output=True)
    try:
        progs: dict[str, str] = {}
        map_ids: set[int] = set()
        for pin in pin_dir.iterdir():
            info = bpftool("prog", "show", "pinned", str(pin))
            progs[info["name"]] = info["type"]
            map_ids.update(info.get("map_ids", []))
        maps = {}
        for mid in map_ids:
            m = bpftool("map", "show", "id", str(mid))
            maps[m["name"]] = (m["type"], m["bytes_key"], m["bytes_value"], m["max_entries"], m["flags"])
        return maps, progs
    finally:
        shutil.rmtree(pin_dir)


def bpfkit_view(col: bpfkit.Collection, used: set[int]) -> tuple[dict[str, tuple[Any, ...]], dict[str, str]]:
    progs = {}
    for p in col.programs.values():
        info = p.info()
        progs[info.name] = bpfkit.ProgType(info.type).name.lower()
    maps = {}
    for m in col.maps.values():
        info = m.info()
        if info.id in used:
            maps[info.name] = (info.type_name, info.key_size, info.value_size, info.max_entries, int(info.flags))
    return maps, progs


MMAPABLE = 1 << 10


def without_internal_mmapable(maps: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    """libbpf 1.1 makes every global-data map mmapable; newer libbpf (and bpfkit) only those with
    non-static variables user space can see. Compare the rest of the flags."""
    return {n: (*v[:4], v[4] & ~MMAPABLE if "." in n else v[4]) for n, v in maps.items()}


ENTRIES = {o["file"]: o for o in MANIFEST["objects"]}
@pytest.mark.kernel
@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_same_maps_and_programs_as_libbpf(source: Path) -> None:
    entry = ENTRIES.get(source.name)
    if entry is not None:  # a corpus object: skip where this kernel cannot load it (test_corpus checks the refusal)
        gaps = [str(g) for g in corpus_kernel.type_gaps(entry)] + corpus_kernel.other_gaps(entry)
        if gaps:
            pytest.skip(gaps[0] if gaps[0].startswith(corpus_kernel.PREFIX) else f"{corpus_kernel.PREFIX} {gaps[0]}")
    for need in TOOL_NEEDS.get(source.name, ()):
        require(need)
    require("pinning")  # loadall pins the programs, and LIBBPF_PIN_BY_NAME maps, under /sys/fs/bpf
    require("object_ids")  # bpftool shows the maps by id
    require_libbpf("bpftool prog loadall")
    obj = compile_bpf(source, cflags=["-Werror"])
    spec = bpfkit.ObjectSpec.from_file(obj)
    by_name = [Path("/sys/fs/bpf") / m.name for m in spec.maps.values() if m.pinning == Pinning.BY_NAME]
    try:
        want_maps, want_progs = libbpf_view(obj)
        for pin in by_name:  # libbpf pins LIBBPF_PIN_BY_NAME maps under /sys/fs/bpf; start bpfkit afresh
            pin.unlink(missing_ok=True)
        with bpfkit.load(obj) as col:
            used = {mid for p in col.programs.values() for mid in p.info().map_ids}
            got_maps, got_progs = bpfkit_view(col, used)
            col.unpin()
    finally:
        for pin in by_name:
            pin.unlink(missing_ok=True)
    assert got_progs == want_progs
    assert without_internal_mmapable(got_maps) == without_internal_mmapable(want_maps)


@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_core_against_own_btf_is_identity(source: Path) -> None:
    spec = bpfkit.ObjectSpec.from_file(compile_bpf(source, cflags=["-Werror"]))
    assert spec.btf is not None
    if any("___" in spec.btf[i].name for i in spec.btf.own_ids()):
        # a flavored type (x___local) and its base in one BTF are both candidates for each other:
        # libbpf too reports such a relocation as ambiguous, so the identity is not defined here
        return
    for prog in spec.programs.values():
        if not prog.core_relos:
            continue
        assert spec.btf is not None
        before = [i.copy() for i in prog.instructions]
        fixups = core.relocate(prog.core_relos, spec.btf, [spec.btf], prog.instructions, program=prog.name)
        assert not any(f.poison for f in fixups)
        core.apply(fixups, prog.instructions)
        changed = [n for n, (a, b) in enumerate(zip(before, prog.instructions)) if a != b]
        bitfield_loads = {f.insn_index for f in fixups if f.kind.name.startswith("FIELD_")}
        assert set(changed) <= bitfield_loads, (prog.name, changed)
