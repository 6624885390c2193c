"""Prometheus exposition through prometheus_client: a custom collector that reads the maps at scrape time."""

from __future__ import annotations

import functools
import gc
import gzip
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import (
    ThreadingWSGIServer,
    _get_best_family,
    choose_encoder,
    generate_latest,
    gzip_accepted,
    make_wsgi_app,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from ._engine import Engine, Family

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["EngineCollector", "Exporter", "exposition", "registry_for", "serve"]


_go_float: Callable[[float], str] = floatToGoString
"""A value or bound as Prometheus writes it (Go's float formatting: 1e-09, 0.5, 2, +Inf)."""


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
    elif f.type == "untyped":  # written as 'untyped' (text) / 'unknown' (OpenMetrics), its name as it is
        m = Metric(f.name, f.help, "unknown")
        sname = f.name
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


class _Renderer:
    """Renders the engine's families exactly as an encoder of prometheus_client renders their Metrics, with
    each family's header and each sample's line up to its value (name, escaped and sorted labels) rendered by
    that encoder once, from the Metric, and then cached.

    A scrape then costs one dict lookup and one ``floatToGoString`` per sample: the encoders format every
    label of every sample again on each scrape, which for 100k series costs more than reading the map.
    """

    def __init__(self) -> None:
        self._prefixes: dict[Any, dict[Any, str]] = {}  # (encoder, family) -> sample key -> line up to the value
        self._heads: dict[Any, str] = {}  # (encoder, family) -> the # HELP / # TYPE lines

    @staticmethod
    def _encoder_key(encoder: Callable[..., bytes]) -> Any:
        func = getattr(encoder, "func", encoder)
        kw = getattr(encoder, "keywords", {})
        return func, tuple(sorted(kw.items()))

    def render(self, encoder: Callable[..., bytes], fams: Iterable[Family], ldicts: _LabelDicts) -> str:
        """The text ``encoder`` writes for the Metrics of ``fams``, without OpenMetrics' ``# EOF`` line."""
        ekey = self._encoder_key(encoder)
        out: list[str] = []
        for f in fams:
            m: Metric | None = None
            probe: Callable[[list[int]], Metric]
            if f.type == "histogram":  # keyed by sample name and label values (le last)
                m = _metric(f, ldicts)
                keys: list[Any] = [(s.name, tuple(s.labels.values())) for s in m.samples]
                values = [s.value for s in m.samples]
                probe = functools.partial(_probe_samples, m)
            else:  # counters and gauges: keyed by the label values the engine gives
                keys = [lb for lb, _ in f.samples]
                values = [v for _, v in f.samples]
                probe = functools.partial(_probe_series, f)
            text = self._family(encoder, (ekey, f.name, f.type, f.help, f.labelnames), keys, values, probe)
            out.append(text if text is not None else _strip_eof(encoder(_One(m or _metric(f, ldicts))).decode()))
        return "".join(out)

    def _family(self, encoder: Callable[..., bytes], fkey: Any, keys: list[Any], values: list[float],
                probe: Callable[[list[int]], Metric]) -> str | None:
        """One family's text; None when the encoder's lines are not one per sample ending in the value."""
        prefixes = self._prefixes.setdefault(fkey, {})
        missing = [i for i, k in enumerate(keys) if k not in prefixes]
        head = self._heads.get(fkey)
        if missing or head is None:
            # the missing samples with value 0, rendered by the encoder: each line is its prefix + "0.0"
            lines = _strip_eof(encoder(_One(probe(missing))).decode()).split("\n")[:-1]
            nhead = len(lines) - len(missing)
            if nhead < 0 or not all(line.endswith(" 0.0") for line in lines[nhead:]):
                return None
            head = self._heads[fkey] = "".join(line + "\n" for line in lines[:nhead])
            for i, line in zip(missing, lines[nhead:], strict=True):
                prefixes[keys[i]] = line[:-3]
            if len(prefixes) > 2 * len(keys) + 1024:  # series came and went: keep the live ones
                prefixes = self._prefixes[fkey] = {k: prefixes[k] for k in keys}
        get = prefixes.__getitem__
        fmt = _go_float
        return head + "".join([f"{get(k)}{fmt(v)}\n" for k, v in zip(keys, values, strict=True)])


def _probe_samples(m: Metric, idx: list[int]) -> Metric:
    """The samples ``idx`` of ``m`` with value 0."""
    p = Metric(m.name, m.documentation, m.type, m.unit)
    p.samples = [m.samples[i]._replace(value=0.0) for i in idx]
    return p


def _probe_series(f: Family, idx: list[int]) -> Metric:
    """The Metric of the series ``idx`` of ``f`` with value 0."""
    return _metric(Family(f.name, f.type, f.help, f.labelnames, samples=[(f.samples[i][0], 0.0) for i in idx]))


class _One:
    """A collector of one metric, to hand to an encoder."""

    def __init__(self, m: Metric) -> None:
        self.m = m

    def collect(self) -> Iterator[Metric]:
        yield self.m


def _strip_eof(text: str) -> str:
    return text.removesuffix("# EOF\n")


class _NoGC:
    """The cyclic GC held off while a scrape builds ~10 objects per series (nothing here makes cycles: the GC
    would only walk the caches again and again); it runs again once the scrape is written."""

    def __enter__(self) -> None:
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was:
            gc.enable()


class EngineCollector:
    """A prometheus_client collector over an :class:`Engine`: each collect() is one (cached) snapshot."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ldicts: _LabelDicts = {}

    def families(self) -> list[Family]:
        """The engine's snapshot (the label dicts of series gone since dropped)."""
        fams = self.engine.snapshot()
        if len(self._ldicts) > 2 * sum(len(f.samples) + len(f.hists) for f in fams) + 1024:
            self._ldicts.clear()
        return fams

    def collect(self) -> Iterator[Metric]:
        with _NoGC():
            for f in self.families():
                yield _metric(f, self._ldicts)

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: the families depend on what the maps hold


class Exporter:
    """What ``bpfkit export`` serves: the engine's metrics (rendered through :class:`_Renderer`) followed by the
    process's, in the format prometheus_client negotiates, byte for byte what its own encoders write."""

    def __init__(self, engine: Engine, *, process: bool = True) -> None:
        self.collector = EngineCollector(engine)
        self.others = CollectorRegistry(auto_describe=False)  # what follows the engine's metrics
        self.registry = CollectorRegistry(auto_describe=False)  # everything, for what the fast path leaves out
        self.registry.register(self.collector)
        if process:
            pc = ProcessCollector(registry=None)
            self.others.register(pc)
            self.registry.register(pc)
        self._renderer = _Renderer()
        self._lock = threading.Lock()
        self._fallback = make_wsgi_app(self.registry)

    def render(self, encoder: Callable[..., bytes] = generate_latest) -> bytes:
        """The exposition ``encoder`` (one of prometheus_client's) would write for the registry."""
        with self._lock, _NoGC():
            ours = self._renderer.render(encoder, self.collector.families(), self.collector._ldicts)
        return ours.encode() + encoder(self.others)

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """The WSGI application: GET renders through :meth:`render`; the rest is prometheus_client's app."""
        params = parse_qs(environ.get("QUERY_STRING", ""))
        if environ.get("REQUEST_METHOD") != "GET" or environ.get("PATH_INFO") == "/favicon.ico" or "name[]" in params:
            return self._fallback(environ, start_response)  # type: ignore[no-any-return]
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        output = self.render(encoder)
        headers = [("Content-Type", content_type)]
        if gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING", "")):
            output = gzip.compress(output)
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [output]


def registry_for(engine: Engine, *, process: bool = True) -> CollectorRegistry:
    """A registry with the engine's metrics (and the process's CPU and memory, as every exporter has)."""
    return Exporter(engine, process=process).registry


def exposition(engine: Engine) -> bytes:
    """The Prometheus text exposition of the engine's metrics (``--once``)."""
    return Exporter(engine, process=False).render(generate_latest)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


def serve(engine: Engine, addr: str, port: int) -> tuple[Any, Any]:
    """Serve ``/metrics`` on ``addr:port`` from a thread; returns (server, thread). Port 0 picks a free port."""

    class Server(ThreadingWSGIServer):
        pass

    Server.address_family, addr = _get_best_family(addr, port)  # type: ignore[no-untyped-call]
    server = make_server(addr, port, Exporter(engine).app, Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="bpfkit-export-http", daemon=True)
    thread.start()
    return server, thread
