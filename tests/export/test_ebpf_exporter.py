"""ebpf_exporter compatibility: its config format unchanged, scraped by a real Prometheus."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bpfkit
from bpfkit import features
from bpfkit.export import Engine, load_ebpf_exporter
from bpfkit.testing import require
from bpfkit.testing.compile import compile_bpf
from conftest import free_port

pytestmark = [pytest.mark.kernel]

HERE = Path(__file__).parent / "ebpf_exporter"
ARGS = [1, 2, 3, 100, 1000, 5000]


def _config_dir(tmp: Path, *names: str) -> Path:
    d = tmp / "configs"
    d.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(compile_bpf(HERE / f"{name}.bpf.c"), d / f"{name}.bpf.o")
        shutil.copy(HERE / f"{name}.yaml", d / f"{name}.yaml")
    return d


@pytest.mark.slow
def test_ebpf_exporter_config_scraped_by_prometheus(tmp_path: Path, start_exporter, start_prometheus) -> None:
    require("tracefs")  # its objects attach tracepoints by name
    d = _config_dir(tmp_path, "commhist")
    port = free_port()
    prom = start_prometheus([port])
    exp = start_exporter(["--ebpf-exporter-config-dir", str(d), "--names", "commhist"], port)

    renamed = tmp_path / "eetest"
    shutil.copy("/bin/true", renamed)
    for _ in range(4):
        subprocess.run([str(renamed)], check=True)
    code = ("import ctypes, os\nctypes.CDLL(None).prctl(15, b'eehist', 0, 0, 0)\n"
            f"for v in {ARGS}:\n    try: os.getpgid(v)\n    except ProcessLookupError: pass\n")
    subprocess.run([sys.executable, "-c", code], check=True)

    assert prom.settle('ebpf_exporter_commhist_execs_total{comm="eetest"}', 4) == 4
    prom.settle('ebpf_exporter_commhist_getpgid_arg_count{comm="eehist"}', len(ARGS))
    assert prom.value('ebpf_exporter_commhist_getpgid_arg_sum{comm="eehist"}') == sum(ARGS)
    got = {r["metric"]["le"]: float(r["value"][1]) for r in prom.query('ebpf_exporter_commhist_getpgid_arg_bucket{comm="eehist"}')}
    # exp2: bucket i's bound is 2^i for i in bucket_min..bucket_max; 5000 went into the clamped bucket 10
    want = {f"{float(2 ** i)}": 0.0 for i in range(11)}
    for v in ARGS:
        for i in range(11):
            if v <= 2 ** i or i == 10:
                want[f"{float(2 ** i)}"] += 1
                break
    cum, acc = {}, 0.0
    for i in range(11):
        acc += want[f"{float(2 ** i)}"]
        cum[f"{float(2 ** i)}"] = acc
    cum["+Inf"] = float(len(ARGS))
    assert got == cum
    assert prom.value('ebpf_exporter_enabled_configs{name="commhist"}') == 1
    programs = {r["metric"]["program"]: r["metric"]["id"] for r in prom.query("ebpf_exporter_ebpf_program_info")}
    assert set(programs) == {"count_exec", "observe_getpgid"}
    assert prom.value(f'ebpf_exporter_ebpf_program_attached{{id="{programs["count_exec"]}"}}') == 1
    assert prom.value('ebpf_exporter_decoder_errors_total{config="commhist"}') == 0
    assert exp.stop() == 0


def test_ebpf_exporter_attach_kinds_the_kernel_lacks_are_refused(tmp_path: Path) -> None:
    d = _config_dir(tmp_path, "kprobed")
    cfg = load_ebpf_exporter(str(d), ["kprobed"])
    support = features.check("kprobes")
    with Engine(cfg) as engine:
        if support:
            engine.start()
            attached = [f.samples for f in engine.snapshot() if f.name == "bpfkit_export_program_attached"]
            assert attached == [[(("kprobed", "on_nanosleep"), 1.0)]]
        else:
            with pytest.raises(bpfkit.NotSupportedError) as ei:
                engine.start()
            assert ei.value.feature == support.feature
            assert engine.loaded == []


def test_ebpf_exporter_config_errors_as_ebpf_exporter_words_them(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("metrics:\n  counters:\n    - name: x_total\n")
    with pytest.raises(ValueError, match="lacks help"):
        load_ebpf_exporter(str(tmp_path), ["bad"])
    (tmp_path / "empty.yaml").write_text("{}\n")
    with pytest.raises(ValueError, match="neither metrics nor tracing"):
        load_ebpf_exporter(str(tmp_path), ["empty"])


def test_ebpf_exporter_per_cpu_counter_labelled_by_cpu(tmp_path: Path) -> None:
    require("tracefs")  # its objects attach tracepoints by name
    import os

    d = _config_dir(tmp_path, "cpucount")
    with Engine(load_ebpf_exporter(str(d), ["cpucount"]), cache_seconds=0) as e:
        e.start()
        for _ in range(6):
            try:
                os.getsid(777777)
            except ProcessLookupError:
                pass
        (fam,) = [f for f in e.snapshot() if f.name == "ebpf_exporter_cpucount_getsid_total"]
        assert fam.labelnames == ("cpu",)
        cpus = {int(cpu) for (cpu,), _ in fam.samples}
        assert cpus == set(range(len(cpus))) and len(cpus) >= 1  # one series per possible CPU
        assert sum(v for _, v in fam.samples) == 6
