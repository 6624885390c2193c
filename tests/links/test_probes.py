"""uprobes (own binary and libc), kprobe refusal, and perf-event sampling on the real kernel."""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from pathlib import Path

import pytest
from link_progs import counter_prog, read0

from bpfkit import features
from bpfkit._sys import Fd, perf_event
from bpfkit._uapi import PerfSwId, PerfType
from bpfkit.errors import BpfPermissionError, NotSupportedError
from bpfkit.links import _probes as probes
from bpfkit.programs import Program
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def target_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("uprobe")
    src = d / "target.c"
    src.write_text(
        "#include <stdlib.h>\n"
        "__attribute__((noinline)) int bpfkit_probe_me(int x) { asm volatile(\"\" ::: \"memory\"); return x + 1; }\n"
        "int main(int argc, char **argv) { int n = atoi(argv[1]), s = 0;"
        " for (int i = 0; i < n; i++) s += bpfkit_probe_me(i); return s == -1; }\n"
    )
    exe = d / "target"
    subprocess.run(["cc", "-O1", "-o", str(exe), str(src)], check=True)
    return exe


def test_resolve_symbol_gives_file_offset(target_binary: Path) -> None:
    sym = probes.resolve_symbol(str(target_binary), "bpfkit_probe_me")
    out = subprocess.run(["nm", str(target_binary)], capture_output=True, text=True, check=True).stdout
    addr = next(int(line.split()[0], 16) for line in out.splitlines() if line.endswith(" bpfkit_probe_me"))
    assert sym.address == addr
    assert 0 < sym.offset <= addr
    with pytest.raises(KeyError):
        probes.resolve_symbol(str(target_binary), "no_such_function")


@pytest.mark.parametrize("method", ["pmu", "tracefs"])
@pytest.mark.parametrize("retprobe", [False, True])
def test_uprobe_counts_calls(counter: Fd, target_binary: Path, retprobe: bool, method: str,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    require("tracefs" if method == "tracefs" else "uprobes")
    if method == "tracefs":  # the legacy uprobe_events path of kernels without the uprobe PMU
        real = perf_event.pmu_type
        monkeypatch.setattr(perf_event, "pmu_type", lambda name: None if name == "uprobe" else real(name))
    with Program.load("kprobe", counter_prog(counter.fd), name="uprobe_cnt") as p:
        with probes.attach_uprobe(p, str(target_binary), "bpfkit_probe_me", retprobe=retprobe):
            subprocess.run([str(target_binary), "17"], check=True)
        subprocess.run([str(target_binary), "5"], check=True)
    assert read0(counter) == 17


def test_library_without_the_loader_cache(tmp_path: Path) -> None:
    """Where ldconfig never ran, the library directories give the soname, not libc6-dev's linker script."""
    real = probes.find_library("c")
    assert real is not None
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libc.so").write_text("/* GNU ld script */\nGROUP ( libc.so.6 )\n")
    (lib / "libc.so.6").write_bytes(Path(real).read_bytes()[:4096])  # this machine's ELF header
    other = tmp_path / "other"
    other.mkdir()
    (other / "libc.so.6").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + (0).to_bytes(2, "little"))  # no machine
    assert probes.find_in_library_dirs("c", (str(other), str(lib))) == str(lib / "libc.so.6")
    (lib / "libc.so.6").unlink()
    assert probes.find_in_library_dirs("c", (str(lib),)) is None  # only the script: not a library


def test_uprobe_on_libc_with_pid_filter(counter: Fd) -> None:
    require("uprobes")
    libc = probes.find_library("c")
    assert libc is not None and "libc" in libc
    child = subprocess.Popen(["sleep", "0.5"])
    try:
        with Program.load("kprobe", counter_prog(counter.fd), name="libc_cnt") as p:
            with probes.attach_uprobe(p, "c", "getpid", pid=os.getpid()):
                for _ in range(7):
                    ctypes.CDLL(None).getpid()
                    os.getpid()
    finally:
        child.wait()
    assert read0(counter) >= 7


def test_kprobe_refused_clearly_or_attaches(counter: Fd) -> None:
    with Program.load("kprobe", counter_prog(counter.fd), name="kp") as p:
        if perf_event.kprobe_support() is None or not features.have_kprobes():  # none, or refused (lockdown)
            with pytest.raises((NotSupportedError, BpfPermissionError)) as ei:
                probes.attach_kprobe(p, "do_nanosleep")
            if isinstance(ei.value, NotSupportedError):
                assert ei.value.feature == "kprobe"
                assert "tracepoint" in str(ei.value)
            else:  # perf_event_paranoid or a capability: the probe's reason names the same refusal
                assert features.check("kprobes").cause in (features.Cause.REFUSED, features.Cause.CAPABILITY)
        else:
            with probes.attach_kprobe(p, "do_nanosleep"):
                time.sleep(0.01)
            assert read0(counter) >= 1


@pytest.mark.quick
@pytest.mark.parametrize("method", ["pmu", "tracefs"])
@pytest.mark.parametrize("retprobe", [False, True])
def test_kprobe_and_kretprobe_count_calls(counter: Fd, monkeypatch: pytest.MonkeyPatch, method: str,
                                          retprobe: bool) -> None:
    """A k(ret)probe on do_nanosleep counts our sleeps, through the kprobe PMU or tracefs kprobe_events."""
    require("kprobes")
    if method == "tracefs":
        monkeypatch.setattr(perf_event, "kprobe_support", lambda: "tracefs")  # the legacy path of older kernels
    with Program.load("kprobe", counter_prog(counter.fd), name="kp") as p:
        with probes.attach_kprobe(p, "do_nanosleep", retprobe=retprobe) as link:
            assert link.kind == ("kretprobe" if retprobe else "kprobe")
            for _ in range(3):
                time.sleep(0.001)
        seen = read0(counter)
        assert seen >= 3
        time.sleep(0.001)
        assert read0(counter) == seen  # detached
    if method == "tracefs":
        from bpfkit._sys.mounts import ensure_tracefs

        events = Path(ensure_tracefs(), "kprobe_events").read_text()
        assert f"_{os.getpid()}_" not in events  # the probe event went with the link


def test_perf_event_sampling_on_every_cpu(counter: Fd) -> None:
    require("perf_events")
    with Program.load("perf_event", counter_prog(counter.fd), name="sample") as p:
        with probes.attach_perf_event(p, type=PerfType.SOFTWARE, config=PerfSwId.CPU_CLOCK, sample_freq=1000) as grp:
            assert len(grp.links) == os.cpu_count()
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                pass
    assert read0(counter) > 10
