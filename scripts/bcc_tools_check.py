#!/usr/bin/env python3
"""Run BCC's own tools (tools/*.py of a BCC source tree) on bpfkit.bcc and classify each run.

Usage: bcc_tools_check.py --bcc-src DIR [--out FILE] [--only a,b] [--seconds 8] [--jobs N]

Every tool runs as ``python -m bpfkit.bcc tools/X.py ARGS`` (arguments from TOOLS below) while a
background process makes activity the tools can see (execs, file opens/writes/fsyncs on a disk
file, stats, TCP and UDP on loopback, fd passing, threads, getaddrinfo, sleeps, signals, syncs).
After ``--seconds`` of tracing the tool gets Ctrl-C (SIGINT) and is classified:

  data      it ran and printed data (a line with a number beyond its banner and headers)
  no-data   it ran and printed no data (this machine lacks the activity, hardware or daemon)
  refusal   it stopped with one clear line naming what the kernel lacks (bpfkit's NotSupportedError)
  crash     a traceback or an error that does not say which kernel feature is missing

The script fetches nothing: it is given a BCC tree.  It writes a markdown table with the BCC commit
(``--bcc-commit``, else ``git rev-parse`` of the tree) and the counts per class.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

CLASSES = ("data", "no-data", "refusal", "crash")

_NO_DB = r"Failed to enable USDT probe 'query__start'"  # no MySQL/PostgreSQL server with USDT probes here

# Per-tool arguments.  Placeholders: {pid} a process of the activity generator (it calls malloc, write,
# pthread mutexes), {tty} a pseudo-terminal the activity writes to, {dir} the directory it works in,
# {disk} the block device under that directory, {libc} the C library the activity has mapped.
# "tty": the tool draws with curses and needs a terminal;
# "usdt": the tool needs USDT probes; "exits": the tool prints what it found and exits by itself;
# "machine": a message of the tool saying this machine (not the kernel) cannot give it data (no such hardware,
# daemon or timing): no-data with that message; "data": a regex of the lines that are data when they have no digit.
TOOLS: dict[str, dict[str, object]] = {
    "argdist": {"args": ["-i", "2", "-H", "p:c:write(int fd, const void *buf, size_t count):size_t:count"],
                "usdt": True},
    "bashreadline": {"args": []},
    "bindsnoop": {"args": []},
    "biolatency": {"args": []},
    "biolatpcts": {"args": ["-i", "2", "{disk}"], "machine": r"No such file or directory: '/dev/"},
    "biopattern": {"args": ["2"]},
    "biosnoop": {"args": []},
    "biotop": {"args": ["-C", "2"]},
    "bitesize": {"args": []},
    "bpflist": {"args": [], "usdt": True, "exits": True},
    "btrfsdist": {"args": []},
    "btrfsslower": {"args": ["0"]},
    "cachestat": {"args": ["1"]},
    "cachetop": {"args": ["1"], "tty": True},
    "capable": {"args": []},
    "compactsnoop": {"args": []},
    "cpudist": {"args": []},
    "cpuunclaimed": {"args": ["1"], "machine": r"skewed offsets"},
    "criticalstat": {"args": []},
    "dbslower": {"args": ["mysql", "-p", "{pid}"], "usdt": True, "machine": _NO_DB},
    "dbstat": {"args": ["mysql", "-p", "{pid}"], "usdt": True, "machine": _NO_DB},
    "dcsnoop": {"args": ["-a"]},
    "dcstat": {"args": ["1"]},
    "deadlock": {"args": ["{pid}", "--binary", "{libc}"]},
    "dirtop": {"args": ["-C", "-d", "{dir}", "2"]},
    "drsnoop": {"args": []},
    "execsnoop": {"args": []},
    "exitsnoop": {"args": []},
    "ext4dist": {"args": []},
    "ext4slower": {"args": ["0"]},
    "f2fsslower": {"args": ["0"]},
    "filegone": {"args": []},
    "filelife": {"args": []},
    "fileslower": {"args": ["0"]},
    "filetop": {"args": ["-C", "2"]},
    "funccount": {"args": ["t:syscalls:sys_enter_open*"], "usdt": True},
    "funcinterval": {"args": ["c:write"]},
    "funclatency": {"args": ["c:write"]},
    "funcslower": {"args": ["-u", "1", "c:write"]},
    "gethostlatency": {"args": []},
    "hardirqs": {"args": []},
    "inject": {"args": ["kmalloc", "-v", "__x64_sys_mount()"]},
    "killsnoop": {"args": []},
    "klockstat": {"args": [], "usdt": True},
    "kvmexit": {"args": [], "machine": r"insmod kvm module"},  # a guest without KVM
    "llcstat": {"args": []},
    "mdflush": {"args": []},
    "memleak": {"args": ["2"]},
    "mountsnoop": {"args": []},
    "mptcpify": {"args": []},
    "mysqld_qslower": {"args": ["{pid}"], "usdt": True, "machine": _NO_DB},
    "netqtop": {"args": ["-n", "lo", "-i", "2"]},
    "nfsdist": {"args": []},
    "nfsslower": {"args": ["0"]},
    "numasched": {"args": []},
    "offcputime": {"args": []},
    "offwaketime": {"args": []},
    "oomkill": {"args": []},
    "opensnoop": {"args": []},
    "pidpersec": {"args": []},
    "ppchcalls": {"args": []},
    "profile": {"args": []},
    "rdmaucma": {"args": []},
    "readahead": {"args": []},
    "runqlat": {"args": []},
    "runqlen": {"args": []},
    "runqslower": {"args": ["100"]},
    "shmsnoop": {"args": []},
    "slabratetop": {"args": ["-C", "2"]},
    "sofdsnoop": {"args": []},
    "softirqs": {"args": []},
    "softirqslower": {"args": ["10"]},
    "solisten": {"args": []},
    "sslsniff": {"args": []},
    "stackcount": {"args": ["t:sched:sched_switch"], "usdt": True},
    "statsnoop": {"args": []},
    "swapin": {"args": []},
    "syncsnoop": {"args": []},
    "syscount": {"args": []},
    "tcpaccept": {"args": []},
    "tcpcong": {"args": []},
    "tcpconnect": {"args": []},
    "tcpconnlat": {"args": []},
    "tcpdrop": {"args": []},
    "tcplife": {"args": []},
    "tcpretrans": {"args": []},
    "tcprtt": {"args": []},
    "tcpstates": {"args": []},
    "tcpsubnet": {"args": []},
    "tcpsynbl": {"args": []},
    "tcptop": {"args": ["-C", "2"]},
    "tcptracer": {"args": []},
    "threadsnoop": {"args": []},
    "tplist": {"args": ["-v", "syscalls:sys_enter_openat"], "usdt": True, "exits": True, "data": r"^\w+:\w+$"},
    "trace": {"args": ['t:syscalls:sys_enter_openat "%s", args->filename'], "usdt": True},
    "ttysnoop": {"args": ["{tty}"]},
    "vfscount": {"args": []},
    "vfsstat": {"args": ["1"]},
    "virtiostat": {"args": ["1"]},
    "wakeuptime": {"args": []},
    "wqlat": {"args": []},
    "xfsdist": {"args": []},
    "xfsslower": {"args": ["0"]},
    "zfsdist": {"args": []},
    "zfsslower": {"args": ["0"]},
}

# The background activity: one Python process, forever, until killed.
ACTIVITY = r'''
import ctypes, os, socket, subprocess, sys, threading, time, array, mmap
work = sys.argv[1]
tty_fd = int(sys.argv[2])
extra_dirs = sys.argv[3:]
libc = ctypes.CDLL(None, use_errno=True)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.shmctl.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
lock = threading.Lock()
try:  # a fresh VM (the kernel matrix's guests) may have the loopback interface down
    import fcntl, struct
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ctl:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(ctl, 0x8913, req))[1]  # SIOCGIFFLAGS
        if not flags & 1:
            fcntl.ioctl(ctl, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))  # SIOCSIFFLAGS |= IFF_UP
except OSError:
    pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(64)
port = srv.getsockname()[1]
def serve():
    while True:
        c, _ = srv.accept()
        try:
            d = c.recv(65536)
            c.sendall(d * 4)
        finally:
            c.close()
threading.Thread(target=serve, daemon=True).start()
tls_port = None
try:  # a TLS echo server with a throw-away certificate (sslsniff), when openssl can make one
    import ssl
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(cert, key)
    tsrv = socket.socket(); tsrv.bind(("127.0.0.1", 0)); tsrv.listen(8); tls_port = tsrv.getsockname()[1]
    def tls_serve():
        while True:
            c, _ = tsrv.accept()
            try:
                with sctx.wrap_socket(c, server_side=True) as t:
                    t.sendall(t.recv(4096))
            except OSError:
                pass
    threading.Thread(target=tls_serve, daemon=True).start()
except (OSError, subprocess.CalledProcessError, ImportError):
    pass
def scratch(d):  # a scratch file system (--mkfs): its own thread, so that a short trace still sees its operations
    j = 0
    while True:
        j += 1
        try:
            p = os.path.join(d, f"f{j % 4}")
            with open(p, "wb") as f:
                f.write(os.urandom(32 * 1024)); f.flush(); os.fsync(f.fileno())
            with open(p, "rb") as f:
                f.read()
            q = os.path.join(d, f"tmp{j}"); open(q, "w").close(); os.unlink(q)
        except OSError:
            pass
        time.sleep(0.1)  # light: an emulated guest's CPU is shared with the main loop and the tools
for d in extra_dirs:
    threading.Thread(target=scratch, args=(d,), daemon=True).start()
import fcntl, pty as ptymod
bash_master, bash_slave = ptymod.openpty()
fcntl.fcntl(bash_master, fcntl.F_SETFL, os.O_NONBLOCK)
bash = subprocess.Popen(["/bin/bash", "--norc", "--noprofile", "-i"], stdin=bash_slave, stdout=bash_slave,
                        stderr=bash_slave)
i = 0
while True:  # one failing step (a missing program, a refusing kernel) must not stop the activity
    i += 1
    try:
        os.write(bash_master, b"true bpfkit-check %d\n" % i)
        try:
            os.read(bash_master, 65536)
        except OSError:
            pass
        subprocess.run(["/bin/true"])
        p = os.path.join(work, f"f{i % 8}")
        with open(p, "wb") as f:
            f.write(os.urandom(64 * 1024)); f.flush(); os.fsync(f.fileno())
        with open(p, "rb") as f:
            f.read()
        buf = mmap.mmap(-1, 4096)
        try:  # a direct read reaches the disk (tmpfs refuses O_DIRECT on older kernels)
            fd = os.open(p, os.O_RDONLY | getattr(os, "O_DIRECT", 0))
            try:
                os.preadv(fd, [buf], 0)
            finally:
                os.close(fd)
        except OSError:
            pass
        buf.close()
        os.stat(p); os.lstat(work)
        try:
            os.stat(os.path.join(work, "missing"))
        except OSError:
            pass
        q = os.path.join(work, f"tmp{i}"); open(q, "w").close(); time.sleep(0.01); os.unlink(q)
        c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"x" * 2000); c.recv(65536); c.close()
        if tls_port is not None and i % 5 == 0:  # openssl's client calls SSL_write/SSL_read (Python's, the _ex forms)
            subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls_port}", "-quiet"], input=b"GET bpfkit\n",
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=5, check=False)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); u.sendto(b"u", u.getsockname()); u.close()
        a, b = socket.socketpair()
        a.sendmsg([b"f"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [tty_fd]))]); b.recvmsg(1, 64)
        a.close(); b.close()
        try:
            socket.getaddrinfo("localhost", 80)
        except OSError:
            pass
        threading.Thread(target=lambda: lock.acquire() and lock.release()).start()
        for _ in range(50):
            ptr = libc.malloc(4096 + i % 7); libc.free(ptr)
        os.write(tty_fd, b"tty line %d\r\n" % i)
        os.kill(os.getpid(), 0)
        if i % 10 == 0:
            os.sync()
            mnt = os.path.join(work, "mnt"); os.makedirs(mnt, exist_ok=True)
            if libc.mount(b"none", mnt.encode(), b"tmpfs", 0, None) == 0:
                libc.umount2(mnt.encode(), 0)
            shm = libc.shmget(0, 4096, 0o1600)
            if shm >= 0:
                libc.shmctl(shm, 0, None)
        time.sleep(0.05)
    except Exception:
        time.sleep(0.05)
'''


@dataclasses.dataclass
class Run:
    """The result of one tool."""

    tool: str
    cls: str
    reason: str
    seconds: float


def _commit(src: str, given: str | None) -> str:
    if given:
        return given
    try:
        out = subprocess.run(["git", "-C", src, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


_BANNER = re.compile(r"^\s*(Tracing|Attaching|Detaching|Hit Ctrl-C|Ctrl-C|Press|Warning|WARNING|Sampling|"
                     r"Counting|Summarize|Summarizing|Tracing\.\.\.|Monitoring|Instrumenting|\^C)", re.I)
_CLOCK = re.compile(r"^\s*\[?\d\d:\d\d:\d\d\]?\s*(loadavg:.*)?$")


def data_lines(stdout: str, data_re: str | None = None) -> list[str]:
    """Lines of a tool's output that carry data: a number (or ``data_re``), not a banner, not a bare clock."""
    out = []
    for line in stdout.splitlines():
        s = line.strip()
        if not s or _BANNER.match(s) or _CLOCK.match(s):
            continue
        if re.search(r"\d", s) or (data_re is not None and re.search(data_re, s)):
            out.append(s)
    return out


_REFUSAL_TYPES = ("NotSupportedError",)
_CLEAR_WORDS = re.compile(r"are not supported|kprobe|fentry|fexit|fmod_ret|trampoline|kernel|tracepoint|BTF|perf event|hardware|"
                          r"not supported|does not (exist|have|support)|no such|lockdown|module|uprobe|USDT|"
                          r"not found|requires?|lacks?", re.I)


def _last_exception(stderr: str) -> tuple[str, str] | None:
    """(exception type, message) of the last traceback in stderr, or None."""
    # "Exception ignored in ...": Python printed and dropped an exception of a finalizer (a Ctrl-C that landed in
    # one); the tool went on, so that traceback is not how it ended
    stderr = re.sub(r"^Exception ignored in: .*\n(Traceback \(most recent call last\):\n([ \t].*\n|\n)*\S.*\n?)?", "",
                    stderr, flags=re.M)
    if "Traceback (most recent call last)" not in stderr:
        return None
    tail = stderr[stderr.rfind("Traceback (most recent call last)"):].splitlines()
    for line in reversed(tail):
        m = re.match(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)|[\w.]*Error)(:\s*(.*))?$", line)
        if m:
            return m.group(1).rsplit(".", 1)[-1], (m.group(4) or "").strip()
    return "unknown", tail[-1] if tail else ""


def classify(rc: int | None, stdout: str, stderr: str, interrupted: bool, exits: bool = False,
             data_re: str | None = None) -> tuple[str, str]:
    """(class, one-line reason) of one run (``exits``: the tool stops by itself when it has done its job)."""
    usage = re.search(r"^(usage: .*\n(.*\n)*)?\S+: error: .*$", stderr, re.M)
    if usage and not interrupted and rc == 2:
        return "crash", _one_line("bad arguments in the script's table: " + usage.group(0).splitlines()[-1])
    exc = _last_exception(stderr)
    if exc is not None and exc[0] not in ("KeyboardInterrupt", "SystemExit"):
        kind, msg = exc
        if kind in _REFUSAL_TYPES:
            return "refusal", _one_line(msg)
        return "crash", _one_line(f"{kind}: {msg}")
    lines = data_lines(stdout, data_re)
    notes = [ln for ln in stderr.splitlines() if (ln.strip() and not ln.startswith("bpfkit.bcc: ")) or
             ln.startswith("bpfkit.bcc: error: ")]
    refusals = [ln for ln in stderr.splitlines() if ln.startswith("bpfkit.bcc: error: ")]
    if refusals and not lines:  # refused, even when it was still cleaning up as its time ran out (slow guests)
        return "refusal", _one_line(refusals[-1][len("bpfkit.bcc: error: "):])
    if interrupted or (exits and rc in (0, 130, -signal.SIGINT)):
        if lines:
            return "data", f"{len(lines)} data lines"
        if rc not in (0, 130, -signal.SIGINT) and notes:
            return "crash", _one_line(notes[-1])
        return "no-data", "ran; no data" + (f" ({_one_line(notes[-1])})" if notes else "")
    tail = (notes or stdout.strip().splitlines() or [f"exit status {rc}"])[-3:]
    last = next((ln for ln in tail if _CLEAR_WORDS.search(ln)), tail[-1])
    if _CLEAR_WORDS.search(last):
        return "refusal", _one_line(last)
    return "crash", _one_line(f"exit {rc}: {last}")


def _one_line(s: str, width: int = 160) -> str:
    s = re.sub(r" \(/[^()]*\.py\)", "", " ".join(s.split())).replace("|", "\\|")  # no paths of this machine
    return s if len(s) <= width else s[: width - 3] + "..."


def run_tool(tool: str, src: str, python: str, seconds: float, subst: dict[str, str], log_dir: str,
             startup: float = 60.0, hold: Callable[[bool], None] | None = None, grace: float = 20.0) -> Run:
    """Run one tool for ``seconds`` after it is up (its first output, or ``startup`` seconds), Ctrl-C it,
    and classify what it printed. ``hold(True)``/``hold(False)`` pause and resume the activity around the start."""
    spec = TOOLS.get(tool, {"args": []})
    args = [str(a).format(**subst) for a in spec.get("args", [])]  # type: ignore[union-attr]
    cmd = [python, "-m", "bpfkit.bcc", os.path.join(src, "tools", f"{tool}.py"), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1", TERM="dumb", COLUMNS="200", LINES="50")
    out_path, err_path = os.path.join(log_dir, f"{tool}.out"), os.path.join(log_dir, f"{tool}.err")
    start = time.monotonic()
    tty_master = None
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        stdin: int | None = subprocess.DEVNULL
        stdout: int = out.fileno()
        if spec.get("tty"):
            tty_master, slave = pty.openpty()
            stdin = stdout = slave
        if hold is not None:
            hold(True)
        proc = subprocess.Popen(cmd, cwd=os.path.join(src, "tools"), stdin=stdin, stdout=stdout, stderr=err,
                                env=env, start_new_session=True)
        if tty_master is not None:
            os.close(slave)
        ready = None
        interrupted = False
        while proc.poll() is None:
            now = time.monotonic()
            if tty_master is not None:
                _drain(tty_master, out)
            if ready is None and (os.path.getsize(out_path) or os.path.getsize(err_path) or now - start > startup):
                ready = now
                if hold is not None:
                    hold(False)
            if ready is not None and now - ready >= seconds:
                interrupted = True
                _stop(proc, tty_master, out, grace)
                break
            time.sleep(0.1)
        if hold is not None:
            hold(False)
        if tty_master is not None:
            _drain(tty_master, out)
            os.close(tty_master)
    rc = proc.returncode
    with open(out_path, errors="replace") as f:
        stdout_text = f.read()
    with open(err_path, errors="replace") as f:
        stderr_text = f.read()
    data_re = spec.get("data")
    cls, reason = classify(rc, stdout_text, stderr_text, interrupted, bool(spec.get("exits")),
                           data_re if isinstance(data_re, str) else None)
    machine = spec.get("machine")
    if cls == "crash" and isinstance(machine, str) and re.search(machine, stdout_text + stderr_text):
        cls, reason = "no-data", "this machine lacks what it traces: " + reason
    return Run(tool, cls, reason, time.monotonic() - start)


def _drain(fd: int, out: object) -> None:
    import select

    while select.select([fd], [], [], 0)[0]:
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        out.write(data)  # type: ignore[attr-defined]
        out.flush()  # type: ignore[attr-defined]


def _stop(proc: subprocess.Popen[bytes], tty_master: int | None, out: object, grace: float = 20.0) -> None:
    """Ctrl-C the tool, give it time to print its summary, then kill its process group."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if tty_master is not None:
                _drain(tty_master, out)
            if proc.poll() is not None:
                return
            time.sleep(0.1)


def table(runs: Iterable[Run], commit: str, host: str) -> str:
    """The markdown report: counts per class and one row per tool."""
    runs = sorted(runs, key=lambda r: r.tool)
    counts = collections.Counter(r.cls for r in runs)
    usdt = sorted(r.tool for r in runs if TOOLS.get(r.tool, {}).get("usdt"))
    lines = [f"BCC commit: `{commit}`; host: {host}", "",
             "| class | tools |", "|---|---|"]
    lines += [f"| {c} | {counts.get(c, 0)} |" for c in CLASSES]
    lines += ["", f"Tools that need USDT support: {', '.join(usdt)}", "",
              "| tool | class | reason |", "|---|---|---|"]
    lines += [f"| {r.tool} | {r.cls} | {r.reason} |" for r in runs]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, start the activity, run the tools, print and write the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--bcc-src", required=True, help="a BCC source tree (its tools/*.py are run)")
    ap.add_argument("--out", help="write the markdown table here")
    ap.add_argument("--only", help="comma-separated tool names")
    ap.add_argument("--seconds", type=float, default=8.0, help="how long each tool traces (default 8)")
    ap.add_argument("--jobs", type=int, default=1, help="tools run at the same time (default 1)")
    ap.add_argument("--python", default=sys.executable, help="the Python that has bpfkit")
    ap.add_argument("--bcc-commit", help="the BCC commit of the tree (default: git rev-parse HEAD)")
    ap.add_argument("--logs", help="keep each tool's stdout/stderr in this directory")
    ap.add_argument("--mkfs", action="append", default=[], metavar="TYPE:DEVICE",
                    help="make a TYPE file system (ext4, xfs, btrfs, f2fs ...) on DEVICE (erasing it), mount it for "
                         "the run and make activity on it (repeatable; the first device is the disk tools' disk)")
    ap.add_argument("--md", metavar="DEV,DEV",
                    help="first make a RAID1 array /dev/md0 of these devices (mdadm; erases them), for --mkfs TYPE:/dev/md0")
    ap.add_argument("--grace", type=float, default=20.0,
                    help="seconds a tool may take to print its summary after Ctrl-C before SIGTERM (default 20; more "
                         "in an emulated guest)")
    ap.add_argument("--nfs", action="store_true",
                    help="serve a directory over NFSv4 on loopback (the kernel's nfsd, rpc.mountd) and mount it for the "
                         "run, for nfsdist and nfsslower (a machine whose root may be read-only: state on a tmpfs)")
    ap.add_argument("--startup", type=float, default=60.0,
                    help="seconds a silent tool may take to start before its tracing time counts (default 60; "
                         "more in an emulated guest)")
    a = ap.parse_args(argv)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:  # started in the background: the tools need Ctrl-C
        signal.signal(signal.SIGINT, signal.default_int_handler)
    src = os.path.abspath(a.bcc_src)
    tools_dir = os.path.join(src, "tools")
    if not os.path.isdir(tools_dir):
        ap.error(f"{tools_dir} is not a directory")
    tools = sorted(f[:-3] for f in os.listdir(tools_dir) if f.endswith(".py"))
    if a.only:
        wanted = [t.strip() for t in a.only.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in tools]
        if unknown:
            ap.error(f"not in {tools_dir}: {', '.join(unknown)}")
        tools = wanted
    # /var/tmp is on a disk (block I/O for the disk tools) where writable; a matrix guest has it read-only
    work = tempfile.mkdtemp(prefix="bcc-tools-check-", dir="/var/tmp" if os.access("/var/tmp", os.W_OK) else None)
    log_dir = a.logs or os.path.join(work, "logs")
    os.makedirs(log_dir, exist_ok=True)
    act_dir = os.path.join(work, "activity")
    os.makedirs(act_dir)
    try:
        if a.md:
            make_raid1("/dev/md0", a.md.split(","))
        mounts = [mount_scratch(spec, work) for spec in a.mkfs]
    except (ValueError, OSError, subprocess.CalledProcessError) as exc:
        ap.error(f"--mkfs: {exc}")
    nfs = NfsLoopback(work) if a.nfs else None
    if nfs is not None:
        try:
            mounts.append((nfs.start(), "nfs"))
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            print(f"warning: --nfs: no NFS mount ({exc}); nfsdist and nfsslower will see no NFS activity",
                  file=sys.stderr, flush=True)
            nfs.stop()
            nfs = None
    tty_master, tty_slave = pty.openpty()
    activity = subprocess.Popen([sys.executable, "-c", ACTIVITY, act_dir, str(tty_slave), *(m for m, _ in mounts)],
                                pass_fds=(tty_slave,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    disk = os.path.basename(mounts[0][1]) if a.mkfs else _disk_of(act_dir)
    subst = {"pid": str(activity.pid), "tty": os.ttyname(tty_slave), "dir": act_dir, "disk": disk,
             "libc": _libc_of(activity.pid)}
    runs: list[Run] = []

    def hold(stop: bool) -> None:
        """One tool at a time: the activity waits while a tool starts (compiling and loading are faster in a
        slow emulated guest), and runs while it traces."""
        try:
            os.killpg(activity.pid, signal.SIGSTOP if stop else signal.SIGCONT)
        except ProcessLookupError:
            pass

    try:
        with ThreadPoolExecutor(max(1, a.jobs)) as pool:
            for r in pool.map(lambda t: run_tool(t, src, a.python, a.seconds, subst, log_dir, a.startup,
                                                 hold=hold if a.jobs <= 1 else None, grace=a.grace), tools):
                print(f"{r.tool:16} {r.cls:8} {r.seconds:5.1f}s  {r.reason}", flush=True)
                if activity.poll() is not None:
                    print(f"warning: the background activity exited ({activity.returncode}); "
                          "later no-data rows may only mean it is gone", file=sys.stderr, flush=True)
                runs.append(r)
                while select_readable(tty_master):
                    os.read(tty_master, 65536)
    finally:
        os.killpg(activity.pid, signal.SIGKILL)
        activity.wait()
        os.close(tty_master)
        os.close(tty_slave)
        if nfs is not None:
            nfs.stop()
        for mnt, kind in mounts:
            if kind != "nfs":
                subprocess.run(["umount", mnt], check=False)
        if a.md:
            subprocess.run(["mdadm", "--stop", "/dev/md0"], check=False, capture_output=True)
        if not a.logs:
            shutil.rmtree(work, ignore_errors=True)
        else:
            shutil.rmtree(act_dir, ignore_errors=True)
    host = f"Linux {os.uname().release} {os.uname().machine}"
    report = table(runs, _commit(src, a.bcc_commit), host)
    print(report)
    if a.out:
        with open(a.out, "w") as f:
            f.write(report)
    return 0


_MKFS_FORCE = {"ext2": "-F", "ext3": "-F", "ext4": "-F", "xfs": "-f", "btrfs": "-f", "f2fs": "-f"}


def mount_scratch(spec: str, work: str) -> tuple[str, str]:
    """Make the file system of ``spec`` ('xfs:/dev/vdb') on its device and mount it under ``work``:
    (mount point, device). The modules these tools trace (ext4, xfs ...) are then loaded and in use."""
    fstype, sep, dev = spec.partition(":")
    if not sep or not fstype or not dev:
        raise ValueError(f"{spec!r} is not TYPE:DEVICE")
    mkfs = shutil.which(f"mkfs.{fstype}") or shutil.which(f"mkfs.{fstype}", path="/usr/sbin:/sbin")
    if mkfs is None:
        raise ValueError(f"no mkfs.{fstype} on this machine (install its Debian package: e2fsprogs, xfsprogs, "
                         "btrfs-progs, f2fs-tools)")
    force = [_MKFS_FORCE[fstype]] if fstype in _MKFS_FORCE else []
    subprocess.run([mkfs, *force, dev], check=True, stdout=subprocess.DEVNULL)
    mnt = os.path.join(work, f"fs-{fstype}-{os.path.basename(dev)}")
    os.makedirs(mnt)
    subprocess.run(["mount", "-t", fstype, dev, mnt], check=True)
    return mnt, dev


class NfsLoopback:
    """An NFSv4 export of a directory, served by this machine's nfsd to itself and mounted (nfsdist, nfsslower)."""

    def __init__(self, work: str) -> None:
        self.work = work
        self.export = os.path.join(work, "nfs-export")
        self.mnt = os.path.join(work, "fs-nfs")
        self.undo: list[list[str]] = []
        self.mountd: subprocess.Popen[bytes] | None = None

    def _run(self, *argv: str, timeout: float = 60) -> None:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise ValueError(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip()[-300:]}")

    def start(self) -> str:
        """Export, serve and mount; returns the mount point."""
        for prog in ("exportfs", "rpc.mountd", "rpc.nfsd", "mount.nfs4"):
            if shutil.which(prog, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
                raise ValueError(f"no {prog} (install Debian's nfs-kernel-server)")
        try:
            with open("/proc/fs/nfsd/threads") as f:
                busy = f.read().strip() not in ("", "0")
        except OSError:
            busy = False
        if busy:
            raise ValueError("an NFS server runs on this machine already: not touching it")
        os.makedirs(self.export)
        os.makedirs(self.mnt)
        self._run("mount", "-t", "tmpfs", "tmpfs", "/var/lib/nfs")  # exportfs and nfsd keep their state here
        self.undo.append(["umount", "-l", "/var/lib/nfs"])
        for state in ("etab", "rmtab"):  # exportfs reads them before it writes them
            open(os.path.join("/var/lib/nfs", state), "a").close()
        if not os.path.exists("/proc/fs/nfsd/threads"):
            self._run("mount", "-t", "nfsd", "nfsd", "/proc/fs/nfsd")
            self.undo.append(["umount", "/proc/fs/nfsd"])
        for knob in ("nfsv4gracetime", "nfsv4leasetime"):  # 90 s of grace would refuse the first opens
            try:
                with open(f"/proc/fs/nfsd/{knob}", "w") as f:
                    f.write("10")
            except OSError:
                pass
        self._run("exportfs", "-i", "-o", "rw,no_root_squash,insecure,no_subtree_check,fsid=0", f"127.0.0.1:{self.export}")
        self.undo.append(["exportfs", "-ua"])
        self.mountd = subprocess.Popen(["rpc.mountd", "-F", "-N", "2", "-N", "3", "--no-udp"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._run("rpc.nfsd", "-N", "3", "--no-udp", "4")
        self.undo.append(["rpc.nfsd", "0"])
        self._run("mount", "-t", "nfs4", "-o", "vers=4.2,soft,timeo=50", "127.0.0.1:/", self.mnt, timeout=180)
        self.undo.append(["umount", "-f", "-l", self.mnt])
        return self.mnt

    def stop(self) -> None:
        """Unmount, stop the server, and drop the state mounts (what start made, in reverse)."""
        for argv in reversed(self.undo):
            subprocess.run(argv, capture_output=True, timeout=60, check=False)
        self.undo.clear()
        if self.mountd is not None:
            self.mountd.kill()
            self.mountd.wait()
            self.mountd = None


def make_raid1(md: str, devices: list[str]) -> None:
    """Make the RAID1 array ``md`` of ``devices`` with mdadm (mdflush traces the flushes of md devices)."""
    mdadm = shutil.which("mdadm") or shutil.which("mdadm", path="/usr/sbin:/sbin")
    if mdadm is None:
        raise ValueError("no mdadm on this machine (install Debian's mdadm)")
    if len(devices) < 2:
        raise ValueError(f"a RAID1 array needs two devices, got {devices}")
    subprocess.run([mdadm, "--create", md, "--run", "--force", "--assume-clean", "--level=1",
                    f"--raid-devices={len(devices)}", *devices], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL)


def _libc_of(pid: int) -> str:
    """Path of the C library process ``pid`` maps (waits for the process to load it)."""
    for _ in range(50):
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                path = line.split()[-1]
                if re.search(r"/libc[.-][^/]*\.so|/libc\.so", path):
                    return path
        time.sleep(0.1)
    return "libc.so.6"


def _disk_of(path: str) -> str:
    """The name of the whole disk holding ``path`` (vda for /dev/vda1), or 'sda' when it cannot be told."""
    dev = os.stat(path).st_dev
    try:
        real = os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    except OSError:
        return "sda"
    if os.path.exists(os.path.join(real, "partition")):
        real = os.path.dirname(real)
    return os.path.basename(real) if os.path.exists(real) else "sda"


def select_readable(fd: int) -> bool:
    """Whether ``fd`` has data to read now."""
    import select

    return bool(select.select([fd], [], [], 0)[0])


if __name__ == "__main__":
    sys.exit(main())
