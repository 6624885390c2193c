"""The tracefs probe: tracepoints by name, kprobe/uprobe_events and trace_pipe need a readable, populated tracefs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bpfkit import features, host
from bpfkit._sys import mounts
from bpfkit.errors import NotSupportedError
from bpfkit.links import _tracing as tracing
from bpfkit.testing import require
from hostenv import CAPS_ONLY, run_as

pytestmark = pytest.mark.kernel


@pytest.fixture
def fresh_probe() -> object:
    """The tracefs probe answers again (it is cached), and its reason is forgotten afterwards."""
    features.have_tracefs.cache_clear()
    yield
    features.have_tracefs.cache_clear()
    features._REFUSALS.pop(features._FEATURE_LABEL["tracefs"], None)


def _events_readable() -> bool:
    try:
        os.listdir(os.path.join(mounts.ensure_tracefs(), "events"))
    except OSError:
        return False
    return True


def test_probe_agrees_with_what_this_process_can_read(fresh_probe: object) -> None:
    assert features.have_tracefs() is _events_readable()


def test_a_capabilities_only_user_is_told_to_use_raw_tp() -> None:
    """uid 65534 with CAP_BPF+CAP_PERFMON+CAP_NET_ADMIN: tracefs (mode 700) is 'no' with cause access."""
    code = ("from bpfkit import features\ns = features.check('tracefs')\n"
            "print(s.available, s.cause and s.cause.value)\nprint(s.reason)\n")
    if os.geteuid() == 0 and host.in_initial_user_namespace():
        r = run_as(CAPS_ONLY, ["-c", code])
        assert r.returncode == 0, r.stderr
        answer, reason = r.stdout.splitlines()[:2]
        others_read = bool(os.stat(mounts.ensure_tracefs()).st_mode & stat.S_IXOTH)
        uid = 65534
    else:  # already such a user (the matrix's caps and token environments)
        s = features.check("tracefs")
        answer, reason = f"{s.available} {s.cause and s.cause.value}", s.reason
        others_read, uid = _events_readable(), os.getuid()
    if others_read:
        assert answer == "True None"  # this host lets others read tracefs
    else:
        assert answer == "False access"
        assert "raw_tp" in reason and f"uid {uid}" in reason


def test_empty_tracefs_under_confidentiality_is_lockdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          fresh_probe: object) -> None:
    """lockdown=confidentiality leaves tracefs without files: the probe and a tracepoint attach say so."""
    monkeypatch.setattr(mounts, "ensure_tracefs", lambda: str(tmp_path))
    monkeypatch.setattr(tracing, "ensure_tracefs", lambda: str(tmp_path))
    monkeypatch.setattr(host, "lockdown_mode", lambda: "confidentiality")
    s = features.check("tracefs")
    assert not s.available and s.cause == features.Cause.LOCKDOWN and "raw_tp" in s.reason
    with pytest.raises(NotSupportedError) as ei:
        tracing.tracepoint_id("sched", "sched_process_exec")
    assert ei.value.cause == "lockdown" and ei.value.feature == "tracepoints"


def test_missing_tracepoint_on_a_working_tracefs_is_still_enoent(fresh_probe: object) -> None:
    require("tracefs")
    with pytest.raises(OSError) as ei:
        tracing.tracepoint_id("sched", "no_such_tracepoint_here")
    assert ei.value.errno == 2 and not isinstance(ei.value, NotSupportedError)
