"""Fixtures of the ready tools' tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from tools_helpers import ToolRun, require_tool


@pytest.fixture
def run_tool() -> Iterator[Callable[..., ToolRun]]:
    """Start tools; each is killed at teardown if the test left it running."""
    runs: list[ToolRun] = []

    def start(tool: str, *args: str, json_output: bool = True) -> ToolRun:
        require_tool(tool)
        r = ToolRun(tool, *args, json_output=json_output)
        runs.append(r)
        return r

    yield start
    for r in runs:
        r.kill()
