"""A short soak (bpfkit.testing.soak; `make soak` runs it for hours): repeated load/attach/read/detach
and map churn leave no fd and no kernel object behind. RSS is reported, not asserted: a few seconds
cannot tell a slow leak from the allocator settling."""

from __future__ import annotations

import pytest

from bpfkit.testing import patience, require, soak

pytestmark = pytest.mark.kernel


@pytest.mark.timeout(patience(300))
def test_short_soak_leaves_nothing() -> None:
    require("object_ids")  # the soak counts the kernel objects left by walking their ids
    require("pinning")  # each cycle pins a map
    require("tracefs")  # and attaches bootstrap to the sched tracepoints
    res = soak.soak(cycles=10, warmup=3, sample_every=5)
    print(res.report())
    assert res.cycles == 10
    assert res.events >= 10  # each cycle execs twice: the ring buffer was read
    # maps per cycle: bootstrap's 5 (exec_start, rb, rb_lost, .rodata, .bss) and the soak's own 4
    assert res.created["prog"] == 10 * 3 and res.created["map"] == 10 * 9 and res.created["link"] == 10 * 2
    assert res.kernel_objects_left == 0, res.left
    assert res.fd_growth == 0 and res.bpf_fd_growth == 0, res.report()
    assert len(res.rss_kib) == 10 and all(r > 0 for r in res.rss_kib)


def test_growth_is_measured_after_the_warmup() -> None:
    res = soak.SoakResult(cycles=6, warmup=2, rss_kib=[100, 200, 300, 300, 300, 300], fds=[5, 9, 9, 9, 9, 10])
    assert res.rss_per_cycle_kib == 0.0  # the first two cycles do not count
    assert res.fd_growth == 1
    res.rss_kib = [100, 200, 300, 301, 302, 303]
    assert res.rss_per_cycle_kib == pytest.approx(1.0)
