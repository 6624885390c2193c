"""The exporter's configuration: bpfkit's own YAML format and ebpf_exporter's, parsed into one model (pure).

bpfkit's format (``bpfkit export --config FILE``)::

    objects:
      - object: execcount              # a shipped tool, or a path to a .bpf.o (relative to the file)
        constants: {min_duration_ns: 0}
        programs: [count_execve]       # default: every program that attaches by its section
        metrics:
          - name: execs_total          # the exposed name, as written
            type: counter              # counter | gauge | histogram
            help: Exec calls per UID
            map: counter_table         # or ringbuf: NAME / perf: NAME with record: 'struct event'
            labels:
              - {name: uid, field: .}  # a key (or record) field by BTF name; '.' is the whole key
            value: .                   # a value field (default: the whole value)
            per_cpu: sum               # sum | cpu (a 'cpu' label)
            max_series: 1000           # more series are folded into one labelled '__overflow__'
            ttl: 5m                    # series unchanged for that long are dropped

Histograms read either an array field of the value (``slots: FIELD``, the
libbpf-tools ``struct hist``), or the bucket index from a key field
(``bucket: FIELD``, BCC's ``BPF_HISTOGRAM``), or observe a record field
(``observe: FIELD`` with ``ringbuf``/``perf``). ``buckets:`` says what a slot
index means: ``{type: log2}`` (libbpf-tools ``log2l``: slot i holds
2^i..2^(i+1)-1), ``{type: log2_bcc}`` (BCC ``bpf_log2l``: 2^(i-1)..2^i-1),
``{type: linear, min: M, step: S}``, ``{type: explicit, bounds: [..]}``; and
``multiplier`` scales bounds and sum (1e-9 for ns -> s). The last slot of a
clamped histogram only feeds ``+Inf``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ._decoders import DecoderSpec, decoder_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BucketSpec", "ConfigError", "ExportConfig", "LabelSpec", "MetricSpec", "ObjectConfig",
    "load_config", "load_ebpf_exporter", "parse_duration",
]

_NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_DUR_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


@dataclass(frozen=True)
class LabelSpec:
    """A label read from a key/record field: by BTF ``field`` name, or at ``offset``/``size`` (ebpf_exporter)."""

    name: str
    field: str | None = None
    offset: int | None = None
    size: int | None = None
    decoders: tuple[DecoderSpec, ...] = ()
    padding: int = 0


@dataclass(frozen=True)
class BucketSpec:
    """What a histogram slot index means (see the module's docstring); ``ee_*`` kinds are ebpf_exporter's."""

    kind: str
    multiplier: float = 1.0
    min: float = 0.0
    step: float = 1.0
    bounds: tuple[float, ...] = ()
    slots: int | None = None
    bucket_min: int = 0
    bucket_max: int = 0

    def table(self, nslots: int) -> tuple[list[float], list[float]]:
        """(slot indices in order, their upper bounds ``le``, rounded to 15 significant digits)."""
        idx, les = self._table(nslots)
        return idx, [float(f"{le:.15g}") for le in les]

    def _table(self, nslots: int) -> tuple[list[float], list[float]]:
        """(slot indices in order, their upper bounds ``le``) for a histogram of ``nslots`` slots.

        In bpfkit's kinds the last slot holds everything above (it only feeds +Inf),
        so it is left out of the finite bounds.
        """
        m = self.multiplier
        if self.kind == "ee_fixed":
            return list(self.bounds), [k * m for k in self.bounds]
        if self.kind in ("ee_exp2", "ee_exp2zero", "ee_linear"):
            idx = [float(i) for i in range(self.bucket_min, self.bucket_max + 1)]
            if self.kind == "ee_exp2":
                return idx, [math.ldexp(1.0, int(i)) * m for i in idx]
            if self.kind == "ee_exp2zero":
                return idx, [0.0 if i == 0 else math.ldexp(1.0, int(i) - 1) * m for i in idx]
            return idx, [i * m for i in idx]
        n = max(nslots - 1, 0)
        idx = [float(i) for i in range(n)]
        if self.kind == "log2":
            return idx, [float((1 << (i + 1)) - 1) * m for i in range(n)]
        if self.kind == "log2_bcc":
            return idx, [float((1 << i) - 1) * m for i in range(n)]
        if self.kind == "linear":
            return idx, [(self.min + (i + 1) * self.step - 1) * m for i in range(n)]
        return [float(i) for i in range(len(self.bounds))], [b * m for b in self.bounds]

    def slot_of(self, value: float, nslots: int) -> int:
        """The slot index an observed ``value`` falls in (bpfkit's kinds; clamped to the last slot)."""
        if self.kind == "explicit":
            import bisect

            return bisect.bisect_left(self.bounds, value)
        v = int(value)
        if self.kind == "log2":
            i = max(v.bit_length() - 1, 0)
        elif self.kind == "log2_bcc":
            i = max(v, 1).bit_length()
        else:
            i = max(int((value - self.min) // self.step), 0)
        return min(i, nslots - 1)

    def nslots(self) -> int:
        """Slots of an observed histogram: explicit bounds + 1 (the +Inf slot), else ``slots`` (default 64)."""
        if self.kind == "explicit":
            return len(self.bounds) + 1
        return self.slots or 64


@dataclass
class MetricSpec:
    """One exposed metric family and where its values come from."""

    name: str
    type: str
    help: str
    source: str  # "map", "ringbuf" or "perf"
    source_name: str
    labels: list[LabelSpec] = field(default_factory=list)
    value: str | None = None
    per_cpu: str = "sum"
    buckets: BucketSpec | None = None
    slots: str | None = None
    bucket: str | None = None
    bucket_label: LabelSpec | None = None  # ebpf_exporter: the key's last label is the bucket
    sum: str | None = None
    observe: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    record: str | Mapping[str, Any] | None = None
    max_series: int = 0
    ttl: float = 0.0


@dataclass
class ObjectConfig:
    """One BPF object to load: its path, constants, the programs to attach and its metrics."""

    name: str
    path: str
    constants: dict[str, Any] = field(default_factory=dict)
    programs: list[str] | None = None
    metrics: list[MetricSpec] = field(default_factory=list)


@dataclass
class ExportConfig:
    """Everything ``bpfkit export`` serves; ``mode`` is 'bpfkit' or 'ebpf_exporter'."""

    objects: list[ObjectConfig]
    mode: str = "bpfkit"
    source: str = ""


def parse_duration(value: Any, where: str) -> float:
    """Seconds from a number or a text like '30s', '5m', '1h', '500ms'."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not a duration")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ConfigError(f"{where}: a duration cannot be negative")
        return float(value)
    m = _DUR_RE.match(str(value))
    if not m:
        raise ConfigError(f"{where}: {value!r} is not a duration (use e.g. 30s, 5m, 1h)")
    scale = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}[m.group(2)]
    return float(m.group(1)) * scale


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _only(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(d) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _str(d: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{where}: '{key}' must be a non-empty string")
    return v


def _yaml(path: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise ConfigError("reading the configuration needs PyYAML: pip install 'bpfkit[export]'") from None
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration {path!r} is not valid YAML: {exc}") from None


def _labels(items: Any, where: str) -> list[LabelSpec]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError(f"{where}: 'labels' must be a list")
    out = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        w = f"{where}.labels[{i}]"
        d = _mapping(item, w)
        _only(d, {"name", "field", "decoders"}, w)
        name = _str(d, "name", w)
        if not _LABEL_RE.match(name) or name.startswith("__"):
            raise ConfigError(f"{w}: {name!r} is not a valid Prometheus label name")
        if name in seen:
            raise ConfigError(f"{w}: label {name!r} appears twice")
        seen.add(name)
        fld = d.get("field", ".")
        if not isinstance(fld, str):
            raise ConfigError(f"{w}: 'field' must be a string (a BTF field name, '.' for the whole key)")
        try:
            decs = tuple(decoder_spec(x, w) for x in (d.get("decoders") or []))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        out.append(LabelSpec(name, fld, decoders=decs))
    return out


def _buckets(d: Any, where: str) -> BucketSpec:
    b = _mapping(d, f"{where}.buckets")
    w = f"{where}.buckets"
    _only(b, {"type", "multiplier", "min", "step", "bounds", "slots"}, w)
    kind = b.get("type", "log2")
    if kind not in ("log2", "log2_bcc", "linear", "explicit"):
        raise ConfigError(f"{w}: type must be log2, log2_bcc, linear or explicit, not {kind!r}")
    mult = b.get("multiplier", 1.0)
    if not isinstance(mult, (int, float)) or isinstance(mult, bool) or mult <= 0:
        raise ConfigError(f"{w}: multiplier must be a number > 0")
    bounds = b.get("bounds") or []
    if kind == "explicit":
        if not isinstance(bounds, list) or not bounds or not all(isinstance(x, (int, float)) for x in bounds):
            raise ConfigError(f"{w}: an explicit histogram needs 'bounds', a list of numbers")
        if sorted(bounds) != bounds or len(set(bounds)) != len(bounds):
            raise ConfigError(f"{w}: bounds must increase strictly")
    step = b.get("step", 1)
    if kind == "linear" and (not isinstance(step, (int, float)) or step <= 0):
        raise ConfigError(f"{w}: a linear histogram needs 'step' > 0")
    slots = b.get("slots")
    if slots is not None and (not isinstance(slots, int) or slots < 2):
        raise ConfigError(f"{w}: slots must be an int >= 2")
    return BucketSpec(kind, float(mult), float(b.get("min", 0)), float(step), tuple(float(x) for x in bounds), slots)


_METRIC_KEYS = {"name", "type", "help", "map", "ringbuf", "perf", "record", "labels", "value", "per_cpu", "buckets",
                "slots", "bucket", "sum", "observe", "where", "max_series", "ttl"}


def _metric(d: Mapping[str, Any], where: str, defaults: Mapping[str, Any]) -> MetricSpec:
    _only(d, _METRIC_KEYS, where)
    name = _str(d, "name", where)
    if not _NAME_RE.match(name):
        raise ConfigError(f"{where}: {name!r} is not a valid Prometheus metric name")
    mtype = d.get("type", "counter")
    if mtype not in ("counter", "gauge", "histogram"):
        raise ConfigError(f"{where}: type must be counter, gauge or histogram, not {mtype!r}")
    sources = [k for k in ("map", "ringbuf", "perf") if k in d]
    if len(sources) != 1:
        raise ConfigError(f"{where}: name exactly one source: 'map', 'ringbuf' or 'perf'")
    source = sources[0]
    m = MetricSpec(name=name, type=mtype, help=str(d.get("help") or name), source=source,
                   source_name=_str(d, source, where), labels=_labels(d.get("labels"), where))
    rec = d.get("record")
    if rec is not None and not isinstance(rec, (str, Mapping)):
        raise ConfigError(f"{where}: 'record' is a BTF struct name or an inline layout (size, fields)")
    m.record = rec
    for key in ("value", "slots", "bucket", "sum", "observe"):
        v = d.get(key)
        if v is not None and not isinstance(v, str):
            raise ConfigError(f"{where}: '{key}' must be a field name")
        setattr(m, key, v)
    m.per_cpu = d.get("per_cpu", "sum")
    if m.per_cpu not in ("sum", "cpu"):
        raise ConfigError(f"{where}: per_cpu must be 'sum' or 'cpu'")
    if m.per_cpu == "cpu" and any(lb.name == "cpu" for lb in m.labels):
        raise ConfigError(f"{where}: per_cpu: cpu adds a 'cpu' label; the metric already has one")
    where_ = d.get("where") or {}
    m.where = dict(_mapping(where_, f"{where}.where"))
    ms = d.get("max_series", defaults.get("max_series", 0))
    if not isinstance(ms, int) or isinstance(ms, bool) or ms < 0:
        raise ConfigError(f"{where}: max_series must be an int >= 0 (0: no limit)")
    m.max_series = ms
    m.ttl = parse_duration(d.get("ttl", defaults.get("ttl", 0)), f"{where}.ttl")
    if source in ("ringbuf", "perf"):
        if m.record is None:
            raise ConfigError(f"{where}: a {source} metric needs 'record', the BTF struct of one record")
        if mtype == "gauge":
            raise ConfigError(f"{where}: a {source} metric is a counter or a histogram")
        if mtype == "histogram" and m.observe is None:
            raise ConfigError(f"{where}: a {source} histogram needs 'observe', the record field to observe")
    elif m.record is not None or m.observe is not None or m.where:
        raise ConfigError(f"{where}: 'record', 'observe' and 'where' belong to ringbuf/perf metrics")
    if mtype == "histogram":
        m.buckets = _buckets(d.get("buckets") or {}, where)
        if source == "map" and (m.slots is None) == (m.bucket is None):
            raise ConfigError(f"{where}: a map histogram needs either 'slots' (a value array) or 'bucket' (a key field)")
        if m.bucket is not None and m.buckets.kind != "explicit" and m.buckets.slots is None:
            raise ConfigError(f"{where}: with 'bucket' (a key field), say how many slots: buckets.slots")
    elif d.get("buckets") is not None or m.slots or m.bucket:
        raise ConfigError(f"{where}: 'buckets', 'slots' and 'bucket' belong to histograms")
    return m


def _resolve_object(ref: str, base: Path) -> tuple[str, str]:
    """(name, path) of an object named in the config: a shipped tool's name or a path."""
    if "/" not in ref and not ref.endswith(".o"):
        from ..tools import TOOLS, object_path

        if ref not in TOOLS:
            raise ConfigError(f"object {ref!r} is neither a shipped tool ({', '.join(TOOLS)}) nor a path to a .bpf.o")
        return ref, str(object_path(ref))
    path = Path(ref) if os.path.isabs(ref) else base / ref
    name = path.name.removesuffix(".o").removesuffix(".bpf")
    return name, str(path)


def parse_config(data: Any, base: Path, source: str = "") -> ExportConfig:
    """An ExportConfig from the parsed YAML of bpfkit's format (``base``: where relative paths start)."""
    top = _mapping(data, source or "configuration")
    _only(top, {"objects", "defaults"}, "configuration")
    defaults = _mapping(top.get("defaults") or {}, "defaults")
    _only(defaults, {"max_series", "ttl"}, "defaults")
    items = top.get("objects")
    if not isinstance(items, list) or not items:
        raise ConfigError("configuration: 'objects' must be a non-empty list")
    objects = []
    names: set[str] = set()
    for i, item in enumerate(items):
        w = f"objects[{i}]"
        d = _mapping(item, w)
        _only(d, {"object", "name", "constants", "programs", "metrics"}, w)
        oname, path = _resolve_object(_str(d, "object", w), base)
        oname = str(d.get("name") or oname)
        if oname in names:
            raise ConfigError(f"{w}: two objects are named {oname!r}: give one a 'name'")
        names.add(oname)
        progs = d.get("programs")
        if progs is not None and (not isinstance(progs, list) or not all(isinstance(p, str) for p in progs)):
            raise ConfigError(f"{w}: 'programs' must be a list of program names")
        metrics_in = d.get("metrics")
        if not isinstance(metrics_in, list) or not metrics_in:
            raise ConfigError(f"{w}: 'metrics' must be a non-empty list")
        obj = ObjectConfig(oname, path, dict(_mapping(d.get("constants") or {}, f"{w}.constants")), progs)
        obj.metrics = [_metric(_mapping(m, f"{w}.metrics[{j}]"), f"{w}.metrics[{j}] ", defaults)
                       for j, m in enumerate(metrics_in)]
        objects.append(obj)
    _unique_names(objects)
    return ExportConfig(objects, "bpfkit", source)


def _unique_names(objects: Sequence[ObjectConfig]) -> None:
    seen: set[str] = set()
    for o in objects:
        for m in o.metrics:
            if m.name in seen:
                raise ConfigError(f"metric {m.name!r} is defined twice")
            seen.add(m.name)


def load_config(path: str) -> ExportConfig:
    """Read bpfkit's YAML format from ``path``."""
    return parse_config(_yaml(path), Path(path).resolve().parent, path)


# ---- ebpf_exporter's format --------------------------------------------------------

_EE_PREFIX = "ebpf_exporter_"


def _ee_labels(items: Any, where: str) -> list[LabelSpec]:
    out = []
    off = 0
    for i, item in enumerate(items or []):
        w = f"{where}.labels[{i}]"
        d = _mapping(item, w)
        _only(d, {"name", "size", "padding", "decoders"}, w)
        name = _str(d, "name", w)
        size = d.get("size", 0)
        pad = d.get("padding", 0) or 0
        if not isinstance(size, int) or size <= 0:
            raise ConfigError(f"{w}: label {name!r}: size is zero or not set")
        if not d.get("decoders"):
            raise ConfigError(f"{w}: label {name!r}: no decoders set")
        try:
            decs = tuple(decoder_spec(x, w) for x in d["decoders"])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        out.append(LabelSpec(name, None, off, size, decs, int(pad)))
        off += size + int(pad)
    return out


def _ee_buckets(d: Mapping[str, Any], where: str) -> BucketSpec:
    kind = d.get("bucket_type")
    mult = float(d.get("bucket_multiplier") or 1.0)
    if kind == "fixed":
        keys = d.get("bucket_keys") or []
        if not keys:
            raise ConfigError(f"{where}: histogram buckets have zero size: len(bucket_keys) = 0")
        return BucketSpec("ee_fixed", mult, bounds=tuple(float(k) for k in keys))
    if kind not in ("exp2", "exp2zero", "linear"):
        raise ConfigError(f"{where}: unknown histogram type: {kind!r}")
    bmin, bmax = int(d.get("bucket_min") or 0), int(d.get("bucket_max") or 0)
    if bmax - bmin == 0:
        raise ConfigError(f"{where}: histogram buckets have zero size: [bucket_min .. bucket_max] = [{bmin} .. {bmax}]")
    return BucketSpec(f"ee_{kind}", mult, bucket_min=bmin, bucket_max=bmax)


def parse_ebpf_exporter(data: Any, name: str, obj_path: str) -> ObjectConfig:
    """One ebpf_exporter config (the YAML of ``NAME.yaml``) as an ObjectConfig for ``NAME.bpf.o``."""
    top = _mapping(data if data is not None else {}, f"{name}.yaml")
    metrics = _mapping(top.get("metrics") or {}, f"{name}.yaml: metrics")
    tracing = top.get("tracing") or {}
    if not metrics.get("counters") and not metrics.get("histograms") and not (tracing or {}).get("spans"):
        raise ConfigError(f"neither metrics nor tracing are defined for config {name!r}")
    for unsupported in ("kaddrs", "cgroup_id_map"):
        if top.get(unsupported):
            raise ConfigError(f"config {name!r} uses '{unsupported}', which bpfkit's ebpf_exporter mode does not support")
    if (tracing or {}).get("spans"):
        raise ConfigError(f"config {name!r} defines tracing spans, which bpfkit's ebpf_exporter mode does not support")
    obj = ObjectConfig(name, obj_path)
    for kind in ("counters", "histograms"):
        for i, item in enumerate(metrics.get(kind) or []):
            w = f"{name}.yaml: metrics.{kind}[{i}]"
            d = _mapping(item, w)
            for key in ("name", "help"):
                if not d.get(key):
                    raise ConfigError(f"{kind[:-1]} {d.get('name')!r} in config {name!r} lacks {key}")
            mname = str(d["name"])
            labels = _ee_labels(d.get("labels"), w)
            if kind == "counters":
                if d.get("perf_event_array"):
                    raise ConfigError(f"{w}: perf_event_array counters are not supported by bpfkit's ebpf_exporter mode")
                # prometheus_client writes every counter as NAME_total; ebpf_exporter (Go) keeps a name without it
                # (bpf-jit's bpf_jit_pages_currently_allocated): such a counter keeps its name, typed 'untyped'
                mtype = "counter" if mname.endswith("_total") else "untyped"
                obj.metrics.append(MetricSpec(_EE_PREFIX + mname, mtype, str(d["help"]), "map", mname, labels=labels))
                continue
            if not labels:
                raise ConfigError(f"{w}: a histogram's last label is its bucket; it has no labels")
            obj.metrics.append(MetricSpec(_EE_PREFIX + mname, "histogram", str(d["help"]), "map", mname,
                                          labels=labels[:-1], bucket_label=labels[-1], buckets=_ee_buckets(d, w)))
    return obj


def load_ebpf_exporter(directory: str, names: Sequence[str]) -> ExportConfig:
    """ebpf_exporter's configs ``DIR/NAME.yaml`` (each with ``DIR/NAME.bpf.o``), as ebpf_exporter reads them."""
    objects = []
    for name in names:
        path = os.path.join(directory, name + ".yaml")
        if not os.path.exists(path):
            raise ConfigError(f"error opening {path!r} for config {name!r}: no such file")
        objects.append(parse_ebpf_exporter(_yaml(path), name, os.path.join(directory, name + ".bpf.o")))
    _unique_names(objects)
    return ExportConfig(objects, "ebpf_exporter", directory)
