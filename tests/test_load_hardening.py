"""load() under misuse: no state kept across loads, clear bpfkit errors for bad arguments (issue 13)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import bpfkit
from bpfkit.testing import compile_bpf

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "src" / "bpfkit" / "tools"


@pytest.fixture(scope="module")
def bootstrap_obj() -> Path:
    return compile_bpf(TOOLS / "bootstrap.bpf.c", cflags=["-Werror"])


def _module_state() -> dict[str, int]:
    """Size of every dict, list and set held at module level by a bpfkit module."""
    sizes = {}
    for name, mod in list(sys.modules.items()):
        if name == "bpfkit" or name.startswith("bpfkit."):
            for attr, v in list(vars(mod).items()):
                if type(v) in (dict, list, set):
                    sizes[f"{name}.{attr}"] = len(v)
    return sizes


def test_co_re_loads_keep_no_module_level_state(bootstrap_obj: Path) -> None:
    spec = bpfkit.ObjectSpec.from_file(bootstrap_obj)
    assert any(p.core_relos for p in spec.programs.values())  # the loads below do CO-RE
    for _ in range(2):  # warm the caches that legitimately fill once (host facts, probes)
        with bpfkit.load(bootstrap_obj):
            pass
    before = _module_state()
    for _ in range(5):
        with bpfkit.load(bootstrap_obj):
            pass
    after = _module_state()
    grown = {k: (before.get(k, 0), n) for k, n in after.items() if n > before.get(k, 0)}
    assert grown == {}
