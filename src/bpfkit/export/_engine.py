"""The exporter's engine: load and attach the configured objects, read their maps into metric families.

A scrape asks :meth:`Engine.snapshot`; it reads every metric's map once (batch
lookups), decodes labels through a per-metric cache of raw keys, applies
``max_series`` and ``ttl``, and keeps the result for ``cache_seconds`` so that
concurrent scrapes (Prometheus, OTLP push) share one read. Ring and perf
buffer records are counted by a reader thread as they come. Only bpfkit's
public API is used.
"""

from __future__ import annotations

import functools
import math
import operator
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import bpfkit
from bpfkit import features

from ..btf import Btf
from ._config import BucketSpec, ExportConfig, LabelSpec, MetricSpec, ObjectConfig
from ._decoders import TEXT_INPUT, DecoderSpec, SkipLabelSet, chain
from ._layout import Field, FieldError, Layout, field_of, inline_layout, layout_of, raw_layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Engine", "Family", "HistSample", "OVERFLOW", "check_config"]

OVERFLOW = "__overflow__"
_FIRST = operator.itemgetter(0)
Labels = tuple[str, ...]

_PERCPU = {"percpu_hash", "percpu_array", "lru_percpu_hash", "percpu_cgroup_storage"}

# attach kinds the running kernel may lack: section prefix -> feature probe (bpfkit.features)
_NEEDS = (
    (("kprobe/", "kretprobe/", "kprobe.multi/", "kretprobe.multi/", "ksyscall/", "kretsyscall/"), "kprobes"),
    (("fentry/", "fexit/", "fmod_ret/", "fentry.s/", "fexit.s/", "fmod_ret.s/"), "trampolines"),
    (("lsm/", "lsm.s/"), "bpf_lsm"),
)


@dataclass
class HistSample:
    """One histogram series: cumulative counts per upper bound (without +Inf), count and sum."""

    labels: Labels
    bounds: list[float]
    cumulative: list[int]
    count: int
    sum: float


@dataclass
class Family:
    """One metric family of a snapshot: counter/gauge ``samples`` or histogram ``hists``."""

    name: str
    type: str
    help: str
    labelnames: tuple[str, ...]
    samples: list[tuple[Labels, float]] = field(default_factory=list)
    hists: list[HistSample] = field(default_factory=list)


# ---- compiled metrics --------------------------------------------------------------


def _map_type_name(m: Any) -> str:
    t = m.type
    return str(getattr(t, "name", t)).lower()


def _int_reader(f: Field, what: str) -> Callable[[bytes | memoryview, int], int]:
    if f.kind != "int":
        raise FieldError(f"{what}: field {f.name!r} is {f.kind} ({f.size} bytes), not an integer")
    s = f.int_struct()
    off = f.offset
    unpack = s.unpack_from

    def read(buf: bytes | memoryview, base: int) -> int:
        return int(unpack(buf, base + off)[0])

    return read


def _label_funcs(labels: Sequence[LabelSpec], layout: Layout | None, what: str) -> list[tuple[int, int, Callable[[bytes], str]]]:
    out = []
    for lb in labels:
        decs: tuple[DecoderSpec, ...] = lb.decoders
        if lb.offset is not None and lb.size is not None:
            out.append((lb.offset, lb.size, chain(decs)))
            continue
        if layout is None:
            raise FieldError(f"{what}: label {lb.name!r} names a field, but the key has no BTF")
        f = layout.field(lb.field, f"{what}: label {lb.name!r}")
        if not decs:
            decs = (DecoderSpec({"int": "int" if f.signed else "uint", "chars": "string"}.get(f.kind, "hex")),)
        elif decs[0].name in TEXT_INPUT and f.kind == "int":
            decs = (DecoderSpec("int" if f.signed else "uint"), *decs)
        out.append((f.offset, f.size, chain(decs)))
    return out


class _Gate:
    """``max_series`` (overflow folded into one series) and ``ttl`` (unchanged series dropped) of one metric."""

    def __init__(self, max_series: int, ttl: float, nlabels: int) -> None:
        self.max_series = max_series
        self.ttl = ttl
        self.overflow: Labels = (OVERFLOW,) * nlabels
        self.admitted: dict[Labels, None] = {}
        self.seen: dict[Labels, tuple[Any, float]] = {}
        self.folded = 0
        self.expired_total = 0

    def apply(self, series: dict[Labels, Any], now: float, merge: Callable[[Any, Any], Any]) -> dict[Labels, Any]:
        if self.ttl > 0:
            live: dict[Labels, Any] = {}
            for labels, value in series.items():
                sig = _signature(value)
                old = self.seen.get(labels)
                if old is None or old[0] != sig:
                    self.seen[labels] = (sig, now)
                    live[labels] = value
                elif now - old[1] <= self.ttl:
                    live[labels] = value
                elif old[1] >= 0:
                    self.expired_total += 1
                    self.seen[labels] = (sig, -1.0)  # expired: counted once until it changes
            for gone in set(self.seen) - set(series):
                del self.seen[gone]
            series = live
        if not self.max_series or not self.overflow:
            self.folded = 0
            return series
        for gone in [lb for lb in self.admitted if lb not in series]:
            del self.admitted[gone]
        out: dict[Labels, Any] = {}
        folded: Any = None
        nfolded = 0
        for labels, value in series.items():
            if labels in self.admitted or len(self.admitted) < self.max_series:
                self.admitted[labels] = None
                out[labels] = value
            else:
                folded = value if folded is None else merge(folded, value)
                nfolded += 1
        if folded is not None:
            out[self.overflow] = folded
        self.folded = nfolded
        return out


def _signature(value: Any) -> Any:
    if isinstance(value, _Hist):
        return (tuple(sorted(value.slots.items())), value.sum)
    return value


class _Hist:
    """Slot counts of one histogram series (slot index -> count) and its sum (NaN when unknown)."""

    __slots__ = ("slots", "sum")

    def __init__(self) -> None:
        self.slots: dict[float, int] = {}
        self.sum = 0.0

    def add(self, slot: float, n: int) -> None:
        self.slots[slot] = self.slots.get(slot, 0) + n


def _merge_values(a: Any, b: Any) -> Any:
    if isinstance(a, _Hist):
        out = _Hist()
        for h in (a, b):
            for k, v in h.slots.items():
                out.add(k, v)
        out.sum = a.sum + b.sum
        return out
    return a + b


def _hist_sample(labels: Labels, h: _Hist, b: BucketSpec, nslots: int) -> HistSample:
    idx, les = b.table(nslots)
    cum: list[int] = []
    total = 0
    for i in idx:
        total += h.slots.get(i, 0)
        cum.append(total)
    if b.kind.startswith("ee_"):
        count = total
        last = b.bounds[-1] if b.kind == "ee_fixed" else float(b.bucket_max)
        s = h.slots.get(last + 1, 0) * b.multiplier
    else:
        count = sum(h.slots.values())
        s = h.sum
    return HistSample(labels, les, cum, count, s)


class _MapMetric:
    """A metric read from a map at scrape time."""

    def __init__(self, obj: str, spec: MetricSpec, m: Any, key: Layout | None, value: Layout | None, mode: str) -> None:
        self.obj = obj
        self.spec = spec
        self.map = m
        what = f"metric {spec.name!r} (map {spec.source_name!r})"
        self.percpu = _map_type_name(m) in _PERCPU
        self.stride = (m.value_size + 7) // 8 * 8
        self.ee = mode == "ebpf_exporter"
        labels = list(spec.labels)
        self.cpu_label = spec.per_cpu == "cpu"
        if self.ee and self.percpu and labels and labels[-1].name == "cpu" and spec.bucket_label is None:
            self.cpu_label = True  # ebpf_exporter: a last 'cpu' label splits per-CPU values (as a u16 after the key)
        if spec.per_cpu == "cpu" and not self.percpu:
            raise FieldError(f"{what}: per_cpu: cpu needs a per-CPU map; {spec.source_name!r} is a {_map_type_name(m)} map")
        self.ee_nolabels = self.ee and not labels and spec.bucket_label is None
        self.labels = _label_funcs(labels, key, what)
        self.labelnames = tuple(lb.name for lb in labels) + (("cpu",) if spec.per_cpu == "cpu" else ())
        self.bucket_label = _label_funcs([spec.bucket_label], key, what)[0] if spec.bucket_label else None
        if self.ee:
            every = [*spec.labels, *([spec.bucket_label] if spec.bucket_label else [])]
            self.key_total = sum((lb.size or 0) + lb.padding for lb in every)
            self.ee_cpu_only = self.percpu and len(spec.labels) == 1 and spec.labels[0].name == "cpu"
            if m.value_size != 8:
                raise FieldError(f"value size for map {spec.source_name!r} is not expected 8 bytes (u64), it is {m.value_size} bytes")
        vl = value or raw_layout(m.value_size)
        self.nslots = 0
        self.slot_read: Callable[[bytes | memoryview, int], list[int]] | None = None
        self.bucket_read: Callable[[bytes | memoryview, int], int] | None = None
        self.sum_read: Callable[[bytes | memoryview, int], int] | None = None
        self.value_read: Callable[[bytes | memoryview, int], int] | None = None
        self.value_rec: struct.Struct | None = None
        if spec.type == "histogram" and not self.ee:
            assert spec.buckets is not None
            if spec.slots is not None:
                f = vl.field(spec.slots, what)
                if f.kind != "array":
                    raise FieldError(f"{what}: slots field {f.name!r} is {f.kind}, not an array of integers")
                arr = struct.Struct(f"<{f.count}{f.int_struct().format[1:]}")
                off = f.offset
                self.nslots = f.count
                self.slot_read = lambda buf, base: list(arr.unpack_from(buf, base + off))
                if spec.buckets.kind == "explicit" and f.count != len(spec.buckets.bounds) + 1:
                    raise FieldError(f"{what}: {len(spec.buckets.bounds)} explicit bounds need {len(spec.buckets.bounds) + 1} "
                                     f"slots (the last for +Inf); the array has {f.count}")
            else:
                if key is None:
                    raise FieldError(f"{what}: 'bucket' names a key field, but the key has no BTF")
                self.bucket_read = _int_reader(key.field(spec.bucket, what), f"{what}: bucket")
                self.nslots = spec.buckets.nslots()
                self.value_read = _int_reader(vl.field(spec.value, what), f"{what}: value")
            if spec.sum is not None:
                self.sum_read = _int_reader(vl.field(spec.sum, what), f"{what}: sum")
        else:
            vf = vl.field(spec.value, what)
            self.value_read = _int_reader(vf, f"{what}: value")
            # every value of a map at once: one record format over the values laid end to end
            rest = m.value_size - vf.offset - vf.size
            self.value_rec = struct.Struct(f"<{vf.offset}x{vf.int_struct().format[1:]}{rest}x") if rest >= 0 else None
        self.cache: dict[bytes, Labels | None] = {}
        self.gate = _Gate(spec.max_series, spec.ttl, len(self.labelnames))
        self.decoder_errors = 0
        self.entries = 0

    def _labels_of(self, key: bytes) -> Labels | None:
        out = []
        for off, size, func in self.labels:
            out.append(func(key[off:off + size]))
        return tuple(out)

    def _decode(self, key: bytes) -> Labels | None:
        got = self.cache.get(key, False)
        if got is not False:
            return got  # type: ignore[return-value]
        try:
            labels = self._labels_of(key)
        except SkipLabelSet:
            labels = None
        except (ValueError, UnicodeError, OSError, struct.error):
            self.decoder_errors += 1
            return None
        if len(self.cache) > 4 * max(self.map.max_entries, 1024):
            self.cache.clear()
        self.cache[key] = labels
        return labels

    def read(self, now: float, pairs: list[tuple[bytes, bytes]]) -> Family:
        """The family from ``pairs``, this scrape's one read of the map (raw keys and values)."""
        spec = self.spec
        self.entries = len(pairs)
        series: dict[Labels, Any] = {}
        hist = spec.type == "histogram"
        stride = self.stride
        if not hist and not self.ee and not self.percpu:
            self._read_plain(pairs, series)
            pairs = []
        for kraw, vraw in pairs:
            ncpu = len(vraw) // stride if self.percpu else 1
            cpus: Iterable[int] = range(ncpu) if self.cpu_label else (-1,)
            for cpu in cpus:
                if self.ee:
                    if self.ee_nolabels and kraw == b"\0\0\0\0":
                        labels: Labels | None = ()
                    else:
                        key = kraw[4:] if self.ee_cpu_only and kraw[:4] == b"\0\0\0\0" else kraw
                        key += cpu.to_bytes(2, "little") if cpu >= 0 else b""
                        labels = self._decode_ee(key)
                else:
                    labels = self._decode(kraw)
                    if labels is not None and cpu >= 0:
                        labels = (*labels, str(cpu))
                if labels is None:
                    continue
                bases = [cpu * stride] if cpu >= 0 else ([i * stride for i in range(ncpu)] if self.percpu else [0])
                if hist:
                    h = series.get(labels[:len(self.labels)] if self.ee else labels)
                    if h is None:
                        h = _Hist()
                        if self.sum_read is None and not self.ee:
                            h.sum = math.nan
                    self._add_hist(h, kraw, vraw, bases, labels)
                    series[labels[:len(self.labels)] if self.ee else labels] = h
                else:
                    assert self.value_read is not None
                    v = 0
                    for base in bases:
                        v += self.value_read(vraw, base)
                    series[labels] = series.get(labels, 0) + v
        series = self.gate.apply(series, now, _merge_values)
        fam = Family(spec.name, spec.type, spec.help, self.labelnames)
        if hist:
            assert spec.buckets is not None
            fam.hists = [_hist_sample(lb, h, spec.buckets, self.nslots) for lb, h in series.items()]
        else:
            fam.samples = [(lb, float(v)) for lb, v in series.items()]
        return fam

    def _read_plain(self, pairs: list[tuple[bytes, bytes]], series: dict[Labels, Any]) -> None:
        """The common case, a counter or gauge of a map that is not per-CPU: one loop, no per-entry calls but
        the value's unpack (labels come from the cache of raw keys)."""
        cache_get = self.cache.get
        decode = self._decode
        get = series.get
        missing: Any = False
        joined = b"".join([v for _, v in pairs]) if self.value_rec is not None else b""
        if self.value_rec is not None and len(joined) == len(pairs) * self.value_rec.size:
            values: Iterable[int] = map(_FIRST, self.value_rec.iter_unpack(joined))
        else:
            read = self.value_read
            assert read is not None
            values = (read(v, 0) for _, v in pairs)
        for (kraw, _), v in zip(pairs, values, strict=True):
            labels = cache_get(kraw, missing)
            if labels is missing:
                labels = decode(kraw)
            if labels is None:
                continue
            series[labels] = get(labels, 0) + v

    def _decode_ee(self, key: bytes) -> Labels | None:
        got = self.cache.get(key, False)
        if got is not False:
            return got  # type: ignore[return-value]
        if len(key) != self.key_total:
            self.decoder_errors += 1
            return None
        try:
            labels = list(self._labels_of(key) or ())
            if self.bucket_label is not None:
                off, size, func = self.bucket_label
                labels.append(str(int(func(key[off:off + size]), 0)))
        except SkipLabelSet:
            self.cache[key] = None
            return None
        except (ValueError, UnicodeError, OSError, struct.error):
            self.decoder_errors += 1
            return None
        self.cache[key] = tuple(labels)
        return tuple(labels)

    def _add_hist(self, h: _Hist, kraw: bytes, vraw: bytes, bases: list[int], labels: Labels) -> None:
        if self.ee:
            assert self.value_read is not None
            slot = float(labels[-1])
            h.add(slot, sum(self.value_read(vraw, b) for b in bases))
            return
        assert self.spec.buckets is not None
        mult = self.spec.buckets.multiplier
        if self.slot_read is not None:
            for base in bases:
                for i, c in enumerate(self.slot_read(vraw, base)):
                    if c:
                        h.add(float(i), c)
        else:
            assert self.bucket_read is not None and self.value_read is not None
            slot = min(self.bucket_read(kraw, 0), self.nslots - 1)
            h.add(float(slot), sum(self.value_read(vraw, b) for b in bases))
        if self.sum_read is not None:
            h.sum += sum(self.sum_read(vraw, b) for b in bases) * mult


def _at_zero(read: Callable[[bytes | memoryview, int], int]) -> Callable[[bytes], Any]:
    return lambda rec: read(rec, 0)


def _cstring(rec: bytes, off: int, size: int) -> str:
    return rec[off:off + size].split(b"\0", 1)[0].decode(errors="replace")


class _EventMetric:
    """A metric fed by ring/perf buffer records (counted or observed as they arrive)."""

    def __init__(self, spec: MetricSpec, record: Layout) -> None:
        self.spec = spec
        what = f"metric {spec.name!r} ({spec.source} {spec.source_name!r})"
        self.size = record.size
        self.labels = _label_funcs(spec.labels, record, what)
        self.labelnames = tuple(lb.name for lb in spec.labels)
        self.filters: list[tuple[Callable[[bytes], Any], Any]] = []
        for fname, want in spec.where.items():
            f = record.field(fname, f"{what}: where")
            if f.kind == "int":
                self.filters.append((_at_zero(_int_reader(f, what)), int(want)))
            elif f.kind == "chars":
                self.filters.append((functools.partial(_cstring, off=f.offset, size=f.size), str(want)))
            else:
                raise FieldError(f"{what}: where: field {fname!r} is {f.kind}; only ints and strings compare")
        self.value = _int_reader(record.field(spec.value, what), what) if spec.value else None
        self.observe = _int_reader(record.field(spec.observe, what), what) if spec.observe else None
        self.nslots = spec.buckets.nslots() if spec.buckets else 0
        self.series: dict[Labels, Any] = {}
        self.gate = _Gate(spec.max_series, spec.ttl, len(self.labelnames))
        self.decoder_errors = 0
        self.cache: dict[bytes, Labels | None] = {}

    def on_record(self, rec: bytes) -> None:
        if len(rec) < self.size:
            self.decoder_errors += 1
            return
        for get, want in self.filters:
            if get(rec) != want:
                return
        try:
            labels = tuple(func(rec[off:off + size]) for off, size, func in self.labels)
        except SkipLabelSet:
            return
        except (ValueError, UnicodeError, OSError, struct.error):
            self.decoder_errors += 1
            return
        if self.observe is not None:
            b = self.spec.buckets
            assert b is not None
            v = self.observe(rec, 0)
            h = self.series.get(labels)
            if h is None:
                h = self.series[labels] = _Hist()
            h.add(float(b.slot_of(v, self.nslots)), 1)
            h.sum += v * b.multiplier
        else:
            inc = self.value(rec, 0) if self.value is not None else 1
            self.series[labels] = self.series.get(labels, 0) + inc

    def family(self, now: float) -> Family:
        series = self.gate.apply(dict(self.series), now, _merge_values)
        fam = Family(self.spec.name, self.spec.type, self.spec.help, self.labelnames)
        if self.spec.type == "histogram":
            assert self.spec.buckets is not None
            fam.hists = [_hist_sample(lb, h, self.spec.buckets, self.nslots) for lb, h in series.items()]
        else:
            fam.samples = [(lb, float(v)) for lb, v in series.items()]
        return fam


# ---- checking a configuration against its objects (no kernel) ----------------------


def _map_layouts(btf: Btf | None, ms: Any) -> tuple[Layout | None, Layout | None]:
    key = layout_of(btf, ms.key_type_id) if btf is not None and ms.key_type_id else None
    value = layout_of(btf, ms.value_type_id) if btf is not None and ms.value_type_id else None
    return key, value


def _spec_of(oc: ObjectConfig) -> Any:
    from bpfkit import ObjectSpec

    try:
        return ObjectSpec.from_file(oc.path)
    except FileNotFoundError:
        raise FieldError(f"object {oc.name!r}: {oc.path} does not exist") from None


class _SpecMap:
    """A stand-in for a Map built from its MapSpec, so that --check compiles metrics without a kernel."""

    def __init__(self, ms: Any) -> None:
        self.type = ms.type
        self.value_size = ms.value_size
        self.max_entries = ms.max_entries


def _compile(oc: ObjectConfig, spec: Any, maps: Any, mode: str) -> tuple[list[_MapMetric], dict[tuple[str, str], list[_EventMetric]]]:
    map_metrics: list[_MapMetric] = []
    events: dict[tuple[str, str], list[_EventMetric]] = {}
    for ms in oc.metrics:
        what = f"object {oc.name!r}: metric {ms.name!r}"
        mspec = spec.maps.get(ms.source_name)
        if mspec is None:
            raise FieldError(f"{what}: the object has no map {ms.source_name!r} (maps: {', '.join(sorted(spec.maps))})")
        tname = _map_type_name(mspec)
        if (ms.source == "ringbuf" and tname != "ringbuf") or (ms.source == "perf" and tname != "perf_event_array"):
            raise FieldError(f"{what}: map {ms.source_name!r} is a {tname} map, not a {ms.source} map")
        if ms.source == "map" and tname in ("ringbuf", "perf_event_array", "user_ringbuf"):
            raise FieldError(f"{what}: map {ms.source_name!r} is a {tname}: name it with '{'ringbuf' if tname == 'ringbuf' else 'perf'}:'")
        if ms.source == "map":
            key, value = _map_layouts(spec.btf, mspec)
            if mode == "bpfkit" and key is None and ms.labels and mspec.key_size not in (1, 2, 4, 8):
                raise FieldError(f"{what}: map {ms.source_name!r} has no BTF for its key")
            if key is None:
                key = raw_layout(mspec.key_size) if mode == "bpfkit" else None
            map_metrics.append(_MapMetric(oc.name, ms, maps[ms.source_name] if maps else _SpecMap(mspec), key, value, mode))
        else:
            assert ms.record is not None
            if not isinstance(ms.record, str):
                record = inline_layout(ms.record, f"{what}: record")
            elif spec.btf is None:
                raise FieldError(f"{what}: the object has no BTF to find {ms.record!r} in")
            else:
                record = layout_of(spec.btf, field_of(spec.btf, ms.record))
            events.setdefault((ms.source, ms.source_name), []).append(_EventMetric(ms, record))
    return map_metrics, events


def check_config(cfg: ExportConfig) -> list[str]:
    """Validate every metric against its object's BTF without touching the kernel; one line per metric."""
    lines = []
    for oc in cfg.objects:
        spec = _spec_of(oc)
        for c in oc.constants:
            if c not in spec.variables:
                raise FieldError(f"object {oc.name!r}: no global variable {c!r} to set (have: {', '.join(sorted(spec.variables))})")
        for p in oc.programs or ():
            if p not in spec.programs:
                raise FieldError(f"object {oc.name!r}: no program {p!r} (have: {', '.join(sorted(spec.programs))})")
        mm, ev = _compile(oc, spec, None, cfg.mode)
        for m in mm:
            lines.append(f"{oc.name}: {m.spec.type} {m.spec.name} <- map {m.spec.source_name} labels={list(m.labelnames)}")
        for (kind, name), ems in ev.items():
            for e in ems:
                lines.append(f"{oc.name}: {e.spec.type} {e.spec.name} <- {kind} {name} labels={list(e.labelnames)}")
    return lines


# ---- the engine ----------------------------------------------------------------------


def _bpf_stats_enabled() -> bool:
    try:
        with open("/proc/sys/kernel/bpf_stats_enabled", encoding="ascii") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def refuse_missing_attach(oc: ObjectConfig, spec: Any) -> None:
    """Raise NotSupportedError (saying why) when a program to attach needs what this kernel lacks."""
    for name, p in spec.programs.items():
        if oc.programs is not None and name not in oc.programs:
            continue
        for prefixes, feature in _NEEDS:
            if p.section.startswith(prefixes):
                s = features.check(feature)
                if not s:
                    raise bpfkit.NotSupportedError(
                        f"object {oc.name!r}: program {name!r} (section {p.section!r}) cannot run here: {s.reason}",
                        feature=s.feature, min_kernel=s.min_kernel)


@dataclass
class _Loaded:
    cfg: ObjectConfig
    col: Any
    links: dict[str, Any]
    map_metrics: list[_MapMetric]
    events: dict[tuple[str, str], list[_EventMetric]]


class Engine:
    """The loaded objects, their links and readers; :meth:`snapshot` returns the metric families."""

    def __init__(self, cfg: ExportConfig, *, cache_seconds: float = 1.0) -> None:
        self.cfg = cfg
        self.cache_seconds = cache_seconds
        self.loaded: list[_Loaded] = []
        self._lock = threading.Lock()
        self._events_lock = threading.Lock()
        self._snap: list[Family] | None = None
        self._snap_at = 0.0
        self._readers: list[Any] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.records: dict[tuple[str, str], int] = {}
        self.lost: dict[tuple[str, str], int] = {}
        self._ring_lost: dict[tuple[str, str], Any] = {}  # ring buffers whose NAME_lost counter is read per scrape
        self.read_seconds = 0.0
        self.reads = 0
        self.started = time.time()

    # -- life cycle --
    def start(self) -> None:
        """Load, attach and start the buffer readers of every object (all or nothing)."""
        try:
            for oc in self.cfg.objects:
                self._load(oc)
            for lo in self.loaded:
                for (kind, name), ems in lo.events.items():
                    self._start_reader(lo, kind, name, ems)
        except BaseException:
            self.close()
            raise

    def _load(self, oc: ObjectConfig) -> None:
        spec = _spec_of(oc)
        refuse_missing_attach(oc, spec)
        col = bpfkit.load(spec, constants=oc.constants)
        try:
            mm, ev = _compile(oc, spec, col.maps, self.cfg.mode)
            links = col.attach(*(oc.programs or ()))
            linked = {pname: lk for lk in links for pname, prog in col.programs.items() if getattr(lk, "program", None) is prog}
        except BaseException:
            col.close()
            raise
        self.loaded.append(_Loaded(oc, col, linked, mm, ev))

    def _start_reader(self, lo: _Loaded, kind: str, name: str, ems: list[_EventMetric]) -> None:
        key = (lo.cfg.name, name)
        self.records[key] = 0
        self.lost[key] = 0

        def on_record(*args: Any) -> None:
            rec = bytes(args[-1])
            with self._events_lock:
                self.records[key] += 1
                for em in ems:
                    em.on_record(rec)

        def on_lost(_cpu: int, n: int) -> None:
            with self._events_lock:
                self.lost[key] += n

        m = lo.col.maps[name]
        reader = bpfkit.RingBuffer(m, on_record) if kind == "ringbuf" else bpfkit.PerfBuffer(m, on_record, on_lost)
        self._readers.append(reader)
        if kind == "ringbuf":
            # the kernel counts no ring buffer losses: the object's NAME_lost map does, when it has one
            # (linked by bpfkit.load); a ring without one has no loss series rather than a made-up 0
            del self.lost[key]
            if reader.lost is not None:
                self._ring_lost[key] = reader

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    reader.poll(timeout=0.2)
                except ValueError:  # closed under us at shutdown
                    return

        t = threading.Thread(target=loop, name=f"bpfkit-export-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def close(self) -> None:
        """Stop the readers, detach and close everything."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        for r in self._readers:
            r.close()
        self._readers.clear()
        self._ring_lost.clear()
        for lo in self.loaded:
            lo.col.close()
        self.loaded.clear()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading --
    def snapshot(self) -> list[Family]:
        """Every metric family, read now or within the last ``cache_seconds`` (one read serves concurrent scrapes)."""
        with self._lock:
            now = time.monotonic()
            if self._snap is not None and now - self._snap_at < self.cache_seconds:
                return self._snap
            t0 = time.perf_counter()
            fams: list[Family] = []
            for lo in self.loaded:
                reads: dict[str, list[tuple[bytes, bytes]]] = {}  # one read per map, whatever reads it
                for mm in lo.map_metrics:
                    pairs = reads.get(mm.spec.source_name)
                    if pairs is None:
                        pairs = reads[mm.spec.source_name] = list(mm.map.items(raw=True))
                    fams.append(mm.read(now, pairs))
            with self._events_lock:  # the event families and the record counts of one instant
                for lo in self.loaded:
                    for ems in lo.events.values():
                        fams.extend(em.family(now) for em in ems)
                records: list[tuple[Labels, float]] = [(k, float(v)) for k, v in self.records.items()]
                lost: list[tuple[Labels, float]] = [(k, float(v)) for k, v in self.lost.items()]
            self.read_seconds = time.perf_counter() - t0
            self.reads += 1
            fams.extend(self._self_metrics(records, lost))
            self._snap, self._snap_at = fams, time.monotonic()
            return fams

    def _self_metrics(self, records: list[tuple[Labels, float]], lost_perf: list[tuple[Labels, float]]) -> list[Family]:
        p = "bpfkit_export_"
        attached = Family(p + "program_attached", "gauge", "Whether a program is attached (1) or not (0)", ("object", "program"))
        run_s = Family(p + "program_run_seconds_total", "counter", "Time the kernel spent in a program (BPF stats on)",
                       ("object", "program"))
        runs = Family(p + "program_runs_total", "counter", "Times a program ran (BPF stats on)", ("object", "program"))
        stats = _bpf_stats_enabled()
        for lo in self.loaded:
            for pname, prog in lo.col.programs.items():
                attached.samples.append(((lo.cfg.name, pname), 1.0 if pname in lo.links else 0.0))
                if stats:
                    info = prog.info()
                    run_s.samples.append(((lo.cfg.name, pname), info.run_time_ns / 1e9))
                    runs.samples.append(((lo.cfg.name, pname), float(info.run_cnt)))
        entries = Family(p + "map_entries", "gauge", "Entries read from a map at the last scrape", ("object", "map"))
        fullness = Family(p + "map_fullness_ratio", "gauge", "Entries read / max_entries of a map", ("object", "map"))
        errors = Family(p + "decoder_errors_total", "counter", "Keys or records whose labels could not be decoded", ("metric",))
        folded = Family(p + "series_folded", "gauge", "Series folded into the overflow series by max_series", ("metric",))
        expired = Family(p + "series_expired_total", "counter", "Series dropped after ttl without change", ("metric",))
        done: set[tuple[str, str]] = set()
        for lo in self.loaded:
            for mm in lo.map_metrics:
                k = (lo.cfg.name, mm.spec.source_name)
                if k not in done:
                    done.add(k)
                    entries.samples.append((k, float(mm.entries)))
                    fullness.samples.append((k, mm.entries / max(mm.map.max_entries, 1)))
                errors.samples.append(((mm.spec.name,), float(mm.decoder_errors)))
                folded.samples.append(((mm.spec.name,), float(mm.gate.folded)))
                expired.samples.append(((mm.spec.name,), float(mm.gate.expired_total)))
            for ems in lo.events.values():
                for em in ems:
                    errors.samples.append(((em.spec.name,), float(em.decoder_errors)))
                    folded.samples.append(((em.spec.name,), float(em.gate.folded)))
                    expired.samples.append(((em.spec.name,), float(em.gate.expired_total)))
        recs = Family(p + "records_total", "counter", "Ring/perf buffer records read", ("object", "map"))
        lost = Family(p + "records_lost_total", "counter",
                      "Records lost: perf buffer records the kernel dropped, ring buffer records its NAME_lost map counted",
                      ("object", "map"))
        recs.samples = records
        lost.samples = lost_perf + [(k, float(r.lost or 0)) for k, r in self._ring_lost.items()]
        dur = Family(p + "scrape_duration_seconds", "gauge", "Time the last scrape spent reading and decoding every map", ())
        dur.samples.append(((), self.read_seconds))
        out = [attached, entries, fullness, errors, folded, expired, recs, lost, dur]
        if stats:
            out += [run_s, runs]
        if self.cfg.mode == "ebpf_exporter":
            out += self._ebpf_exporter_metrics(stats)
        return out

    def _ebpf_exporter_metrics(self, stats: bool) -> list[Family]:
        """The self-metrics ebpf_exporter exposes, under its names and labels."""
        p = "ebpf_exporter_"
        en = Family(p + "enabled_configs", "gauge", "The set of enabled configs", ("name",))
        info = Family(p + "ebpf_program_info", "gauge", "Info about ebpf programs", ("config", "program", "tag", "id"))
        att = Family(p + "ebpf_program_attached", "gauge", "Whether a program is attached", ("id",))
        rt = Family(p + "ebpf_program_run_time_seconds", "counter", "How long has the program been executing", ("id",))
        rc = Family(p + "ebpf_program_run_count_total", "counter", "How many times has the program been executed", ("id",))
        errs = Family(p + "decoder_errors_total", "counter", "How many times has decoders encountered errors", ("config",))
        for lo in self.loaded:
            en.samples.append(((lo.cfg.name,), 1.0))
            for pname, prog in lo.col.programs.items():
                pi = prog.info()
                pid = str(pi.id)
                info.samples.append(((lo.cfg.name, pname, pi.tag, pid), 1.0))
                att.samples.append(((pid,), 1.0 if pname in lo.links else 0.0))
                rt.samples.append(((pid,), pi.run_time_ns / 1e9))
                rc.samples.append(((pid,), float(pi.run_cnt)))
            errs.samples.append(((lo.cfg.name,), float(sum(mm.decoder_errors for mm in lo.map_metrics))))
        return [en, info, att, errs] + ([rt, rc] if stats else [])
