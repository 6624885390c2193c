#!/usr/bin/env python3
"""Write the typed modules of the ready tools (src/bpfkit/tools/<name>_skel.py) with ``bpfkit gen python``.

  gen_skeletons.py           regenerate them from the shipped objects
  gen_skeletons.py --check   exit 1 and name each module that is not what its object generates
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from bpfkit._cli.gen import generate  # noqa: E402
from bpfkit.obj import ObjectSpec  # noqa: E402
from bpfkit.tools._common import TOOLS  # noqa: E402

TOOLS_DIR = ROOT / "src" / "bpfkit" / "tools"


def expected(tool: str) -> str:
    """The module ``bpfkit gen python`` writes for the tool's shipped object."""
    data = (TOOLS_DIR / f"{tool}.bpf.o").read_bytes()
    return generate(ObjectSpec.from_bytes(data, name=tool), data)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    args = ap.parse_args()
    stale = []
    for tool in TOOLS:
        path = TOOLS_DIR / f"{tool}_skel.py"
        text = expected(tool)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        print(f"gen_skeletons --check: stale {', '.join(stale)} (run scripts/gen_skeletons.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
