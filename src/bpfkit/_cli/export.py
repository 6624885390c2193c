"""``bpfkit export``: serve metrics read from BPF maps to Prometheus (/metrics) and push them over OTLP.

The exporter (bpfkit.export, with prometheus_client and OpenTelemetry) is
imported only when this command runs, so the rest of the CLI needs neither.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from ..errors import ExportError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register"]

_EPILOG = """\
examples:
  bpfkit export --config examples/export/execcount.yaml --listen 127.0.0.1:9435
  bpfkit export --config examples/export/execcount.yaml --check
  bpfkit export --config examples/export/execcount.yaml --once --interval 5
  bpfkit export --ebpf-exporter-config-dir /etc/ebpf_exporter --names timers,biolatency
  OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 bpfkit export --config FILE --interval 15
"""


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"--listen wants ADDR:PORT (e.g. 0.0.0.0:9435 or :9435), not {text!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError("a number of seconds cannot be negative")
    return v


def register(subparsers: Any) -> None:
    """Add the ``export`` command."""
    p = subparsers.add_parser(
        "export", help="serve BPF map contents as Prometheus metrics and push them over OTLP",
        description="Load BPF objects, attach them and serve /metrics read from their maps at scrape time "
                    "(and push the same metrics over OTLP/HTTP). Needs the extras: pip install 'bpfkit[export,otlp]'.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", metavar="FILE", help="bpfkit's YAML configuration")
    src.add_argument("--ebpf-exporter-config-dir", metavar="DIR",
                     help="a directory of ebpf_exporter configs (NAME.yaml beside NAME.bpf.o); use with --names")
    p.add_argument("--names", metavar="A,B", help="the ebpf_exporter configs to run (comma-separated)")
    p.add_argument("--listen", type=_listen, default=("0.0.0.0", 9435), metavar="ADDR:PORT",
                   help="where /metrics is served (default :9435; port 0 picks a free one)")
    p.add_argument("--otlp-endpoint", metavar="URL",
                   help="push over OTLP/HTTP to this base URL (default: OTEL_EXPORTER_OTLP_ENDPOINT when set)")
    p.add_argument("--interval", type=_positive, default=None, metavar="S",
                   help="seconds between OTLP pushes (default 15); with --once, how long to collect before printing (default 0)")
    p.add_argument("--once", action="store_true", help="print the exposition to stdout once and exit")
    p.add_argument("--check", action="store_true", help="validate the configuration against the objects' BTF and exit")
    p.set_defaults(func=_run)


def _load_config(ns: argparse.Namespace) -> Any:
    from ..export import ConfigError, load_config, load_ebpf_exporter

    try:
        if ns.config:
            if ns.names:
                raise ConfigError("--names goes with --ebpf-exporter-config-dir, not --config")
            return load_config(ns.config)
        if not ns.names:
            raise ConfigError("--ebpf-exporter-config-dir needs --names a,b")
        return load_ebpf_exporter(ns.ebpf_exporter_config_dir, [n for n in ns.names.split(",") if n])
    except ConfigError as exc:
        raise ExportError(f"export: {exc}") from None


def _run(ns: argparse.Namespace) -> int:
    try:
        from .. import export
    except ImportError as exc:
        raise ExportError(f"export needs its optional dependencies ({exc.name} is missing): pip install 'bpfkit[export]'") from None
    cfg = _load_config(ns)
    try:
        lines = export.check_config(cfg)
    except ValueError as exc:
        raise ExportError(f"export: {exc}") from None
    if ns.check:
        for line in lines:
            print(line)
        print(f"configuration ok: {len(lines)} metric(s) in {len(cfg.objects)} object(s)")
        return 0
    try:
        from ..export._prom import exposition, serve
    except ImportError as exc:
        raise ExportError(f"serving metrics needs prometheus_client ({exc.name} is missing): pip install 'bpfkit[export]'") from None

    with export.Engine(cfg) as engine:
        engine.start()
        for lo in engine.loaded:
            for pname in lo.col.programs:
                if pname not in lo.links:
                    print(f"bpfkit export: {lo.cfg.name}: program {pname!r} does not attach by its section "
                          "(bpfkit_export_program_attached is 0)", file=sys.stderr)
        if ns.once:
            time.sleep(ns.interval or 0)
            sys.stdout.buffer.write(exposition(engine))
            sys.stdout.flush()
            return 0
        stop = threading.Event()
        old = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        pusher = None
        try:
            server, _thread = serve(engine, *ns.listen)
            host, port = server.server_address[:2]
            print(f"bpfkit export: serving http://{host}:{port}/metrics", file=sys.stderr, flush=True)
            from ..export._otlp import otlp_configured

            if otlp_configured(ns.otlp_endpoint):
                try:
                    from ..export._otlp import OtlpPusher
                except ImportError as exc:
                    raise ExportError(f"OTLP push needs its optional dependencies ({exc.name} is missing): "
                                      "pip install 'bpfkit[otlp]'") from None
                pusher = OtlpPusher(engine, ns.otlp_endpoint, ns.interval or 15.0)
                pusher.start()
                print(f"bpfkit export: pushing OTLP every {pusher.interval:g} s", file=sys.stderr, flush=True)
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                pass
            server.shutdown()
            server.server_close()
        finally:
            if pusher is not None:
                pusher.close()
            signal.signal(signal.SIGTERM, old)
    return 0
