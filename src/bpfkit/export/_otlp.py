"""OTLP push (HTTP/protobuf) of the engine's metrics through OpenTelemetry's exporter.

The SDK has no asynchronous histogram instrument, so the snapshot is turned
into the exporter's data model directly (cumulative sums, gauges and explicit
bucket histograms) and handed to ``OTLPMetricExporter``, which also reads the
standard ``OTEL_EXPORTER_OTLP_*`` variables.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from urllib.parse import urlparse

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from .. import __version__
from ._engine import Engine, Family

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["OtlpPusher", "metrics_data", "otlp_configured"]


def otlp_configured(endpoint: str | None) -> bool:
    """Whether pushing is asked for: ``--otlp-endpoint`` or an OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT variable."""
    return bool(endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"))


def _endpoint(url: str) -> str:
    """``--otlp-endpoint`` is a base URL like OTEL_EXPORTER_OTLP_ENDPOINT: /v1/metrics is added when no path is given."""
    if urlparse(url).path in ("", "/"):
        return url.rstrip("/") + "/v1/metrics"
    return url


def _metric(f: Family, start_ns: int, now_ns: int) -> Metric:
    attrs = [dict(zip(f.labelnames, labels, strict=True)) for labels, _ in f.samples]
    if f.type == "histogram":
        points = []
        for s in f.hists:
            counts, prev = [], 0
            for c in s.cumulative:
                counts.append(c - prev)
                prev = c
            counts.append(s.count - prev)
            points.append(HistogramDataPoint(
                attributes=dict(zip(f.labelnames, s.labels, strict=True)), start_time_unix_nano=start_ns,
                time_unix_nano=now_ns, count=s.count, sum=0.0 if math.isnan(s.sum) else s.sum, bucket_counts=counts,
                explicit_bounds=list(s.bounds), min=math.inf, max=-math.inf))
        return Metric(f.name, f.help, "", Histogram(points, AggregationTemporality.CUMULATIVE))
    nps = [NumberDataPoint(attributes=a, start_time_unix_nano=start_ns, time_unix_nano=now_ns, value=v)
           for a, (_, v) in zip(attrs, f.samples, strict=True)]
    if f.type in ("counter", "untyped"):  # untyped: an ebpf_exporter counter whose name lacks _total
        return Metric(f.name, f.help, "", Sum(nps, AggregationTemporality.CUMULATIVE, True))
    return Metric(f.name, f.help, "", Gauge(nps))


def metrics_data(families: list[Family], start_ns: int, now_ns: int | None = None) -> MetricsData:
    """The OTLP data model of a snapshot (one resource: this host's exporter)."""
    now = now_ns or time.time_ns()
    attrs = {"host.name": socket.gethostname()}
    if not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attrs["service.name"] = "bpfkit-export"  # a default: the standard variables name the service when set
    resource = Resource.create(attrs)
    scope = InstrumentationScope("bpfkit.export", __version__)
    metrics = [_metric(f, start_ns, now) for f in families]
    return MetricsData([ResourceMetrics(resource, [ScopeMetrics(scope, metrics, "")], "")])


class OtlpPusher:
    """A thread pushing a snapshot every ``interval`` seconds; failures are counted, never fatal."""

    def __init__(self, engine: Engine, endpoint: str | None, interval: float) -> None:
        self.engine = engine
        kw: dict[str, Any] = {}
        if endpoint:
            kw["endpoint"] = _endpoint(endpoint)
        self.exporter = OTLPMetricExporter(**kw)
        self.interval = interval
        self.start_ns = time.time_ns()
        self.pushes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bpfkit-export-otlp", daemon=True)

    def push(self) -> bool:
        """Push one snapshot now; True when the receiver accepted it."""
        ok = self.exporter.export(metrics_data(self.engine.snapshot(), self.start_ns)) == MetricExportResult.SUCCESS
        self.pushes += 1
        self.failures += 0 if ok else 1
        return ok

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.push()

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
        self.exporter.shutdown()
