"""The exporter's engine in this process, on the kernel: per-CPU values, TTL, ring buffer records, self-metrics."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bpfkit.arch import syscall_number
from bpfkit.export import Engine, Family, load_config, parse_config
from bpfkit.testing import require
from bpfkit.testing.compile import compile_bpf
from conftest import exporttest_config
from hostenv import kernel_tgid, kernel_uid

pytestmark = [pytest.mark.kernel]

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def _family(fams: list[Family], name: str) -> Family:
    return next(f for f in fams if f.name == name)


def _engine(metrics: str, **kw: float) -> Engine:
    return Engine(parse_config(yaml.safe_load(exporttest_config(metrics)), HERE), **kw)


def test_per_cpu_values_summed_or_by_cpu_and_ttl() -> None:
    text = """
      - {name: by_cpu_total, map: arg_slots, labels: [{name: slot, field: slot}], per_cpu: cpu}
      - {name: summed_total, map: arg_slots, labels: [{name: slot, field: slot}], ttl: 0.3}
"""
    with _engine(text, cache_seconds=0) as e:
        e.start()
        for v in (1, 1, 1, 2):
            try:
                os.getpgid(v)
            except ProcessLookupError:
                pass
        fams = e.snapshot()
        by_cpu = _family(fams, "by_cpu_total")
        assert by_cpu.labelnames == ("slot", "cpu")
        per_slot: dict[str, float] = {}
        for (slot, cpu), v in by_cpu.samples:
            assert int(cpu) >= 0
            per_slot[slot] = per_slot.get(slot, 0) + v
        assert per_slot == {"0": 3.0, "1": 1.0}
        assert sorted(_family(fams, "summed_total").samples) == [(("0",), 3.0), (("1",), 1.0)]
        time.sleep(0.5)  # longer than the ttl, with no change
        e.snapshot()
        fams = e.snapshot()
        assert _family(fams, "summed_total").samples == []
        assert dict(_family(fams, "bpfkit_export_series_expired_total").samples)[("summed_total",)] == 2
        os.getpgid(1)  # slot 0 changes: it comes back
        assert [lb for lb, _ in _family(e.snapshot(), "summed_total").samples] == [("0",)]


def test_ring_buffer_records_counted_and_observed() -> None:
    require("tracefs")  # its objects attach tracepoints by name
    cfg = load_config(str(ROOT / "examples" / "export" / "bootstrap.yaml"))
    with Engine(cfg, cache_seconds=0) as e:
        e.start()
        for _ in range(5):
            subprocess.run(["/bin/true"], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fams = e.snapshot()
            execs = dict(_family(fams, "bpfkit_execs_by_comm_total").samples)
            exits = dict(_family(fams, "bpfkit_process_exits_total").samples)
            if execs.get(("true",), 0) >= 5 and exits.get(("true", "0"), 0) >= 5:
                break
            time.sleep(0.1)
        assert execs[("true",)] >= 5
        assert exits[("true", "0")] >= 5
        (hist,) = _family(fams, "bpfkit_process_lifetime_seconds").hists
        assert hist.count >= 5 and hist.sum > 0
        assert hist.cumulative == sorted(hist.cumulative) and hist.cumulative[-1] <= hist.count
        recs = dict(_family(fams, "bpfkit_export_records_total").samples)
        assert recs[("bootstrap", "rb")] >= 10


def test_self_metrics_and_fullness() -> None:
    text = """
      - {name: sids_total, map: sids, labels: [{name: arg}]}
"""
    with _engine(text, cache_seconds=0) as e:
        e.start()
        for sid in range(4):
            try:
                os.getsid(4_200_000 + sid)
            except ProcessLookupError:
                pass
        fams = e.snapshot()
        assert dict(_family(fams, "bpfkit_export_map_entries").samples)[("exporttest", "sids")] == 4
        assert dict(_family(fams, "bpfkit_export_map_fullness_ratio").samples)[("exporttest", "sids")] == 4 / 1024
        attached = dict(_family(fams, "bpfkit_export_program_attached").samples)
        assert attached == {("exporttest", p): 1.0 for p in ("on_fork", "on_execve", "on_getpgid", "on_getsid")}
        assert _family(fams, "bpfkit_export_scrape_duration_seconds").samples[0][1] > 0
    assert e.loaded == []  # closed: detached, nothing left (the leak fixture checks the fds)


def test_runqlat_example_on_tp_btf() -> None:
    import shutil
    import tempfile

    src = ROOT / "examples" / "export"
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(compile_bpf(src / "runqlat.bpf.c"), Path(tmp) / "runqlat.bpf.o")
        cfg = load_config(shutil.copy(src / "runqlat.yaml", Path(tmp) / "runqlat.yaml"))
        with Engine(cfg, cache_seconds=0) as e:
            e.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                (hist,) = _family(e.snapshot(), "bpfkit_runq_latency_seconds").hists
                if hist.count >= 10:
                    break
                time.sleep(0.05)  # every sleep is a wakeup and a switch
            assert hist.count >= 10 and hist.sum >= 0
            assert hist.bounds[:3] == [1e-6, 3e-6, 7e-6]
            assert hist.cumulative == sorted(hist.cumulative)


def test_perf_buffer_records_counted() -> None:
    require("tracefs")  # its objects attach tracepoints by name
    cfg = load_config(str(ROOT / "examples" / "export" / "hello.yaml"))
    with Engine(cfg, cache_seconds=0) as e:
        e.start()
        for _ in range(3):
            subprocess.run(["/bin/true"], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            fams = e.snapshot()
            execs = dict(_family(fams, "bpfkit_hello_execs_total").samples)
            if sum(v for (uid, comm), v in execs.items() if comm.startswith("python")) >= 3:
                break
            time.sleep(0.1)
        # execve runs in the forked child, still named as this process (python...)
        assert sum(v for (uid, comm), v in execs.items() if comm.startswith("python") and uid == str(kernel_uid())) >= 3
        recs = dict(_family(fams, "bpfkit_export_records_total").samples)
        assert recs[("hello", "output")] >= 3
        assert dict(_family(fams, "bpfkit_export_records_lost_total").samples)[("hello", "output")] == 0


def test_ring_buffer_records_lost_from_its_lost_map() -> None:
    """A ring of one page and two 2 KiB records per getppid(): the second cannot be reserved, the object
    counts it in events_lost, and the self-metric reports it; every record is either read or lost. The ring
    without a NAME_lost map has no loss series (unknown, not 0)."""
    obj = compile_bpf(HERE / "bpf" / "ringloss.bpf.c")
    text = f"""objects:
  - object: {obj}
    name: ringloss
    constants: {{target_tgid: {kernel_tgid()}, nr_getppid: {syscall_number("getppid")}}}
    metrics:
      - name: ring_records_total
        type: counter
        ringbuf: events
        record: {{size: 2048, fields: [{{name: seq, offset: 0, type: u32}}]}}
      - name: plain_records_total
        type: counter
        ringbuf: plain
        record: {{size: 4, fields: [{{name: seq, offset: 0, type: u32}}]}}
"""
    calls = 20
    with Engine(parse_config(yaml.safe_load(text), HERE), cache_seconds=0) as e:
        e.start()
        assert e.loaded[0].col.maps["events"].lost_counter is not None  # linked by bpfkit.load
        for _ in range(calls):
            os.getppid()
        deadline = time.monotonic() + 30
        while True:
            fams = e.snapshot()
            read = dict(_family(fams, "bpfkit_export_records_total").samples)[("ringloss", "events")]
            lost = dict(_family(fams, "bpfkit_export_records_lost_total").samples)[("ringloss", "events")]
            if read + lost == 2 * calls or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert read + lost == 2 * calls
        assert lost >= calls  # at most one record of each call fits in the ring
        assert sum(v for _, v in _family(fams, "ring_records_total").samples) == read
        assert ("ringloss", "plain") not in dict(_family(fams, "bpfkit_export_records_lost_total").samples)
        assert ("ringloss", "plain") in dict(_family(fams, "bpfkit_export_records_total").samples)

