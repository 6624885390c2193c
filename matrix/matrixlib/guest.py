"""Boot one kernel under QEMU (TCG) and run a command in a chroot of the host's root."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from . import initramfs

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc")

# One host thread runs all vCPUs in turn. With thread=multi a 6.12 guest once hit an int3
# Oops in boot-time code patching (a vCPU running a stale int3 of text_poke_bp), and on
# this 2-core host multi was no faster: the tests are single-threaded Python.
DEFAULT_ACCEL = "tcg,thread=single"


@dataclasses.dataclass
class GuestResult:
    """What happened to one guest: its state, exit code and timings."""

    status: str  # "done", "boot-timeout", "run-timeout", "boot-failed", "crashed"
    exit_code: int | None
    boot_seconds: float | None
    run_seconds: float | None
    detail: str = ""


@dataclasses.dataclass
class VirtiofsD:
    """How to start virtiofsd: the command prefix (a loader and library path when bundled)."""

    argv: list[str]


@dataclasses.dataclass(frozen=True)
class Machine:
    """How QEMU emulates one guest architecture: the program, machine and CPU options, the serial console."""

    qemu: str
    machine: tuple[str, ...]
    console: str


# Debian architecture -> machine. arm64: QEMU's 'virt' board (PCI, so the same virtio-pci devices) with
# the newest CPU model; pauth-impdef: an implementation-defined pointer-authentication hash, much faster
# under TCG than the architected QARMA one (the kernel signs every return address).
MACHINES = {
    "amd64": Machine("qemu-system-x86_64", ("-cpu", "max"), "ttyS0"),
    "arm64": Machine("qemu-system-aarch64", ("-M", "virt", "-cpu", "max,pauth-impdef=on"), "ttyAMA0"),
}


HIDE_HOST_SYS = 'mount -t tmpfs -o ro,mode=0755,size=4k matrix-no-host-sys /sys && exec "$@"'
"""Run by virtiofsd's wrapper in a private mount namespace: the host's /sys (tracefs, debugfs, bpffs,
securityfs ...) becomes an empty read-only directory there. The guest mounts its own sysfs, tracefs and
bpffs over the shared root; without this, any path walk that reached the share's /sys (a mount the guest
took away, a process outside the mounts it was given) would read the host's: trace_pipe has one reader,
and a guest holding the host's would make the host's tests fail with EBUSY."""


def virtiofsd_command(v: VirtiofsD, socket: Path) -> list[str]:
    """virtiofsd sharing the host's root read-only, minus the host's /sys (:data:`HIDE_HOST_SYS`). /proc
    stays: virtiofsd works through /proc/self/fd, and the guest's own proc covers it."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", HIDE_HOST_SYS, "virtiofsd",
            *v.argv, f"--socket-path={socket}", "--shared-dir=/", "--readonly", "--sandbox=none",
            "--seccomp=none", "--cache=always", "--announce-submounts", "--thread-pool-size=8"]


def qemu_command(kernel: Path, initrd: Path, results: Path, share: str, *,
                 memory_mb: int = 2048, cpus: int = 2, socket: Path | None = None,
                 append: str = "", accel: str = DEFAULT_ACCEL, disks: Sequence[Path] = (),
                 arch: str = "amd64") -> list[str]:
    """The QEMU command line for one guest of Debian architecture ``arch`` (TCG, no host network).

    ``disks`` are raw image files given to the guest as virtio disks (/dev/vda, /dev/vdb, ...).
    """
    def opt(path: Path) -> str:  # QEMU option values escape ',' as ',,'
        return str(path).replace(",", ",,")

    m = MACHINES[arch]
    p9 = "security_model=passthrough"
    cmd = [
        m.qemu, "-accel", accel, *m.machine,
        "-smp", str(cpus), "-m", f"{memory_mb}M", "-nographic", "-no-reboot",
        "-nic", "none", "-monitor", "none", "-serial", "stdio", "-display", "none",
        "-kernel", str(kernel), "-initrd", str(initrd),
        # lsm=bpf: Debian's kernels build the BPF LSM but do not enable it; lsm programs need it
        "-append", (f"console={m.console} panic=-1 loglevel=4 mitigations=off lsm=bpf "
                    "rdinit=/init " + append).strip(),
        "-virtfs", f"local,path={opt(results)},mount_tag=results,{p9}",
    ]
    for disk in disks:  # scratch disks: the guest may write anything, so no host cache to keep consistent
        cmd += ["-drive", f"file={opt(disk)},if=virtio,format=raw,cache=unsafe"]
    if share == "virtiofs":
        if socket is None:
            raise ValueError("virtiofs needs a socket path")
        cmd += [
            "-object", f"memory-backend-memfd,id=mem,size={memory_mb}M,share=on",
            "-numa", "node,memdev=mem",
            "-chardev", f"socket,id=vfs,path={opt(socket)}",
            "-device", "vhost-user-fs-pci,queue-size=1024,chardev=vfs,tag=hostroot",
        ]
    elif share == "9p":
        cmd += ["-virtfs", f"local,path=/,mount_tag=hostroot,{p9},readonly=on,multidevs=remap"]
    else:
        raise ValueError(f"unknown share {share!r}")
    return cmd


_LIVE: set[subprocess.Popen[bytes]] = set()  # every QEMU and virtiofsd this process started and has not stopped
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set by stop_all: no guest boots any more


def track(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """Remember ``proc`` until it is stopped, for :func:`stop_all` (which it missed if it started after)."""
    with _LIVE_LOCK:
        _LIVE.add(proc)
    if _STOPPING.is_set():
        stop(proc)
    return proc


def stopping() -> bool:
    """Whether :func:`stop_all` ran: callers boot and retry nothing more."""
    return _STOPPING.is_set()


def stop_all() -> int:
    """Stop every guest and helper still running (a signal ends the driver: no QEMU may outlive it);
    returns how many were running. The threads that boot them then see their guest gone and return."""
    _STOPPING.set()
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        stop(proc)
    return len(procs)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` (kill it after 5 s) and forget it."""
    with _LIVE_LOCK:
        _LIVE.discard(proc)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def boot(kernel: Path, initrd: Path, results: Path, share: str, *, boot_timeout: float,
         run_timeout: float, virtiofsd: VirtiofsD | None = None, echo: bool = False,
         memory_mb: int = 2048, cpus: int = 2, accel: str = DEFAULT_ACCEL, append: str = "",
         disks: Sequence[Path] = (), arch: str = "amd64") -> GuestResult:
    """Boot, wait for the /init markers, enforce both timeouts, and collect the exit code.

    results/ must already hold run.sh; the guest leaves output.txt and exit_code there,
    and the serial console goes to results/console.log. ``append`` is added to the kernel
    command line (e.g. lockdown=integrity); ``disks`` become the guest's virtio disks.
    """
    if stopping():
        return GuestResult("boot-failed", None, None, None, "not booted: the driver was stopped by a signal")
    console_path = results / "console.log"
    helpers: list[subprocess.Popen[bytes]] = []
    socket = results.parent / f".{results.name}.vfs.sock"
    try:
        if share == "virtiofs":
            if virtiofsd is None:
                raise ValueError("share 'virtiofs' needs a virtiofsd")
            socket.unlink(missing_ok=True)
            vlog = open(results / "virtiofsd.log", "wb")  # noqa: SIM115 - closed with proc
            helpers.append(track(subprocess.Popen(virtiofsd_command(virtiofsd, socket),
                                                     stdout=vlog, stderr=subprocess.STDOUT,
                                                     stdin=subprocess.DEVNULL)))
            vlog.close()
            deadline = time.monotonic() + 10
            while not socket.exists():
                if helpers[0].poll() is not None or time.monotonic() > deadline:
                    log = (results / "virtiofsd.log").read_text(errors="replace").strip()
                    return GuestResult("boot-failed", None, None, None,
                                       f"virtiofsd did not start: {log[-300:]}")
                time.sleep(0.05)
        cmd = qemu_command(kernel, initrd, results, share, socket=socket,
                           memory_mb=memory_mb, cpus=cpus, accel=accel, append=append, disks=disks,
                           arch=arch)
        (results / "qemu.cmd").write_text(" ".join(cmd) + "\n")
        start = time.monotonic()
        proc = track(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL))
        booted = threading.Event()
        marks: dict[str, str] = {}

        def reader() -> None:
            assert proc.stdout is not None
            with open(console_path, "w") as log:
                for raw in iter(proc.stdout.readline, b""):
                    line = _ANSI.sub("", raw.decode(errors="replace")).rstrip("\r\n")
                    log.write(line + "\n")
                    log.flush()
                    if echo:
                        print(f"    | {line}", flush=True)
                    for mark in (initramfs.BOOTED, initramfs.DONE, initramfs.ERROR):
                        at = line.find(mark)
                        if at >= 0:
                            marks[mark] = line[at + len(mark):].strip()
                            if mark == initramfs.BOOTED:
                                booted.set()

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        boot_s: float | None = None
        try:
            while not booted.is_set():
                if proc.poll() is not None:
                    break
                if time.monotonic() - start > boot_timeout:
                    stop(proc)
                    t.join(5)
                    return GuestResult("boot-timeout", None, None, None,
                                       f"no {initramfs.BOOTED} within {boot_timeout:.0f} s; "
                                       f"{_tail(console_path)}")
                booted.wait(0.2)
            if booted.is_set():
                boot_s = time.monotonic() - start
            run_start = time.monotonic()
            try:
                proc.wait(max(run_timeout, 0.0) if booted.is_set() else 5)
            except subprocess.TimeoutExpired:
                stop(proc)
                t.join(5)
                return GuestResult("run-timeout", None, boot_s, time.monotonic() - run_start,
                                   f"still running after {run_timeout:.0f} s")
            t.join(5)
        finally:
            stop(proc)
        run_s = time.monotonic() - run_start if boot_s is not None else None
        if initramfs.ERROR in marks:
            return GuestResult("boot-failed", None, boot_s, None,
                               f"/init: {marks[initramfs.ERROR]}")
        if boot_s is None:
            return GuestResult("boot-failed", None, None, None,
                               f"QEMU exited ({proc.returncode}) before /init ran; "
                               f"{_tail(console_path)}")
        code_file = results / "exit_code"
        if initramfs.DONE not in marks or not code_file.exists():
            return GuestResult("crashed", None, boot_s, run_s,
                               f"the guest stopped before the command finished; "
                               f"{_tail(console_path)}")
        return GuestResult("done", int(code_file.read_text().strip() or "-1"), boot_s, run_s)
    finally:
        for h in helpers:
            stop(h)
        socket.unlink(missing_ok=True)


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no console output"
    return "console: " + " | ".join(lines[-n:]) if lines else "no console output"


def find_virtiofsd(bundle: Path | None) -> VirtiofsD | None:
    """virtiofsd from the system, or from a bundle unpacked with its own libc, or None."""
    for cand in ("/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"):
        if os.access(cand, os.X_OK) and _works([cand]):
            return VirtiofsD([cand])
    found = shutil.which("virtiofsd")
    if found and _works([found]):
        return VirtiofsD([found])
    if bundle is not None:
        loader = bundle / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
        binary = bundle / "usr/libexec/virtiofsd"
        if loader.exists() and binary.exists():
            libs = ":".join(str(bundle / d) for d in ("usr/lib/x86_64-linux-gnu",
                                                      "lib/x86_64-linux-gnu"))
            argv = [str(loader), "--library-path", libs, str(binary)]
            if _works(argv):
                return VirtiofsD(argv)
    return None


def _works(argv: Sequence[str]) -> bool:
    """Whether argv runs the Rust virtiofsd ('virtiofsd 1.x'); QEMU's old C one differs."""
    try:
        proc = subprocess.run([*argv, "--version"], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and re.match(r"virtiofsd \d", proc.stdout) is not None
