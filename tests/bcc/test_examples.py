"""The documents' BCC programs and the BCC-style tools of examples/, run as programs on the real kernel.

Each runs in its own process exactly as written (``python -m bpfkit.bcc examples/<x>.py``; only the
documents' endless ``sleep(2)`` loop is sped up by a driver that shortens ``time.sleep``).  The test
makes the events (execs as an unused uid, syscalls of a helper process whose pid it knows), waits
for the lines they must produce, then stops the program with SIGINT and checks that the program's
cleanup removed its pins.  Timeouts only bound a failing wait; nothing asserts on durations.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bpfkit import NotSupportedError, features, host
from bpfkit.arch import syscall_names, syscall_number
from bpfkit.testing import patience, require, require_capability

from .conftest import KERNEL_PID_CODE, kernel_pid

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
UID = 54321
WAIT = patience(90.0)  # bound of a failing wait (compiles included), not an expectation


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of the programs: this checkout's bpfkit and one compile cache for the module."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("bcc-cache"))
    e["PYTHONUNBUFFERED"] = "1"
    return e


class Running:
    """A BCC program running in a child process, its output collected line by line."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                     errors="replace")
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        self.err: list[str] = []
        errq: queue.Queue[str] = queue.Queue()
        self._errq = errq
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stderr, errq), daemon=True)]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream: object, q: queue.Queue[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            q.put(line.rstrip("\n"))

    def poll_for(self, pred: Callable[[str], bool], timeout: float) -> str | None:
        """The first output line satisfying ``pred`` within ``timeout``, else None (the program keeps running)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.out.append(line)
            if pred(line):
                return line
        return None

    def wait_for(self, pred: Callable[[str], bool], what: str, timeout: float = WAIT) -> str:
        """The first output line satisfying ``pred``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            self.out.append(line)
            if pred(line):
                return line
        self.stop()
        pytest.fail(f"no line with {what}; exit code {self.proc.returncode}; stdout tail:\n"
                    + "\n".join(self.out[-20:]) + "\nstderr:\n" + "\n".join(self.err[-30:]))

    def stop(self) -> int:
        """SIGINT (Ctrl+C), as a user stops a BCC tool; the program's atexit cleanup runs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        while not self._errq.empty():
            self.err.append(self._errq.get())
        while not self.lines.empty():
            self.out.append(self.lines.get())
        return self.proc.returncode


@pytest.fixture
def run(env: dict[str, str]) -> Iterator[Callable[..., Running]]:
    """Start example programs; stop them and check their pins are gone afterwards."""
    started: list[Running] = []

    def start(script: str | Path, *args: str, fast_sleep: bool = False) -> Running:
        path = str(EXAMPLES / script)  # an absolute path stays as it is
        if fast_sleep:
            driver = ("import sys, time\n_sleep = time.sleep\ntime.sleep = lambda s: _sleep(min(s, 0.25))\n"
                      "from bpfkit.bcc.__main__ import main\nsys.exit(main(sys.argv[1:]))\n")
            argv = [sys.executable, "-c", driver, path, *args]
        else:
            argv = [sys.executable, "-m", "bpfkit.bcc", path, *args]
        r = Running(argv, env)
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()
        pins = "/sys/fs/bpf/bpfkit-bcc"
        left = [e for e in (os.listdir(pins) if os.path.isdir(pins) else []) if e.startswith(f"{r.proc.pid}-")]
        assert not left, f"pins left behind: {left}"


CAP_SETUID = 7


def require_syscall_probe() -> None:
    """Skip unless a kprobe on a system call can attach here: a kprobe, its fentry stand-in, or (bpfkit.bcc's last
    resort) the syscall's tracepoint, which needs tracefs."""
    if not features.have_kprobes() and not features.have_trampolines():
        require("tracefs")


def exec_uid() -> tuple[int, int]:
    """(uid to exec as, the same uid as BPF sees it): the unused ``UID`` where this process may switch users, else
    its own (a capabilities-only user, or root of a user namespace: BPF sees the initial namespace's number)."""
    if host.has_capability(CAP_SETUID):
        return UID, UID
    from hostenv import kernel_uid

    return os.getuid(), kernel_uid()


def exec_as_uid(n: int, argv: list[str] | None = None, uid: int = UID) -> list[int]:
    """Run ``argv`` as ``uid`` (default the unused ``UID`` that the tests' probes pick out) ``n`` times; the
    children's pids."""
    if uid != os.getuid():
        require_capability(CAP_SETUID, "running execs as another user")
    pids = []
    for _ in range(n):
        p = subprocess.Popen(argv or ["/bin/true"], user=uid if uid != os.getuid() else None)
        p.wait()
        pids.append(p.pid)
    return pids


@pytest.mark.parametrize("script", ["bcc_uid_counter.py", "bcc_doc002_uid_counter.py"])
def test_uid_counter_of_documents_002_and_004(run: Callable[..., Running], script: str) -> None:
    require_capability(CAP_SETUID, "running execs as another user")
    require_syscall_probe()
    prog = run(script, fast_sleep=True)
    prog.wait_for(lambda ln: True, "the first report (the probe is attached)")
    exec_as_uid(5)
    line = prog.wait_for(lambda ln: f"ID {UID}: " in ln and f"ID {UID}: 5" in ln, f"ID {UID}: 5")
    assert re.search(rf"(^|\t)ID {UID}: 5\t", line)
    prog.stop()
    fallbacks = [e for e in prog.err if e.startswith("bpfkit.bcc:")]
    assert len(fallbacks) <= 1, prog.err


@pytest.fixture
def bcchello() -> Iterator[Path]:
    """/bin/sh under the name 'bcchello', in a directory the test uid can reach."""
    with tempfile.TemporaryDirectory(prefix="bpfkit-bcc-") as d:
        os.chmod(d, 0o755)
        sh = Path(d) / "bcchello"
        sh.symlink_to("/bin/sh")
        yield sh


def test_perf_buffer_hello_of_document_004(run: Callable[..., Running], bcchello: Path) -> None:
    sh = bcchello  # the comm of the process that calls execve is the name it was run by
    require_syscall_probe()
    require("perf_events")
    require("helper:probe_read_kernel@tracepoint")  # the message, a string of the program (confidentiality refuses)
    uid, kuid = exec_uid()  # the comm picks our execs out; another uid too where this process may switch
    own_pids = kernel_pid() == os.getpid()  # else a container: BPF reports the initial PID namespace's numbers
    prog = run("bcc_perf_hello.py")
    # the program prints nothing before its first event: keep exec'ing until one of ours arrives
    deadline = time.monotonic() + WAIT
    pid = 0
    while time.monotonic() < deadline and prog.proc.poll() is None:
        (pid,) = exec_as_uid(1, [str(sh), "-c", "exec /bin/true"], uid)
        want = str(pid) if own_pids else r"\d+"
        if prog.poll_for(lambda ln, w=want: re.fullmatch(rf"{w} {kuid} bcchelloHello World", ln) is not None,
                         1.0) is not None:
            break
    else:
        pytest.fail("no Hello World line for our execs:\n" + "\n".join(prog.out[-20:] + prog.err[-20:]))
    assert not own_pids or f"{pid} {kuid} bcchelloHello World" in prog.out


NR = {n: syscall_number(n) for n in ("timer_create", "timer_gettime", "timer_delete", "getppid")}
TIMERS = KERNEL_PID_CODE + f"""
import ctypes, ctypes.util, os, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
print(KERNEL_PID, flush=True)  # the PID trace_pipe shows (a container numbers it otherwise)
sys.stdin.readline()
tid = ctypes.c_int(0)
its = (ctypes.c_long * 4)()
assert libc.syscall({NR["timer_create"]}, 1, None, ctypes.byref(tid)) == 0   # timer_create(CLOCK_MONOTONIC)
libc.syscall({NR["timer_gettime"]}, tid, ctypes.byref(its))                    # timer_gettime
libc.syscall({NR["timer_delete"]}, tid)                                       # timer_delete
libc.syscall({NR["getppid"]})                                            # getppid: no program in the array
os.execv("/bin/true", ["/bin/true"])                                    # execve: hello_execve
"""
INSTEAD = {"access": "faccessat", "pipe": "pipe2"}  # what a C library calls where the architecture lacks these


def for_this_machine(text: str) -> str:
    """Document 004's program with its x86_64 system call numbers turned into this machine's (same names)."""
    x86 = syscall_names("x86_64")

    def nr(n: int) -> str:
        name = x86[n]
        try:
            return str(syscall_number(name))
        except NotSupportedError:
            return str(syscall_number(INSTEAD[name]))

    text = re.sub(r"ct\.c_int\((\d+)\)", lambda m: f"ct.c_int({nr(int(m[1]))})", text)
    return re.sub(r"(args\[1\] *== *)(\d+)", lambda m: m[1] + nr(int(m[2])), text)


def test_document_004_numbers_translate() -> None:
    text = (EXAMPLES / "bcc_tailcalls.py").read_text()
    assert for_this_machine(text).count("ct.c_int(") == text.count("ct.c_int(")
    if os.uname().machine == "x86_64":
        assert for_this_machine(text) == text  # the document's own numbers
    else:
        assert f"ct.c_int({syscall_number('execve')})" in for_this_machine(text)


def test_tail_call_dispatcher_of_document_004(run: Callable[..., Running], env: dict[str, str],
                                              tmp_path: Path) -> None:
    require("tracefs")  # the program prints through trace_pipe
    script = tmp_path / "bcc_tailcalls.py"
    script.write_text(for_this_machine((EXAMPLES / "bcc_tailcalls.py").read_text()))
    prog = run(script)
    prog.wait_for(lambda ln: "bpf_trace_printk" in ln or ":" in ln, "trace_pipe output (dispatcher attached)")
    want = {"Creating a timer": False, "Some other timer operation": False, "Deleting a timer": False,
            f"Another syscall: {NR['getppid']}": False, "Executing a program": False}
    pids: set[int] = set()

    def check(line: str) -> bool:
        m = re.search(r"-(\d+)\s+\[", line)
        if m and int(m.group(1)) in pids:
            for w in want:
                if line.endswith(w):
                    want[w] = True
        return all(want.values())

    # trace_pipe drops lines when it overflows (every syscall of the machine writes one here):
    # run the helper again until all of its messages made it through
    for _ in range(10):
        helper = subprocess.Popen([sys.executable, "-c", TIMERS], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        assert helper.stdout is not None and helper.stdin is not None
        pids.add(int(helper.stdout.readline()))
        helper.stdin.write("go\n")
        helper.stdin.flush()
        helper.wait()
        helper.stdin.close()
        helper.stdout.close()
        if prog.poll_for(check, 5.0) is not None:
            break
    assert all(want.values()), f"messages seen: {want}"


def test_execsnoop_like_tracer(run: Callable[..., Running]) -> None:
    require_syscall_probe()
    require("perf_events")
    require("helper:probe_read_kernel@tracepoint")  # task->real_parent->tgid (lockdown=confidentiality refuses)
    me = kernel_pid()
    own_pids = me == os.getpid()  # else a container: BPF reports the initial PID namespace's numbers
    uid, kuid = exec_uid()  # the pids (or the parent) pick our execs out; another uid too where we may switch
    prog = run("bcc_execsnoop.py")
    prog.wait_for(lambda ln: ln.startswith("PCOMM"), "the header")
    # the header comes before the perf buffer is open: exec until one of ours is reported
    deadline = time.monotonic() + WAIT
    line = None
    pids: set[int] = set()
    while line is None and time.monotonic() < deadline and prog.proc.poll() is None:
        pids.update(exec_as_uid(1, ["/bin/true", "bpfkit-arg"], uid))
        line = prog.poll_for(lambda ln: (m := re.match(r"\S+\s+(\d+)\s+(\d+)\s", ln)) is not None
                             and (int(m.group(1)) in pids if own_pids else int(m.group(2)) == me), 1.0)
    assert line is not None, "no exec of ours reported:\n" + "\n".join(prog.out[-20:] + prog.err[-20:])
    comm, lpid, ppid, luid, ret, args = line.split(None, 5)
    assert (comm, int(ppid), int(luid), int(ret), args) == ("true", me, kuid, 0, "/bin/true")
    assert int(lpid) in pids or not own_pids
    prog.stop()
    fallbacks = [e for e in prog.err if e.startswith("bpfkit.bcc:")]
    # real kprobes where the kernel has them; else one line each for the kprobe and the kretprobe
    assert len(fallbacks) == (0 if features.have_kprobes() else 2), fallbacks


WORKER = KERNEL_PID_CODE + r"""
import os, sys, time
print(KERNEL_PID, flush=True)  # the PID the programs' --pid filter compares (a container numbers it otherwise)
sys.stdin.readline()
for _ in range(N_CALLS):
    WORK
print("done", flush=True)
sys.stdin.readline()
"""


def start_worker(work: str, n: int) -> subprocess.Popen[str]:
    code = WORKER.replace("N_CALLS", str(n)).replace("WORK", work)
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def stop_worker(worker: subprocess.Popen[str]) -> None:
    worker.kill()
    worker.wait()
    for stream in (worker.stdin, worker.stdout):
        if stream is not None:
            stream.close()


def test_syscount_like_counter(run: Callable[..., Running]) -> None:
    require("tracefs")  # TRACEPOINT_PROBE(raw_syscalls, sys_enter)
    worker = start_worker("os.getppid()", 1000)
    try:
        assert worker.stdout is not None and worker.stdin is not None
        wpid = int(worker.stdout.readline())
        prog = run("bcc_syscount.py", "--pid", str(wpid), "--interval", "0.5")
        prog.wait_for(lambda ln: ln.startswith("Tracing syscalls"), "the banner")
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert worker.stdout.readline().strip() == "done"
        total = 0

        def count(line: str) -> bool:
            nonlocal total
            m = re.match(r"getppid\s+(\d+)$", line)
            if m:
                total += int(m.group(1))
            return total >= 1000

        prog.wait_for(count, "1000 getppid calls")
        assert total == 1000
        assert prog.out.index(next(ln for ln in prog.out if ln.startswith("SYSCALL"))) >= 0
    finally:
        stop_worker(worker)


def test_latency_histogram(run: Callable[..., Running]) -> None:
    require("tracefs")  # TRACEPOINT_PROBEs on syscalls:sys_{enter,exit}_clock_nanosleep
    worker = start_worker("time.sleep(0.01)", 20)
    try:
        assert worker.stdout is not None and worker.stdin is not None
        wpid = int(worker.stdout.readline())
        # one histogram, printed on Ctrl-C after the sleeps: an interval's print-then-clear() would lose a sleep
        # that ends between the two (BCC's tools have that window too)
        prog = run("bcc_sleeplat.py", "--pid", str(wpid), "--interval", "3600", "--times", "1")
        prog.wait_for(lambda ln: ln.startswith("Tracing clock_nanosleep"), "the banner")
        worker.stdin.write("go\n")
        worker.stdin.flush()
        assert worker.stdout.readline().strip() == "done"
        prog.proc.send_signal(signal.SIGINT)
        buckets: dict[int, int] = {}

        def count(line: str) -> bool:
            m = re.match(r"\s*(\d+) -> (\d+)\s+: (\d+)\s+\|", line)
            if m:
                buckets[int(m.group(1))] = buckets.get(int(m.group(1)), 0) + int(m.group(3))
            return sum(buckets.values()) >= 20

        prog.wait_for(count, "20 sleeps in the histogram")
        assert sum(buckets.values()) == 20
        assert all(low >= 8192 for low, n in buckets.items() if n)  # 10 ms sleeps: >= 8192 usecs
        header = next(ln for ln in prog.out if "usecs" in ln)
        assert header == "     usecs               : count     distribution"
    finally:
        stop_worker(worker)
