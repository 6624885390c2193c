#!/usr/bin/env python3
"""Dump bpfkit's public API (names, signatures, public methods) to api/public_api.txt.

CI runs ``--check``: a change to the public API must come with an updated dump,
so that it is a visible, reviewed decision.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "api" / "public_api.txt"
SKIP = {"__main__"}


def public_modules(root: Path = ROOT / "src" / "bpfkit") -> list[str]:
    """Every public module of bpfkit: no part of its dotted name starts with ``_`` (trio's rule).

    A module is public exactly when its name says so; internal modules are ``_``-prefixed, so this
    list, not a hand-kept one, decides what the dump (and tests/test_exports.py) covers.
    """
    out = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] in SKIP or any(p.startswith("_") for p in parts):
            continue
        out.append(".".join(parts))
    return sorted(out, key=lambda m: (m.count("."), m))


def _sig(obj: Any) -> str:
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"
    return re.sub(r" at 0x[0-9a-f]+", "", text)  # sentinel objects print their address


def _describe_class(name: str, cls: type) -> list[str]:
    bases = ", ".join(b.__name__ for b in cls.__bases__ if b is not object)
    lines = [f"class {name}({bases})"]
    for attr in sorted(vars(cls)):
        if attr.startswith("_") and attr not in ("__init__", "__call__", "__getitem__", "__setitem__",
                                                 "__delitem__", "__contains__", "__iter__", "__len__",
                                                 "__enter__", "__exit__", "__aiter__"):
            continue
        value = inspect.getattr_static(cls, attr)
        if type(value).__name__ == "_DeferredInit":  # a record's __init__, built on first lookup (bpfkit._record)
            value = getattr(cls, attr)
        if isinstance(value, (staticmethod, classmethod)):
            kind = "staticmethod" if isinstance(value, staticmethod) else "classmethod"
            lines.append(f"    {kind} {attr}{_sig(getattr(cls, attr))}")
        elif isinstance(value, property):
            lines.append(f"    property {attr}")
        elif inspect.isfunction(value):
            lines.append(f"    def {attr}{_sig(value)}")
        elif isinstance(value, (int, str)) and not attr.startswith("_"):
            lines.append(f"    {attr} = {value!r}")
    return lines


def dump() -> str:
    sys.path.insert(0, str(ROOT / "src"))
    out: list[str] = []
    for modname in public_modules():
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:
            raise SystemExit(f"api_dump: public module {modname} has no __all__: say what it exports")
        out.append(f"## {modname}")
        for name in sorted(names):
            obj = getattr(mod, name)
            if inspect.isclass(obj):
                out.extend(_describe_class(name, obj))
            elif callable(obj):
                out.append(f"def {name}{_sig(obj)}")
            elif inspect.ismodule(obj):
                out.append(f"module {name}")
            else:
                out.append(f"{name}: {type(obj).__name__}")
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="fail if the checked-in dump differs")
    args = ap.parse_args()
    text = dump()
    if args.check:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            import difflib

            diff = difflib.unified_diff(current.splitlines(), text.splitlines(), "api/public_api.txt", "now", lineterm="")
            print("api_dump --check: the public API changed; review and run scripts/api_dump.py:")
            print("\n".join(list(diff)[:200]))
            return 1
        print("api_dump --check: public API unchanged")
        return 0
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
