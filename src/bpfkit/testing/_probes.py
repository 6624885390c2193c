"""Skip a test only when a feature probe reports the feature missing (the reason says so)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LIBBPF_TOKEN_VERSION", "PROBE_PREFIX", "libbpf_version", "require", "require_capability", "require_libbpf"]

PROBE_PREFIX = "probe:"


def require(feature: Any) -> None:
    """Skip the calling test unless the running kernel has ``feature`` (see bpfkit.features.require)."""
    import pytest

    from ..errors import NotSupportedError
    from ..features import require as probe

    try:
        probe(feature)
    except NotSupportedError as exc:
        pytest.skip(f"{PROBE_PREFIX} {exc}")


def require_capability(cap: int, what: str) -> None:
    """Skip the calling test unless this process holds capability ``cap`` in the initial user namespace.

    For tests that need privilege by nature (``what``: mounting, delegating a bpffs, running a child as
    another user), run by a capabilities-only user or in a user namespace.
    """
    import os

    import pytest

    from .. import host

    if not host.has_capability(cap):
        pytest.skip(f"{PROBE_PREFIX} {what} needs {host.capability_name(cap)}, which this process (uid "
                    f"{os.getuid()}) lacks")
    if not host.in_initial_user_namespace():
        pytest.skip(f"{PROBE_PREFIX} {what} needs {host.capability_name(cap)} in the initial user namespace; this "
                    "process runs in a user namespace of its own")


def libbpf_version() -> tuple[int, int] | None:
    """The version of the libbpf that bpftool on PATH uses (``bpftool version``), None without bpftool."""
    import re
    import shutil
    import subprocess

    exe = shutil.which("bpftool")
    if exe is None:
        return None
    out = subprocess.run([exe, "version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"libbpf v(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


LIBBPF_TOKEN_VERSION = (1, 4)
"""The first libbpf that uses a BPF token (LIBBPF_BPF_TOKEN_PATH, or a delegated /sys/fs/bpf)."""


def require_libbpf(what: str) -> None:
    """Skip the calling test unless C libbpf (bpftool, the C baselines) can create BPF objects here: in a user
    namespace whose only access to bpf(2) is a BPF token, a libbpf older than 1.4 cannot use the token."""
    import pytest

    from .. import host
    from ..token import ambient_token

    if host.in_initial_user_namespace() or ambient_token() is None:
        return
    v = libbpf_version()
    if v is None or v < LIBBPF_TOKEN_VERSION:
        have = "no bpftool" if v is None else f"libbpf v{v[0]}.{v[1]}"
        pytest.skip(f"{PROBE_PREFIX} {what} needs C libbpf to create BPF objects, and this process reaches bpf(2) "
                    f"only through a BPF token, which libbpf uses from v1.4 on ({have} here)")
