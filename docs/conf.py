"""Sphinx configuration: API reference from the docstrings, the README's tour, a page per tool and the CLI
reference, the last two written at build time from the tools' and the CLI's own help texts."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

import bpfkit  # noqa: E402
from bpfkit import cli  # noqa: E402
from bpfkit.tools._common import TOOLS  # noqa: E402

project = "bpfkit"
author = "the bpfkit developers"
copyright = "the bpfkit developers"  # noqa: A001
version = release = bpfkit.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # signatures carry the types; forward references need no resolving
autodoc_default_options = {"members": True, "undoc-members": False}
myst_heading_anchors = 3
suppress_warnings = ["myst.xref_missing", "myst.header"]
html_theme = "alabaster"
nitpicky = False


def _help(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    os.environ["COLUMNS"] = "100"
    return parser.format_help()


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _write_generated() -> None:
    out = HERE / "_generated"
    out.mkdir(exist_ok=True)
    parser = cli.build_parser()
    lines = ["# CLI reference", "", "Every subcommand's `--help`, as `bpfkit` prints it.", ""]
    lines += ["```text", _help(parser).rstrip(), "```", ""]
    for name, sub in _subparsers(parser).items():
        lines += [f"## bpfkit {name}", "", "```text", _help(sub).rstrip(), "```", ""]
        for subname, subsub in _subparsers(sub).items():
            lines += [f"### bpfkit {name} {subname}", "", "```text", _help(subsub).rstrip(), "```", ""]
    (out / "cli.md").write_text("\n".join(lines))
    for tool in TOOLS:
        module = importlib.import_module(f"bpfkit.tools.{tool}")
        page = [f"# {tool}", "", TOOLS[tool], "", "```text", module.DESCRIPTION.rstrip(), "", module.EPILOG.rstrip(),
                "```", ""]
        (out / f"tool_{tool}.md").write_text("\n".join(page))


_write_generated()
