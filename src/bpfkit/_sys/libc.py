"""The C library, loaded once with errno kept: every module of _sys calls through this one handle."""

from __future__ import annotations

import ctypes

__all__ = ["libc"]

libc = ctypes.CDLL(None, use_errno=True)
