#!/usr/bin/env python3
"""Copy the host-environment tables of matrix/env-matrix.md into README.md, between its markers.

    python3 matrix/readme_table.py [--check]

The block gets everything of env-matrix.md before its test table: which run wrote it,
the environments, the summary per kernel and environment, the probes in each, and what
each environment refused and why. --check exits 1 when README.md is out of date.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEGIN = "<!-- BEGIN host-environment table"
END = "<!-- END host-environment table -->"
INTRO = ("The matrix runs the kernel tests in these environments (`make matrix-envs`, "
         "[matrix/README.md](matrix/README.md#host-environments)); the table of every test in each kernel and environment "
         "table is in [matrix/env-matrix.md](matrix/env-matrix.md). From its last run:")


def block(env_matrix: str) -> str:
    """The README block for an env-matrix.md text: the intro and everything before its test table."""
    head = env_matrix.split("\n### Tests\n", 1)[0].strip("\n")
    return f"{INTRO}\n\n{head}\n"


def updated(readme: str, env_matrix: str) -> str:
    """``readme`` with the block between the markers replaced (ValueError when the markers are missing)."""
    start = readme.find(BEGIN)
    end = readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no '{BEGIN} ...' ... '{END}' markers")
    first = readme.index("\n", start) + 1
    return readme[:first] + block(env_matrix) + readme[end:]


def main(argv: Sequence[str]) -> int:
    """Entry point: rewrite README.md, or with --check only compare."""
    readme_path, matrix_path = REPO / "README.md", REPO / "matrix" / "env-matrix.md"
    readme = readme_path.read_text()
    try:
        new = updated(readme, matrix_path.read_text())
    except (OSError, ValueError) as exc:
        print(f"readme_table: {exc}", file=sys.stderr)
        return 2
    if "--check" in argv:
        if new != readme:
            print("readme_table: README.md's host-environment table differs from matrix/env-matrix.md; "
                  "run python3 matrix/readme_table.py", file=sys.stderr)
            return 1
        return 0
    if new != readme:
        readme_path.write_text(new)
        print(f"readme_table: updated {readme_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
