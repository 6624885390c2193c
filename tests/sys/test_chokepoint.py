"""Every bpf(2) command goes through bpfkit._sys.commands: no module outside _sys reaches the raw call."""

from __future__ import annotations

import ast
from pathlib import Path

import bpfkit

_RAW = {"bpf", "bpf_raw", "bpf_bound", "syscall"}
_ROOT = Path(bpfkit.__file__).parent


def _raw_imports(path: Path, root: Path = _ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("_sys.syscall"):
            found += [f"{path.relative_to(root)}:{node.lineno} {a.name}" for a in node.names if a.name in _RAW]
    return found


def test_no_raw_bpf_call_outside_sys() -> None:
    files = [p for p in _ROOT.rglob("*.py") if "_sys" not in p.relative_to(_ROOT).parts]
    assert files
    assert [hit for p in files for hit in _raw_imports(p)] == []


def test_the_check_sees_a_raw_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from .._sys.syscall import ENOTSUPP, bpf\n")
    assert _raw_imports(bad, tmp_path) == ["bad.py:1 bpf"]
