#!/usr/bin/env python3
"""Move the ``typing`` imports that only annotations use under ``if TYPE_CHECKING:`` (issue 18).

    python scripts/lazy_typing.py [--check] [PATH ...]      (default: src/bpfkit)

``import bpfkit`` and a load must not import :mod:`typing` (about 5 ms of a cold
start: it pulls re, collections, contextlib ...). In a module with
``from __future__ import annotations`` an annotation is never evaluated, so a
name of ``typing`` that only annotations use can be imported for the type
checker alone. For each such module this script

- removes those names (and ``TYPE_CHECKING``) from its ``from typing import ...``,
- defines ``TYPE_CHECKING = False`` (mypy and ruff treat any ``if TYPE_CHECKING:``
  as the type checker's branch) and imports them in an ``if TYPE_CHECKING:``
  block: the module's own block if it has one, else a new one after its imports,
- leaves a name that runs (``cast(...)``, ``TypeVar(...)``, a ``Protocol`` base,
  ``@overload``) where it is, and lists it: those need a hand-written replacement.

Run ``ruff check --fix --select I`` afterwards to sort the moved imports.
``--check`` changes nothing and exits 1 when a module would change or keeps a
runtime use of typing. The test tests/test_import_budget.py checks the result
(no ``typing`` in ``sys.modules`` after ``import bpfkit`` and a load).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "src" / "bpfkit"
# generated, excluded from ruff: scripts/gen_uapi.py writes them (and imports no typing)
SKIP = {"_uapi/_generated.py", "_uapi/_generated_lazy.py"}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _RuntimeNames(ast.NodeVisitor):
    """Names that are evaluated when the module runs: everything but annotations and TYPE_CHECKING blocks."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        self.names.add(node.id)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):  # exported: used at run time
            self.names.update(e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant) and isinstance(e.value, str))

    def visit_If(self, node: ast.If) -> None:
        self.visit(node.test)
        if not _is_type_checking(node.test):
            for stmt in node.body:
                self.visit(stmt)
        for stmt in node.orelse:
            self.visit(stmt)

    def visit_arg(self, node: ast.arg) -> None:
        pass  # its annotation is a string

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for d in node.decorator_list:
            self.visit(d)
        self.visit(node.args)  # defaults; visit_arg skips the annotations
        for stmt in node.body:
            self.visit(stmt)

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if node.value is not None:
            self.visit(node.value)


def _runtime_names(tree: ast.Module, skip: list[ast.stmt]) -> set[str]:
    """Names evaluated when the module runs, but for the top-level statements ``skip``."""
    v = _RuntimeNames()
    for s in tree.body:
        if not any(s is k for k in skip):
            v.visit(s)
    return v.names


def _first_line(s: ast.stmt) -> int:
    return s.decorator_list[0].lineno if isinstance(s, ast.ClassDef) and s.decorator_list else s.lineno


def _defined_name(s: ast.stmt) -> str:
    if isinstance(s, ast.ClassDef):
        return s.name
    assert isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)
    return s.targets[0].id


def _typing_only_candidate(s: ast.stmt, typing_names: set[str]) -> bool:
    """A top-level definition made of typing (``T = TypeVar(...)``, ``Alias = Literal[...]``, a ``Protocol``
    class) that can move into the TYPE_CHECKING block when nothing at run time uses the name it defines."""
    if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
        return bool(typing_names & {n.id for n in ast.walk(s.value) if isinstance(n, ast.Name)})
    if isinstance(s, ast.ClassDef):
        return any(isinstance(b, ast.Name) and b.id in typing_names and b.id in ("Protocol", "NamedTuple")
                   for b in s.bases) and not any(isinstance(b, ast.Name) and b.id == "NamedTuple" for b in s.bases)
    return False


def _typing_imports(tree: ast.Module) -> list[ast.ImportFrom]:
    return [s for s in tree.body if isinstance(s, ast.ImportFrom) and s.module == "typing" and s.level == 0]


def _has_future_annotations(tree: ast.Module) -> bool:
    return any(
        isinstance(s, ast.ImportFrom) and s.module == "__future__" and any(a.name == "annotations" for a in s.names)
        for s in tree.body
    )


def _defines_type_checking(tree: ast.Module) -> bool:
    return any(
        isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "TYPE_CHECKING" for t in s.targets)
        for s in tree.body
    )


def _prelude_end(tree: ast.Module) -> int:
    """The last line of the module's leading imports (docstring, imports, TYPE_CHECKING blocks)."""
    end = 0
    for i, s in enumerate(tree.body):
        if isinstance(s, (ast.Import, ast.ImportFrom)) or (i == 0 and isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)):
            end = s.end_lineno or s.lineno
        elif isinstance(s, ast.If) and _is_type_checking(s.test):
            continue
        else:
            break
    return end


def _import_line(names: list[ast.alias]) -> str:
    return "from typing import " + ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}" for a in names)


def rewrite(source: str, imported: frozenset[str] = frozenset()) -> tuple[str, list[str]]:
    """(new source, names of typing that still run at import) of one module; ``imported``: the names other
    modules import from it at run time (a definition they import stays where it is)."""
    tree = ast.parse(source)
    imports = _typing_imports(tree)
    if not imports:
        return source, []
    if not _has_future_annotations(tree):
        return source, ["(no `from __future__ import annotations`: left as it is)"]
    typing_names = {a.asname or a.name for imp in imports for a in imp.names}
    candidates = [s for s in tree.body if _typing_only_candidate(s, typing_names)]
    runtime = _runtime_names(tree, skip=candidates) | imported
    movers = [s for s in candidates if _defined_name(s) not in runtime]
    runtime = _runtime_names(tree, skip=movers) | imported
    lines = source.splitlines(keepends=True)
    mover_text = "".join("\n" * isinstance(s, ast.ClassDef) + textwrap.indent("".join(lines[_first_line(s) - 1:s.end_lineno]), "    ")
                         for s in movers)
    moved: list[ast.alias] = []
    kept_report: list[str] = []
    edits: list[tuple[int, int, str]] = []  # (first line, last line, replacement), 1-based inclusive
    for imp in imports:
        keep = []
        for a in imp.names:
            local = a.asname or a.name
            if a.name == "TYPE_CHECKING":
                continue
            if local in runtime:
                keep.append(a)
                kept_report.append(local)
            else:
                moved.append(a)
        text = _import_line(keep) + "\n" if keep else ""
        edits.append((imp.lineno, imp.end_lineno or imp.lineno, text))
    for m in movers:  # their text goes into the TYPE_CHECKING block
        edits.append((_first_line(m), m.end_lineno or m.lineno, ""))
    block = next((s for s in tree.body if isinstance(s, ast.If) and _is_type_checking(s.test)), None)
    need_flag = not _defines_type_checking(tree)
    later_imports = block is not None and any(
        isinstance(s, (ast.Import, ast.ImportFrom)) and s.lineno > (block.end_lineno or block.lineno) for s in tree.body
    )
    if block is not None and need_flag and later_imports:
        # `TYPE_CHECKING = False` before imports would be E402: the block moves after the module's imports
        end = _prelude_end(tree)
        body_end = block.body[-1].end_lineno or block.lineno
        body = "".join(lines[block.lineno:body_end])  # the lines after `if TYPE_CHECKING:`
        orelse = "".join(lines[body_end:block.end_lineno])
        indent = " " * block.body[0].col_offset
        add = "\nTYPE_CHECKING = False\nif TYPE_CHECKING:\n"
        if moved:
            add += f"{indent}{_import_line(moved)}\n"
        edits.append((block.lineno, block.end_lineno or block.lineno, ""))
        edits.append((end + 1, end, add + body + mover_text + orelse))
    elif block is not None:
        insert_at = block.lineno  # 1-based line of `if TYPE_CHECKING:`
        indent = " " * block.body[0].col_offset
        add = ("TYPE_CHECKING = False\n" if need_flag else "") + lines[insert_at - 1]
        if moved:
            add += f"{indent}{_import_line(moved)}\n"
        edits.append((insert_at, insert_at, add))
        if mover_text:
            last = block.body[-1].end_lineno or block.lineno
            edits.append((last + 1, last, mover_text))
    elif moved or mover_text or (need_flag and "TYPE_CHECKING" in runtime):
        end = _prelude_end(tree)
        add = "\n" + ("TYPE_CHECKING = False\n" if need_flag else "")
        if moved or mover_text:
            add += "if TYPE_CHECKING:\n" + (f"    {_import_line(moved)}\n" if moved else "") + mover_text
        edits.append((end + 1, end, add))  # an insertion after line `end`
    for first, last, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        lines[first - 1:last] = [text] if text else []
    return re.sub(r"\n{4,}", "\n\n\n", "".join(lines)), kept_report


class _RuntimeImports(ast.NodeVisitor):
    """``from X import a, b`` statements that run (not in a TYPE_CHECKING block): (level, module, names)."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str, list[str]]] = []

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
        else:
            for stmt in node.orelse:
                self.visit(stmt)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.found.append((node.level, node.module or "", [a.name for a in node.names]))


def imported_names(files: list[Path]) -> dict[Path, set[str]]:
    """For each module file, the names the other files import from it at run time."""
    out: dict[Path, set[str]] = {}
    for f in files:
        v = _RuntimeImports()
        v.visit(ast.parse(f.read_text(encoding="utf-8")))
        pkg = f.parent
        for level, module, names in v.found:
            if level:
                base = pkg
                for _ in range(level - 1):
                    base = base.parent
            elif module.split(".")[0] == "bpfkit":
                base = DEFAULT.parent
            else:
                continue
            target = base.joinpath(*module.split(".")) if module else base
            for cand in (target.with_suffix(".py"), target / "__init__.py"):
                if cand.exists():
                    out.setdefault(cand.resolve(), set()).update(names)
                    break
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a module would change")
    ap.add_argument("paths", nargs="*", type=Path, help="files or directories (default: src/bpfkit)")
    args = ap.parse_args(argv)
    files: list[Path] = []
    for p in args.paths or [DEFAULT]:
        files += sorted(p.rglob("*.py")) if p.is_dir() else [p]
    changed: list[Path] = []
    runtime_uses: list[str] = []
    imported = imported_names(sorted(DEFAULT.rglob("*.py")) + files)
    for f in files:
        rel = f.relative_to(DEFAULT).as_posix() if f.is_relative_to(DEFAULT) else str(f)
        if rel in SKIP:
            continue
        old = f.read_text(encoding="utf-8")
        new, kept = rewrite(old, frozenset(imported.get(f.resolve(), ())))
        if kept:
            runtime_uses.append(f"{rel}: {', '.join(kept)}")
        if new != old:
            changed.append(f)
            if not args.check:
                f.write_text(new, encoding="utf-8")
    verb = "would change" if args.check else "changed"
    for f in changed:
        print(f"{verb}: {f.relative_to(ROOT) if f.is_relative_to(ROOT) else f}")
    for r in runtime_uses:
        print(f"typing at run time: {r}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
