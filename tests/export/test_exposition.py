"""The exposition /metrics serves is byte for byte what prometheus_client's own encoders write for the
engine's Metrics (text and OpenMetrics; first scrape, cached scrapes, after series come and go)."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
import yaml
from prometheus_client.exposition import choose_encoder, generate_latest, make_wsgi_app
from prometheus_client.openmetrics import exposition as openmetrics

from bpfkit.export import Engine, parse_config
from bpfkit.export._prom import Exporter, exposition
from conftest import ARG_HIST, EXECS, exporttest_config

pytestmark = [pytest.mark.kernel]

HERE = Path(__file__).parent

# label values that need escaping (quote, backslash, newline) and UTF-8, through static_map
METRICS = EXECS + ARG_HIST + """
      - name: test_arg_by_slot
        type: histogram
        help: "per-CPU slots; help with a backslash \\\\ and a newline \\n"
        map: arg_slots
        bucket: slot
        labels: [{name: kind, field: kind, decoders: [{name: static_map, static_map: {1: getpgid}}]}]
        buckets: {type: log2, slots: 8}
      - name: test_sids
        type: gauge
        help: getsid arguments
        map: sids
        labels:
          - name: arg
            decoders: [{name: uint}, {name: static_map, allow_unknown: true,
                        static_map: {"7": "a \\"quoted\\" \\\\ back\\nslash", "8": "été ☃"}}]
"""

ACCEPTS = [
    "",  # curl, urllib: text 0.0.4
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",  # Prometheus 2.42
    "application/openmetrics-text",
]


def _engine() -> Engine:
    return Engine(parse_config(yaml.safe_load(exporttest_config(METRICS)), HERE), cache_seconds=3600)


def _syscalls(pgids: list[int], sids: list[int]) -> None:
    for fn, args in ((os.getpgid, pgids), (os.getsid, sids)):
        for a in args:
            try:
                fn(a)
            except ProcessLookupError:
                pass


def _fresh(e: Engine) -> None:
    """A new snapshot, then kept: both renderings of a round read the same one."""
    e.cache_seconds = 0
    e.snapshot()
    e.cache_seconds = 3600


def _encoders() -> list[Callable[..., bytes]]:
    return [choose_encoder(a)[0] for a in ACCEPTS] + [
        generate_latest, partial(openmetrics.generate_latest, escaping=openmetrics.ALLOWUTF8, version="1.0.0")]


def test_rendering_matches_prometheus_client_byte_for_byte() -> None:
    with _engine() as e:
        e.start()
        ex = Exporter(e, process=False)
        rounds: list[tuple[list[int], list[int]]] = [([1, 2, 3, 100, 70000], [7, 8, 9]), ([], []), ([5, 5], [10, 11, 12])]
        for pgids, sids in rounds:
            _syscalls(pgids, sids)
            if not pgids and not sids:  # series gone: the sids map emptied
                e.loaded[0].col.maps["sids"].clear()
            _fresh(e)
            for enc in _encoders():
                want = enc(ex.registry)
                assert ex.render(enc) == want
                assert ex.render(enc) == want  # from the cached lines
            assert exposition(e) == generate_latest(ex.registry)
        text = ex.render(generate_latest).decode()
        assert 'test_sids{arg="10"}' in text and "test_arg_by_slot_count{" in text


def _call(app: Callable[..., list[bytes]], accept: str, encoding: str = "", query: str = "") -> tuple[str, Any, bytes]:
    env: dict[str, Any] = {}
    setup_testing_defaults(env)
    env.update(PATH_INFO="/metrics", HTTP_ACCEPT=accept, HTTP_ACCEPT_ENCODING=encoding, QUERY_STRING=query)
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        got.update(status=status, headers=headers)

    body = b"".join(app(env, start_response))
    return got["status"], got["headers"], body


def test_wsgi_app_answers_as_prometheus_clients_app() -> None:
    with _engine() as e:
        e.start()
        _syscalls([1, 2, 100], [7, 8])
        ex = Exporter(e, process=False)
        ref = make_wsgi_app(ex.registry)
        for accept in ACCEPTS:
            for encoding in ("", "gzip"):
                status, headers, body = _call(ex.app, accept, encoding)
                rstatus, rheaders, rbody = _call(ref, accept, encoding)
                assert (status, headers) == (rstatus, rheaders)
                if encoding:
                    body, rbody = gzip.decompress(body), gzip.decompress(rbody)
                assert body == rbody
        # what the fast path leaves to prometheus_client: name[] filters
        status, _, body = _call(ex.app, "", query="name[]=test_execs_total")
        assert status.startswith("200") and b"test_arg_bucket" not in body
