"""Fixtures of the map tests (helpers live in maps_helpers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from maps_helpers import Prog, load_trivial


@pytest.fixture
def prog() -> Iterator[Prog]:
    """A loaded trivial socket filter with a ``.fd``."""
    p = Prog(load_trivial())
    yield p
    p.close()
