"""perf_event_open and its ioctls on the real kernel."""

from __future__ import annotations

import ctypes
import os

import pytest

from bpfkit._sys import Fd
from bpfkit._sys import perf_event as P
from bpfkit._uapi import PerfSwId, PerfType
from bpfkit.errors import BpfPermissionError
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


def test_software_counter_opens_enables_and_maps() -> None:
    require("perf_events")
    attr = P.PerfEventAttr(type=PerfType.SOFTWARE, config=PerfSwId.BPF_OUTPUT, sample_period=1)
    attr.disabled = 1
    attr.wakeup_events = 1
    with Fd(P.perf_event_open(attr, -1, 0, target="bpf output on cpu 0"), "perf event") as fd:
        P.enable(fd.fd)
        P.disable(fd.fd)
        page = os.sysconf("SC_PAGE_SIZE")
        ring = P.map_pages(fd.fd, page * 2)
        try:
            assert len(ring) == page * 2
        finally:
            ring.close()


def test_bad_attr_is_a_kernel_error() -> None:
    attr = P.PerfEventAttr(type=999999, config=0)
    with pytest.raises(OSError) as ei:
        P.perf_event_open(attr, -1, 0)
    assert ei.value.errno is not None


def test_paranoid_levels_above_two_name_the_sysctl_and_what_works() -> None:
    why = P.paranoid_refusal(3, sys_admin=False)
    assert why is not None
    assert "kernel.perf_event_paranoid=3" in why and "CAP_SYS_ADMIN" in why and "raw_tp" in why
    assert P.paranoid_refusal(4, sys_admin=False) is not None
    assert P.paranoid_refusal(3, sys_admin=True) is None  # CAP_SYS_ADMIN passes every level
    assert P.paranoid_refusal(2, sys_admin=False) is None  # mainline: CAP_PERFMON is the answer
    assert P.paranoid_refusal(None, sys_admin=False) is None


def test_refused_perf_event_open_is_a_permission_error_with_the_paranoid_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A refused perf_event_open (EACCES, faked: this host allows the event) names the sysctl and what works."""
    monkeypatch.setattr(P, "_paranoid", lambda: 3)
    monkeypatch.setattr(P, "_sys_admin", lambda: False)
    monkeypatch.setattr(P, "_syscall5", lambda *_a: (ctypes.set_errno(13), -1)[1])
    attr = P.PerfEventAttr(type=PerfType.SOFTWARE, config=PerfSwId.BPF_OUTPUT)
    with pytest.raises(BpfPermissionError) as ei:
        P.perf_event_open(attr, -1, 0, target="kprobe do_nanosleep")
    assert ei.value.errno == 13 and ei.value.target == "kprobe do_nanosleep"
    assert "kernel.perf_event_paranoid=3" in str(ei.value)
