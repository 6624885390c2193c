"""Memory shared with the kernel's rings: page mappings and the acquire/release fences.

The readers access ring positions and record headers through native-format
memoryviews, which CPython reads and writes with one aligned ``memcpy`` of 4 or
8 bytes: a single, untorn access. On x86-64 (TSO) such loads already have
acquire and such stores release semantics, so no fence is needed and the
fence hooks are ``None``. On weakly ordered CPUs (arm64) the hooks call
``atomic_thread_fence`` from libatomic; without libatomic the readers refuse
to start rather than risk reading half-written records.
"""

from __future__ import annotations

import mmap
import platform
from collections.abc import Callable

from ..errors import NotSupportedError
from .perf_event import map_pages

__all__ = ["ACQUIRE_FENCE", "RELEASE_FENCE", "TSO", "check_ordering", "map_pages", "unmap"]

TSO = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")

_MEMORY_ORDER_ACQUIRE = 2
_MEMORY_ORDER_RELEASE = 3


def _libatomic_fence(order: int) -> Callable[[], None] | None:
    import ctypes.util

    name = ctypes.util.find_library("atomic")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name).atomic_thread_fence
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = None

    def fence() -> None:
        fn(order)

    return fence


ACQUIRE_FENCE: Callable[[], None] | None = None if TSO else _libatomic_fence(_MEMORY_ORDER_ACQUIRE)
RELEASE_FENCE: Callable[[], None] | None = None if TSO else _libatomic_fence(_MEMORY_ORDER_RELEASE)


def check_ordering(what: str) -> None:
    """Raise NotSupportedError when this CPU needs fences and none is available."""
    if not TSO and (ACQUIRE_FENCE is None or RELEASE_FENCE is None):
        raise NotSupportedError(
            f"{what} needs memory fences on {platform.machine()} and libatomic (atomic_thread_fence) "
            "was not found; install libatomic1",
            feature="ring memory ordering",
        )


def unmap(m: mmap.mmap | None) -> bool:
    """Close a mapping; False (mapping left to the GC) if a view of it is still exported."""
    if m is None or m.closed:
        return True
    try:
        m.close()
    except BufferError:
        return False
    return True
