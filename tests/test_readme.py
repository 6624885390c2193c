"""README.md: its first commands set up and run the main job, its tour runs, its tables name what exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bpfkit import cli
from bpfkit.testing import require
from bpfkit.tools import TOOLS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", README, flags=re.S | re.M)


def test_first_commands_are_make_run_and_make_test() -> None:
    lang, first = BLOCKS[0]
    assert lang == "sh"
    assert [line.split("#")[0].strip() for line in first.splitlines()] == ["make run", "make test"]


def test_make_run_sets_up_then_runs_bootstrap() -> None:
    """A new user's path: `make run` on a fresh clone does the set-up, then `bpfkit bootstrap` with its defaults."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    r = subprocess.run(["make", "--no-print-directory", "-n", "run"], cwd=ROOT, capture_output=True, text=True,
                       check=True, env=env)
    steps = [line.strip() for line in r.stdout.splitlines() if line.strip()]
    assert steps[0] == "bash scripts/setup.sh"
    assert steps[-1].split()[-1] == "bootstrap" and Path(steps[-1].split()[0]).name == "bpfkit"
    assert steps[-1].split()[1:] == ["bootstrap"]


def test_tools_table_names_every_tool() -> None:
    rows = [line for line in README.splitlines() if line.startswith("| `bpfkit ")]
    assert [row.split("`")[1].split()[1] for row in rows] == list(TOOLS)
    commands = set(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert set(TOOLS) <= commands


def test_examples_table_names_every_example() -> None:
    listed = re.findall(r"^\| `(\d{3}_\w+\.py)` \|", README, flags=re.M)
    assert sorted(listed) == sorted(p.name for p in (ROOT / "examples").glob("[0-9][0-9][0-9]_*.py"))
    assert ("| `bcc_*.py` |" in README) == any((ROOT / "examples").glob("bcc_*.py"))


def test_links_exist() -> None:
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        assert (ROOT / target).exists(), target


@pytest.mark.kernel
def test_tour_runs() -> None:
    """The Python blocks, in order, in one namespace: what the reader types (the leak fixture checks they close all)."""
    require("tracefs")  # the tour attaches tracepoints by name (syscalls/sys_enter_execve, sched/...)
    code = [body for lang, body in BLOCKS if lang == "python"]
    assert len(code) == 4
    namespace: dict[str, object] = {"__name__": "readme"}
    for i, body in enumerate(code):
        exec(compile(body, f"README.md python block {i + 1}", "exec"), namespace)


def _section(title: str) -> str:
    """The README's text from ``title`` to the next section of the same level."""
    start = README.index(title + "\n")
    end = README.find("\n## ", start + len(title))
    return README[start:end if end >= 0 else len(README)]


def test_environment_tables_are_those_of_the_last_env_run() -> None:
    """The host-environment block of README (between its markers) is matrix/env-matrix.md before its test
    table, as matrix/readme_table.py copies it: environments, summary, probes, refusals."""
    sys.path.insert(0, str(ROOT / "matrix"))
    try:
        import readme_table
    finally:
        sys.path.remove(str(ROOT / "matrix"))
    env_matrix = (ROOT / "matrix" / "env-matrix.md").read_text()
    arm64 = ROOT / "matrix" / "arm64-matrix.md"
    assert readme_table.updated(README, env_matrix, arm64.read_text() if arm64.exists() else None) == README, \
        "run python3 matrix/readme_table.py"
    copied = README[README.index(readme_table.BEGIN):README.index(readme_table.END)]
    assert "| environment | what the tests run as |" in copied and "| passed |" in copied


def test_kernel_tables_are_those_of_the_last_matrix_run() -> None:
    """The feature table and per-kernel summary in README are copied from matrix/kernel-matrix.md (a full run)."""
    matrix = (ROOT / "matrix" / "kernel-matrix.md").read_text()
    section = _section("## Other kernels")
    section = re.sub(r"<!-- BEGIN arm64 kernel table.*?<!-- END arm64 kernel table -->", "", section, flags=re.S)
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert len(rows) > 10
    for row in rows:
        assert row in matrix.splitlines(), row
    features = [line for line in matrix.split("### Tests")[0].splitlines() if line.startswith("|")]
    assert features and all(line in rows for line in features)


def test_arm64_tables_are_those_of_the_last_arm64_run() -> None:
    """The arm64 block of README (between its markers) is arm64-matrix.md's feature table and summary."""
    arm64 = ROOT / "matrix" / "arm64-matrix.md"
    block = README[README.index("<!-- BEGIN arm64 kernel table"):README.index("<!-- END arm64 kernel table -->")]
    rows = [line for line in block.splitlines() if line.startswith("|")]
    if not arm64.exists():
        assert rows == []
        return
    lines = arm64.read_text().splitlines()
    assert rows and all(row in lines for row in rows)
    assert any("6.12-arm64" in row for row in rows) and any(row.startswith("| passed |") for row in rows)
