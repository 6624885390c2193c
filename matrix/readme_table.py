#!/usr/bin/env python3
"""Copy the host-environment tables of matrix/env-matrix.md and the arm64 tables of matrix/arm64-matrix.md
into README.md, between their markers.

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


ARM64_BEGIN = "<!-- BEGIN arm64 kernel table"
ARM64_END = "<!-- END arm64 kernel table -->"
ARM64_INTRO = ("The arm64 columns (`make matrix-arm64`: Debian's arm64 kernels under `qemu-system-aarch64` with a "
               "bookworm arm64 userland, the same kernel tests) from their last run, whose whole table is in "
               "[matrix/arm64-matrix.md](matrix/arm64-matrix.md):")


def block(env_matrix: str) -> str:
    """The README block for an env-matrix.md text: the intro and everything before its test table."""
    head = env_matrix.split("\n### Tests\n", 1)[0].strip("\n")
    return f"{INTRO}\n\n{head}\n"


def arm64_block(arm64_matrix: str) -> str:
    """The README block for an arm64-matrix.md text: the intro, the feature table and the summary per kernel."""
    head = arm64_matrix.split("\n| test |", 1)[0]
    tables = [ln for ln in head.splitlines() if not ln.startswith("### ")]
    body = "\n".join(tables).strip("\n")
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    return f"{ARM64_INTRO}\n\n{body}\n"


def _replace(readme: str, begin: str, end_marker: str, text: str) -> str:
    start = readme.find(begin)
    end = readme.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"README.md has no '{begin} ...' ... '{end_marker}' markers")
    first = readme.index("\n", start) + 1
    return readme[:first] + text + readme[end:]


def updated(readme: str, env_matrix: str, arm64_matrix: str | None = None) -> str:
    """``readme`` with the blocks between the markers replaced (ValueError when the markers are missing);
    the arm64 block only when ``arm64_matrix`` is given."""
    out = _replace(readme, BEGIN, END, block(env_matrix))
    if arm64_matrix is not None:
        out = _replace(out, ARM64_BEGIN, ARM64_END, arm64_block(arm64_matrix))
    return out


def main(argv: Sequence[str]) -> int:
    """Entry point: rewrite README.md, or with --check only compare."""
    readme_path, matrix_path = REPO / "README.md", REPO / "matrix" / "env-matrix.md"
    arm64_path = REPO / "matrix" / "arm64-matrix.md"
    readme = readme_path.read_text()
    try:
        new = updated(readme, matrix_path.read_text(), arm64_path.read_text() if arm64_path.exists() else None)
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
