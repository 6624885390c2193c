"""BPF(text=...) on the real kernel, in the test process: attach, tables, prog arrays, trace_pipe, errors.

Every test cleans up; the autouse leak check of tests/conftest.py fails any that leaves an fd or a
pin behind.  Events come from processes the tests start (run as an unusual uid, or with a chosen
comm) so that other activity on the machine cannot satisfy an assertion.
"""

from __future__ import annotations

import ctypes as ct
import ctypes.util
import io
import os
import select
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from bpfkit import features
from bpfkit.bcc import BPF, CompileError
from bpfkit.errors import AccessError, NotSupportedError, VerifierError
from bpfkit.testing import require, require_capability

from .conftest import kallsyms_hidden, kernel_pid
from .test_rewriter import program_text

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("cache_home")]  # one compile cache for the module

UID = 54321  # no such user: only the tests' children exec with it
LIBC = ct.CDLL(ctypes.util.find_library("c"), use_errno=True)


def exec_as(uid: int, argv: list[str] | None = None) -> int:
    """Run a program (default /bin/true) as ``uid``; returns the child's pid."""
    p = subprocess.Popen(argv or ["/bin/true"], user=uid)
    p.wait()
    return p.pid


CAP_SETUID = 7
CAP_NET_RAW = 13
NR_GETPPID = 110 if os.uname().machine == "x86_64" else 173
COUNTER = program_text("bcc_doc002_uid_counter.py")  # the per-UID execve counter of document 002


@pytest.mark.quick
def test_document_program_counts_execs_by_uid(capfd: pytest.CaptureFixture[str]) -> None:
    require_capability(CAP_SETUID, "running execs as another user")
    with BPF(text=COUNTER) as b:
        syscall = b.get_syscall_fnname("execve")
        assert syscall in (b"__x64_sys_execve", b"__arm64_sys_execve", b"sys_execve")
        b.attach_kprobe(event=syscall, fn_name="hello")
        assert b.num_open_kprobes() == 1
        for _ in range(5):
            exec_as(UID)
        counts = {k.value: v.value for k, v in b["counter_table"].items()}
        assert counts[UID] == 5
        assert isinstance(b["counter_table"].Key(), ct.c_ulonglong)
        b.detach_kprobe(syscall)
        exec_as(UID)
        assert b["counter_table"][ct.c_ulonglong(UID)].value == 5
    err = capfd.readouterr().err.splitlines()
    fallback = [ln for ln in err if ln.startswith("bpfkit.bcc:")]
    # a real kprobe where the kernel has them (the QEMU matrix); one line saying what replaced it where not
    assert len(fallback) == (0 if features.have_kprobes() else 1), fallback


def test_cleanup_is_idempotent_and_tables_go_with_it() -> None:
    b = BPF(text=COUNTER)
    t = b["counter_table"]
    b.cleanup()
    b.cleanup()
    with pytest.raises(ValueError):
        t.map.fd  # noqa: B018 - closed with the object
    with pytest.raises(ValueError, match="cleaned up"):
        b.load_func("hello", BPF.KPROBE)


SYSCALL_ARGS = r"""
#include <uapi/linux/ptrace.h>

struct key_t { u32 uid; char name[16]; };
BPF_HASH(opened, struct key_t, u64);
BPF_HASH(results, u32, s64);

int syscall__openat(struct pt_regs *ctx, int dfd, const char __user *filename, int flags) {
    struct key_t k = {};
    k.uid = bpf_get_current_uid_gid();
    if (k.uid != UID)
        return 0;
    bpf_probe_read_user_str(k.name, sizeof(k.name), filename);
    opened.increment(k, 1 + (flags & 1));
    return 0;
}

int ret_openat(struct pt_regs *ctx) {
    u32 uid = bpf_get_current_uid_gid();
    if (uid != UID)
        return 0;
    s64 rc = PT_REGS_RC(ctx);
    results.update(&uid, &rc);
    return 0;
}
"""


def test_syscall_convention_arguments_and_return_values() -> None:
    require_capability(CAP_SETUID, "running execs as another user")
    # the arguments are read from the syscall wrapper's pt_regs, kernel memory (lockdown=confidentiality refuses it)
    require("helper:probe_read_kernel@kprobe")
    with BPF(text=SYSCALL_ARGS, cflags=[f"-DUID={UID}"]) as b:
        fn = b.get_syscall_fnname("openat")
        b.attach_kprobe(event=fn, fn_name="syscall__openat")
        b.attach_kretprobe(event=fn, fn_name="ret_openat")
        exec_as(UID, ["/bin/cat", "/nonexistent/bpfkit-file"])
        names = {bytes(k.name): v.value for k, v in b["opened"].items()}
        assert names.get(b"/nonexistent/bp") == 1  # O_RDONLY: flags & 1 == 0
        assert b["results"][UID].value == -2  # ENOENT
        assert b.num_open_kprobes() == 2


TAILCALLS = r"""
BPF_PROG_ARRAY(syscall, 512);
BPF_HASH(seen, u32, u64);

int dispatch(struct bpf_raw_tracepoint_args *ctx) {
    int opcode = ctx->args[1];
    syscall.call(ctx, opcode);
    return 0;
}

int on_getppid(void *ctx) {
    u32 k = 1;
    if ((bpf_get_current_pid_tgid() >> 32) == PID)
        seen.increment(k);
    return 0;
}

int on_getuid(void *ctx) {
    u32 k = 2;
    if ((bpf_get_current_pid_tgid() >> 32) == PID)
        seen.increment(k);
    return 0;
}
"""


def test_tail_calls_through_a_prog_array_set_with_ctypes() -> None:
    with BPF(text=TAILCALLS, cflags=[f"-DPID={kernel_pid()}"]) as b:
        b.attach_raw_tracepoint(tp="sys_enter", fn_name="dispatch")
        ppid_fn = b.load_func("on_getppid", BPF.RAW_TRACEPOINT)
        uid_fn = b.load_func("on_getuid", BPF.RAW_TRACEPOINT)
        assert b.load_func("on_getppid", BPF.RAW_TRACEPOINT) is ppid_fn
        assert ppid_fn.fd >= 0 and ppid_fn.name == b"on_getppid"
        prog_array = b.get_table("syscall")
        nr_getppid, nr_getuid = (110, 102) if os.uname().machine == "x86_64" else (173, 174)
        prog_array[ct.c_int(nr_getppid)] = ct.c_int(ppid_fn.fd)
        prog_array[nr_getuid] = uid_fn
        for _ in range(7):
            LIBC.syscall(nr_getppid)
        for _ in range(3):
            LIBC.syscall(nr_getuid)
        seen = b["seen"]
        assert seen[1].value == 7 and seen[2].value == 3
        del prog_array[nr_getuid]
        LIBC.syscall(nr_getuid)
        assert seen[2].value == 3


HIST = r"""
BPF_HISTOGRAM(dist);
BPF_ARRAY(total, u64, 1);
BPF_PERCPU_ARRAY(percpu, u64, 2);
BPF_QUEUE(queue, u32, 8);
BPF_STACK_TRACE(stacks, 64);
BPF_HASH(stack_of, u32, int);

RAW_TRACEPOINT_PROBE(sys_enter) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID || ctx->args[1] != NR_GETPPID)
        return 0;
    u32 n = 0;
    u64 *t = total.lookup(&n);
    if (t) {
        __sync_fetch_and_add(t, 1);
        dist.increment(bpf_log2l(*t));
    }
    percpu.increment(1);
    u32 v = 77;
    queue.push(&v, 0);
    bpf_trace_printk("bpfkit-trace %d\n", ctx->args[1]);
    /* the stack from a raw tracepoint: in the QEMU matrix, bpf_get_stackid in a syscalls tracepoint
       program returned -EFAULT on Debian's 5.10 and 6.1 kernels (6.12 and 7.x unwind it) */
    int id = stacks.get_stackid(ctx, 0);
    stack_of.update(&n, &id);
    return 0;
}
"""


def test_tables_on_real_maps() -> None:
    tracefs = features.check("tracefs")
    with BPF(text=HIST, cflags=[f"-DPID={kernel_pid()}", f"-DNR_GETPPID={NR_GETPPID}"]) as b:
        assert BPF.tracepoint_exists("syscalls", "sys_enter_getppid") is tracefs.available
        for _ in range(10):
            os.getppid()
        total = b["total"]
        assert len(total) == 1 and total[0].value == 10
        dist = b["dist"]
        assert {k.value: v.value for k, v in dist.items() if v.value} == {1: 1, 2: 2, 3: 4, 4: 3}
        out = io.StringIO()
        with redirect_stdout(out):
            dist.print_log2_hist("calls")
        lines = out.getvalue().splitlines()
        assert lines[0] == "     calls               : count     distribution"
        assert lines[3] == "         4 -> 7          : 4        |****************************************|"
        per = b["percpu"]
        assert sum(per[1]) == 10 and len(per[1]) == per.total_cpu
        assert per.sum(1).value == 10
        q = b["queue"]
        assert [v.value for v in q.values()] == [77] * 8  # a full queue refuses the rest
        q.push(5)
        assert q.pop().value == 5
        sid = b["stack_of"][0].value
        assert sid >= 0
        frames = list(b["stacks"].walk(sid))
        assert frames and all(isinstance(a, int) for a in frames)
        names = [BPF.ksym(a) for a in frames]
        assert all(isinstance(n, bytes) for n in names)
        if kallsyms_hidden():  # no addresses to resolve against: every frame is unknown, as in BCC
            assert set(names) == {b"[unknown]"}
        else:
            assert any(b"sys" in n or b"syscall" in n for n in names)
        if not tracefs:  # trace_pipe unreadable (a non-root user) or absent (lockdown=confidentiality): refused
            with pytest.raises(OSError) as ei:
                b.trace_fields(nonblocking=True)
            assert isinstance(ei.value, AccessError) or tracefs.cause is not features.Cause.ACCESS
            return
        # bpf_trace_printk output in trace_pipe (shared, maybe with older lines first), as BCC's trace_fields
        idle = 0
        while True:
            task, pid, cpu, flags, ts, msg = b.trace_fields(nonblocking=True)
            if msg is None:  # nothing to read right now: wait a little, a bounded number of times
                idle += 1
                if idle > 40:
                    pytest.fail("no bpf_trace_printk line of this process in trace_pipe")
                select.select([b.trace_open(True)], [], [], 0.25)
                continue
            idle = 0
            if msg.startswith(b"bpfkit-trace") and pid == kernel_pid():
                break
        assert msg == b"bpfkit-trace 110" if os.uname().machine == "x86_64" else msg.startswith(b"bpfkit-trace")


def test_event_struct_types_come_from_btf() -> None:
    text = r"""
    struct data_t { int pid; int uid; char command[16]; char message[12]; };
    BPF_PERF_OUTPUT(output);
    int hello(void *ctx) { struct data_t data = {}; output.perf_submit(ctx, &data, sizeof(data)); return 0; }
    """
    with BPF(text=text) as b:
        out = b["output"]
        cls = out._event_class
        assert [f[0] for f in cls._fields_] == ["pid", "uid", "command", "message"]
        raw = (7).to_bytes(4, "little") + (8).to_bytes(4, "little") + b"true".ljust(16, b"\0") + b"Hello World\0"
        e = out.event(raw)
        assert (e.pid, e.uid, e.command, e.message) == (7, 8, b"true", b"Hello World")


def test_kernel_pointer_reads_and_verifier_hints() -> None:
    require("helper:probe_read_kernel@raw_tracepoint")  # what task->real_parent->tgid becomes
    ok = r"""
    BPF_HASH(children, u32, u32);
    RAW_TRACEPOINT_PROBE(sys_enter) {
        if (ctx->args[1] != NR_GETPPID)
            return 0;
        struct task_struct *task = (struct task_struct *)bpf_get_current_task();
        u32 pid = bpf_get_current_pid_tgid() >> 32;
        u32 ppid = task->real_parent->tgid;
        if (ppid == PID)
            children.update(&pid, &ppid);
        return 0;
    }
    """
    # the kernel's PIDs (the initial namespace's): a container's own PID namespace numbers processes otherwise
    pid = kernel_pid()
    with BPF(text=ok, cflags=[f"-DPID={pid}", f"-DNR_GETPPID={NR_GETPPID}"]) as b:
        child = subprocess.run([sys.executable, "-c", "import os; os.getppid()"], check=True)
        assert child.returncode == 0
        assert [v.value for v in b["children"].values()] == [pid]
    bad = r"""
    RAW_TRACEPOINT_PROBE(sys_enter) {
        u64 t = bpf_get_current_task();
        return ((struct task_struct *)t)->pid;
    }
    """
    with pytest.raises(VerifierError) as ei:
        BPF(text=bad)
    assert "BPF_CORE_READ" in str(ei.value) and "bpf_probe_read_kernel" in str(ei.value)


def test_errors_are_clear() -> None:
    with pytest.raises(CompileError) as ei:
        BPF(text="int f(void *ctx) {\n  return nope;\n}\n")
    assert ei.value.line == 2 and "nope" in str(ei.value)
    with BPF(text=COUNTER) as b:
        with pytest.raises(ValueError, match="no BPF function named 'nothere'"):
            b.load_func("nothere", BPF.KPROBE)
        with pytest.raises((NotSupportedError, OSError)):
            b.attach_kprobe(event="bpfkit_no_such_kernel_function", fn_name="hello")
        with pytest.raises(KeyError):
            b["no_such_table"]


def test_kfunc_probe_attaches_where_trampolines_work() -> None:
    text = "KFUNC_PROBE(do_sys_openat2, int dfd, const char *filename) { return 0; }\n"
    assert BPF.support_kfunc() == features.have_trampolines()
    if BPF.support_kfunc():
        with BPF(text=text) as b:
            assert b.rewritten.functions["kfunc__vmlinux__do_sys_openat2"].section == "fentry/do_sys_openat2"
    else:
        with pytest.raises(NotSupportedError) as ei:
            BPF(text=text)
        assert ei.value.feature == "trampoline"


def test_uprobe_on_libc() -> None:
    require("uprobes")
    text = r"""
    BPF_HASH(calls, u32, u64);
    int on_getpid(struct pt_regs *ctx) {
        u32 pid = bpf_get_current_pid_tgid() >> 32;
        if (pid == PID)
            calls.increment(pid);
        return 0;
    }
    """
    pid = kernel_pid()
    with BPF(text=text, cflags=[f"-DPID={pid}"]) as b:
        b.attach_uprobe(name="c", sym="getpid", fn_name="on_getpid")
        for _ in range(4):
            LIBC.getpid()
        assert b["calls"][pid].value == 4
        assert b.num_open_uprobes() == 1
        b.detach_uprobe(name="c", sym="getpid")
        assert b.num_open_uprobes() == 0


EVENTS = r"""
struct ev { u32 pid; u32 kind; char comm[16]; };
BPF_PERF_OUTPUT(perf_events);
BPF_RINGBUF_OUTPUT(ring, 8);

RAW_TRACEPOINT_PROBE(sys_enter) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID || ctx->args[1] != NR_GETPPID)
        return 0;
    struct ev e = {};
    e.pid = PID;
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    e.kind = 1;
    perf_events.perf_submit(ctx, &e, sizeof(e));
    e.kind = 2;
    ring.ringbuf_output(&e, sizeof(e), 0);
    struct ev *r = ring.ringbuf_reserve(sizeof(struct ev));
    if (r) {
        r->pid = PID;
        r->kind = 3;
        ring.ringbuf_submit(r, 0);
    }
    return 0;
}
"""


def test_perf_and_ring_buffers() -> None:
    require("perf_events")  # the perf buffer's BPF output events
    pid = kernel_pid()
    with BPF(text=EVENTS, cflags=[f"-DPID={pid}", f"-DNR_GETPPID={NR_GETPPID}"]) as b:
        perf: list[tuple[int, int, bytes]] = []
        ring: list[tuple[int, int]] = []

        def on_perf(cpu: int, data: object, size: int) -> None:
            e = b["perf_events"].event(data)
            perf.append((e.pid, e.kind, e.comm))

        def on_ring(ctx: object, data: object, size: int) -> None:
            e = b["ring"].event(data)
            ring.append((e.pid, e.kind))

        b["perf_events"].open_perf_buffer(on_perf, page_cnt=8)
        b["ring"].open_ring_buffer(on_ring)
        for _ in range(3):
            os.getppid()
        for _ in range(100):
            if len(perf) == 3:
                break
            b.perf_buffer_poll(timeout=100)
        assert b.ring_buffer_consume() == 6
        comm = Path("/proc/self/comm").read_bytes().strip()[:15]
        assert perf == [(pid, 1, comm)] * 3
        assert sorted(ring) == [(pid, 2)] * 3 + [(pid, 3)] * 3


AUTO = r"""
BPF_HASH(hits, u32, u64);
BPF_HASH(ret, u32, s64);

RAW_TRACEPOINT_PROBE(sys_enter) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID || ctx->args[1] != NR_GETPPID)
        return 0;
    u32 k = 1;
    hits.atomic_increment(k);
    return 0;
}

int tracepoint__syscalls__sys_enter_getppid(struct tracepoint__syscalls__sys_enter_getppid *args) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID)
        return 0;
    u32 k = 2;
    u64 zero = 0, *v = hits.lookup_or_try_init(&k, &zero);
    if (v)
        __sync_fetch_and_add(v, 1);
    return 0;
}

int kretprobe__sys_getppid(struct pt_regs *ctx) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (pid != PID)
        return 0;
    s64 rc = PT_REGS_RC(ctx);
    ret.update(&pid, &rc);
    return 0;
}
"""


def test_functions_attached_by_their_names() -> None:
    require("tracefs")  # tracepoint__ by name; kretprobe__ stands in on a syscalls tracepoint without kprobes
    pid = kernel_pid()
    with BPF(text=AUTO, cflags=[f"-DPID={pid}", f"-DNR_GETPPID={NR_GETPPID}"]) as b:
        assert b.num_open_kprobes() == 1 and b.num_open_tracepoints() == 1
        for _ in range(3):
            os.getppid()
        hits = b["hits"]
        assert hits[1].value == 3 and hits[2].value == 3
        assert b["ret"][pid].value == os.getppid()


PACKETS = r"""
BPF_ARRAY(counts, u64, 4);

int count_udp(struct __sk_buff *skb) {
    int k = 0;
    counts.increment(k);
    return 0;  /* drop: the socket sees nothing, the count is what matters */
}

int pass_xdp(struct xdp_md *ctx) {
    int k = 1;
    counts.increment(k);
    return XDP_PASS;
}

int pass_tc(struct __sk_buff *skb) {
    return 0;
}
"""


def test_load_func_for_network_program_types() -> None:
    import socket

    with BPF(text=PACKETS) as b:
        filt = b.load_func("count_udp", BPF.SOCKET_FILTER)
        xdp = b.load_func("pass_xdp", BPF.XDP)
        tc = b.load_func("pass_tc", BPF.SCHED_CLS)
        assert len({filt.fd, xdp.fd, tc.fd}) == 3
        assert xdp.program.type == BPF.XDP and tc.program.type == BPF.SCHED_CLS
        require_capability(CAP_NET_RAW, "a raw packet socket (attach_raw_socket)")
        b.attach_raw_socket(filt, "lo")
        assert filt.sock is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(4):
                s.sendto(b"x", ("127.0.0.1", 9))
        assert b["counts"][0].value >= 4  # each datagram passes lo (at least once)
        filt.sock.close()


def test_user_symbols() -> None:
    addr = ct.cast(LIBC.getpid, ct.c_void_p).value
    assert addr is not None
    name = BPF.sym(addr, os.getpid())
    assert name in (b"getpid", b"__getpid")
    assert BPF.sym(addr, os.getpid(), show_module=True).endswith(b"]")
    assert BPF.sym(8, os.getpid()) == b"[unknown]"
    if kallsyms_hidden():
        with pytest.raises(AccessError) as ei:
            BPF.ksymname("do_sys_openat2")
        assert ei.value.filename == "/proc/kallsyms"
        return
    assert BPF.ksymname("do_sys_openat2") > 0
    assert BPF.ksym(BPF.ksymname("do_sys_openat2")) == b"do_sys_openat2"
    assert BPF.ksym(BPF.ksymname("do_sys_openat2") + 3, show_offset=True) == b"do_sys_openat2+0x3"


def test_uretprobe_return_values() -> None:
    require("uprobes")
    text = r"""
    BPF_HASH(rets, u32, s64);
    int on_ret(struct pt_regs *ctx) {
        u32 pid = bpf_get_current_pid_tgid() >> 32;
        if (pid != PID)
            return 0;
        s64 rc = PT_REGS_RC(ctx);
        rets.update(&pid, &rc);
        return 0;
    }
    """
    pid = kernel_pid()
    with BPF(text=text, cflags=[f"-DPID={pid}"]) as b:
        b.attach_uretprobe(name="c", sym="getpid", fn_name="on_ret")
        LIBC.getpid()
        assert b["rets"][pid].value == os.getpid()  # what getpid returned: the number in this PID namespace


def test_kernel_type_queries_and_an_empty_program() -> None:
    assert BPF.kernel_struct_has_field("task_struct", "real_parent") == 1
    assert BPF.kernel_struct_has_field(b"task_struct", b"no_such_member") == 0
    assert BPF.kernel_struct_has_field("no_such_struct_xyz", "x") == -1
    assert BPF.kernel_enum_has_val("bpf_map_type", "BPF_MAP_TYPE_RINGBUF") == 1
    with BPF(text="") as b:  # tools build an empty BPF() to ask about features
        assert len(b) == 0 and b.rewritten.functions == {}


def test_src_file_with_a_local_header(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "local.h").write_text("#define KEY 7\n")
    src = tmp_path / "prog.c"
    src.write_text('#include <linux/sched.h>\n#include "local.h"\nBPF_ARRAY(a, u64, 8);\n'
                   "int f(void *ctx) { int k = KEY; a.increment(k); return TASK_COMM_LEN; }\n")
    with BPF(src_file=str(src), debug=0x8) as b:  # DEBUG_SOURCE prints the generated C
        fn = b.load_func("f", BPF.RAW_TRACEPOINT)
        assert fn.program.test_run(ctx=bytes(16)).retval == 16
        assert b["a"][7].value == 1
    assert '#include "local.h"' in capfd.readouterr().err
