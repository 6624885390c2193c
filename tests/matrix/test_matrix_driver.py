"""Unit tests of the driver's pure parts: arguments, kernel choice, commands, scripts."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from matrixlib import cache, debian, envs, guest, initramfs, report


def _load_run() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "matrix" / "run.py"
    spec = importlib.util.spec_from_file_location("matrix_run", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["matrix_run"] = mod
    spec.loader.exec_module(mod)
    return mod


run = _load_run()
PLAIN = envs.BY_NAME[envs.PLAIN]


def test_parse_args_splits_pytest_arguments_after_double_dash() -> None:
    args, extra = run.parse_args(["--kernel", "6.1", "--timeout", "60", "--", "tests/x.py",
                                  "-k", "map"])
    assert args.kernel == ["6.1"] and args.timeout == 60.0 and not args.quick
    assert extra == ["tests/x.py", "-k", "map"]


def test_choose_kernels_defaults_to_all_plus_host() -> None:
    specs, host = run.choose_kernels(run.parse_args([])[0])
    assert [s.label for s in specs] == ["5.10", "6.1", "6.12", "7.x", "6.1-arm64", "6.12-arm64"] and host
    specs, host = run.choose_kernels(run.parse_args(["--no-host"])[0])
    assert len(specs) == 6 and not host


def test_choose_kernels_quick_is_one_kernel_without_host() -> None:
    specs, host = run.choose_kernels(run.parse_args(["--quick"])[0])
    assert [s.label for s in specs] == ["7.x"] and not host
    specs, host = run.choose_kernels(run.parse_args(["--quick", "--kernel", "5.10"])[0])
    assert [s.label for s in specs] == ["5.10"] and not host
    specs, host = run.choose_kernels(run.parse_args(["--quick", "--kernel", "6.12-arm64"])[0])
    assert [(s.label, s.arch) for s in specs] == [("6.12-arm64", "arm64")] and not host


def test_choose_kernels_named_ones_and_host() -> None:
    args = run.parse_args(["--kernel", "7.2", "--kernel", "host", "--kernel", "7.x"])[0]
    specs, host = run.choose_kernels(args)
    assert [s.label for s in specs] == ["7.x"] and host
    with pytest.raises(ValueError, match="unknown kernel"):
        run.choose_kernels(run.parse_args(["--kernel", "4.19"])[0])


def test_guest_script_runs_the_command_in_the_checkout() -> None:
    argv = ["/repo/.venv/bin/python", "-m", "pytest", "-m", "kernel and not slow",
            "--junitxml=/tmp/matrix-results/junit.xml"]
    script = run.guest_script("6.1", argv)
    lines = script.splitlines()
    cd = lines.index(f"cd {shlex.quote(str(run.REPO))} || exit 125")
    assert cd == (2 if run.REPO.is_relative_to("/tmp") else 1)  # after binding a checkout under /tmp back in place
    assert "export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1" in lines
    assert "export BPFKIT_MATRIX_KERNEL=6.1" in lines
    assert lines[-1] == "exec " + shlex.join(argv)
    assert not any("probe_features" in ln for ln in lines)


def test_guest_script_probes_features_before_the_tests() -> None:
    argv = ["/repo/.venv/bin/python", "-m", "pytest"]
    probes = run.features_argv(argv[0], "/tmp/matrix-results/features.json")
    lines = run.guest_script("5.10", argv, probes).splitlines()
    assert lines[-2] == probes and lines[-1] == "exec " + shlex.join(argv)
    assert str(run.PROBE_SCRIPT) in probes and "> /tmp/matrix-results/features.json" in probes


def test_guest_script_with_a_command_runs_it_instead_of_pytest() -> None:
    argv = ["/repo/.venv/bin/python", "-m", "pytest"]
    cmd = 'echo "$BPFKIT_MATRIX_HOST_TMP" > "$BPFKIT_MATRIX_RESULTS/out"'
    lines = run.guest_script("6.12", argv, command=cmd).splitlines()
    assert lines[-1] == "exec /bin/sh -c " + shlex.quote(cmd)
    assert shlex.split(lines[-1])[-1] == cmd
    assert f"export BPFKIT_MATRIX_RESULTS={initramfs.GUEST_RESULTS}" in lines
    assert f"export BPFKIT_MATRIX_HOST_TMP={initramfs.HOST_TMP}" in lines
    assert not any("pytest" in ln for ln in lines)


def test_command_runs_in_the_named_guests_only() -> None:
    specs, host = run.choose_kernels(run.parse_args(["--command", "true", "--kernel", "6.12",
                                                     "--kernel", "host"])[0])
    assert [s.label for s in specs] == ["6.12"] and not host
    with pytest.raises(ValueError, match="--command needs"):
        run.choose_kernels(run.parse_args(["--command", "true"])[0])


def test_command_report_is_zero_only_when_every_guest_exited_zero(capsys: pytest.CaptureFixture[str]) -> None:
    ok = report.Column("6.12", "6.12.1", exit_code=0, run_seconds=3.0)
    assert run.command_report([ok], Path("/runs")) == 0
    bad = report.Column("6.1", "6.1.1", exit_code=2)
    hung = report.Column("7.x", "7.2", status="run-timeout", exit_code=None)
    assert run.command_report([ok, bad], Path("/runs")) == 1
    assert run.command_report([hung], Path("/runs")) == 1
    assert "/runs/6.1/output.txt" in capsys.readouterr().out


def test_feature_probe_script_reports_every_row(tmp_path: Path) -> None:
    out = tmp_path / "features.json"
    subprocess.run(run.features_argv(sys.executable, str(out)), shell=True, check=True)
    got = json.loads(out.read_text())
    assert len(got) >= 20 and all(isinstance(v, (bool, str)) for v in got.values())


def test_pytest_command_has_marker_no_cache_and_plugins() -> None:
    base = run.pytest_base("/v/bin/python", "kernel", ["pytest_timeout"])
    assert base == ["/v/bin/python", "-m", "pytest", "-m", "kernel", "-p", "no:cacheprovider",
                    "-p", "pytest_timeout"]


def test_guests_raise_only_the_per_test_timeout() -> None:
    base = run.pytest_base("/v/bin/python", "kernel", ["pytest_timeout"])
    assert run.guest_base(base, 600) == [*base, "-o", "timeout=600"]
    bare = run.pytest_base("/v/bin/python", "kernel", [])
    assert run.guest_base(bare, 600) == bare  # no plugin, no option it would not know
    assert run.guest_test_timeout(None, "amd64", None) == 600 and run.guest_test_timeout(None, "arm64", None) == 2400
    assert run.guest_test_timeout(None, "amd64", "kvm") == 600 and run.guest_test_timeout(90, "arm64", None) == 90


def _elf_with_phdrs(types: list[int]) -> bytes:
    head = bytearray(64)
    head[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", head, 0x20, 64)
    struct.pack_into("<HH", head, 0x36, 56, len(types))
    return bytes(head) + b"".join(struct.pack("<I", t) + bytes(52) for t in types)


def test_has_interpreter_tells_static_from_dynamic() -> None:
    assert run.has_interpreter(_elf_with_phdrs([6, 3, 1]))  # PHDR, INTERP, LOAD
    assert not run.has_interpreter(_elf_with_phdrs([1, 1, 4]))
    assert run.has_interpreter(b"#!/bin/sh\n")


def test_qemu_command_uses_tcg_and_no_host_network(tmp_path: Path) -> None:
    cmd = guest.qemu_command(Path("/k/vmlinuz"), Path("/k/initrd"), tmp_path, "9p")
    assert cmd[:3] == ["qemu-system-x86_64", "-accel", "tcg,thread=single"]
    assert cmd[cmd.index("-cpu") + 1] == "max"
    assert cmd[cmd.index("-nic") + 1] == "none"
    assert "-netdev" not in cmd and "-net" not in cmd
    shares = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-virtfs"]
    assert any("mount_tag=hostroot" in s and "readonly=on" in s and "path=/," in s
               for s in shares)
    assert any(f"path={tmp_path}," in s and "mount_tag=results" in s and "readonly" not in s
               for s in shares)
    assert "panic=-1" in cmd[cmd.index("-append") + 1]
    assert "lsm=bpf" in cmd[cmd.index("-append") + 1].split()  # lsm programs need the BPF LSM active
    assert "-no-reboot" in cmd


def test_qemu_command_gives_scratch_disks_as_virtio_drives(tmp_path: Path) -> None:
    disks = run.scratch_disks(tmp_path, [16, 8])
    assert [d.stat().st_size for d in disks] == [16 << 20, 8 << 20]
    assert all(d.stat().st_blocks == 0 for d in disks)  # sparse
    cmd = guest.qemu_command(Path("/k"), Path("/i"), tmp_path, "9p", disks=disks)
    drives = [cmd[i + 1] for i, a in enumerate(cmd) if a == "-drive"]
    assert drives == [f"file={d},if=virtio,format=raw,cache=unsafe" for d in disks]
    assert "-drive" not in guest.qemu_command(Path("/k"), Path("/i"), tmp_path, "9p")


def test_qemu_command_escapes_commas_in_paths(tmp_path: Path) -> None:
    odd = tmp_path / "a,b"
    cmd = guest.qemu_command(Path("/k"), Path("/i"), odd, "virtiofs", socket=odd / "s")
    assert any(a.startswith(f"local,path={tmp_path}/a,,b,mount_tag=results,") for a in cmd)
    assert f"socket,id=vfs,path={tmp_path}/a,,b/s" in cmd


def test_qemu_command_for_virtiofs_shares_memory_with_the_daemon(tmp_path: Path) -> None:
    sock = tmp_path / "vfs.sock"
    cmd = guest.qemu_command(Path("/k"), Path("/i"), tmp_path, "virtiofs", socket=sock,
                             memory_mb=1024)
    joined = " ".join(cmd)
    assert "memory-backend-memfd,id=mem,size=1024M,share=on" in joined
    assert f"socket,id=vfs,path={sock}" in joined
    assert "tag=hostroot" in joined
    with pytest.raises(ValueError):
        guest.qemu_command(Path("/k"), Path("/i"), tmp_path, "virtiofs")


def test_find_kernel_files_in_old_and_split_layouts(tmp_path: Path) -> None:
    old = tmp_path / "old"
    (old / "boot").mkdir(parents=True)
    (old / "boot/vmlinuz-6.1.0-50-amd64").write_bytes(b"k")
    (old / "lib/modules/6.1.0-50-amd64/kernel").mkdir(parents=True)
    assert cache.find_kernel_files(old) == (old / "boot/vmlinuz-6.1.0-50-amd64",
                                            old / "lib/modules/6.1.0-50-amd64",
                                            "6.1.0-50-amd64")
    new = tmp_path / "new"
    mods = new / "usr/lib/modules/7.2.13+deb14-amd64"
    (mods / "kernel").mkdir(parents=True)
    (mods / "vmlinuz").write_bytes(b"k")
    assert cache.find_kernel_files(new) == (mods / "vmlinuz", mods, "7.2.13+deb14-amd64")
    with pytest.raises(LookupError):
        cache.find_kernel_files(tmp_path / "nothing")


def test_cached_kernel_survives_without_the_archive(tmp_path: Path) -> None:
    logs: list[str] = []
    c = cache.Cache(tmp_path, logs.append)
    root = tmp_path / "kernels" / "k" / "root"
    mods = root / "lib/modules/5.10.0-46-amd64"
    (mods / "kernel").mkdir(parents=True)
    (root / "boot").mkdir()
    (root / "boot/vmlinuz-5.10.0-46-amd64").write_bytes(b"k")
    k = cache.Kernel("5.10", "5.10.0-46-amd64", "bullseye-security",
                     ("linux-image-5.10.0-46-amd64=5.10.262-1",),
                     root / "boot/vmlinuz-5.10.0-46-amd64", mods)
    c._point("5.10", k)
    spec = debian.parse_kernel_arg("5.10")
    assert c.kernel(spec) == k  # offline: no update() happened
    assert any("using cached" in m for m in logs)
    with pytest.raises(LookupError, match="neither in the archive"):
        c.kernel(debian.parse_kernel_arg("6.1"))


def test_boot_markers_are_distinct_lines_of_init() -> None:
    marks = {initramfs.BOOTED, initramfs.DONE, initramfs.ERROR}
    assert len(marks) == 3
    assert all(not a.startswith(b) for a in marks for b in marks if a != b)


def _fake_kernel(tmp_path: Path) -> cache.Kernel:
    return cache.Kernel("6.1", "6.1.0-50-amd64", "bookworm", (), tmp_path / "vmlinuz",
                        tmp_path / "mods")


def test_run_guest_boots_again_after_a_boot_failure(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results"
    calls: list[int] = []

    def fake_boot(*_a: object, **_kw: object) -> guest.GuestResult:
        calls.append(1)
        (results / "console.log").write_text(f"attempt {len(calls)}\n")
        if len(calls) == 1:
            return guest.GuestResult("boot-failed", None, None, None, "Kernel panic")
        (results / "junit.xml").write_text(
            '<testsuite><testcase classname="m" name="t"/></testsuite>')
        return guest.GuestResult("done", 0, 5.0, 7.0)

    monkeypatch.setattr(guest, "boot", fake_boot)
    monkeypatch.setattr(cache.Cache, "initramfs", lambda *_a: tmp_path / "initrd")
    args = run.parse_args([])[0]
    col = run.run_guest(_fake_kernel(tmp_path), PLAIN, cache.Cache(tmp_path, print), "9p", None,
                        ["python"], [], results, args)
    assert len(calls) == 2
    assert (col.status, col.exit_code, col.boot_seconds) == ("done", 0, 5.0)
    assert "after 1 failed boot(s): boot-failed" in col.detail
    assert col.tests == {"m::t": report.Outcome("passed")}
    assert (results / "console.log.attempt1").read_text() == "attempt 1\n"


def test_run_guest_does_not_retry_a_failure_after_init(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results"
    calls: list[int] = []

    def fake_boot(*_a: object, **_kw: object) -> guest.GuestResult:
        calls.append(1)
        (results / "output.txt").write_text("t.py::test_a PASSED\nt.py::test_b \n")
        return guest.GuestResult("run-timeout", None, 5.0, 60.0, "still running after 60 s")

    monkeypatch.setattr(guest, "boot", fake_boot)
    monkeypatch.setattr(cache.Cache, "initramfs", lambda *_a: tmp_path / "initrd")
    col = run.run_guest(_fake_kernel(tmp_path), PLAIN, cache.Cache(tmp_path, print), "9p", None,
                        ["python"], [], results, run.parse_args(["--boot-retries", "3"])[0])
    assert len(calls) == 1
    assert col.status == "run-timeout"
    assert col.tests["t::test_a"] == report.Outcome("passed")
    assert col.tests["t::test_b"].status == "error"
    assert "in test t.py::test_b" in col.detail
    assert str(report.failures([col])[0]).startswith("6.1: t::test_b: error")


def test_guest_script_binds_a_checkout_under_tmp_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guest's /tmp is its own tmpfs: a checkout there is bound from the host's /tmp (under /run) first."""
    monkeypatch.setattr(run, "REPO", Path("/tmp/clone dir"))
    lines = run.guest_script("6.1", ["python"]).splitlines()
    assert lines[1] == ("mkdir -p '/tmp/clone dir' && mount --bind '/run/matrix-host-tmp/clone dir' "
                        "'/tmp/clone dir' || exit 125")
    assert lines[2] == "cd '/tmp/clone dir' || exit 125"
    monkeypatch.setattr(run, "REPO", Path("/work/main"))
    lines = run.guest_script("6.1", ["python"]).splitlines()
    assert lines[1] == "cd /work/main || exit 125" and not any("mount" in ln for ln in lines)


def test_init_binds_the_host_tmp_before_hiding_it() -> None:
    from matrixlib import initramfs

    init = initramfs.init_script(["virtio_blk.ko"], "virtiofs")
    bind = init.index(f"mount --bind /newroot/tmp /newroot{initramfs.HOST_TMP}")
    assert init.index("mount -t tmpfs tmpfs /newroot/run") < bind < init.index("mount -t tmpfs tmpfs /newroot/tmp")


def _results_file(path: Path, columns: list[report.Column], selection: str = "-k 'quick'") -> Path:
    path.write_text(json.dumps({"generated": "2026-12-06T10:00:00+0000", "pytest": f"/v/python -m pytest -m kernel "
                                f"{selection}", "kernels": [c.to_json() for c in columns]}))
    return path


def test_env_matrix_from_the_results_of_several_runs(tmp_path: Path) -> None:
    ok = report.Outcome(report.PASSED)
    files = []
    for kernel in run.ENV_KERNELS:
        for e in envs.ENVS:
            if not e.plain:
                col = report.Column(envs.column_label(kernel, e), "r", env=e.name, exit_code=0,
                                    tests={"tests/test_a.py::test_x": ok})
                files.append(_results_file(tmp_path / f"{kernel}-{e.name}.json", [col]))
    out = tmp_path / "env-matrix.md"
    assert run.assemble(files[1:], None) == 2  # a column missing: no committed table from it
    assert run.assemble(files, out) == 0
    text = out.read_text()
    assert text.startswith(f"Written from {len(files)} runs") and "not run" not in text
    assert text.index("7.x caps") < text.index("6.12 caps")  # the newest kernel first, as a full run writes it
    assert run.assemble(files[1:], out) == 0 and "; not run: 6.12 lockdown=integrity." in out.read_text()
    other = _results_file(tmp_path / "other.json", [], selection="-k 'tools'")
    assert run.assemble([*files, other], out) == 2  # two selections do not make one table


def test_env_matrix_names_the_commit_of_each_run(tmp_path: Path) -> None:
    ok = report.Outcome(report.PASSED)
    files = []
    for i, kernel in enumerate(run.ENV_KERNELS):
        for e in envs.ENVS:
            if not e.plain:
                col = report.Column(envs.column_label(kernel, e), "r", env=e.name, exit_code=0,
                                    tests={"tests/test_a.py::test_x": ok})
                path = _results_file(tmp_path / f"{kernel}-{e.name}.json", [col])
                doc = json.loads(path.read_text())
                doc["commit"] = f"c{i}"  # as run.py writes it: the run's commit, beside its columns
                path.write_text(json.dumps(doc))
                files.append(path)
    out = tmp_path / "env-matrix.md"
    assert run.assemble(files, out) == 0
    row = next(line for line in out.read_text().splitlines() if line.startswith("| commit |"))
    assert row.split(" | ")[1:] == ["c1"] * (len(files) // 2) + ["c0"] * (len(files) // 2 - 1) + ["c0 |"]


def test_repo_commit_is_the_checkout_head() -> None:
    head = subprocess.run(["git", "-C", str(run.REPO), "rev-parse", "--short=7", "HEAD"], capture_output=True,
                          text=True, check=False)
    # outside a git checkout (an unpacked release) there is no commit to name: ""
    assert run.repo_commit().split("+")[0] == (head.stdout.strip() if head.returncode == 0 else "")


def test_virtiofsd_shares_the_root_without_the_hosts_sys(tmp_path: Path) -> None:
    """What virtiofsd serves has an empty /sys: no guest can reach the host's tracefs or bpffs through it."""
    from bpfkit import host
    from bpfkit.testing import require_capability

    require_capability(host.CAP_SYS_ADMIN, "a private mount namespace with a tmpfs over /sys")
    probe = 'ls -A /sys > "$0"; stat -f -c %T /sys >> "$0"'
    cmd = guest.virtiofsd_command(guest.VirtiofsD(["sh", "-c", probe, str(tmp_path / "seen")]),
                                  tmp_path / "vfs.sock")
    assert "--shared-dir=/" in cmd and "--readonly" in cmd
    subprocess.run(cmd, check=True, timeout=60)
    assert (tmp_path / "seen").read_text().split() == ["tmpfs"]  # nothing under it
    assert os.path.isdir("/sys/kernel")  # this process's /sys is the host's still


def test_guest_script_with_a_cache_seeds_it_and_returns_it() -> None:
    argv = ["/repo/.venv/bin/python", "-m", "pytest"]
    lines = run.guest_script("6.12", argv, cache=True).splitlines()
    seed = f"{initramfs.GUEST_RESULTS}/{run.SEED}"
    assert f"export BPFKIT_CACHE={run.GUEST_CACHE}/bpfkit" in lines and f"export XDG_CACHE_HOME={run.GUEST_CACHE}" in lines
    first = next(i for i, ln in enumerate(lines) if ln.startswith(f"mkdir -p {run.GUEST_CACHE}"))
    assert seed in lines[first] and "chmod -R a+rwX" in lines[first]
    run_at = lines.index(shlex.join(argv))
    assert first < run_at and lines[run_at + 1] == "rc=$?" and lines[-1] == "exit $rc"
    assert any(ln.startswith(f"rm -rf {seed} && cp -r") for ln in lines[run_at:])


def test_keep_cache_adds_only_new_files_and_drops_the_copy(tmp_path: Path) -> None:
    returned, store = tmp_path / "results" / run.SEED, tmp_path / "store"
    (returned / "bpfkit" / "objects").mkdir(parents=True)
    (store / "bpfkit" / "objects").mkdir(parents=True)
    (returned / "bpfkit" / "objects" / "a-1.o").write_bytes(b"new")
    (returned / "bpfkit" / "objects" / "b-2.o").write_bytes(b"guest")
    (store / "bpfkit" / "objects" / "b-2.o").write_bytes(b"kept")
    os.utime(returned / "bpfkit" / "objects" / "a-1.o", ns=(1, 123456789))
    run.keep_cache(returned, store)
    assert (store / "bpfkit" / "objects" / "a-1.o").read_bytes() == b"new"
    assert (store / "bpfkit" / "objects" / "a-1.o").stat().st_mtime_ns == 123456789
    assert (store / "bpfkit" / "objects" / "b-2.o").read_bytes() == b"kept"
    assert not returned.exists() and not list(store.rglob(".*.part"))
    run.keep_cache(returned, store)  # nothing returned: nothing to do


def test_guests_stretch_the_tests_hang_guards_by_how_much_slower_they_run() -> None:
    assert run.slowdown("amd64", "tcg,thread=single") == 2
    assert run.slowdown("arm64", "tcg,thread=single") == 8
    assert run.slowdown("amd64", "kvm") == 1


def test_wheelhouse_holds_the_runtime_dependencies_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        dest = Path(argv[argv.index("--dest") + 1])
        dest.mkdir(parents=True)
        (dest / "pyelftools-0.33-py3-none-any.whl").write_bytes(b"PK")
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(run.subprocess, "run", fake_run)
    got = run.ensure_wheelhouse(tmp_path, "/venv/bin/python")
    assert got is not None and [p.name for p in got.glob("*.whl")] == ["pyelftools-0.33-py3-none-any.whl"]
    (argv,) = calls
    assert argv[:4] == ["/venv/bin/python", "-m", "pip", "download"] and any(a.startswith("pyelftools") for a in argv)
    assert run.ensure_wheelhouse(tmp_path, "/venv/bin/python") == got and len(calls) == 1  # kept


def test_no_wheelhouse_without_a_network_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(run.subprocess, "run",
                        lambda argv, **kw: subprocess.CompletedProcess(argv, 1, "", "no network"))
    assert run.ensure_wheelhouse(tmp_path, "/venv/bin/python") is None
    assert "no wheelhouse" in capsys.readouterr().err
    assert not list((tmp_path / run.WHEELHOUSE).glob("*/*.whl"))


def test_arm64_matrix_from_the_runs_of_its_kernels_one_at_a_time(tmp_path: Path) -> None:
    ok = report.Outcome(report.PASSED)
    labels = [s.label for s in debian.DEFAULT_KERNELS if s.arch == "arm64"]
    files = [_results_file(tmp_path / f"{label}.json", [report.Column(label, f"r-{label}", exit_code=0,
                                                                       tests={"tests/test_a.py::test_x": ok})],
                           selection="") for label in labels]
    out = tmp_path / "arm64-matrix.md"
    assert run.assemble(files[1:], out) == 2  # a kernel missing
    assert run.assemble(list(reversed(files)), out) == 0
    text = out.read_text()
    assert all(label in text for label in labels) and text.index(labels[0]) < text.index(labels[-1])
    quick = _results_file(tmp_path / "quick.json", [report.Column(labels[0], "r", exit_code=0)])
    assert run.assemble([*files, quick], out) == 2  # a subset is no table
