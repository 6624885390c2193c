"""Reading the kernel verifier's log: what errors.py and the loader look for in it."""

from __future__ import annotations

__all__ = ["insn_line"]


def insn_line(line: str) -> tuple[int, str] | None:
    """(N, rest) of a verifier log line ``N: rest`` (N in decimal digits), else None.

    String code, not a regex: error paths may run after the process dropped the rights to read
    the re module's files, and a load imports no regex (issue 18).
    """
    head, sep, rest = line.partition(": ")
    if sep and head.isascii() and head.isdigit():
        return int(head), rest
    return None
