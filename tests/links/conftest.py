"""Fixtures shared by the link tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bpfkit._sys import Fd
from bpfkit._sys import commands as C
from bpfkit._uapi import MapType


@pytest.fixture
def counter() -> Iterator[Fd]:
    """A one-element u32 -> u64 array map for counter_prog to count in."""
    with Fd(C.map_create(MapType.ARRAY, 4, 8, 1, name="cnt"), "map") as fd:
        yield fd
