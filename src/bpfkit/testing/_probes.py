"""Skip a test only when a feature probe reports the feature missing (the reason says so)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PROBE_PREFIX", "require", "require_capability"]

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
