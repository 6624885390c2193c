"""Hang guards that stretch on slow machines: a wait's bound, never an expectation of speed."""

from __future__ import annotations

import os

from ..errors import BpfValueError

__all__ = ["SLOWDOWN_VAR", "patience", "slowdown"]

SLOWDOWN_VAR = "BPFKIT_TEST_SLOWDOWN"
"""How many times slower than a native host this machine runs (an emulated guest: the kernel matrix sets it)."""


def slowdown() -> float:
    """The factor of $BPFKIT_TEST_SLOWDOWN (1 when unset; a bad value is a BpfValueError, not silently 1)."""
    raw = os.environ.get(SLOWDOWN_VAR, "").strip()
    if not raw:
        return 1.0
    try:
        factor = float(raw)
    except ValueError:
        raise BpfValueError(f"{SLOWDOWN_VAR}={raw!r} is not a number") from None
    if not factor >= 1.0:
        raise BpfValueError(f"{SLOWDOWN_VAR}={raw!r} must be at least 1")
    return factor


def patience(seconds: float) -> float:
    """``seconds`` of a hang guard (a failing wait's bound) scaled for this machine: QEMU TCG runs a guest
    several times slower than the host, and a cross-architecture guest slower again."""
    return seconds * slowdown()
