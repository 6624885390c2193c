"""bpfkit's import graph has no cycles: between its packages (maps, links, btf, programs, ...) and
between the modules of one package, counting the imports inside functions that hide a cycle from
the interpreter (issue 16, "must exist" 5). Run as a script to print the graph's figures:
``python tests/test_import_graph.py [src/bpfkit]``."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "bpfkit"

# Cycles that exist and are accepted, as sorted tuples of the units in one strongly connected
# component. Empty: a new cycle fails the test; break it instead of listing it here.
ALLOWED_PACKAGE_CYCLES: set[tuple[str, ...]] = set()
ALLOWED_MODULE_CYCLES: set[tuple[str, ...]] = set()


def _modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file of every module under ``root`` (a package ``__init__`` is the package)."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every runtime import statement and whether it runs inside a function (``if TYPE_CHECKING`` left out)."""

    def walk(node: ast.AST, in_func: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child.test):
                for sub in child.orelse:
                    yield from walk(sub, in_func)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_func
            yield from walk(child, in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    yield from walk(tree, False)


def _targets(mod: str, is_pkg: bool, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> list[str]:
    """The bpfkit modules an import statement loads (the deepest known module each name resolves to)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "bpfkit"]
    if node.level:
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        name = ".".join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ""
    if name.split(".")[0] != "bpfkit":
        return []
    out = []
    for alias in node.names:
        sub = f"{name}.{alias.name}"
        out.append(sub if sub in known else name)
    return out


def import_graph(root: Path = SRC) -> tuple[dict[str, set[str]], int, int]:
    """(module -> modules it imports, module-level import statements, function-level ones) for bpfkit."""
    known = _modules(root)
    graph: dict[str, set[str]] = {m: set() for m in known}
    top = inner = 0
    for mod, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, in_func in _imports(tree):
            targets = [t for t in _targets(mod, path.name == "__init__.py", node, known) if t in known]
            if not targets:
                continue
            if in_func:
                inner += 1
            else:
                top += 1
            for t in targets:
                if t != mod:
                    graph[mod].add(t)
    return graph, top, inner


def _unit(mod: str) -> str:
    """The package-level unit of a module: ``bpfkit.maps._hash`` -> ``bpfkit.maps``, ``bpfkit.ringbuf`` itself."""
    return ".".join(mod.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between units (subpackages and top-level modules of bpfkit)."""
    out: dict[str, set[str]] = {}
    for mod, deps in graph.items():
        u = _unit(mod)
        out.setdefault(u, set())
        for d in deps:
            if _unit(d) != u:
                out[u].add(_unit(d))
    return out


def module_graphs(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph between modules of the same unit (each package's inside)."""
    return {m: {d for d in deps if _unit(d) == _unit(m)} for m, deps in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """The strongly connected components of more than one node (Tarjan), each as a sorted tuple."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[tuple[str, ...]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(tuple(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return sorted(out)


def _path(graph: dict[str, set[str]], comp: tuple[str, ...]) -> str:
    """One cycle through the first node of ``comp``, for the failure message."""
    first = comp[0]
    seen = {first: [first]}
    todo = [first]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v]):
            if w == first:
                return " -> ".join([*seen[v], first])
            if w in comp and w not in seen:
                seen[w] = [*seen[v], w]
                todo.append(w)
    return " <-> ".join(comp)


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph(import_graph()[0])
    new = [c for c in cycles(graph) if c not in ALLOWED_PACKAGE_CYCLES]
    assert not new, "import cycles between bpfkit's packages: " + "; ".join(_path(graph, c) for c in new)


def test_no_import_cycle_inside_a_package() -> None:
    graph = module_graphs(import_graph()[0])
    new = [c for c in cycles(graph) if c not in ALLOWED_MODULE_CYCLES]
    assert not new, "import cycles inside bpfkit's packages: " + "; ".join(_path(graph, c) for c in new)


def test_the_graph_sees_function_level_imports(tmp_path: Path) -> None:
    """The oracle of the walk: a cycle made only by an import inside a function is found."""
    pkg = tmp_path / "bpfkit"
    (pkg / "a").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("from ..b import thing\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import x\n"
                              "def thing():\n    from .a import inner\n")
    (pkg / "c.py").write_text("from . import b\n")
    graph, top, inner = import_graph(pkg)
    assert (top, inner) == (2, 1)
    assert cycles(package_graph(graph)) == [("bpfkit.a", "bpfkit.b")]


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else SRC
    g, n_top, n_inner = import_graph(root)
    pg = package_graph(g)
    mg = module_graphs(g)
    print(f"imports of bpfkit modules: {n_top} at module level, {n_inner} inside functions")
    for label, gr in (("between packages", pg), ("inside packages", mg)):
        cs = cycles(gr)
        print(f"cycles {label}: {len(cs)} strongly connected components, {sum(len(c) for c in cs)} units")
        for c in cs:
            print("   ", _path(gr, c), f"({len(c)} units)" if len(c) > 2 else "")
