"""Memory shared with the kernel's rings: page mappings and the acquire/release fences.

The readers access ring positions and record headers through native-format
memoryviews, which CPython reads and writes with one aligned ``memcpy`` of 4 or
8 bytes: a single, untorn access. On x86-64 (TSO) such loads already have
acquire and such stores release semantics, so no fence is needed and the
fence hooks are ``None``. On weakly ordered CPUs (arm64) the hooks run a
barrier instruction: ``atomic_thread_fence`` of libatomic, opened by its soname
(the dynamic loader's default directories, so no ``/etc/ld.so.cache`` and no
``ctypes.util.find_library`` are needed) or from this architecture's library
directories; without libatomic, a two-instruction function of bpfkit's own
(``dmb ishld; ret`` and ``dmb ish; ret``) in a page made executable. Only when
neither can be had do the readers refuse to start rather than risk reading
half-written records.
"""

from __future__ import annotations

import ctypes
import mmap
import os
from collections.abc import Callable

from ..errors import NotSupportedError
from .perf_event import map_pages

__all__ = ["ACQUIRE_FENCE", "FENCE_SOURCE", "RELEASE_FENCE", "TSO", "check_ordering", "map_pages", "unmap"]

# os.uname().machine is platform.machine() without importing platform (and ctypes.util, sysconfig: ~5 ms of a
# tool's start, issue 18); they are imported only on the weakly ordered machines that look for libatomic.
_MACHINE = os.uname().machine
TSO = _MACHINE.lower() in ("x86_64", "amd64", "i386", "i686")

_MEMORY_ORDER_ACQUIRE = 2
_MEMORY_ORDER_RELEASE = 3
LIBATOMIC = "libatomic.so.1"
# barrier functions by machine: (acquire, release) machine code. arm64: dmb ishld (loads before, any access
# after) and dmb ish (every access before, every access after), each followed by ret. x86-64: mfence; ret
# (never needed there, TSO, but it lets the hosts of the tests run this path).
_CODE = {
    "aarch64": ((0xD50339BF).to_bytes(4, "little") + (0xD65F03C0).to_bytes(4, "little"),
                (0xD5033BBF).to_bytes(4, "little") + (0xD65F03C0).to_bytes(4, "little")),
    "x86_64": (b"\x0f\xae\xf0\xc3", b"\x0f\xae\xf0\xc3"),
}
Fence = Callable[[], None]


def _library_dirs() -> list[str]:
    """Where this machine's shared libraries live when the loader's cache cannot say (multiarch first)."""
    import sysconfig

    triplet = sysconfig.get_config_var("MULTIARCH") or f"{_MACHINE}-linux-gnu"
    return [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]


def open_libatomic(find_library: Callable[[str], str | None] | None = None) -> ctypes.CDLL | None:
    """libatomic: by soname, then by path in this machine's library directories, then as
    ``find_library`` (default ``ctypes.util.find_library``) finds it; None when it is not installed."""
    candidates = [LIBATOMIC, *(os.path.join(d, LIBATOMIC) for d in _library_dirs())]
    for name in candidates:
        if name != LIBATOMIC and not os.path.exists(name):
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    if find_library is None:
        from ctypes import util

        find_library = util.find_library
    found = find_library("atomic")
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError:
            return None
    return None


def libatomic_fences(lib: ctypes.CDLL) -> tuple[Fence, Fence] | None:
    """(acquire, release) fences that call ``atomic_thread_fence`` of libatomic ``lib``."""
    try:
        fn = lib.atomic_thread_fence
    except AttributeError:
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = None

    def acquire() -> None:
        fn(_MEMORY_ORDER_ACQUIRE)

    def release() -> None:
        fn(_MEMORY_ORDER_RELEASE)

    return acquire, release


def code_fences() -> tuple[Fence, Fence] | None:
    """(acquire, release) fences of bpfkit's own machine code for this machine in a page mapped executable;
    None when there is no code for it or the kernel refuses executable memory (SELinux execmem, systemd's
    MemoryDenyWriteExecute)."""
    code = _CODE.get(_MACHINE.lower().replace("arm64", "aarch64").replace("amd64", "x86_64"))
    if code is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    mmap_, mprotect, munmap = libc.mmap, libc.mprotect, libc.munmap
    mmap_.restype = ctypes.c_void_p
    mmap_.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    page = mmap.PAGESIZE
    addr = mmap_(None, page, mmap.PROT_READ | mmap.PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        return None
    ctypes.memmove(addr, code[0], len(code[0]))
    ctypes.memmove(addr + 64, code[1], len(code[1]))
    # the kernel makes the instruction cache see the new code when the page becomes executable
    if mprotect(addr, page, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
        munmap(addr, page)
        return None
    proto = ctypes.CFUNCTYPE(None)
    return proto(addr), proto(addr + 64)  # kept for the life of the process


def _fences() -> tuple[Fence | None, Fence | None, str]:
    if TSO:
        return None, None, "none needed (TSO)"
    lib = open_libatomic()
    pair = libatomic_fences(lib) if lib is not None else None
    if pair is not None:
        return pair[0], pair[1], f"libatomic ({getattr(lib, '_name', LIBATOMIC)})"
    pair = code_fences()
    if pair is not None:
        return pair[0], pair[1], "bpfkit's barrier instructions"
    return None, None, "none available"


ACQUIRE_FENCE, RELEASE_FENCE, FENCE_SOURCE = _fences()


def check_ordering(what: str) -> None:
    """Raise NotSupportedError when this CPU needs fences and none is available."""
    if not TSO and (ACQUIRE_FENCE is None or RELEASE_FENCE is None):
        raise NotSupportedError(
            f"{what} needs memory fences on {_MACHINE}: libatomic (atomic_thread_fence) was not "
            "found and this process may not map executable memory for bpfkit's own barrier; install libatomic1",
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
