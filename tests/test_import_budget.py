"""Import budget (issue 18): what ``import bpfkit``, a load and ``bpfkit -h`` bring into a fresh interpreter.

No timing here (speed is for ``make bench``, whose B1/B9 rows and ``-X importtime`` report
measure it): these tests count modules and name the ones a start must not need.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bpfkit import cli
from bpfkit.testing import require

SRC = str(Path(__file__).resolve().parents[1] / "src")
BOOTSTRAP = str(Path(SRC) / "bpfkit" / "tools" / "bootstrap.bpf.o")

# Never needed to import bpfkit or to load an object: typing (about 5 ms), dataclasses (inspect, ast,
# tokenize), the enums of _generated_lazy, pyelftools, the CLI and the tools; nor what the load path
# used to import for a line or two (re, importlib, warnings, threading, weakref, contextlib, fcntl,
# platform, sysconfig, ctypes.util, pathlib, subprocess, tempfile).
FORBIDDEN = ("typing", "dataclasses", "inspect", "ast", "bpfkit._uapi._generated_lazy", "elftools", "bpfkit.cli",
             "bpfkit.tools", "bpfkit.bcc", "bpfkit.export", "json", "argparse", "re", "importlib", "warnings",
             "weakref", "contextlib", "fcntl", "platform", "sysconfig", "ctypes.util", "pathlib", "subprocess",
             "tempfile")
# Budgets: modules added to a bare interpreter's. Today (3.11): import 22, load+attach 84 (threading, which
# closing the links at the end of the with block imports, included).
IMPORT_BUDGET = 26
LOAD_BUDGET = 92
# A tool as a user starts it (`bpfkit bootstrap --duration 0`): argparse brings re, warnings, gettext ...;
# what must stay out is what only other tools or other readers need. Today (3.11): 123 modules.
TOOL_FORBIDDEN = ("typing", "dataclasses", "inspect", "bpfkit._uapi._generated_lazy", "elftools", "bpfkit.bcc",
                  "bpfkit.export", "json", "importlib", "weakref", "contextlib", "platform", "sysconfig", "ctypes.util",
                  "pathlib", "subprocess", "tempfile", "bpfkit.perf", "bpfkit._cli.map", "bpfkit.tools.execcount",
                  "shutil", "bz2", "lzma", "fnmatch")
TOOL_BUDGET = 135


def _fresh(code: str, *args: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; its modules before and after as {"base": [...], "after": [...]}."""
    prog = (
        "import sys\nbase = sorted(sys.modules)\n" + code +
        "\nafter = sorted(sys.modules)\nimport json\nprint(json.dumps({'base': base, 'after': after}))\n"
    )
    out = subprocess.run([sys.executable, "-c", prog, *args], check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"}).stdout
    data: dict[str, list[str]] = json.loads(out.splitlines()[-1])
    return data


def _new(mods: dict[str, list[str]]) -> list[str]:
    return sorted(set(mods["after"]) - set(mods["base"]))


def _forbidden(new: list[str]) -> list[str]:
    return [m for m in new if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


def test_import_bpfkit_stays_small() -> None:
    new = _new(_fresh("import bpfkit"))
    assert "bpfkit" in new
    assert _forbidden(new) == []
    assert len(new) <= IMPORT_BUDGET, new


def test_a_load_and_attach_import_only_what_they_use() -> None:
    require("tracefs")
    code = (
        "import bpfkit\n"
        "with bpfkit.load(sys.argv[1], constants={'min_duration_ns': 0}) as obj:\n"
        "    links = obj.attach()\n"
        "    assert len(links) == 2, links\n"
    )
    new = _new(_fresh(code, BOOTSTRAP))
    assert {"bpfkit.collection", "bpfkit.programs", "bpfkit.links"} <= set(new)
    assert _forbidden(new) == []
    assert len(new) <= LOAD_BUDGET, new


def test_a_tool_start_imports_only_what_it_uses() -> None:
    """`bpfkit bootstrap --duration 0` through the console script's entry point, as B1's tool.start row runs it."""
    require("tracefs")
    code = (
        "import bpfkit_entry\n"
        "sys.argv = ['bpfkit', 'bootstrap', '--duration', '0']\n"
        "status = bpfkit_entry.main()\n"
        "assert status == 0, status\n"
    )
    new = _new(_fresh(code))
    assert {"bpfkit.tools.bootstrap", "bpfkit.ringbuf", "argparse"} <= set(new)
    assert [m for m in new if any(m == f or m.startswith(f + ".") for f in TOOL_FORBIDDEN)] == []
    assert len(new) <= TOOL_BUDGET, new


def test_bpfkit_help_imports_no_subcommand() -> None:
    code = "import bpfkit.cli\ntry:\n    bpfkit.cli.main(['-h'])\nexcept SystemExit:\n    pass\n"
    new = _new(_fresh(code))
    assert [m for m in new if m.startswith(("bpfkit._cli", "bpfkit.tools"))] == []
    assert "typing" not in new
    assert "shutil" not in new  # argparse's formatter would import it for the terminal's width


@pytest.mark.parametrize("columns", ["50", "120"])
def test_help_is_as_wide_as_the_terminal_says(columns: str) -> None:
    """The width bpfkit's parsers give argparse (no shutil) is shutil's: COLUMNS, else the terminal, else 80."""
    out = subprocess.run([sys.executable, "-m", "bpfkit", "bootstrap", "-h"], check=True, capture_output=True, text=True,
                         env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "COLUMNS": columns}).stdout
    options = out[out.index("options:"):].split("\n\n")[0].splitlines()  # the epilog keeps its own lines
    assert max(len(line) for line in options) <= int(columns) - 2
    if columns == "120":
        assert max(len(line) for line in options) > 80  # wider than the fallback
    assert cli._terminal_columns() > 0


@pytest.mark.parametrize("command", ["bootstrap", "btf", "map"])
def test_a_subcommand_help_imports_only_its_module(command: str) -> None:
    code = f"import bpfkit.cli\ntry:\n    bpfkit.cli.main([{command!r}, '-h'])\nexcept SystemExit:\n    pass\n"
    new = _new(_fresh(code))
    module = cli.COMMANDS[command][0]
    assert f"bpfkit._cli.{module}" in new
    others = {f"bpfkit._cli.{m}" for m, _ in cli.COMMANDS.values()} - {f"bpfkit._cli.{module}"}
    assert sorted(others & set(new)) == []
    tools = [m for m in new if m.startswith("bpfkit.tools.") and not m.startswith("bpfkit.tools._")]
    assert tools == ([f"bpfkit.tools.{command}"] if module == "tools" else [])


def test_the_lazy_parser_lists_what_the_full_one_does() -> None:
    """`bpfkit -h` (subcommands listed from cli.COMMANDS) prints what the parser with every module does."""
    assert cli.build_parser(lazy=True).format_help() == cli.build_parser().format_help()
    for name in cli.COMMANDS:
        lazy = cli.build_parser(name, lazy=True)
        full = cli.build_parser()
        assert _sub(lazy, name).format_help() == _sub(full, name).format_help()


def _sub(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            sub = action.choices[name]
            assert isinstance(sub, argparse.ArgumentParser)
            return sub
    raise AssertionError("no subcommands")
