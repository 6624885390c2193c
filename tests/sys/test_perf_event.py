"""perf_event_open and its ioctls on the real kernel."""

from __future__ import annotations

import os

import pytest

from bpfkit._sys import Fd
from bpfkit._sys import perf_event as P
from bpfkit._uapi import PerfSwId, PerfType

pytestmark = pytest.mark.kernel


def test_software_counter_opens_enables_and_maps() -> None:
    attr = P.PerfEventAttr(type=PerfType.SOFTWARE, config=PerfSwId.BPF_OUTPUT, sample_period=1)
    attr.flags = P.FLAG_DISABLED
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
