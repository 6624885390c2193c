"""Test policy: real kernel, no leaked BPF objects, no silent skips in CI."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bpfkit.testing import PROBE_PREFIX, bpf_fds, bpf_pins, check_leaks

if not os.access(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.W_OK):
    # a read-only checkout (the QEMU kernel matrix shares it read-only): keep hypothesis' data elsewhere
    import tempfile

    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(tempfile.mkdtemp(prefix="hypothesis-"))

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
IS_ROOT = os.geteuid() == 0


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves an fd of a BPF map, program, link, perf event or a pin behind."""
    fds_before = bpf_fds()
    pins_before = bpf_pins()
    yield
    report = check_leaks(fds_before, pins_before, collect=False)
    if report:  # objects in reference cycles go only with a collection: give them that chance
        report = check_leaks(fds_before, pins_before)
    for fd in report.fds:
        try:
            os.close(fd)
        except OSError:
            pass
    if report:
        pytest.fail(str(report), pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside CI, kernel tests need root; say so instead of failing with EPERM."""
    if IS_ROOT or IN_CI:
        return
    skip = pytest.mark.skip(reason="kernel test needs root (not running as root, outside CI)")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a skip is a failure unless a feature probe reported the feature missing."""
    outcome = yield
    report = outcome.get_result()
    if not IN_CI or not report.skipped:
        return
    reason = ""
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = str(report.longrepr[2])
    if "Skipped: " + PROBE_PREFIX in reason or reason.startswith(PROBE_PREFIX):
        return
    if hasattr(report, "wasxfail"):
        return
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, which is a failure: {reason}"
