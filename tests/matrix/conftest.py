"""Make matrix/ importable for the unit tests and register the markers the matrix uses."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

MATRIX_DIR = Path(__file__).resolve().parents[2] / "matrix"
if str(MATRIX_DIR) not in sys.path:
    sys.path.insert(0, str(MATRIX_DIR))


def pytest_configure(config: pytest.Config) -> None:
    """Register 'kernel' and 'quick' unless the project configuration already does."""
    known = {str(m).split(":", 1)[0].strip() for m in config.getini("markers")}
    if "kernel" not in known:
        config.addinivalue_line(
            "markers", "kernel: exercises the running kernel; run on every kernel of the matrix")
    if "quick" not in known:
        config.addinivalue_line("markers", "quick: part of the matrix's --quick subset")
