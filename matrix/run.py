#!/usr/bin/env python3
"""Run bpfkit's kernel tests on a matrix of Debian kernels under QEMU, and on the host.

    python3 matrix/run.py [--kernel X]... [--quick] [--list] [--timeout S] [-- pytest args]
    python3 matrix/run.py --kernel 6.12 --command 'CMD'   # a shell command instead of pytest

Kernels are fetched once into $BPFKIT_MATRIX_CACHE (default /var/cache/bpfkit-matrix)
and kept there, so a kernel that leaves the archive stays usable. Each guest chroots
into the host's root (shared read-only), runs `pytest -m kernel` with the repo's venv,
and writes its JUnit report into a writable results share. Exit status 1 names every
kernel and test that failed, did not boot, or timed out; 2 is a setup error.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from matrixlib import cache, debian, envs, guest, initramfs, kmod, report, userland

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HOST = "host"
APT_NEEDS = {"qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static"}
QEMU_PACKAGES = {"arm64": ("qemu-system-aarch64", "qemu-system-arm")}  # other guest architectures: program, package
QUICK_TESTS = 5
ENV_KERNELS = ("6.12", "7.x")  # where the host environments run unless --kernel says otherwise


class SetupError(Exception):
    """Something the matrix needs is missing; the message says what."""


def log(msg: str) -> None:
    """Progress lines go to stderr so the matrix on stdout stays clean."""
    print(f"matrix: {msg}", file=sys.stderr, flush=True)


def repo_commit() -> str:
    """The commit of the checkout the guests test (short hash, "+changes" when tracked files differ from
    it), so that every table says which code each column ran; "" outside a git checkout."""
    def git(*argv: str) -> str:
        proc = subprocess.run(["git", "-C", str(REPO), *argv], capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    head = git("rev-parse", "--short=7", "HEAD")
    if head and git("status", "--porcelain", "--untracked-files=no"):
        head += "+changes"
    return head


def ensure_host_packages(arches: Sequence[str] = ()) -> None:
    """Install QEMU (for each guest architecture) and a static busybox from Debian when they are missing."""
    needs = dict(APT_NEEDS, **dict(QEMU_PACKAGES[a] for a in arches if a in QEMU_PACKAGES))
    missing = [pkg for prog, pkg in needs.items() if shutil.which(prog) is None]
    if not _static_busybox():
        missing.append("busybox-static")
    missing = sorted(set(missing))
    if not missing:
        return
    if os.geteuid() != 0:
        raise SetupError(f"missing {', '.join(missing)}; install them (apt-get install ...)")
    log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
    proc = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                           *missing], env=env, check=False)
    if proc.returncode != 0:
        raise SetupError(f"apt-get install {' '.join(missing)} failed")


def _static_busybox() -> bool:
    path = Path("/bin/busybox")
    return path.exists() and not has_interpreter(path.read_bytes())


def has_interpreter(elf: bytes) -> bool:
    """Whether an ELF64 executable names a dynamic loader (PT_INTERP), i.e. is not static."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        return True
    phoff = int.from_bytes(elf[0x20:0x28], "little")
    phentsize = int.from_bytes(elf[0x36:0x38], "little")
    phnum = int.from_bytes(elf[0x38:0x3A], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if int.from_bytes(elf[off:off + 4], "little") == 3:  # PT_INTERP
            return True
    return False


def pytest_base(python: str, marker: str, plugins: Sequence[str]) -> list[str]:
    """The pytest command both the host and the guests run (before junit and extra args)."""
    cmd = [python, "-m", "pytest", "-m", marker, "-p", "no:cacheprovider"]
    for p in plugins:
        cmd += ["-p", p]
    return cmd


def pytest_env() -> dict[str, str]:
    """Environment for pytest: no plugin autoload (most of its start-up), no .pyc writes."""
    return {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"}


def importable_plugins(python: str, wanted: Sequence[str]) -> list[str]:
    """The plugins of `wanted` that the venv can import (autoload is off, so name them)."""
    out = []
    for name in wanted:
        r = subprocess.run([python, "-c", f"import {name}"], capture_output=True, check=False)
        if r.returncode == 0:
            out.append(name)
    return out


def collect(base: list[str], extra: Sequence[str]) -> list[str]:
    """Node ids pytest selects on the host (fails early on bad arguments)."""
    env = dict(os.environ, **pytest_env())
    try:
        proc = subprocess.run([*base, "--collect-only", "-q", *extra], cwd=REPO, env=env,
                              capture_output=True, text=True, check=False, timeout=600)
    except subprocess.TimeoutExpired:
        raise SetupError("pytest --collect-only on the host took over 600 s") from None
    if proc.returncode == 5:
        return []
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise SetupError("pytest collection failed on the host:\n  " + "\n  ".join(tail))
    return [ln.strip() for ln in proc.stdout.splitlines() if "::" in ln and " " not in ln.strip()]


PROBE_SCRIPT = HERE / "probe_features.py"


def features_argv(python: str, out: str, wrap: Sequence[str] = ()) -> str:
    """A shell command that writes bpfkit's feature probes of the running kernel to ``out`` (JSON),
    run under the command prefix ``wrap`` (a host environment)."""
    return (f"{shlex.join([*wrap, python, str(PROBE_SCRIPT)])} > {shlex.quote(out)} "
            f"2> {shlex.quote(out + '.err')} || echo \"matrix: the feature probes failed\"")


TOKEN_LAUNCHER = HERE / "token_launcher.py"
ENV_OUT = "/tmp/matrix-out"  # where the tests of another user write their JUnit report (copied to the results)


GUEST_CACHE = "/tmp/matrix-cache"  # the guest's compile caches (bpfkit's objects, the BCC front end's), seeded
SEED = "objcache"  # ... from and returned through this directory of the results share (see run_guest)


def guest_script(label: str, argv: Sequence[str], features: str | None = None,
                 host_env: envs.Env = envs.BY_NAME[envs.PLAIN], command: str | None = None,
                 extra_env: dict[str, str] | None = None, cache: bool = False) -> str:
    """run.sh for the guest: cd to the checkout, set up the host environment ``host_env``, run the
    feature probes (``features``, a shell command) and pytest (or the shell ``command`` instead)
    with a clean environment (plus ``extra_env``: a userland's PYTHONPATH). ``cache``: start the
    compile caches from the results share's objcache/ and leave them there afterwards, so that the
    next guest of the same kernel compiles nothing it compiled already (clang under TCG is slow)."""
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
        "BPFKIT_MATRIX_KERNEL": label, "BPFKIT_MATRIX_RESULTS": initramfs.GUEST_RESULTS,
        "BPFKIT_MATRIX_HOST_TMP": initramfs.HOST_TMP, **pytest_env(),
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if cache:
        env.update(XDG_CACHE_HOME=GUEST_CACHE, BPFKIT_CACHE=f"{GUEST_CACHE}/bpfkit")
    env.update(extra_env or {})
    lines = ["set -u"]
    seed, save = f"{initramfs.GUEST_RESULTS}/{SEED}", []
    if cache:  # writable by every user the tests may run as; timestamps kept (vmlinux.h's is in the object key)
        lines.append(f"mkdir -p {GUEST_CACHE} && {{ [ ! -d {seed} ] || cp -r --preserve=timestamps "
                     f"{seed}/. {GUEST_CACHE}/; }}; chmod -R a+rwX {GUEST_CACHE}")
        save = [f"rm -rf {seed} && cp -r --preserve=timestamps {GUEST_CACHE} {seed}"]
    if REPO.is_relative_to("/tmp"):  # the guest's /tmp is its own tmpfs: show the host's checkout there again
        inner = Path(initramfs.HOST_TMP) / REPO.relative_to("/tmp")
        lines.append(f"mkdir -p {shlex.quote(str(REPO))} && mount --bind {shlex.quote(str(inner))} "
                     f"{shlex.quote(str(REPO))} || exit 125")
    lines.append(f"cd {shlex.quote(str(REPO))} || exit 125")
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    lines.append("echo \"kernel: $(uname -r)\"")
    lines += envs.setup_lines(host_env, [REPO, Path(argv[0])])
    wrap = envs.prefix(host_env, argv[0], TOKEN_LAUNCHER)
    if wrap:  # check that the environment can be made, and show who the tests run as
        check = ("id; grep -E '^Cap(Eff|Bnd)' /proc/self/status; "
                 "for k in perf_event_paranoid unprivileged_bpf_disabled; do echo \"$k=$(cat /proc/sys/kernel/$k)\"; done; "
                 "grep -E ' (bpf|tracefs|debugfs) ' /proc/self/mounts || echo 'no bpffs, tracefs or debugfs mounted'")
        lines.append(f"{shlex.join([*wrap, 'sh', '-c', check])} || exit {envs.UNAVAILABLE}")
    if features:
        lines.append(features)
    if command is not None:
        argv = ["/bin/sh", "-c", command]
    if not wrap and not save:
        lines.append("exec " + shlex.join(argv))
        return "\n".join(lines) + "\n"
    if wrap:
        lines.append(f"mkdir -p -m 1777 {ENV_OUT}")
    lines.append(shlex.join([*wrap, *argv]))
    lines.append("rc=$?")
    if wrap:
        lines.append(f"cp {ENV_OUT}/junit.xml {initramfs.GUEST_RESULTS}/ 2>/dev/null")
    lines += save
    lines.append("exit $rc")
    return "\n".join(lines) + "\n"


def guest_base(base: list[str], test_timeout: float) -> list[str]:
    """The pytest command in a guest: pytest-timeout's per-test limit raised to ``test_timeout``. The
    project's 120 s is a hang guard for the host; a TCG guest on a busy machine compiles a BPF object
    (clang through virtiofs) 10-25x slower and would be cut off in the middle of a working test."""
    if "pytest_timeout" not in base:
        return base
    return [*base, "-o", f"timeout={test_timeout:g}"]


def _pytest_args(base: list[str], junit: str, extra: Sequence[str]) -> list[str]:
    return [*base, f"--junitxml={junit}", "-v", "-rs", *extra]


def slowdown(arch: str, accel: str | None) -> int:
    """How many times slower than the host a guest runs, for the tests' hang guards: a KVM guest
    about as fast, a TCG guest of the host's architecture ~2x, of another architecture ~8x."""
    if accel and accel.startswith("kvm"):
        return 1
    return 2 if arch == "amd64" else 8  # the matrix runs on amd64 hosts (arm64 guests get their own userland)


def guest_test_timeout(given: float | None, arch: str, accel: str | None) -> float:
    """pytest-timeout's per-test limit in a guest: ``--test-timeout`` when given, else 300 s per unit of
    :func:`slowdown`, at least 600 (an arm64 guest, 8x, gets 2400 s: a module fixture that compiles a corpus
    under emulation on a busy host counts against its first test)."""
    return given if given is not None else max(600.0, 300.0 * slowdown(arch, accel))


WHEELHOUSE = "wheelhouse"  # the package's runtime dependencies as wheels, for pip in guests (they have no network)


def ensure_wheelhouse(root: Path, python: str) -> Path | None:
    """Download the wheels of the package's runtime dependencies (pyproject's [project].dependencies) once
    into ``root``/wheelhouse, so that a guest's ``pip install`` of bpfkit's wheel (tests/test_packaging.py)
    works offline; None (and a log line) when they cannot be fetched."""
    import ast
    import re

    m = re.search(r"^dependencies\s*=\s*(\[[^\]]*\])", (REPO / "pyproject.toml").read_text(), re.M)
    deps: list[str] = ast.literal_eval(m.group(1)) if m else []  # [project]'s: the first such key in the file
    dest = root / WHEELHOUSE / hashlib.sha256("\n".join(sorted(deps)).encode()).hexdigest()[:12]
    if dest.is_dir() and any(dest.glob("*.whl")):
        return dest
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    r = subprocess.run([python, "-m", "pip", "download", "-q", "--only-binary=:all:", "--dest", str(tmp), *deps],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0 or not any(tmp.glob("*.whl")):
        log(f"no wheelhouse for the guests (pip download {' '.join(deps)}: {r.stderr.strip()[-300:]}); "
            "tests that pip-install bpfkit need a network there")
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    tmp.replace(dest)
    return dest


def keep_cache(returned: Path, store: Path) -> None:
    """Move what a guest compiled (``returned``, its objcache/) into the kernel's ``store``: new files
    only (names carry content hashes), then drop the copy from the results."""
    if not returned.is_dir():
        return
    for src in returned.rglob("*"):
        dst = store / src.relative_to(returned)
        if src.is_file() and not src.is_symlink() and not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.part")
            shutil.copy2(src, tmp)
            tmp.replace(dst)
    shutil.rmtree(returned, ignore_errors=True)


def run_guest(k: cache.Kernel, env: envs.Env, c: cache.Cache, share: str, vfsd: guest.VirtiofsD | None,
              base: list[str], extra: Sequence[str], results: Path,
              args: argparse.Namespace, land: tuple[userland.Userland, Path] | None = None,
              wheels: Path | None = None) -> report.Column:
    """Boot one kernel, run the selection inside it in the host environment ``env``, and read back
    its JUnit report. ``land``: the userland (and its static busybox) of a guest whose architecture
    is not the host's; it becomes the guest's root, with the checkout bound in. ``wheels``: a
    wheelhouse that pip in the guest installs from."""
    label = envs.column_label(k.label, env)
    col = report.Column(label, k.release, env=env.name)
    if results.exists():
        shutil.rmtree(results)
    results.mkdir(parents=True)
    modules = [*(kmod.DISK if args.disk else ()), *args.modules]
    busybox, root, extra_env = Path("/bin/busybox"), None, None
    if land is not None:
        ul, busybox = land
        root = initramfs.UserlandRoot(str(ul.root), tuple(userland.top_entries(ul.root)),
                                      tuple(ul.binds(REPO)))
        base = [userland.PYTHON, *base[1:]]
        extra_env = ul.env(REPO)
    try:
        initrd = c.initramfs(k, share, busybox, modules, root)
    except (LookupError, ValueError, OSError) as exc:
        col.status, col.detail = "boot-failed", f"initramfs: {exc}"
        return col
    disks = scratch_disks(results, args.disk)
    wrap = envs.prefix(env, base[0], TOKEN_LAUNCHER)
    limit = guest_test_timeout(args.test_timeout, k.arch, args.accel)
    argv = _pytest_args(guest_base(base, limit), f"{ENV_OUT if wrap else initramfs.GUEST_RESULTS}/junit.xml",
                        extra)
    # hang guards of the tests stretch (bpfkit.testing.patience): TCG emulates; another architecture, slower again
    extra_env = {**(extra_env or {}), "BPFKIT_TEST_SLOWDOWN": str(slowdown(k.arch, args.accel))}
    if wheels is not None:  # pip in the guest installs from these, offline
        shutil.copytree(wheels, results / WHEELHOUSE)
        extra_env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=f"{initramfs.GUEST_RESULTS}/{WHEELHOUSE}")
    store = c.root / SEED / f"{k.arch}-{k.release}"  # compiled objects of earlier guests of this kernel
    if store.is_dir():
        shutil.copytree(store, results / SEED)
    if args.command is not None:  # the command alone: no feature probes, no pytest
        script = guest_script(k.label, argv, None, env, command=args.command, extra_env=extra_env, cache=True)
    else:
        probes = features_argv(base[0], f"{initramfs.GUEST_RESULTS}/features.json", wrap)
        script = guest_script(k.label, argv, probes, env, extra_env=extra_env, cache=True)
    (results / "run.sh").write_text(script)
    if not guest.stopping():  # after a signal, boot() boots nothing: say only what happens
        log(f"{label}: booting {k.release} ({share})")
    retried = []
    for attempt in range(args.boot_retries + 1):
        g = guest.boot(k.vmlinuz, initrd, results, share, boot_timeout=args.boot_timeout,
                       run_timeout=args.timeout, virtiofsd=vfsd, echo=args.console,
                       memory_mb=args.memory, cpus=args.cpus, accel=args.accel, append=env.cmdline,
                       disks=disks, arch=k.arch)
        if g.status not in ("boot-failed", "boot-timeout") or attempt == args.boot_retries or guest.stopping():
            break
        # The guest never reached /init: nothing of the tests ran, so booting again is safe.
        log(f"{label}: {g.status} ({g.detail[:200]}); booting again")
        retried.append(g.status)
        for name in ("console.log", "output.txt", "exit_code"):
            old = results / name
            if old.exists():
                old.rename(results / f"{name}.attempt{attempt + 1}")
    for disk in disks:  # sparse, but a guest that wrote much leaves large files: not kept
        disk.unlink(missing_ok=True)
    keep_cache(results / SEED, store)
    col.status, col.exit_code, col.detail = g.status, g.exit_code, g.detail
    if retried:
        col.detail = (col.detail + f" (after {len(retried)} failed boot(s): "
                      f"{', '.join(retried)})").strip()
    col.boot_seconds, col.run_seconds = g.boot_seconds, g.run_seconds
    if g.status == "done" and g.exit_code == envs.UNAVAILABLE and not env.plain:
        col.status = "env-unavailable"
        out = results / "output.txt"
        text = out.read_text(errors="replace") if out.exists() else ""
        col.detail = "; ".join(ln.strip() for ln in text.splitlines() if "matrix-env" in ln) or \
            f"run.sh exited {envs.UNAVAILABLE} (see output.txt)"
    _read_results(col, results)
    return col


def scratch_disks(results: Path, sizes_mib: Sequence[int]) -> list[Path]:
    """Sparse raw image files of the given sizes in ``results``: the guest's /dev/vda, /dev/vdb, ..."""
    paths = []
    for i, size in enumerate(sizes_mib):
        path = results / f"scratch{i}.img"
        with open(path, "wb") as f:
            f.truncate(size << 20)
        paths.append(path)
    return paths


def _read_results(col: report.Column, results: Path) -> None:
    feats = results / "features.json"
    if feats.exists():
        try:
            col.features = json.loads(feats.read_text())
        except ValueError as exc:
            col.detail = (col.detail + f"; features.json: {exc}").lstrip("; ")
    junit = results / "junit.xml"
    if junit.exists():
        try:
            col.tests = report.parse_junit(junit.read_bytes())
        except ValueError as exc:
            col.detail = (col.detail + f"; {exc}").lstrip("; ")
    out = results / "output.txt"
    if col.status in ("run-timeout", "crashed") and out.exists():
        text = out.read_text(errors="replace")
        if not col.tests:
            col.tests = report.parse_verbose(text)
        hung = report.last_unfinished_test(text)
        if hung:
            col.detail += f"; in test {hung}"
            why = "timeout" if col.status == "run-timeout" else "guest crashed"
            col.tests[report.nodeid_to_case(hung)] = report.Outcome(report.ERROR,
                                                                    f"{why} in this test")


def run_host(base: list[str], extra: Sequence[str], results: Path,
             timeout: float) -> report.Column:
    """The host column: the same selection, run directly."""
    col = report.Column(HOST, os.uname().release)
    if results.exists():
        shutil.rmtree(results)
    results.mkdir(parents=True)
    argv = _pytest_args(base, str(results / "junit.xml"), extra)
    env = dict(os.environ, **pytest_env(), BPFKIT_MATRIX_KERNEL=HOST)
    log(f"host: running {shlex.join(argv)}")
    subprocess.run(features_argv(base[0], str(results / "features.json")), shell=True, cwd=REPO, env=env,
                   check=False, timeout=300)
    start = time.monotonic()
    with open(results / "output.txt", "w") as out:
        proc = guest.track(subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL))
        try:
            col.exit_code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            col.status, col.detail = "run-timeout", f"still running after {timeout:.0f} s"
        finally:
            guest.stop(proc)
    col.run_seconds = time.monotonic() - start
    _read_results(col, results)
    return col


def command_report(columns: Sequence[report.Column], runs: Path) -> int:
    """Print how the ``--command`` run went in each guest; 0 when every guest ran it and it exited 0."""
    status = 0
    for col in columns:
        print(f"{col.label:6} {col.release or '':28} {col.status}, exit {col.exit_code}, "
              f"run {_fmt(col.run_seconds)}; output in {runs / col.label / 'output.txt'} {col.detail}".rstrip())
        if col.status != "done" or col.exit_code != 0:
            status = 1
    return status


def default_jobs() -> int:
    """Guests booted at once: one per host CPU (a TCG guest runs its vCPUs on one host thread)."""
    return max(1, len(os.sched_getaffinity(0)))


def _fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options before '--', pytest's after."""
    argv = list(argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog="matrix/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", action="append", default=[], metavar="X",
                    help="run only this kernel (repeatable): 5.10, 6.1, 6.12, 7.x (or 7.2), 6.1-arm64, "
                         "6.12-arm64, host, or SERIES@SUITE such as 6.12@bookworm-backports (SERIES-arm64@SUITE "
                         "for arm64)")
    ap.add_argument("--env", action="append", default=[], metavar="ENV",
                    help="host environment to run the tests in (repeatable, or comma-separated): "
                         + "; ".join(f"{e.name}: {e.about}" for e in envs.ENVS)
                         + f"; {envs.ALL}: every one but {envs.PLAIN}. Without --kernel they run on "
                         + f"{' and '.join(ENV_KERNELS)}. Default: {envs.PLAIN} on every kernel and every "
                         + f"other environment on {' and '.join(ENV_KERNELS)}; with --kernel or --quick, {envs.PLAIN}")
    ap.add_argument("--quick", action="store_true",
                    help=f"one kernel (default the newest) and a small subset: the tests "
                         f"marked 'kernel and quick', else the first {QUICK_TESTS}")
    ap.add_argument("--list", action="store_true",
                    help="show the kernels (resolved, cached) and the selected tests; boot nothing")
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds a guest (or the host) may run its tests (default 1800)")
    ap.add_argument("--test-timeout", type=float, default=None,
                    help="seconds one test may run in a guest (pytest-timeout; default 600, 2400 in an arm64 "
                         "guest; the host keeps the project's 120)")
    ap.add_argument("--boot-timeout", type=float, default=120.0,
                    help="seconds from QEMU start to the guest's /init being ready (default 120)")
    ap.add_argument("--share", choices=("auto", "virtiofs", "9p"), default="auto",
                    help="how the guest sees the host's root (auto: virtiofs if available)")
    ap.add_argument("--python", default=None,
                    help="the interpreter with pytest (default: the repo's .venv/bin/python)")
    ap.add_argument("--marker", default="kernel", help="pytest -m expression (default kernel)")
    ap.add_argument("--plugins", default="pytest_timeout,_hypothesis_pytestplugin",
                    help="comma-separated pytest plugins to load by name (autoload is off)")
    ap.add_argument("--no-host", action="store_true", help="leave out the host column")
    ap.add_argument("--boot-retries", type=int, default=1,
                    help="boot a guest again when it failed before /init ran (default 1)")
    ap.add_argument("--accel", default=guest.DEFAULT_ACCEL,
                    help=f"QEMU -accel value (default {guest.DEFAULT_ACCEL}; "
                         f"tcg,thread=multi runs vCPUs in parallel)")
    ap.add_argument("--memory", type=int, default=2048, help="guest memory in MiB")
    ap.add_argument("--cpus", type=int, default=2, help="guest CPUs")
    ap.add_argument("--jobs", type=int, default=0,
                    help="guests run at once (default: one per host CPU, since TCG runs each guest's "
                         "vCPUs on one host thread)")
    ap.add_argument("--disk", action="append", type=int, default=[], metavar="MIB",
                    help="give each guest a scratch virtio disk of MIB MiB (repeatable: /dev/vda, /dev/vdb, ...), "
                         "a sparse file in its results directory, deleted after the run")
    ap.add_argument("--modules", type=lambda v: [m for m in v.split(",") if m], default=[], metavar="A,B",
                    help="more kernel modules to load at boot when the kernel has them (e.g. ext4,xfs,btrfs)")
    ap.add_argument("--console", action="store_true", help="echo the guests' serial consoles")
    ap.add_argument("--out", type=Path, default=HERE / "results.json",
                    help="JSON results (default matrix/results.json)")
    ap.add_argument("--command", default=None, metavar="CMD",
                    help="run this shell command in each guest (in the checkout) instead of the feature "
                         "probes and pytest; $BPFKIT_MATRIX_RESULTS is the writable results share, "
                         "$BPFKIT_MATRIX_HOST_TMP the host's /tmp; no host column")
    ap.add_argument("--markdown", type=Path, default=None,
                    help="Markdown feature table (default: matrix/kernel-matrix.md, written by full runs only)")
    ap.add_argument("--env-markdown", type=Path, default=None,
                    help="Markdown table of the host environments (default: matrix/env-matrix.md, written by "
                         "runs of every environment on 6.12 and 7.x with the whole selection only)")
    ap.add_argument("--from-results", type=Path, nargs="+", metavar="JSON", default=None,
                    help="boot nothing: write env-matrix.md (or --env-markdown) from the --out files of earlier "
                         "runs, e.g. one guest each run one after another on a busy machine; from runs of "
                         "the arm64 kernels alone (whole selection), arm64-matrix.md")
    return ap.parse_args(argv), extra


def choose_kernels(args: argparse.Namespace) -> tuple[list[debian.KernelSpec], bool]:
    """The guest kernels to boot and whether the host column runs."""
    if args.command is not None:
        guests: list[debian.KernelSpec] = []
        for name in args.kernel:
            spec = debian.parse_kernel_arg(name) if name != HOST else None
            if spec is not None and spec not in guests:
                guests.append(spec)
        if not guests:
            raise ValueError("--command needs at least one guest kernel (--kernel X; not 'host')")
        return guests, False
    if not args.kernel:
        if args.quick:  # the newest kernel of the host's architecture (--kernel 6.12-arm64 picks another)
            return [[s for s in debian.DEFAULT_KERNELS if s.arch == "amd64"][-1]], False
        if args.env and envs.parse_env_args(args.env) != [envs.BY_NAME[envs.PLAIN]]:
            return [s for s in debian.DEFAULT_KERNELS if s.label in ENV_KERNELS], False
        return list(debian.DEFAULT_KERNELS), not args.no_host
    specs: list[debian.KernelSpec] = []
    host = False
    for name in args.kernel:
        if name == HOST:
            host = True
            continue
        spec = debian.parse_kernel_arg(name)
        if spec not in specs:
            specs.append(spec)
    return specs, host


def choose_runs(args: argparse.Namespace, specs: Sequence[debian.KernelSpec]) -> list[tuple[debian.KernelSpec, envs.Env]]:
    """The guests to boot: (kernel, environment) pairs, kernel by kernel."""
    plain = envs.BY_NAME[envs.PLAIN]
    if args.env:
        chosen = envs.parse_env_args(args.env)
        return [(s, e) for s in specs for e in chosen]
    if args.kernel or args.quick:
        return [(s, plain) for s in specs]
    others = [e for e in envs.ENVS if not e.plain]
    return [(s, e) for s in specs for e in ([plain, *others] if s.label in ENV_KERNELS else [plain])]


def markdown_outputs(args: argparse.Namespace, extra: Sequence[str],
                     runs: Sequence[tuple[debian.KernelSpec, envs.Env]], with_host: bool) -> dict[str, Path]:
    """Which committed tables this run may rewrite: each only when the run is full for it
    (every kernel or environment of that table, the whole selection)."""
    out: dict[str, Path] = {}
    if args.quick or extra or args.marker != "kernel":
        return out
    done = {(s.label, e.name) for s, e in runs}
    if with_host and all((s.label, envs.PLAIN) in done for s in debian.DEFAULT_KERNELS):
        out["kernels"] = HERE / "kernel-matrix.md"
    if all((s.label, envs.PLAIN) in done for s in debian.DEFAULT_KERNELS if s.arch == "arm64"):
        out["arm64"] = HERE / "arm64-matrix.md"  # the arm64 columns alone (make matrix-arm64)
    if all((k, e.name) in done for k in ENV_KERNELS for e in envs.ENVS if not e.plain):
        out["envs"] = HERE / "env-matrix.md"
    return out


def assemble(results: Sequence[Path], target: Path | None) -> int:
    """env-matrix.md from the JSON results of several runs (their host-environment columns, in
    kernel-then-environment order); refused unless they cover every environment on 6.12 and 7.x
    with one selection, or ``target`` names another file. Results that hold every arm64 kernel's
    plain column (run one guest at a time) write arm64-matrix.md instead."""
    columns: dict[str, report.Column] = {}
    arm64: dict[str, report.Column] = {}
    arm64_labels = [s.label for s in debian.DEFAULT_KERNELS if s.arch == "arm64"]
    selections, dates = set(), set()
    for path in results:
        doc = json.loads(path.read_text())
        _, k, rest = doc["pytest"].partition(" -k ")  # the base command is the same in every run
        selections.add(f"-k {rest}" if k else "")
        dates.add(doc["generated"][:10])
        for d in doc["kernels"]:
            col = report.Column.from_json(d)
            col.commit = col.commit or doc.get("commit", "")
            if col.env != envs.PLAIN:
                columns[col.label] = col  # a later file's column replaces an earlier one's
            elif col.label in arm64_labels:
                arm64[col.label] = col
    if arm64 and not columns:
        missing_arm = [label for label in arm64_labels if label not in arm64]
        if len(selections) != 1 or selections != {""} or missing_arm:
            log(f"the results do not make the arm64 table: selections {sorted(selections)}; missing {missing_arm}")
            return 2
        out = target or HERE / "arm64-matrix.md"
        out.write_text(report.render_markdown([arm64[label] for label in arm64_labels]))
        log(f"wrote {out}; copy its tables into README.md with python3 matrix/readme_table.py")
        return 0
    order = {envs.column_label(k, e): i for i, (k, e) in
             enumerate((k, e) for k in reversed(ENV_KERNELS) for e in envs.ENVS if not e.plain)}
    missing = [label for label in order if label not in columns]
    if len(selections) != 1 or (missing and target is None):
        log(f"the results do not make one full table: selections {sorted(selections)}; missing columns "
            f"{missing} (name --env-markdown to write them anyway)")
        return 2
    cols = sorted(columns.values(), key=lambda c: order.get(c.label, len(order)))
    ran = {t for c in cols for t in c.tests}
    selection = selections.pop()
    note = (f"Written from {len(results)} runs of {len(ran)} tests "
            f"(`pytest -m kernel {selection}`) on {', '.join(sorted(dates))}"
            + (f"; not run: {', '.join(missing)}" if missing else "") + ".")
    out = target or HERE / "env-matrix.md"
    out.write_text(report.render_env_markdown(cols, {e.name: e.about for e in envs.ENVS}, note=note))
    log(f"wrote {out}; copy its tables into README.md with python3 matrix/readme_table.py")
    return 0


def _on_signal(signum: int, _frame: object) -> None:
    """SIGTERM, SIGHUP or SIGINT: stop every guest (QEMU, virtiofsd) and the host's pytest first, so none
    outlives the driver, then unwind (the threads booting them return as their guests end)."""
    signal.signal(signum, signal.SIG_DFL)  # a second signal ends the driver at once
    n = guest.stop_all()
    log(f"{signal.Signals(signum).name}: stopped {n} guest process(es); exiting")
    raise SystemExit(128 + signum)


def main(argv: Sequence[str]) -> int:
    """Entry point; returns the exit status."""
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _on_signal)
    args, extra = parse_args(argv)
    if args.from_results:
        return assemble(args.from_results, args.env_markdown)
    try:
        specs, with_host = choose_kernels(args)
        pairs = choose_runs(args, specs)
    except ValueError as exc:
        log(str(exc))
        return 2
    python = args.python or str(REPO / ".venv/bin/python")
    if not os.access(python, os.X_OK):
        log(f"no interpreter at {python} (create the venv, e.g. `make test`, or use --python)")
        return 2
    plugins = importable_plugins(python, [p for p in args.plugins.split(",") if p])
    base = pytest_base(python, args.marker, plugins)
    try:
        tests = collect(base, extra) if args.command is None else [f"command: {args.command}"]
        if args.quick:
            quick = collect(pytest_base(python, f"({args.marker}) and quick", plugins), extra)
            if not quick:
                quick = tests[:QUICK_TESTS]
            # name the chosen tests; path arguments would widen the selection again
            extra = [*[e for e in extra if e.startswith("-")], *quick]
            tests = quick
        if not tests:
            log(f"no tests selected by -m {args.marker!r} {shlex.join(extra)}")
            return 2
        if specs and not args.list:
            ensure_host_packages(sorted({s.arch for s in specs}))
    except SetupError as exc:
        log(str(exc))
        return 2

    root = cache.cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / "lock", "w")  # noqa: SIM115 - held until the process exits
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another matrix run is using {root}")
        return 2
    except OSError as exc:
        log(f"cannot use the cache {root}: {exc} (set BPFKIT_MATRIX_CACHE)")
        return 2
    c = cache.Cache(root, log)
    kernels: list[cache.Kernel] = []
    columns: list[report.Column] = []
    if specs:
        c.update({s.suite for s in specs} | {"trixie"} | ({userland.SUITE} if any(s.arch != "amd64" for s in specs)
                                                          else set()), {s.arch for s in specs})
        for spec in specs:
            try:
                kernels.append(c.kernel(spec))
            except (LookupError, OSError, subprocess.SubprocessError) as exc:
                columns += [report.Column(envs.column_label(spec.label, e), status="not-run", env=e.name,
                                          detail=f"no kernel: {exc}") for s, e in pairs if s == spec]
    lands: dict[str, tuple[userland.Userland, Path]] = {}  # Debian architecture -> userland, busybox
    for arch in sorted({k.arch for k in kernels} - {"amd64"}):
        builder = userland.Builder(root, c.apts.get(arch), c.online, log)
        try:
            lands[arch] = (builder.userland(arch, python), builder.busybox(arch))
        except (LookupError, OSError, subprocess.SubprocessError, debian.AptError) as exc:
            for k in [k for k in kernels if k.arch == arch]:
                kernels.remove(k)
                columns += [report.Column(envs.column_label(s.label, e), k.release, status="not-run", env=e.name,
                                          detail=f"no {arch} userland: {exc}") for s, e in pairs if s.label == k.label]
    by_label = {k.label: k for k in kernels}
    guests = [(by_label[s.label], e) for s, e in pairs if s.label in by_label]

    if args.list:
        for k in kernels:
            print(f"kernel {k.label:6} {k.release:28} {k.vmlinuz}")
            print(f"  environments: {', '.join(e.name for kk, e in guests if kk is k)}")
        for col in columns:
            print(f"kernel {col.label:6} {col.detail}")
        if with_host:
            print(f"kernel {HOST:6} {os.uname().release}")
        print(f"{len(tests)} tests selected by -m {args.marker!r}:")
        for t in tests:
            print(f"  {t}")
        return 0

    share = args.share
    vfsd: guest.VirtiofsD | None = None
    if kernels and share in ("auto", "virtiofs"):
        vfsd = guest.find_virtiofsd(c.virtiofsd_bundle())
        if vfsd is None:
            if share == "virtiofs":
                log("virtiofsd is not available")
                return 2
            log("virtiofsd is not available; sharing the root over 9p (slower)")
        share = "virtiofs" if vfsd else "9p"

    runs = root / "runs" / "last"
    wall = time.monotonic()
    commit = repo_commit()  # before the guests start: what they read
    jobs = max(1, min(args.jobs or default_jobs(), len(guests) or 1))
    if len(guests) > 1:
        log(f"{len(guests)} guests, {jobs} at a time")

    wheels = ensure_wheelhouse(root, python) if guests else None

    def one(item: tuple[cache.Kernel, envs.Env]) -> report.Column:
        k, env = item
        col = run_guest(k, env, c, share, vfsd, base, extra, runs / envs.dir_name(envs.column_label(k.label, env)),
                        args, lands.get(k.arch), wheels)
        log(f"{col.label}: {col.status}, exit {col.exit_code}, boot "
            f"{_fmt(col.boot_seconds)}, tests {_fmt(col.run_seconds)}")
        return col

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        columns.extend(pool.map(one, guests))
    if with_host:
        columns.append(run_host(base, extra, runs / HOST, args.timeout))
    order = {envs.column_label(s.label, e): i for i, (s, e) in enumerate(pairs)}
    columns.sort(key=lambda col: order.get(col.label, len(order)))

    for col in columns:
        col.commit = commit
    if args.command is not None:
        return command_report(columns, runs)
    print(report.render_text(columns), end="")
    fails = report.failures(columns)
    doc = {"generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": commit, "share": share,
           "pytest": shlex.join([*base, *extra]), "wall_seconds": time.monotonic() - wall,
           "kernels": [col.to_json() for col in columns],
           "failures": [str(f) for f in fails]}
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    written = []
    if args.markdown is not None:
        args.markdown.write_text(report.render_markdown(columns))
        written.append(args.markdown)
    else:  # the committed tables come from runs that are full for them only
        targets = markdown_outputs(args, extra, pairs, with_host)
        if "kernels" in targets:
            targets["kernels"].write_text(report.render_markdown(
                [col for col in columns if col.env == envs.PLAIN]))
            written.append(targets["kernels"])
        if "arm64" in targets:
            arm64 = {s.label for s in debian.DEFAULT_KERNELS if s.arch == "arm64"}
            targets["arm64"].write_text(report.render_markdown(
                [col for col in columns if col.env == envs.PLAIN and col.label in arm64]))
            written.append(targets["arm64"])
            log("copy its tables into README.md with python3 matrix/readme_table.py")
        if args.env_markdown is not None:
            targets["envs"] = args.env_markdown
        if "envs" in targets:
            selection = f"`pytest -m {args.marker} {shlex.join(extra)}`".replace(" `", "`")
            targets["envs"].write_text(report.render_env_markdown(
                [col for col in columns if col.env != envs.PLAIN], {e.name: e.about for e in envs.ENVS},
                note=f"Written by a run of {len(tests)} tests ({selection}) on {time.strftime('%Y-%m-%d')}."))
            written.append(targets["envs"])
            log("copy its tables into README.md with python3 matrix/readme_table.py")
    if written:
        log(f"wrote {args.out} and {', '.join(map(str, written))}; guest logs in {runs}")
    else:
        log(f"wrote {args.out} (a partial run: kernel-matrix.md, arm64-matrix.md and env-matrix.md left as they are); "
            f"guest logs in {runs}")
    if fails:
        print(f"\nFAILED ({len(fails)}):")
        for f in fails:
            print(f"  {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
