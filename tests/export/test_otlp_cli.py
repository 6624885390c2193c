"""OTLP push to a receiver the test runs (decoding the protobuf), --once, --check and the CLI's errors."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from bpfkit.testing import patience, require
from conftest import ARG_HIST, EXECS, exporttest_config, write
from hostenv import kernel_uid

HERE = Path(__file__).parent



class _Receiver(http.server.BaseHTTPRequestHandler):
    requests: list[Any] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        req = metrics_service_pb2.ExportMetricsServiceRequest()
        req.ParseFromString(body)
        type(self).requests.append((self.path, self.headers["Content-Type"], req))
        out = metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


def _points(req: Any) -> dict[str, Any]:
    out = {}
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                out[m.name] = m
    return out


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("how", ["flag", "env"])
def test_otlp_push_decoded_by_a_receiver(tmp_path: Path, start_exporter, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    cfg = write(tmp_path / "export.yaml", exporttest_config(EXECS + ARG_HIST))
    _Receiver.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        if how == "env":  # the standard variable (its base URL gets /v1/metrics, as the OTLP spec says)
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
            exp = start_exporter(["--config", str(cfg), "--interval", "0.5"])
        else:
            exp = start_exporter(["--config", str(cfg), "--otlp-endpoint", url, "--interval", "0.5"])
        for _ in range(3):
            subprocess.run(["/bin/true"], check=True)
        for v in (1, 2, 100):
            try:
                os.getpgid(v)
            except ProcessLookupError:
                pass
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            reqs = list(_Receiver.requests)
            if reqs:
                pts = _points(reqs[-1][2])
                execs = pts.get("test_execs_total")
                if execs is not None and execs.sum.data_points and execs.sum.data_points[0].as_double == 3:
                    break
            time.sleep(0.2)
        path, ctype, req = _Receiver.requests[-1]
        assert path == "/v1/metrics"
        assert ctype == "application/x-protobuf"
        pts = _points(req)
        execs = pts["test_execs_total"].sum
        assert execs.is_monotonic
        assert [(dict((a.key, a.value.string_value) for a in p.attributes), p.as_double) for p in execs.data_points] == \
            [({"uid": str(kernel_uid())}, 3.0)]
        hist = pts["test_arg"].histogram.data_points[0]
        assert hist.count == 3
        assert hist.sum == 103
        assert list(hist.explicit_bounds) == [1, 3, 7, 15, 31, 63, 127]
        assert list(hist.bucket_counts) == [1, 1, 0, 0, 0, 0, 1, 0]
        assert exp.stop() == 0
    finally:
        server.shutdown()
        server.server_close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bpfkit", "export", *args], check=False, capture_output=True,
                          text=True, timeout=patience(120))


@pytest.mark.kernel
def test_once_prints_the_exposition(tmp_path: Path) -> None:
    require("tracefs")  # execcount's object attaches tracepoints by name
    cfg = write(tmp_path / "x.yaml", (Path(__file__).parents[2] / "examples" / "export" / "execcount.yaml").read_text())
    r = _cli("--config", str(cfg), "--once")
    assert r.returncode == 0, r.stderr
    assert "# TYPE bpfkit_execs_total counter" in r.stdout
    assert 'bpfkit_export_program_attached{object="execcount",program="count_execve"} 1.0' in r.stdout


def test_check_validates_against_btf_without_the_kernel(tmp_path: Path) -> None:
    text = exporttest_config(EXECS + ARG_HIST, pid=1)
    ok = write(tmp_path / "ok.yaml", text)
    r = _cli("--config", str(ok), "--check")
    assert r.returncode == 0, r.stderr
    assert "test_arg <- map arg_hist" in r.stdout
    for bad, word in (("slots: slots", "slots: nope"), ("map: execs", "map: nosuch"), ("{name: uid}", "{name: uid, field: x}"),
                      ("map: execs", "map: execs\n        per_cpu: cpu"), ("slots: slots", "slots: sum")):
        cfg = write(tmp_path / "bad.yaml", text.replace(bad, word, 1))
        r = _cli("--config", str(cfg), "--check")
        assert r.returncode == 1
        assert r.stderr.startswith("bpfkit: export:"), r.stderr
        assert "Traceback" not in r.stderr


def test_the_extras_are_imported_only_by_the_export_command(tmp_path: Path) -> None:
    code = """
import sys
import bpfkit, bpfkit.cli
bpfkit.cli.build_parser()
loaded = sorted(m for m in ("prometheus_client", "yaml", "opentelemetry") if m in sys.modules)
assert not loaded, loaded
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_extra_is_a_clear_error(tmp_path: Path) -> None:
    cfg = write(tmp_path / "x.yaml", (Path(__file__).parents[2] / "examples" / "export" / "execcount.yaml").read_text())
    code = f"""
import sys
sys.modules["prometheus_client"] = None  # as if bpfkit[export] were not installed
from bpfkit.cli import main
sys.exit(main(["export", "--config", {str(cfg)!r}, "--once"]))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 1
    assert "bpfkit[export]" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(("env", "want"), [({}, "bpfkit-export"), ({"OTEL_SERVICE_NAME": "node-agent"}, "node-agent"),
                                           ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=edge,zone=a"}, "edge")])
def test_otlp_service_name_from_the_standard_variables(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], want: str) -> None:
    from bpfkit.export import Family
    from bpfkit.export._otlp import metrics_data

    for k in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    data = metrics_data([Family("x_total", "counter", "h", ("a",), samples=[(("1",), 2.0)])], 0, 1)
    assert data.resource_metrics[0].resource.attributes["service.name"] == want
