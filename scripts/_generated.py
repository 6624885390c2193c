"""What every generator of a checked-in file does last: write it, or (--check) say whether it is up to date."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_or_check(out: Path, text: str, *, check: bool, tool: str, detail: str = "") -> int:
    """Write ``text`` to ``out`` (exit status 0), or with ``check`` compare: 0 when equal, 1 (on stderr, naming the
    generator to rerun) when ``out`` is missing or differs. ``detail`` is added to the messages, e.g. a count."""
    rel = out.relative_to(ROOT)
    extra = f" ({detail})" if detail else ""
    if not check:
        out.write_text(text)
        print(f"wrote {rel}{extra}")
        return 0
    if out.exists() and out.read_text() == text:
        print(f"{tool} --check: {rel} is up to date{extra}")
        return 0
    print(f"{tool} --check: {rel} is stale; rerun scripts/{tool}.py", file=sys.stderr)
    return 1
