"""bpfkit.testing's hang-guard scaling: the factor the kernel matrix sets for emulated guests."""

from __future__ import annotations

import pytest

from bpfkit.testing import patience, slowdown
from bpfkit.testing._patience import SLOWDOWN_VAR


def test_patience_is_the_bound_itself_on_a_native_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SLOWDOWN_VAR, raising=False)
    assert slowdown() == 1.0 and patience(60) == 60


def test_patience_scales_with_the_slowdown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SLOWDOWN_VAR, "8")
    assert slowdown() == 8.0 and patience(2.5) == 20.0


@pytest.mark.parametrize("bad", ["fast", "0.5", "-3", "nan"])
def test_a_bad_slowdown_is_an_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv(SLOWDOWN_VAR, bad)
    with pytest.raises(ValueError, match=SLOWDOWN_VAR):
        slowdown()
