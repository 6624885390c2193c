"""The exporter's pure parts: configuration errors, bucket bounds, decoders, series folding and TTL."""

from __future__ import annotations

import errno
import math
from pathlib import Path

import pytest

from bpfkit.export._config import BucketSpec, ConfigError, parse_config, parse_duration, parse_ebpf_exporter
from bpfkit.export._decoders import DecoderSpec, SkipLabelSet, chain, decoder_spec
from bpfkit.export._engine import OVERFLOW, _Gate, _Hist, _hist_sample, _merge_values

BASE = {"objects": [{"object": "execcount", "metrics": [{"name": "x_total", "map": "counter_table"}]}]}


def _with(**metric: object) -> dict[str, object]:
    m = {"name": "x_total", "map": "counter_table", **metric}
    return {"objects": [{"object": "execcount", "metrics": [m]}]}


def test_a_minimal_config_parses() -> None:
    cfg = parse_config(BASE, Path("."))
    (obj,) = cfg.objects
    assert obj.name == "execcount" and obj.path.endswith("execcount.bpf.o")
    (m,) = obj.metrics
    assert (m.type, m.source, m.source_name, m.per_cpu, m.max_series, m.ttl) == ("counter", "map", "counter_table", "sum", 0, 0.0)


@pytest.mark.parametrize("bad", [
    {"type": "summary"},
    {"ringbuf": "rb"},                                   # two sources
    {"labels": [{"name": "0bad"}]},
    {"labels": [{"name": "a"}, {"name": "a"}]},
    {"labels": [{"name": "a", "decoders": ["nosuch"]}]},
    {"labels": [{"name": "a", "decoders": [{"name": "regexp"}]}]},
    {"max_series": -1},
    {"ttl": "soon"},
    {"per_cpu": "max"},
    {"type": "histogram"},                               # neither slots nor bucket
    {"type": "histogram", "slots": "s", "buckets": {"type": "explicit", "bounds": [3, 1]}},
    {"type": "histogram", "bucket": "b"},                # bucket without a slot count
    {"slots": "s"},                                      # slots on a counter
    {"unknown": 1},
])
def test_bad_metrics_are_config_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        parse_config(_with(**bad), Path("."))


def test_unknown_object_and_duplicates_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        parse_config({"objects": [{"object": "nosuchtool", "metrics": BASE["objects"][0]["metrics"]}]}, Path("."))
    two = {"objects": [BASE["objects"][0], {**BASE["objects"][0], "name": "other"}]}
    with pytest.raises(ConfigError):
        parse_config(two, Path("."))  # the same metric name twice


def test_durations() -> None:
    assert [parse_duration(v, "t") for v in (5, "30s", "5m", "1h", "500ms", "1.5m")] == [5.0, 30.0, 300.0, 3600.0, 0.5, 90.0]


def test_bucket_bounds() -> None:
    assert BucketSpec("log2").table(5) == ([0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 7.0, 15.0])
    assert BucketSpec("log2_bcc").table(4) == ([0.0, 1.0, 2.0], [0.0, 1.0, 3.0])
    assert BucketSpec("linear", min=10, step=5).table(3)[1] == [14.0, 19.0]
    assert BucketSpec("explicit", bounds=(0.5, 2.0)).table(3) == ([0.0, 1.0], [0.5, 2.0])
    assert BucketSpec("log2", multiplier=1e-9).table(3)[1] == [1e-9, 3e-9]
    assert BucketSpec("ee_exp2", multiplier=0.5, bucket_min=0, bucket_max=3).table(0)[1] == [0.5, 1.0, 2.0, 4.0]
    assert BucketSpec("ee_exp2zero", bucket_min=0, bucket_max=3).table(0)[1] == [0.0, 1.0, 2.0, 4.0]
    assert BucketSpec("ee_linear", multiplier=10, bucket_min=1, bucket_max=3).table(0)[1] == [10.0, 20.0, 30.0]
    assert BucketSpec("ee_fixed", bounds=(1.0, 5.0, 10.0)).table(0)[1] == [1.0, 5.0, 10.0]


def test_observed_slots() -> None:
    b = BucketSpec("log2", slots=8)
    assert [b.slot_of(v, 8) for v in (0, 1, 2, 3, 4, 255, 10**9)] == [0, 0, 1, 1, 2, 7, 7]
    bcc = BucketSpec("log2_bcc", slots=8)
    assert [bcc.slot_of(v, 8) for v in (0, 1, 2, 3, 4)] == [1, 1, 2, 2, 3]
    e = BucketSpec("explicit", bounds=(1.0, 10.0))
    assert [e.slot_of(v, 3) for v in (0.5, 1.0, 5, 10, 11)] == [0, 0, 1, 1, 2]


def test_histogram_samples_cumulate_and_keep_nan_sum() -> None:
    h = _Hist()
    for slot, n in ((0, 2), (2, 1), (4, 3)):  # slot 4 is the clamped last slot of 5: +Inf only
        h.add(float(slot), n)
    h.sum = math.nan
    s = _hist_sample(("a",), h, BucketSpec("log2"), 5)
    assert (s.bounds, s.cumulative, s.count) == ([1.0, 3.0, 7.0, 15.0], [2, 2, 3, 3], 6)
    assert math.isnan(s.sum)


def test_ebpf_exporter_histogram_sum_key_and_range() -> None:
    h = _Hist()
    for slot, n in ((0, 1), (3, 2), (4, 99), (9, 7)):  # 4 = bucket_max + 1: the sum; 9: outside, ignored
        h.add(float(slot), n)
    s = _hist_sample((), h, BucketSpec("ee_exp2", multiplier=2.0, bucket_min=0, bucket_max=3), 0)
    assert (s.bounds, s.cumulative, s.count, s.sum) == ([2.0, 4.0, 8.0, 16.0], [1, 1, 1, 3], 3, 198.0)


def test_decoders() -> None:
    def run(data: bytes, *names: str | dict[str, object]) -> str:
        return chain([decoder_spec(n, "t") for n in names])(data)

    assert run((7).to_bytes(4, "little"), "uint") == "7"
    assert run((-2 & 0xFFFF).to_bytes(2, "little"), "int") == "-2"
    assert run(b"bash\0\0\0\0", "string") == "bash"
    assert run(b"\x01\xff", "hex") == "01ff"
    assert run(errno.ENOENT.to_bytes(4, "little"), "uint", "errno") == "ENOENT"
    assert run((59).to_bytes(8, "little"), "uint", "syscall") in ("execve", "unknown_syscall:59")
    assert run((1).to_bytes(4, "little"), "uint", {"name": "static_map", "static_map": {1: "read"}}) == "read"
    assert run((2).to_bytes(4, "little"), "uint", {"name": "static_map", "static_map": {1: "read"}}) == "unknown:2"
    assert run(bytes([10, 0, 0, 1]), "inet_ip") == "10.0.0.1"
    assert run(bytes(10) + b"\xff\xff" + bytes([192, 168, 1, 2]), "inet_ip") == "192.168.1.2"
    assert run(b"kworker/1:2\0", "string", {"name": "regexp", "regexps": ["^(kworker)/"]}) == "kworker"
    with pytest.raises(SkipLabelSet):
        run(b"bash", {"name": "regexp", "regexps": ["^kworker"]})
    with pytest.raises(ValueError):
        chain([DecoderSpec("uint")])(b"\x01\x02\x03")



def test_dname_and_cpu_decoders() -> None:
    def run(data: bytes, *names: str) -> str:
        return chain([decoder_spec(n, "t") for n in names])(data)

    assert run(b"\x03www\x07example\x03com", "dname") == "www.example.com"
    assert run(b"", "dname") == "."
    assert run(b"\x09short", "dname") == "\tshort"  # a length past the end: the bytes as they are (ebpf_exporter)
    assert run((0).to_bytes(4, "little"), "uint", "cpu") == "0"
    with pytest.raises(ValueError):
        run((1 << 20).to_bytes(4, "little"), "uint", "cpu")  # no machine has that CPU


PCI_IDS = """# a small pci.ids
8086  Intel Corporation
\t1234  Example Ethernet
\t\t8086 0001  a subsystem
10de  NVIDIA Corporation
C 02  Network controller
\t00  Ethernet controller
\t\t00  a programming interface
C 03  Display controller
"""


def test_pci_decoders_read_pci_ids_as_ebpf_exporter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bpfkit.export import _decoders as decoders

    def run(n: int, name: str) -> str:
        return chain([decoder_spec("uint", "t"), decoder_spec(name, "t")])(n.to_bytes(4, "little"))

    monkeypatch.setattr(decoders, "_PCI", decoders._PciIds())
    monkeypatch.setattr(decoders, "PCI_IDS_PATHS", [str(tmp_path / "absent.ids")])
    assert run(0x8086, "pci_vendor") == decoders.MISSING_PCI_IDS.decode()
    ids = tmp_path / "pci.ids"
    ids.write_text(PCI_IDS)
    monkeypatch.setattr(decoders, "_PCI", decoders._PciIds())
    monkeypatch.setattr(decoders, "PCI_IDS_PATHS", [str(tmp_path / "absent.ids"), str(ids)])
    assert run(0x8086, "pci_vendor") == "Intel Corporation"
    assert run(0x1af4, "pci_vendor") == "unknown pci vendor: 0x1af4"
    assert run(0x8086_1234, "pci_device") == "Example Ethernet"
    assert run(0x10de_0001, "pci_device") == "unknown pci device: 0x10de0001"
    assert run(0x02, "pci_class") == "Network controller"
    assert run(0x0200, "pci_subclass") == "Ethernet controller"
    assert run(0x0201, "pci_subclass") == "unknown pci subclass: 0x01 (class 0x02)"
    assert run(0x0700, "pci_subclass") == "unknown pci class: 0x07"


@pytest.mark.kernel
def test_cgroup_ids_resolve_to_paths_of_the_cgroup2_hierarchy(tmp_path: Path) -> None:
    import os
    import subprocess

    from bpfkit.export._decoders import cgroup2_root, cgroup_paths

    root = cgroup2_root()
    mounted = None
    if root is None:  # a cgroup v1 host: mount the v2 hierarchy (it always exists) for the test
        mounted = tmp_path / "cg2"
        mounted.mkdir()
        subprocess.run(["mount", "-t", "cgroup2", "none", str(mounted)], check=True)
        root = str(mounted)
    try:
        paths = cgroup_paths(root)
        assert paths[os.stat(root).st_ino] == "/"
        with os.scandir(root) as entries:  # closed: an unclosed iterator is a ResourceWarning (an error here)
            sub = next((d for d in entries if d.is_dir()), None)
        if sub is not None:
            assert paths[os.stat(sub.path).st_ino] == "/" + sub.name
        assert chain([DecoderSpec("uint"), DecoderSpec("cgroup")])((2**63).to_bytes(8, "little")) == f"unknown_cgroup_id:{2**63}"
    finally:
        if mounted is not None:
            subprocess.run(["umount", str(mounted)], check=True)


def test_gate_folds_beyond_max_series_and_keeps_admitted_series() -> None:
    g = _Gate(max_series=2, ttl=0, nlabels=1)
    out = g.apply({("a",): 1, ("b",): 2, ("c",): 3, ("d",): 4}, 0.0, _merge_values)
    assert out == {("a",): 1, ("b",): 2, (OVERFLOW,): 7} and g.folded == 2
    # a new series does not push out the admitted ones; one that disappears frees its place
    out = g.apply({("e",): 5, ("b",): 2, ("c",): 3}, 1.0, _merge_values)
    assert out == {("e",): 5, ("b",): 2, (OVERFLOW,): 3}


def test_gate_ttl_drops_series_that_stop_changing() -> None:
    g = _Gate(max_series=0, ttl=10, nlabels=1)
    assert g.apply({("a",): 1, ("b",): 1}, 0.0, _merge_values) == {("a",): 1, ("b",): 1}
    assert g.apply({("a",): 2, ("b",): 1}, 5.0, _merge_values) == {("a",): 2, ("b",): 1}
    assert g.apply({("a",): 2, ("b",): 1}, 12.0, _merge_values) == {("a",): 2}
    assert g.expired_total == 1
    assert g.apply({("a",): 2, ("b",): 2}, 13.0, _merge_values) == {("a",): 2, ("b",): 2}  # changed: back
    assert g.apply({("a",): 2, ("b",): 2}, 20.0, _merge_values) == {("b",): 2}
    assert g.expired_total == 2


def test_ebpf_exporter_config_as_its_reader_reads_it() -> None:
    obj = parse_ebpf_exporter({"metrics": {"histograms": [{
        "name": "lat_seconds", "help": "h", "bucket_type": "exp2", "bucket_min": 0, "bucket_max": 5,
        "bucket_multiplier": 1e-6,
        "labels": [{"name": "dev", "size": 4, "padding": 4, "decoders": [{"name": "uint"}]},
                   {"name": "bucket", "size": 8, "decoders": [{"name": "uint"}]}]}]}}, "lat", "/x/lat.bpf.o")
    (m,) = obj.metrics
    assert m.name == "ebpf_exporter_lat_seconds" and m.source_name == "lat_seconds"
    assert [(lb.name, lb.offset, lb.size) for lb in m.labels] == [("dev", 0, 4)]
    assert m.bucket_label is not None and (m.bucket_label.offset, m.bucket_label.size) == (8, 8)
    with pytest.raises(ConfigError):  # a label without a size
        parse_ebpf_exporter({"metrics": {"counters": [{"name": "c", "help": "h", "labels": [{"name": "x", "decoders": ["uint"]}]}]}},
                            "c", "/x/c.bpf.o")
    with pytest.raises(ConfigError):
        parse_ebpf_exporter({"metrics": {"counters": [{"name": "c", "help": "h"}]}, "kaddrs": ["x"]}, "c", "/x/c.bpf.o")


def test_ksym_and_kstack_decoders_name_kernel_functions() -> None:
    from bpfkit import host

    addr = host.ksym_address("do_nanosleep") or 0
    if addr == 0:  # addresses hidden (kptr_restrict) make every symbol unknown: say so
        assert chain([DecoderSpec("ksym")])((1234).to_bytes(8, "little")) == "unknown_addr:0x4d2"
        return
    assert chain([DecoderSpec("ksym")])(addr.to_bytes(8, "little")) == "do_nanosleep"
    assert chain([DecoderSpec("ksym")])((addr + 3).to_bytes(8, "little")) == "do_nanosleep"
    stack = addr.to_bytes(8, "little") + (addr + 1).to_bytes(8, "little") + bytes(16)
    assert chain([DecoderSpec("kstack")])(stack) == "do_nanosleep\ndo_nanosleep"


def test_ebpf_exporter_counter_without_total_keeps_its_name() -> None:
    """ebpf_exporter (Go) exposes a counter named without _total as named; prometheus_client would append it."""
    from prometheus_client.exposition import generate_latest

    from bpfkit.export import Family
    from bpfkit.export._prom import _metric, _One

    obj = parse_ebpf_exporter({"metrics": {"counters": [
        {"name": "pages_allocated", "help": "h", "labels": [{"name": "x", "size": 8, "decoders": [{"name": "uint"}]}]},
        {"name": "calls_total", "help": "h", "labels": [{"name": "x", "size": 8, "decoders": [{"name": "uint"}]}]}]}},
        "jit", "/x/jit.bpf.o")
    assert [(m.name, m.type) for m in obj.metrics] == [("ebpf_exporter_pages_allocated", "untyped"),
                                                        ("ebpf_exporter_calls_total", "counter")]
    text = b"".join(generate_latest(_One(_metric(Family(m.name, m.type, "h", ("x",), samples=[(("1",), 3.0)]))))
                    for m in obj.metrics).decode()
    assert 'ebpf_exporter_pages_allocated{x="1"} 3.0\n' in text and "# TYPE ebpf_exporter_pages_allocated untyped" in text
    assert 'ebpf_exporter_calls_total{x="1"} 3.0\n' in text and "# TYPE ebpf_exporter_calls_total counter" in text
