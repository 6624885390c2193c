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
MODULES = [
    "bpfkit",
    "bpfkit.errors",
    "bpfkit.arch",
    "bpfkit.asm",
    "bpfkit.btf",
    "bpfkit.btf.core",
    "bpfkit.btf.format",
    "bpfkit.obj",
    "bpfkit.maps",
    "bpfkit.links",
    "bpfkit.features",
    "bpfkit.host",
    "bpfkit.testing",
    "bpfkit.bcc",
    "bpfkit.tools",
]


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
    for modname in MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n in vars(mod) if not n.startswith("_")]
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
