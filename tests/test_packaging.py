"""The package as a user meets it: build the wheel and sdist, install the wheel in a fresh venv outside the
repository, and run ``bpfkit feature``, ``bpfkit run`` on a shipped object and a tool from there."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import bpfkit
from bpfkit.testing import require

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build_dir = tmp_path_factory.mktemp("build")
    # build from a copy so that the build's own build/ and egg-info stay out of the work tree
    src = build_dir / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info",
                                                             "__pycache__", ".mypy_cache", ".ruff_cache",
                                                             ".pytest_cache", ".hypothesis", ".cache"))
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "-o", str(out), str(src)], check=True,
                   capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("user")
    env_dir = home / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    (wheel,) = dist.glob("*.whl")
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], check=True,
                   capture_output=True, text=True, cwd=home)
    yield env_dir


def user_run(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run in the fresh venv from a directory outside the repository, without the repository on any path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = str(venv / "bin")  # no clang, no bpftool, no repository
    return subprocess.run(list(args), capture_output=True, text=True, cwd=venv.parent, env=env, timeout=300,
                          check=False)


def test_wheel_and_sdist_contents(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    assert wheel.name == f"bpfkit-{bpfkit.__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    for tool in ("bootstrap", "execcount", "hello", "procmap", "tailcalls"):
        assert f"bpfkit/tools/{tool}.bpf.o" in names
    assert "bpfkit/py.typed" in names and "bpfkit/_cli/run.py" in names
    with tarfile.open(sdist) as tf:
        members = tf.getnames()
    assert f"bpfkit-{bpfkit.__version__}/pyproject.toml" in members
    assert any(m.endswith("/CHANGELOG.md") for m in members)


def test_installed_package_works_outside_the_repository(venv: Path) -> None:
    py = str(venv / "bin" / "python")
    res = user_run(venv, py, "-c", "import bpfkit, sys; print(bpfkit.__version__, bpfkit.__file__)")
    assert res.returncode == 0, res.stderr
    version, where = res.stdout.split()
    assert version == bpfkit.__version__ and where.startswith(str(venv)) and not where.startswith(str(REPO))
    cli = str(venv / "bin" / "bpfkit")
    assert user_run(venv, cli, "--version").stdout.strip() == f"bpfkit {bpfkit.__version__}"
    res = user_run(venv, cli, "feature", "--no-helpers", "-j")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["map_types"]["hash"]["available"] is True


def test_installed_prog_list(venv: Path) -> None:
    require("object_ids")  # listing walks the kernel's program ids, as bpftool does
    res = user_run(venv, str(venv / "bin" / "bpfkit"), "prog", "list", "-j")
    assert res.returncode == 0 and isinstance(json.loads(res.stdout), list)


def test_installed_run_and_tool(venv: Path) -> None:
    require("tracefs")  # execcount attaches to a syscall tracepoint by name
    cli = str(venv / "bin" / "bpfkit")
    site = user_run(venv, str(venv / "bin" / "python"), "-c",
                    "import bpfkit.tools, os; print(os.path.dirname(bpfkit.tools.__file__))").stdout.strip()
    res = user_run(venv, cli, "run", f"{site}/execcount.bpf.o", "--duration", "0.5", "--print-maps", "--json")
    assert res.returncode == 0, res.stderr
    maps = [json.loads(line) for line in res.stdout.splitlines()]
    assert [m["map"] for m in maps] == ["counter_table"]
    res = user_run(venv, cli, "execcount", "--duration", "0.5", "--json")
    assert res.returncode == 0, res.stderr
    assert re.match(r"Running execcount", user_run(venv, cli, "run", f"{site}/execcount.bpf.o", "--duration",
                                                   "0").stderr)
