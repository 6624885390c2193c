"""Test policy: real kernel, no leaked BPF objects, no silent skips in CI."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
IS_ROOT = os.geteuid() == 0
PROBE_PREFIX = "probe:"


def _bpf_fds() -> dict[int, str]:
    """Open fds of this process that refer to kernel objects (anon inodes: bpf, perf, epoll)."""
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("anon_inode:"):
            out[int(name)] = target
    return out


def _pins() -> set[str]:
    found: set[str] = set()
    root = "/sys/fs/bpf"
    if not os.path.isdir(root):
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            found.add(os.path.join(dirpath, n))
    return found


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves an fd of a BPF map, program, link, perf event or a pin behind."""
    gc.collect()
    fds_before = _bpf_fds()
    pins_before = _pins()
    yield
    gc.collect()
    leaked = {fd: t for fd, t in _bpf_fds().items() if fds_before.get(fd) != t}
    pins = _pins() - pins_before
    problems = []
    if leaked:
        problems.append("leaked fds: " + ", ".join(f"{fd} -> {t}" for fd, t in sorted(leaked.items())))
        for fd in leaked:
            try:
                os.close(fd)
            except OSError:
                pass
    if pins:
        problems.append("leaked pins: " + ", ".join(sorted(pins)))
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


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
