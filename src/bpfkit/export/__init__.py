"""``bpfkit export``: metrics from BPF maps and ring/perf buffers, served to Prometheus and pushed over OTLP.

The configuration (bpfkit's YAML, or ebpf_exporter's configs unchanged) is
parsed and checked without the kernel (:mod:`.config`, :func:`check_config`);
the :class:`Engine` loads and attaches the objects and reads their maps on each
scrape; :mod:`.prom` serves them with prometheus_client and :mod:`.otlp`
pushes them with OpenTelemetry's exporter. Those two packages are the optional
extras ``bpfkit[export]`` and ``bpfkit[otlp]``, imported only here.
"""

from __future__ import annotations

from ._config import ConfigError, ExportConfig, load_config, load_ebpf_exporter, parse_config
from ._engine import Engine, Family, HistSample, check_config

__all__ = ["ConfigError", "Engine", "ExportConfig", "Family", "HistSample", "check_config", "load_config",
           "load_ebpf_exporter", "parse_config"]
