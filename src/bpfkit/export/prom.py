"""Prometheus exposition through prometheus_client: a custom collector that reads the maps at scrape time."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Sample

from .engine import Engine, Family

__all__ = ["EngineCollector", "exposition", "registry_for", "serve"]


def _go_float(v: float) -> str:
    """A bound as Prometheus writes ``le`` (Go's float formatting: 1e-09, 0.5, 2)."""
    from prometheus_client.utils import floatToGoString

    return str(floatToGoString(v))  # type: ignore[no-untyped-call]


_LabelDicts = dict[tuple[str, tuple[str, ...]], dict[str, str]]


def _metric(f: Family, ldicts: _LabelDicts | None = None) -> Metric:
    names = list(f.labelnames)
    if f.type == "histogram":
        h = HistogramMetricFamily(f.name, f.help, labels=names)
        for s in f.hists:
            buckets = [(_go_float(le), float(c)) for le, c in zip(s.bounds, s.cumulative, strict=True)]
            buckets.append(("+Inf", float(s.count)))
            # prometheus_client leaves out _count when the sum is None: NaN says "no sum" and keeps it
            h.add_metric(list(s.labels), buckets, s.sum if not math.isnan(s.sum) else math.nan)
        return h
    if f.type == "counter":
        m: Any = CounterMetricFamily(f.name.removesuffix("_total"), f.help, labels=names)
        sname = m.name + "_total"
    else:
        m = GaugeMetricFamily(f.name, f.help, labels=names)
        sname = f.name
    # Samples built directly, with one label dict per series kept across scrapes: add_metric's per-call
    # dict and checks cost as much as reading the map
    ld = ldicts if ldicts is not None else {}
    samples = []
    for labels, v in f.samples:
        d = ld.get((sname, labels))
        if d is None:
            d = ld[(sname, labels)] = dict(zip(names, labels, strict=True))
        samples.append(Sample(sname, d, v, None, None, None))
    m.samples = samples
    return m  # type: ignore[no-any-return]


class EngineCollector:
    """A prometheus_client collector over an :class:`Engine`: each collect() is one (cached) snapshot."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ldicts: _LabelDicts = {}

    def collect(self) -> Iterator[Metric]:
        # A big map makes ~10 objects per series and scrape: the cyclic GC would walk the label caches
        # again and again while nothing here makes cycles, so it waits until the scrape is written.
        was = gc.isenabled()
        gc.disable()
        try:
            fams = self.engine.snapshot()
            if len(self._ldicts) > 2 * sum(len(f.samples) for f in fams) + 1024:
                self._ldicts.clear()  # series came and went: drop the dicts of the gone ones
            for f in fams:
                yield _metric(f, self._ldicts)
        finally:
            if was:
                gc.enable()

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: the families depend on what the maps hold


def registry_for(engine: Engine, *, process: bool = True) -> CollectorRegistry:
    """A registry with the engine's metrics (and the process's CPU and memory, as every exporter has)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(EngineCollector(engine))
    if process:
        ProcessCollector(registry=reg)
    return reg


def exposition(engine: Engine) -> bytes:
    """The Prometheus text exposition of the engine's metrics (``--once``)."""
    return generate_latest(registry_for(engine, process=False))


def serve(engine: Engine, addr: str, port: int) -> tuple[Any, Any]:
    """Serve ``/metrics`` on ``addr:port`` from a thread; returns (server, thread). Port 0 picks a free port."""
    server, thread = start_http_server(port, addr=addr, registry=registry_for(engine))
    return server, thread
