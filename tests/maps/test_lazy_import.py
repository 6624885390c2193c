"""Importing bpfkit (or its pure core) does not load the syscall layer until a kernel object is used."""

from __future__ import annotations

import subprocess
import sys


def test_pure_core_import_does_not_load_sys() -> None:
    code = (
        "import sys, bpfkit, bpfkit.btf, bpfkit._uapi\n"
        "assert not any(m.startswith('bpfkit._sys') for m in sys.modules), 'loaded _sys'\n"
        "bpfkit.Map\n"
        "assert 'bpfkit._sys' in sys.modules\n"
        "assert 'Map' in dir(bpfkit) and bpfkit.HashMap.__module__ == 'bpfkit.maps._hash'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                       env={"PYTHONPATH": ":".join(p for p in sys.path if p)})
    assert r.returncode == 0, r.stderr
