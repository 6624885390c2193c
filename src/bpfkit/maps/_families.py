"""Import every map family so its classes register for their map types."""

from __future__ import annotations

from . import (  # noqa: F401
    arena,
    array,
    bloom,
    cgroup_array,
    hash,
    lpm,
    net,
    of_maps,
    percpu,
    perf_event_array,
    prog_array,
    queue,
    ringbuf,
    stack_trace,
    storage,
)
