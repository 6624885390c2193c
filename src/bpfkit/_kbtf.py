"""BTF of kernel objects: fetch a BTF object by id (split on vmlinux when it is a module's), load BTF.

``kernel_btf(btf_id)`` is what decodes any map of the system from its own BTF
(the CLI, ``Map.from_id``); ``load_btf(btf)`` is BPF_BTF_LOAD of a :class:`Btf`
built in Python (storage maps, maps with a typed value).
"""

from __future__ import annotations

import functools
import threading

from . import host
from . import token as _token  # noqa: F401  (installs the ambient BPF token for BTF loads without one)
from ._sys import Fd
from ._sys import commands as C
from .btf import Btf
from .errors import BpfTypeError

__all__ = ["btf_of_fd", "kernel_btf", "load_btf"]

_lock = threading.Lock()


def btf_of_fd(fd: int) -> Btf:
    """Parse the BTF object behind a BTF fd (module BTF is split on top of vmlinux)."""
    data, name, is_kernel, _ = C.btf_info(fd)
    if is_kernel and name == "vmlinux":
        return host.vmlinux_btf()
    if is_kernel:
        return Btf.from_bytes(data, base=host.vmlinux_btf())
    return Btf.from_bytes(data)


@functools.lru_cache(maxsize=64)
def _kernel_btf(btf_id: int) -> Btf:
    with Fd(C.btf_get_fd_by_id(btf_id), f"BTF id {btf_id}") as fd:
        return btf_of_fd(fd.fd)


def kernel_btf(btf_id: int) -> Btf:
    """The BTF object with this id (cached: BTF objects are immutable)."""
    with _lock:
        return _kernel_btf(btf_id)


def load_btf(btf: Btf, *, token_fd: int | None = None) -> Fd:
    """BPF_BTF_LOAD of ``btf``'s own types (through a BPF token fd if given); the kernel's log is in the error."""
    if not isinstance(btf, Btf):
        raise BpfTypeError(f"load_btf takes a Btf, not {type(btf).__name__}")
    fd, _ = C.btf_load(btf.to_bytes(), target="BTF built by bpfkit", token_fd=token_fd)
    return Fd(fd, "BTF")
