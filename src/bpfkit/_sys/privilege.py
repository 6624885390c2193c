"""What this process may do: its capabilities, its user namespace, the kernel's lockdown mode and LSMs.

The syscall layer needs these facts to explain an EPERM, so they live here, below
everything else; :mod:`bpfkit.host` re-exports them as the public API.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from .mounts import ensure_securityfs, in_initial_user_namespace

__all__ = [
    "CAP_BPF",
    "CAP_NET_ADMIN",
    "CAP_PERFMON",
    "CAP_SYS_ADMIN",
    "TOKEN_CAPS",
    "active_lsms",
    "ambient_token_fd",
    "bpf_capable",
    "capability_name",
    "effective_capabilities",
    "has_capability",
    "in_initial_user_namespace",
    "lockdown_mode",
    "set_ambient_token",
    "token_in_use",
]


@functools.cache
def active_lsms() -> tuple[str, ...] | None:
    """The active Linux security modules (securityfs ``lsm``, mounted when needed); None if unknowable."""
    try:
        root = ensure_securityfs()
        with open(os.path.join(root, "lsm")) as f:
            text = f.read()
    except OSError:
        return None
    return tuple(x for x in text.strip().split(",") if x)


@functools.cache
def lockdown_mode() -> str | None:
    """The kernel lockdown mode ("none", "integrity" or "confidentiality"); None when unknowable.

    Read from securityfs ``lockdown`` (mounted when needed); a kernel without the
    lockdown LSM has no such file, which is mode "none".
    """
    try:
        root = ensure_securityfs()
    except OSError:
        return None
    try:
        with open(os.path.join(root, "lockdown")) as f:
            text = f.read()
    except FileNotFoundError:
        return "none"
    except OSError:
        return None
    start = text.find("[")  # the mode in force is in brackets: "none [integrity] confidentiality"
    end = text.find("]", start + 1)
    mode = text[start + 1 : end] if start >= 0 and end > start else ""
    return mode if mode and all(c.isalnum() or c == "_" for c in mode) else None


CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39
_CAP_NAMES = {CAP_NET_ADMIN: "CAP_NET_ADMIN", CAP_SYS_ADMIN: "CAP_SYS_ADMIN", CAP_PERFMON: "CAP_PERFMON",
              CAP_BPF: "CAP_BPF", 6: "CAP_SETGID", 7: "CAP_SETUID", 13: "CAP_NET_RAW", 34: "CAP_SYSLOG"}


def trampolines_locked_down() -> str | None:
    """Why the kernel refuses BPF trampolines when it is locked down (the likely cause of an EPERM to a
    capable process, at load or attach); None when it is not."""
    mode = lockdown_mode()
    if mode in (None, "none"):
        return None
    return (f"the kernel is locked down (lockdown={mode}, as under Secure Boot), the likely cause (a kernel "
            "booted without lockdown allows BPF trampolines)")


def effective_capabilities() -> frozenset[int]:
    """The capability numbers in this process's effective set (``CapEff`` of /proc/self/status)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                bits = int(line.split()[1], 16)
                return frozenset(i for i in range(64) if bits >> i & 1)
    return frozenset()  # pragma: no cover - every Linux since 2.6 has CapEff


def has_capability(cap: int) -> bool:
    """True when this process may use capability ``cap`` as the BPF code checks it (``capable()``).

    CAP_BPF and CAP_PERFMON (Linux 5.8) are implied by CAP_SYS_ADMIN, as the kernel's
    ``bpf_capable()`` / ``perfmon_capable()`` do. Capabilities held in a user
    namespace do not count: the kernel checks the initial one (a BPF token is the way around).
    """
    if not in_initial_user_namespace():
        return False
    caps = effective_capabilities()
    return cap in caps or (cap in (CAP_BPF, CAP_PERFMON) and CAP_SYS_ADMIN in caps)


def capability_name(cap: int) -> str:
    """``CAP_BPF`` for 39 and so on (``CAP_<n>`` for numbers bpfkit does not name)."""
    return _CAP_NAMES.get(cap, f"CAP_{cap}")


TOKEN_CAPS = (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN)
"""The capabilities a BPF token lets a user namespace use for bpf(2) (the kernel's bpf_token_capable)."""

_ambient_token: Callable[[], int | None] | None = None


def set_ambient_token(provider: Callable[[], int | None] | None) -> None:
    """Install what gives the token fd of creations without an explicit one (:mod:`bpfkit.token` installs it):
    in a user namespace with a delegated bpffs, every map, program and BTF needs the token, probes included."""
    global _ambient_token
    _ambient_token = provider


def ambient_token_fd() -> int | None:
    """The fd of this process's ambient BPF token (:func:`bpfkit.token.ambient_token`), or None. The modules
    that create BPF objects (maps, programs, features, collection) import bpfkit.token, which installs it."""
    return _ambient_token() if _ambient_token is not None else None


def token_in_use() -> bool:
    """True when this process creates BPF objects through an ambient BPF token (:func:`bpfkit.token.ambient_token`)."""
    if in_initial_user_namespace():
        return False
    from ..errors import BpfError

    try:
        return ambient_token_fd() is not None
    except BpfError:
        return False


def bpf_capable(cap: int) -> bool:
    """True when bpf(2) grants this process ``cap``: held in the initial user namespace, or (CAP_BPF, CAP_PERFMON,
    CAP_NET_ADMIN) held in its own user namespace and used through its BPF token. Checks the kernel makes
    outside bpf(2) (perf_event_open, CAP_SYS_ADMIN-only helpers, ``*_GET_NEXT_ID``) go by :func:`has_capability`."""
    if has_capability(cap):
        return True
    return cap in TOKEN_CAPS and cap in effective_capabilities() and token_in_use()
