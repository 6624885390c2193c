"""bpfkit export scraped by a real Prometheus server: values asserted through its query API."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ARG_HIST, EXECS, exporttest_config, free_port, write
from hostenv import kernel_uid

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

METRICS = EXECS + ARG_HIST + """
      - name: test_arg_by_slot
        type: histogram
        help: the same from a per-CPU hash keyed by slot
        map: arg_slots
        bucket: slot
        labels: [{name: kind, field: kind, decoders: [{name: static_map, static_map: {1: getpgid}}]}]
        buckets: {type: log2, slots: 8}
      - name: test_sids_total
        type: counter
        help: getsid arguments, folded beyond 5 series
        map: sids
        labels: [{name: arg}]
        max_series: 5
"""

ARGS = [1, 2, 3, 5, 100, 100, 1000, 70000]  # log2 slots 0, 1, 1, 2, 6, 6, 7 (clamped: 9), 7 (clamped: 16)


def test_prometheus_scrapes_counters_histograms_and_folding(tmp_path: Path, start_exporter, start_prometheus) -> None:
    cfg = write(tmp_path / "export.yaml", exporttest_config(METRICS))
    port = free_port()
    prom = start_prometheus([port])  # before the exporter: its exec must not count
    exp = start_exporter(["--config", str(cfg)], port)

    execs = 7
    for _ in range(execs):
        subprocess.run(["/bin/true"], check=True)
    for v in ARGS:
        try:
            os.getpgid(v)  # the tracepoint sees the argument whether or not such a process exists
        except ProcessLookupError:
            pass
    for sid in range(20):
        try:
            os.getsid(4_200_000 + sid)
        except ProcessLookupError:
            pass

    uid = kernel_uid()  # as BPF sees it (a user namespace maps it)
    assert prom.settle(f'test_execs_total{{uid="{uid}"}}', execs) == execs

    n = len(ARGS)
    prom.settle("test_arg_count", n)
    assert prom.value("test_arg_sum") == sum(ARGS)
    # slot i of log2l ends at 2^(i+1)-1; the clamped last slot (1000, 70000) only feeds +Inf
    want = {"1.0": 1, "3.0": 3, "7.0": 4, "15.0": 4, "31.0": 4, "63.0": 4, "127.0": 6, "+Inf": 8}
    got = {r["metric"]["le"]: float(r["value"][1]) for r in prom.query("test_arg_bucket")}
    assert got == want
    les = sorted(float(r["metric"]["le"]) for r in prom.query("test_arg_bucket") if r["metric"]["le"] != "+Inf")
    assert les == [1, 3, 7, 15, 31, 63, 127]

    prom.settle('test_arg_by_slot_count{kind="getpgid"}', n)
    got = {r["metric"]["le"]: float(r["value"][1]) for r in prom.query('test_arg_by_slot_bucket{kind="getpgid"}')}
    assert got == want  # the same counts, summed over the CPUs of a per-CPU map

    # 20 distinct getsid arguments, max_series 5: five series and one overflow series holding the other 15
    prom.settle('sum(test_sids_total{arg!="__overflow__"})', 5)
    assert prom.value('count(test_sids_total{arg!="__overflow__"})') == 5
    assert prom.value('test_sids_total{arg="__overflow__"}') == 15
    assert prom.value('bpfkit_export_series_folded{metric="test_sids_total"}') == 15

    # self-metrics: every program attached, map fullness
    assert prom.value('sum(bpfkit_export_program_attached{object="exporttest"})') == 4  # on_fork, on_execve, on_getpgid, on_getsid
    assert prom.value('bpfkit_export_map_entries{object="exporttest",map="sids"}') == 20

    text = exp.metrics()
    assert f'test_execs_total{{uid="{uid}"}} {float(execs)}' in text
    assert "# TYPE test_arg histogram" in text
    print("\n".join(line for line in text.splitlines() if line.startswith(("test_", "bpfkit_export_program_attached"))))
    assert exp.stop() == 0
