"""The tools' typed modules (src/bpfkit/tools/<name>_skel.py) are what ``bpfkit gen python`` makes of their objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bpfkit.tools import TOOLS

ROOT = Path(__file__).resolve().parent.parent.parent


def test_skeletons_are_current() -> None:
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_skeletons.py"), "--check"], capture_output=True,
                         text=True, check=False)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("tool", list(TOOLS))
def test_skeleton_names_the_objects_maps_and_programs(tool: str) -> None:
    import importlib

    from bpfkit.obj import ObjectSpec

    mod = importlib.import_module(f"bpfkit.tools.{tool}_skel")
    spec = ObjectSpec.from_file(ROOT / "src" / "bpfkit" / "tools" / f"{tool}.bpf.o")
    assert mod.OBJECT_FILE == f"{tool}.bpf.o"
    src = Path(mod.__file__).read_text()
    for prog in spec.programs:
        assert f"col.programs[{prog!r}]" in src
