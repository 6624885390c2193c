"""Skip a test only when a feature probe reports the feature missing (the reason says so)."""

from __future__ import annotations

from typing import Any

__all__ = ["PROBE_PREFIX", "require"]

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
