"""bpfkit's public surface is deliberate (issue 16, "must exist" 5).

- A module is public exactly when no part of its dotted name starts with ``_`` (trio's rule); every
  public module says what it exports in ``__all__``, and api/public_api.txt lists those modules and
  names, no more and no fewer.
- Every class or function a public module defines under a public name is exported: an internal
  helper gets a ``_``.
- Every exception class of bpfkit lives in bpfkit.errors (re-exported where users find it), and
  outside the BCC front end (which raises what BCC raises) nothing raises a bare ValueError or
  TypeError: a bad argument is a BpfValueError/BpfTypeError, which are those builtins too.
- Kernel-object classes are made by their constructors (create/load/from_*), not by calling the
  class with arbitrary arguments.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

import bpfkit
from bpfkit import errors

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "bpfkit"
sys.path.insert(0, str(ROOT / "scripts"))
import api_dump  # noqa: E402

PUBLIC = api_dump.public_modules()

# Exceptions used as signals inside one function's control flow, never raised out of bpfkit.
SIGNALS = {("btf/_core_spec.py", "Poison"), ("export/_decoders.py", "SkipLabelSet"), ("cli.py", "_Terminated")}
# A bare ValueError raised only to be caught a line below (asm: a bad register -> the explained error).
BARE_RAISES_CAUGHT_LOCALLY = {"asm/_instruction.py"}
# Private names (``_x``) one module still imports from another: the debt, to shrink, never to grow.
# (A private module's interface is its names without ``_``, as _bufreader's for ringbuf and perf.)
PRIVATE_IMPORTS_LEFT = {
    ("collection.py", "_failing_insn"), ("collection.py", "_older_than_type"),
    ("collection.py", "_refuse_unknown_type"), ("links/_usdt.py", "_open_uprobe"),
    ("maps/_arena.py", "_CreateArgs"), ("maps/_bloom.py", "_CreateArgs"), ("maps/_bloom.py", "_NO_KEY"),
    ("maps/_hash.py", "_NO_KEY"), ("maps/_net.py", "_CreateArgs"), ("maps/_of_maps.py", "_CreateArgs"),
    ("maps/_perf_event_array.py", "_CreateArgs"), ("maps/_ringbuf.py", "_CreateArgs"),
    ("maps/_storage.py", "_CreateArgs"),
}


def _dump_sections() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in (ROOT / "api" / "public_api.txt").read_text().splitlines():
        if line.startswith("## "):
            current = out.setdefault(line[3:].strip(), set())
        elif current is not None and line and not line.startswith(" "):
            m = re.match(r"(?:class |def |module )?([A-Za-z_][A-Za-z0-9_]*)", line)
            assert m, line
            current.add(m.group(1))
    return out


def test_the_dump_covers_exactly_the_public_modules() -> None:
    assert sorted(_dump_sections()) == sorted(PUBLIC)


@pytest.mark.parametrize("modname", PUBLIC)
def test_public_module_exports_what_the_dump_lists(modname: str) -> None:
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None)
    assert names is not None, f"{modname} is public (no _ in its name) but has no __all__"
    assert len(set(names)) == len(names), f"{modname}.__all__ repeats a name"
    for name in names:
        assert hasattr(mod, name), f"{modname}.__all__ names {name!r}, which the module lacks"
    assert set(names) == _dump_sections()[modname]


@pytest.mark.parametrize("modname", PUBLIC)
def test_public_definitions_are_exported(modname: str) -> None:
    """A class or function defined in a public module under a public name is in its __all__."""
    mod = importlib.import_module(modname)
    exported = set(getattr(mod, "__all__", ()))
    stray = sorted(
        name for name, obj in vars(mod).items()
        if not name.startswith("_") and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == modname and name not in exported
    )
    assert not stray, f"{modname} defines public names it does not export: {stray}"


def test_every_bpfkit_name_resolves() -> None:
    for name in bpfkit.__all__:
        assert getattr(bpfkit, name) is not None


def _classes_and_raises() -> tuple[list[tuple[str, str]], list[str]]:
    """(exception classes defined outside errors.py as (file, name), files raising a bare ValueError/TypeError)."""
    classes: list[tuple[str, str]] = []
    bare: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(), rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and rel != "errors.py":
                if any(re.search(r"(Error|Exception|BaseException|Warning)$", ast.unparse(b)) for b in node.bases):
                    classes.append((rel, node.name))
            elif isinstance(node, ast.Raise) and node.exc is not None and not rel.startswith("bcc/"):
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(exc, ast.Name) and exc.id in ("ValueError", "TypeError"):
                    bare.append(f"{rel}:{node.lineno}")
    return classes, bare


def test_every_exception_class_lives_in_errors() -> None:
    classes, _ = _classes_and_raises()
    assert sorted(set(classes) - SIGNALS) == []
    for name in errors.__all__:
        obj = getattr(errors, name)
        if inspect.isclass(obj):
            assert issubclass(obj, errors.BpfError), name  # one tree


def test_no_bare_value_or_type_error_outside_the_bcc_front_end() -> None:
    _, bare = _classes_and_raises()
    assert [b for b in bare if b.split(":")[0] not in BARE_RAISES_CAUGHT_LOCALLY] == []


def test_no_module_imports_another_modules_private_names() -> None:
    """``from .x import _y`` reaches into x's insides; shared pieces get a name without ``_``.
    Importing a private module itself (``from . import _types``) is how packages are built, and fine."""
    found = set()
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("bpfkit")):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__") and not _is_module(node, rel, a.name):
                        found.add((rel, a.name))
    assert sorted(found - PRIVATE_IMPORTS_LEFT) == []
    assert sorted(PRIVATE_IMPORTS_LEFT - found) == [], "gone: take them off PRIVATE_IMPORTS_LEFT"


def _is_module(node: ast.ImportFrom, rel: str, name: str) -> bool:
    """True when ``from <node.module> import name`` names a submodule (a file or package under src)."""
    base = Path(rel).parent.parts if node.level else ()
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    parts = [*base, *((node.module or "").split(".") if node.module else [])]
    if parts and parts[0] == "bpfkit" and not node.level:
        parts = parts[1:]
    where = SRC.joinpath(*parts, name)
    return where.with_suffix(".py").exists() or (where / "__init__.py").exists()


def test_moved_exceptions_are_still_where_users_found_them() -> None:
    from bpfkit import bcc, maps
    from bpfkit.export import ConfigError

    assert maps.QueueEmptyError is errors.QueueEmptyError is bpfkit.QueueEmptyError
    assert maps.MapIterationError is errors.MapIterationError is bpfkit.MapIterationError
    assert bcc.CompileError is errors.CompileError and bcc.USDTException is errors.USDTException
    assert ConfigError is errors.ConfigError


def test_kernel_objects_are_not_made_by_calling_the_class() -> None:
    with pytest.raises(bpfkit.BpfTypeError):
        bpfkit.Map(3, None)  # type: ignore[arg-type]
    with pytest.raises(bpfkit.BpfTypeError):
        bpfkit.HashMap(3, None)  # type: ignore[arg-type]
    with pytest.raises(bpfkit.BpfTypeError):
        bpfkit.Program(3)  # type: ignore[arg-type]
