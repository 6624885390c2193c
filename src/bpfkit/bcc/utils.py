"""Small helpers BCC tools import from ``bcc.utils``."""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["ArgString", "get_online_cpus", "get_possible_cpus", "printb"]


class ArgString:
    """A command-line argument that converts to bytes (to compare with what the kernel reports) and str."""

    def __init__(self, arg: str | bytes) -> None:
        self.s = arg.decode() if isinstance(arg, bytes) else arg

    def __bytes__(self) -> bytes:
        return os.fsencode(self.s)

    def __str__(self) -> str:
        return self.s


def printb(s: bytes, file: Any = None, nl: int = 1) -> None:
    """Print bytes as they are (BCC's printb), with a newline unless ``nl`` is 0."""
    out: Any = file if file is not None else sys.stdout
    buf = getattr(out, "buffer", None)
    data = s + (b"\n" if nl else b"")
    if buf is not None:
        out.flush()
        buf.write(data)
        buf.flush()
    else:
        out.write(data.decode(errors="replace"))


def get_online_cpus() -> list[int]:
    """Ids of the online CPUs."""
    from ..host import online_cpus

    return online_cpus()


def get_possible_cpus() -> list[int]:
    """Ids of the possible CPUs."""
    from ..host import possible_cpus

    return list(range(possible_cpus()))
