"""``bpfkit gen python``: typed modules that mypy --strict accepts, regenerate byte-identically and work."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import bpfkit
from bpfkit import cli
from bpfkit.arch import syscall_number
from bpfkit.testing import compile_bpf

TOOLS = Path(bpfkit.__file__).parent / "tools"
DEMO = (Path(__file__).parent / "run_demo.bpf.c").read_text()


@pytest.fixture(scope="module")
def demo_obj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("gen")
    src = d / "demo.bpf.c"
    src.write_text(DEMO)
    obj = d / "demo.bpf.o"
    obj.write_bytes(Path(compile_bpf(src)).read_bytes())
    return obj


def gen(obj: Path, out: Path) -> str:
    assert cli.main(["gen", "python", str(obj), "-o", str(out)]) == 0
    return out.read_text()


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_regenerates_byte_identically(demo_obj: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    first = gen(demo_obj, tmp_path / "a.py")
    assert gen(demo_obj, tmp_path / "b.py") == first
    assert cli.main(["gen", "python", str(demo_obj)]) == 0
    assert capsys.readouterr().out == first


def test_modules_pass_mypy_strict(demo_obj: Path, tmp_path: Path) -> None:
    files = [tmp_path / "demo.py"]
    gen(demo_obj, files[0])
    for tool in ("bootstrap", "execcount", "hello", "procmap", "tailcalls"):
        files.append(tmp_path / f"{tool}_gen.py")
        gen(TOOLS / f"{tool}.bpf.o", files[-1])
    res = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, files)],
                         check=False, capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_generated_module_loads_and_reads_typed(demo_obj: Path, tmp_path: Path) -> None:
    mod = load_module(Path(gen(demo_obj, tmp_path / "demo.py") and tmp_path / "demo.py"))
    assert [m.name for m in mod.mode] == ["MODE_QUIET", "MODE_LOUD"]
    with mod.Demo.load(demo_obj, target_tgid=os.getpid(), getppid_nr=syscall_number("getppid"),
                       mode=mod.mode.MODE_LOUD, tag=b"abc", verbose=True) as d:
        assert (d.variables.target_tgid, d.variables.mode, d.variables.tag, d.variables.verbose) == \
            (os.getpid(), 7, b"abc", True)
        d.attach()
        for _ in range(3):
            os.getppid()
        assert d.maps.calls[os.getpid()] == 3
        assert dict(d.maps.calls.items()) == {os.getpid(): 3}
        hist = d.maps.sizes[0]
        assert isinstance(hist, mod.hist) and sum(hist.slots) == 3
        d.maps.calls[1] = 41
        assert d.maps.calls.get(1) == 41 and d.maps.calls.get(2) is None
        assert d.programs.on_getppid.name == "on_getppid"
    ev = mod.decode_events(bytes([1, 0, 0, 0, 7, 0, 0, 0]) + b"hi".ljust(8, b"\0") + bytes(16))
    assert (ev.pid, ev.mode, ev.tag) == (1, 7, b"hi")


def test_object_without_btf_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gen", "python", str(tmp_path / "none.bpf.o")]) == 1
    assert capsys.readouterr().err.startswith("bpfkit: ")
