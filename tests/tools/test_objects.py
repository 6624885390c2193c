"""The shipped tool objects are the build of the current sources (scripts/build_tools.py, `make tools`).

What "built from the current sources" can check robustly:
- always, with no clang: every tool source and local header has the SHA-256
  the manifest recorded when its object was built, and every object has the
  SHA-256 recorded for it (the manifest is written only by the build);
- with clang: a rebuild into a temporary directory gives the same bytes when the
  toolchain is the recorded one (same clang, libbpf headers, vmlinux.h: the
  build is deterministic); with another kernel's vmlinux.h (the kernel matrix)
  the CO-RE objects legitimately differ in their BTF and field offsets, so the
  rebuild is compared by what the sources decide: programs (name, section,
  type and, with the same clang, the source lines of the .BTF.ext line info),
  maps (type, sizes, entries, flags), global variables and license.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import bpfkit
from bpfkit.tools import TOOLS, object_path

ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = Path(bpfkit.__file__).resolve().parent / "tools"


def build_tools() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_tools", ROOT / "scripts" / "build_tools.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_tools", module)
    spec.loader.exec_module(module)
    return module


def test_every_tool_ships_its_source_and_object() -> None:
    assert sorted(TOOLS) == build_tools().tool_names(TOOLS_DIR)
    for name in TOOLS:
        assert object_path(name).read_bytes()[:4] == b"\x7fELF"


def test_shipped_objects_match_the_sources() -> None:
    assert build_tools().stale(TOOLS_DIR) == []


def test_a_stale_object_is_named(tmp_path: Path) -> None:
    bt = build_tools()
    copy = tmp_path / "tools"
    shutil.copytree(TOOLS_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    assert bt.stale(copy) == []
    with open(copy / "bootstrap.h", "a") as f:
        f.write("/* edited */\n")
    (copy / "hello.bpf.o").write_bytes(b"\x7fELF not the build")
    (copy / "procmap.bpf.c").unlink()
    (copy / "extra.bpf.c").write_text("// never built\n")
    problems = bt.stale(copy)
    assert any(p.startswith("bootstrap: bootstrap.h changed") for p in problems)
    assert any(p.startswith("hello: object hello.bpf.o") for p in problems)
    assert any(p.startswith("procmap:") and "gone" in p for p in problems)
    assert any(p.startswith("extra: not in the manifest") for p in problems)
    assert len(problems) == 4


def summary(path: Path, *, lines: bool) -> dict[str, Any]:
    """What the sources decide about an object, independent of the vmlinux.h it was built against."""
    spec = bpfkit.ObjectSpec.from_file(path)
    progs = {}
    for p in spec.programs.values():
        src = sorted({(os.path.basename(li.file_name), li.line_num, li.line) for li in p.line_info}) if lines else None
        progs[p.name] = (p.section, int(p.type), src)
    maps = {m.name: (int(m.type), m.key_size, m.value_size, m.max_entries, int(m.flags)) for m in spec.maps.values()}
    return {"programs": progs, "maps": maps, "variables": sorted(spec.variables), "license": spec.license}


@pytest.mark.kernel
def test_rebuild_reproduces_the_shipped_objects(tmp_path: Path) -> None:
    if shutil.which(os.environ.get("CLANG", "clang")) is None:
        pytest.skip("clang is not installed: the rebuild cannot be compared (the hash check above still ran)")
    bt = build_tools()
    shipped = bt.load_manifest(TOOLS_DIR)
    rebuilt = bt.build(tmp_path, tools_dir=TOOLS_DIR)
    assert rebuilt["tools"].keys() == shipped["tools"].keys()
    for name, entry in rebuilt["tools"].items():
        assert entry["inputs"] == shipped["tools"][name]["inputs"]
    same_toolchain = rebuilt["toolchain"] == shipped["toolchain"]
    same_clang = rebuilt["toolchain"]["clang"] == shipped["toolchain"]["clang"]
    for name in TOOLS:
        ours, theirs = tmp_path / f"{name}.bpf.o", TOOLS_DIR / f"{name}.bpf.o"
        if same_toolchain:
            assert hashlib.sha256(ours.read_bytes()).digest() == hashlib.sha256(theirs.read_bytes()).digest(), name
        assert summary(ours, lines=same_clang) == summary(theirs, lines=same_clang), name
