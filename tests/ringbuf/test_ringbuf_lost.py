"""Producer-side losses of a ring buffer: the ``<ring>_lost`` counter convention (issue 13 #6)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import rb_progs as P

import bpfkit
from bpfkit.maps import Map
from bpfkit.testing import require

pytestmark = pytest.mark.kernel

TOOLS = Path(__file__).resolve().parents[2] / "src" / "bpfkit" / "tools"


def test_lost_counts_the_records_a_full_ring_refused() -> None:
    require("map:ringbuf")
    with P.ringbuf_map(4096) as rb_fd, P.counter_map(slots=1, name="rb_lost") as cnt_fd:
        with Map.from_fd(rb_fd, dup=True) as rb_map, Map.from_fd(cnt_fd, dup=True) as counter:
            prog = P.ringbuf_output_producer(rb_fd.fd, cnt_fd.fd, size=64)
            with prog, bpfkit.RingBuffer(rb_map, lambda rec: None, lost=counter) as rb:
                assert rb.lost == 0
                ran = P.run(prog, 100)
                got = rb.consume()
                assert got > 0
                assert rb.lost == ran - got > 0  # every record is either delivered or counted lost
                assert rb.rings[0].lost == rb.lost


def test_without_a_counter_lost_is_none() -> None:
    require("map:ringbuf")
    with Map.create("ringbuf", 0, 0, 4096) as m, bpfkit.RingBuffer(m, lambda rec: None) as rb:
        assert rb.lost is None and rb.rings[0].lost is None


def test_load_links_the_lost_counter_by_name_and_bootstrap_reports_it() -> None:
    from bpfkit.tools.bootstrap import _report_lost as report_lost

    require("helper:probe_read_kernel@tracepoint")  # bootstrap's BPF_CORE_READ (lockdown=confidentiality refuses it)

    with bpfkit.load(TOOLS / "bootstrap.bpf.o") as obj:
        rb_map = obj.maps["rb"]
        assert rb_map.lost_counter is obj.maps["rb_lost"]  # type: ignore[attr-defined]
        with bpfkit.RingBuffer(rb_map, lambda rec: None) as rb:
            assert rb.lost == 0
            obj.maps["rb_lost"][0] = [3] + [0] * (len(obj.maps["rb_lost"][0]) - 1)  # as if 3 reserves failed
            assert rb.lost == 3
    notes: list[str] = []
    session = SimpleNamespace(note=notes.append)
    assert report_lost(session, 3, 0) == 3  # type: ignore[arg-type]
    assert report_lost(session, 3, 3) == 3  # type: ignore[arg-type]
    assert report_lost(session, None, 3) == 3  # type: ignore[arg-type]
    assert len(notes) == 1 and "3" in notes[0]
