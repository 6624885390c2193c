"""close() of a RingBuffer/PerfBuffer while another thread polls it, or from its own callback (issue 13 #1)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import rb_progs as P

import bpfkit
from bpfkit.maps import Map
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


def _poll_in_thread(reader: Any) -> tuple[threading.Thread, list[object]]:
    """Start a thread blocked in reader.poll() (no timeout); its outcome lands in the list."""
    outcome: list[object] = []
    started = threading.Event()

    def run() -> None:
        started.set()
        try:
            outcome.append(reader.poll())
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            outcome.append(exc)

    t = threading.Thread(target=run)
    t.start()
    started.wait()
    return t, outcome


def _closed_under_a_poll(reader: Any) -> None:
    t, outcome = _poll_in_thread(reader)
    reader.close()  # must wake the poll and wait for it, not leave it blocked on a closed epoll fd
    t.join()
    assert reader.closed
    # the poll either ended before close() (seeing it closed) or was woken by it and returned 0
    assert outcome == [0] or (len(outcome) == 1 and isinstance(outcome[0], bpfkit.BpfValueError))


def test_ring_buffer_closed_under_a_blocked_poll() -> None:
    require("map:ringbuf")
    with Map.create("ringbuf", 0, 0, 4096) as m:
        _closed_under_a_poll(bpfkit.RingBuffer(m, lambda rec: None))


def test_perf_buffer_closed_under_a_blocked_poll() -> None:
    require("perf_events")
    with Map.create("perf_event_array", 4, 4) as m:
        _closed_under_a_poll(bpfkit.PerfBuffer(m, lambda cpu, rec: None))


def test_callback_may_close_its_own_reader() -> None:
    require("map:ringbuf")
    with P.ringbuf_map(4096) as rb_fd, P.counter_map(slots=1) as cnt_fd, Map.from_fd(rb_fd, dup=True) as m:
        prog = P.ringbuf_output_producer(rb_fd.fd, cnt_fd.fd, size=16)
        seen: list[bytes] = []
        rb = bpfkit.RingBuffer(m)

        def first_only(rec: Any) -> None:
            seen.append(bytes(rec))
            rb.close()  # inside rb.poll(): takes effect when the poll returns

        rb.rings[0].callback = first_only
        with prog:
            P.run(prog, 3)
            n = rb.poll(timeout=None)
        assert rb.closed and n >= 1 and seen[0] == P.expected_record(0, 16)
        with pytest.raises(bpfkit.BpfValueError):
            rb.poll(timeout=0)
