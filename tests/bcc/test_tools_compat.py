"""What BCC's own tools need from the front end: Python API names, kernel #defines, C the rewriter must accept.

The programs here are small BCC-style programs written for these tests, each exercising one construct
the tools use (a cast of a field's address, a tool's own copy of a kernel struct, a kernel inline
function ...).  Text-only tests use the fake kernel; the others compile with clang and, when marked,
load and run on the real kernel.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import bpfkit.links._probes as probes
from bpfkit.bcc import BPF, CompileError, PerfHWConfig, PerfSWConfig, PerfType, StrcmpRewrite, tcp
from bpfkit.bcc import bpf as bpfmod
from bpfkit.bcc._compile import compile_c
from bpfkit.bcc._kdefs import TABLE, btf_defines, kernel_defines, read_uapi_headers, uapi_defines
from bpfkit.bcc._kernel import HostKernel
from bpfkit.bcc._rewriter import KERNEL_INLINES, MemberType, rewrite
from bpfkit.errors import NotSupportedError
from bpfkit.testing import require

from .conftest import FakeKernel, make_fake_kernel
from .test_fallback import Recorder, make_bpf, no_kprobes, rec, refuse_trampolines  # noqa: F401
from .test_rewriter import user_part

SYS_ENTER_NEWSTAT = """name: sys_enter_newstat
ID: 700
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;
\tfield:struct stat * statbuf;\toffset:24;\tsize:8;\tsigned:0;

print fmt: "filename: 0x%08lx", ((unsigned long)(REC->filename))
"""


def net_kernel() -> FakeKernel:
    """The fake kernel with inet_sock, in6_addr, dentry and mnt_namespace added."""
    k = make_fake_kernel()
    k.records["sock_common"]["skc_rcv_saddr"] = MemberType("scalar")
    k.records["sock_common"]["skc_v6_daddr"] = MemberType("struct", "in6_addr")
    k.records["in6_addr"] = {"in6_u": MemberType("union", "in6_u")}
    k.records["in6_u"] = {"u6_addr8": MemberType("array", None, MemberType("scalar"))}
    k.records["inet_sock"] = {"sk": MemberType("struct", "sock"), "inet_sport": MemberType("scalar")}
    k.records["ns_common"] = {"inum": MemberType("scalar")}
    k.records["mnt_namespace"] = {"ns": MemberType("struct", "ns_common"), "seq": MemberType("scalar")}
    k.records["nsproxy"] = {"mnt_ns": MemberType("pointer", "mnt_namespace")}
    return k


# ---- Python API -------------------------------------------------------------------------


def test_perf_constants_are_the_uapi_values() -> None:
    from bpfkit._uapi import PerfType as Uapi
    from bpfkit._uapi._generated_lazy import PerfHwId, PerfSwId

    assert PerfType.SOFTWARE == int(Uapi.SOFTWARE) and PerfType.HARDWARE == int(Uapi.HARDWARE)
    assert PerfSWConfig.CPU_CLOCK == int(PerfSwId.CPU_CLOCK) and PerfSWConfig.BPF_OUTPUT == int(PerfSwId.BPF_OUTPUT)
    assert PerfHWConfig.CACHE_MISSES == int(PerfHwId.CACHE_MISSES)
    assert isinstance(PerfType.SOFTWARE, int)


BPF_NAMES_TOOLS_USE = (
    "attach_kprobe", "attach_kretprobe", "attach_uprobe", "attach_uretprobe", "attach_tracepoint",
    "attach_raw_tracepoint", "attach_perf_event", "attach_kfunc", "attach_kretfunc", "attach_lsm", "attach_fmod_ret",
    "support_fmod_ret", "support_kfunc", "support_lsm", "support_raw_tracepoint", "get_table", "get_kprobe_functions",
    "get_syscall_fnname", "get_syscall_prefix", "get_tracepoints", "tracepoint_exists", "kernel_struct_has_field",
    "find_library", "find_exe", "generate_auto_includes", "get_probe_limit", "get_user_functions_and_addresses",
    "add_module", "ksym", "ksymname", "sym", "monotonic_time", "num_open_kprobes", "num_open_uprobes",
    "num_open_tracepoints", "perf_buffer_poll", "ring_buffer_poll", "trace_fields", "detach_kprobe",
)


def test_bpf_has_the_methods_bccs_tools_call() -> None:
    assert [n for n in BPF_NAMES_TOOLS_USE if not callable(getattr(BPF, n, None))] == []


def test_bcc_alias_has_the_modules_tools_import() -> None:
    code = ("from bpfkit.bcc.__main__ import install_bcc_alias; install_bcc_alias()\n"
            "from bcc import BPF, PerfType, PerfSWConfig, PerfHWConfig, StrcmpRewrite, tcp, utils\n"
            "from bcc.tcp import flags2str\nimport bcc.tcp, bcc.utils, bcc.syscall, bcc.containers, bcc.exec\n"
            "print(flags2str(0x12), bcc.tcp is tcp, utils.get_online_cpus() is not None)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["SYN|ACK", "True", "True"]


def test_tcp_states_are_the_kernels() -> None:
    from bpfkit._uapi import BtfKind
    from bpfkit.btf import Enum

    btf = HostKernel().btf
    kernel: dict[str, int] = {}
    for tid in btf.own_ids():
        if btf.kind_of(tid) == BtfKind.ENUM:
            t = btf[tid]
            assert isinstance(t, Enum)
            if any(v.name == "TCP_ESTABLISHED" for v in t.values):
                kernel = {v.name[len("TCP_"):]: v.value for v in t.values if v.name.startswith("TCP_")}
                break
    assert kernel, "no enum with TCP_ESTABLISHED in the kernel's BTF"
    for value, name in tcp.tcpstate.items():
        if name in kernel:
            assert kernel[name] == value, name
    assert tcp.state2str(1) == "ESTABLISHED" and tcp.state2str(99) == "99"
    assert tcp.flags2str(tcp.TCPHDR_SYN | tcp.TCPHDR_ACK | tcp.TCPHDR_FIN) == "FIN|SYN|ACK"


def test_strcmp_rewrite_makes_a_comparison_function() -> None:
    r = StrcmpRewrite.rewrite_expr('STRCMP("bash", arg1) && x', False, True, [], "", 4)
    assert r["expr"] == 'streq_4("bash", arg1) && x' and r["probeid"] == 5
    assert "static inline bool streq_4" in r["streq_functions"] and "bpf_probe_read_user" in r["streq_functions"]
    r = StrcmpRewrite.rewrite_expr('STRCMP("ab", p)', True, False, ["p"], "", 0)
    assert 'char needle[] = ab;' in r["streq_functions"] and "bpf_probe_read_user" in r["streq_functions"]


def test_files_and_symbols_of_user_programs(tmp_path: Path) -> None:
    libc = BPF.find_library("c")
    assert libc is not None and os.path.exists(libc) and b"libc" in libc
    assert BPF.find_library("c", pid=os.getpid()) is not None  # mapped by this process
    assert BPF.find_library("bpfkit_no_such_library") is None
    sh = BPF.find_exe("sh")
    assert isinstance(sh, str) and os.access(sh, os.X_OK)
    assert isinstance(BPF.find_exe(b"sh"), bytes) and BPF.find_exe("bpfkit-no-such-exe") is None
    found = dict(BPF.get_user_functions_and_addresses("c", "^getppid$"))
    assert list(found) == [b"getppid"]
    assert found[b"getppid"] == probes.resolve_symbol(os.path.realpath(libc.decode()), "getppid").address
    assert BPF.get_user_functions("c", b"^getppid$") == {b"getppid"}
    assert BPF.get_user_addresses("c", "^getppid$") == {found[b"getppid"]}
    BPF.add_module(libc)  # read now, as BCC's symbol cache; a missing file is reported, not raised
    with pytest.raises(FileNotFoundError):
        BPF.get_user_functions_and_addresses(str(tmp_path / "missing"), "x")


def test_kprobe_functions_match_whole_names() -> None:
    assert b"vfs_read" not in BPF.get_kprobe_functions(b"vfs_rea")  # BCC's re.fullmatch, not a prefix
    found = BPF.get_kprobe_functions(b"vfs_rea.*")
    assert b"vfs_read" in found and all(f.startswith(b"vfs_rea") and b".cold" not in f for f in found)


def test_probe_limit_and_auto_includes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BCC_PROBE_LIMIT", raising=False)
    assert BPF.get_probe_limit() == 1000
    monkeypatch.setenv("BCC_PROBE_LIMIT", "12")
    assert BPF.get_probe_limit() == 12
    assert BPF.generate_auto_includes(["struct", "sk_buff", "bio"]) == \
        "#include <linux/blkdev.h>\n#include <linux/netdevice.h>\n"
    assert BPF.generate_auto_includes(["x"]) == ""


def test_fmod_ret_is_refused_in_one_line_without_trampolines(rec: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(bpfmod, "_probe_trampolines", lambda: False)
    monkeypatch.setattr(bpfmod, "_TRAMPOLINES", [False, "EPERM"])
    b = make_bpf("KMOD_RET(update_socket_protocol, int family, int type, int protocol) { return 0; }",
                 make_fake_kernel(), rec)
    with pytest.raises(NotSupportedError) as ei:
        b.attach_fmod_ret("update_socket_protocol")
    assert ei.value.feature == "trampoline" and "\n" not in str(ei.value) and "EPERM" in str(ei.value)
    assert "fmod_ret" in str(ei.value)
    assert rec.loads == []
    assert isinstance(BPF.support_fmod_ret(), bool)


@pytest.mark.kernel
def test_uprobe_on_a_symbol_regex(cache_home: Path) -> None:
    require("perf_events")  # a uprobe is a perf event (perf_event_paranoid=3 refuses it to some users)
    require("uprobes")  # and creating one needs CAP_SYS_ADMIN since 2025
    text = "BPF_ARRAY(calls, u64, 1);\nint on_call(struct pt_regs *ctx) { calls.increment(0); return 0; }\n"
    with BPF(text=text) as b:
        b.attach_uprobe(name="c", sym_re="^getppid$", fn_name="on_call", pid=os.getpid())
        assert b.num_open_uprobes() == 1
        for _ in range(3):
            os.getppid()
        assert b["calls"][0].value == 3


# ---- kernel #defines --------------------------------------------------------------------


def test_btf_defines_come_from_the_kernels_types() -> None:
    btf = HostKernel().btf
    d = btf_defines(btf)
    facts = HostKernel()
    dentry = facts.record("struct", "dentry")
    assert dentry is not None
    assert int(d["IFNAMSIZ"]) == 16 and int(d["TASK_COMM_LEN"]) == 16
    assert int(d["DNAME_INLINE_LEN"]) >= 32
    assert int(d["REQ_OP_BITS"]) >= 8 and d["REQ_OP_MASK"] == "((1U << REQ_OP_BITS) - 1)"
    assert d["REQ_SYNC"] == "(1ULL << __REQ_SYNC)"


def test_uapi_defines_take_constant_expressions_only() -> None:
    text = textwrap.dedent("""\
        #define A 1 /* one */
        #define B (A << 3)
        #define C some_function(2)
        #define D 0x10UL
        #define E UNKNOWN_NAME
        #define TAKEN 4
        #define _PRIVATE 5
        #define F(x) (x)
        """)
    got = uapi_defines([text], lambda n: n == "TAKEN")
    assert got == {"A": "1", "B": "(A << 3)", "D": "0x10UL"}


def test_errno_values_are_the_c_librarys() -> None:
    text = kernel_defines(HostKernel().btf, read_uapi_headers())
    for name in ("ENOMEM", "EPERM", "ENOENT", "EAGAIN", "ECONNREFUSED"):
        assert f"#define {name} {getattr(errno, name)}\n" in text


ORACLES: dict[str, int] = {
    "SCM_RIGHTS": socket.SCM_RIGHTS, "SCM_CREDENTIALS": socket.SCM_CREDENTIALS,
    "SCM_SECURITY": getattr(socket, "SCM_SECURITY", 3), "SCM_PIDFD": getattr(socket, "SCM_PIDFD", 4),
    "U8_MAX": 2**8 - 1, "U16_MAX": 2**16 - 1, "U32_MAX": 2**32 - 1, "U64_MAX": 2**64 - 1,
    "S32_MAX": 2**31 - 1, "S64_MAX": 2**63 - 1,
    # documented kernel values (the comment of TABLE names the header): no Python oracle
    "READ": 0, "WRITE": 1, "PAGE_ALLOC_COSTLY_ORDER": 3, "FMODE_CREATED": 1 << 20, "SG_END": 2, "SG_CHAIN": 1,
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_table_entry_compiles_to_its_value(name: str, cache_home: Path) -> None:
    assert name in ORACLES, f"{name} needs an oracle in this test"
    text = (f"_Static_assert((unsigned long long)({name}) == {ORACLES[name]}ULL, \"{name}\");\n"
            "int f(void *ctx) { return 0; }\n")
    compile_c(rewrite(text, kernel=HostKernel()).source)  # a wrong value fails the static assertion


def test_kernel_defines_compile_in_a_program(cache_home: Path) -> None:
    text = ("struct name_t { char name[DNAME_INLINE_LEN]; };\nBPF_ARRAY(a, struct name_t, 1);\n"
            "int f(void *ctx) { int e = -ENOMEM; u32 op = 3 & REQ_OP_MASK; char d[DISK_NAME_LEN];\n"
            "  return e + op + sizeof(d) + (AT_FDCWD < 0) + MS_RDONLY; }\n")
    compile_c(rewrite(text, kernel=HostKernel()).source)


# ---- the rewriter on C the tools write ------------------------------------------------------


def test_address_of_a_field_under_a_cast_is_an_address(fake_kernel: FakeKernel) -> None:
    text = ("int f(struct pt_regs *ctx, struct task_struct *t) {\n"
            "  u32 s; bpf_probe_read_kernel(&s, sizeof(s), (const void *)&t->tgid);\n"
            "  u32 x = (u32)t->tgid & 3; return s + x; }\n")
    out = user_part(rewrite(text, kernel=fake_kernel).source)
    assert "(const void *)&t->tgid" in out  # the address, not the value read by BPF_CORE_READ
    assert "(u32)BPF_CORE_READ(t, tgid) & 3" in out  # a cast of a read value stays a read


def test_member_aliases_of_inet_sock_and_in6_addr() -> None:
    text = ("int f(struct pt_regs *ctx, struct inet_sock *inet, struct sock *sk) {\n"
            "  u32 a = inet->inet_rcv_saddr; u16 p; bpf_probe_read_kernel(&p, 2, (void *)&inet->inet_dport);\n"
            "  u8 b[16]; bpf_probe_read_kernel(b, 16, (void *)&sk->__sk_common.skc_v6_daddr.s6_addr);\n"
            "  return a + p + b[0]; }\n")
    out = user_part(rewrite(text, kernel=net_kernel()).source)
    assert "BPF_CORE_READ(inet, sk.__sk_common.skc_rcv_saddr)" in out
    assert "(void *)&inet->sk.__sk_common.skc_dport" in out
    assert "(void *)&sk->__sk_common.skc_v6_daddr.s6_addr" in out  # the compat header's macro, as the kernel's
    assert "#define s6_addr in6_u.u6_addr8" in (Path(bpfmod.__file__).parent / "bcc_compat.h").read_text()


def test_reads_through_casts_and_raw_indexes_are_probe_reads(fake_kernel: FakeKernel) -> None:
    text = ("int f(struct pt_regs *ctx, struct sock *sk, struct task_struct *t) {\n"
            "  u8 b = *((u8 *)&sk->__sk_common.skc_family - 1);\n"
            "  u8 c = ((u8 *)t)[13];\n"
            "  return b + c; }\n")
    out = user_part(rewrite(text, kernel=fake_kernel).source)
    assert out.count("bpf_probe_read_kernel(&__bcc_kv") == 2
    assert "((u8 *)&sk->__sk_common.skc_family - 1)" in out and "((u8 *)(t) + (13))" in out


def test_a_tools_copy_of_a_kernel_struct_is_read_with_core() -> None:
    text = ("struct mnt_namespace {\n#if 0\n  int count;\n#endif\n  struct ns_common ns; };\n"
            "struct mine { int not_in_the_kernel; };\n"
            "int f(struct pt_regs *ctx, struct nsproxy *np) {\n"
            "  struct mnt_namespace *mnt_ns = np->mnt_ns;\n  return mnt_ns->ns.inum; }\n")
    out = user_part(rewrite(text, kernel=net_kernel()).source)
    assert "struct mnt_namespace___bcc {" in out  # a CO-RE flavour of the kernel's type
    assert "BPF_CORE_READ(mnt_ns, ns.inum)" in out


def test_a_struct_of_the_program_over_kernel_memory_is_probe_read(fake_kernel: FakeKernel) -> None:
    text = ("struct partial { u64 weight; unsigned int nr_running; };\n"
            "int f(struct bpf_perf_event_data *ctx) {\n"
            "  struct task_struct *task = (struct task_struct *)bpf_get_current_task();\n"
            "  struct partial *q = (struct partial *)task->mm;\n"
            "  struct partial local = {}; struct partial *l = &local;\n"
            "  return q->nr_running + l->nr_running; }\n")
    out = user_part(rewrite(text, kernel=fake_kernel).source)
    assert "bpf_probe_read_kernel(&__bcc_kv, sizeof(__bcc_kv), &q->nr_running)" in out
    assert "+ l->nr_running" in out  # a pointer to the stack is read directly


@pytest.mark.kernel
def test_cloned_functions_keep_their_if_context(cache_home: Path) -> None:
    text = ("#ifdef BPFKIT_NOT_DEFINED\nstatic int pick(struct pt_regs *ctx) { return PT_REGS_PARM2(ctx); }\n"
            "int probe(struct pt_regs *ctx) { return pick(ctx); }\n"
            "#else\nstatic int pick(struct pt_regs *ctx) { return PT_REGS_PARM1(ctx); }\n#endif\n"
            "int entry(struct pt_regs *ctx) { return pick(ctx); }\n")
    result = rewrite(text, kernel=HostKernel())
    copies = result.source[result.source.index("---- syscall_enter copies"):]
    assert "#ifdef BPFKIT_NOT_DEFINED\n#else\n" in copies
    compile_c(result.source)  # no "redefinition of pick__bcc_tpe", no call of the compiled-out probe()


def test_kernel_inline_functions_get_bpf_versions(fake_kernel: FakeKernel) -> None:
    text = ("int f(struct pt_regs *ctx, struct folio *folio) { struct page *p = folio_page(folio, 0);\n"
            "  return p != 0; }\n")
    source = rewrite(text, kernel=fake_kernel).source
    assert KERNEL_INLINES["folio_page"] in source and KERNEL_INLINES["sg_is_last"] not in source
    own = "static bool sg_is_last(void *sg) { return 1; }\nint f(void *ctx) { return sg_is_last(ctx); }\n"
    assert KERNEL_INLINES["sg_is_last"] not in rewrite(own, kernel=fake_kernel).source  # the program's own wins


def test_a_kernel_function_bpf_cannot_call_is_named_at_compile_time(cache_home: Path) -> None:
    text = "int f(struct pt_regs *ctx) {\n  void *p = (void *)0;\n  return kernel_only_inline_fn(p);\n}\n"
    with pytest.raises(CompileError) as ei:
        compile_c(rewrite(text, kernel=HostKernel(), filename="t.c").source, filename="t.c")
    assert ei.value.line == 3 and "kernel_only_inline_fn()" in str(ei.value) and "inline function" in str(ei.value)


def test_perf_submit_of_a_pointer_with_a_computed_size_records_the_event_type(fake_kernel: FakeKernel) -> None:
    text = ("struct ev_t { u32 len; char buf[64]; };\nBPF_PERCPU_ARRAY(scratch, struct ev_t, 1);\n"
            "BPF_PERF_OUTPUT(events);\n"
            "int f(struct pt_regs *ctx) { int z = 0; struct ev_t *ev = scratch.lookup(&z); if (!ev) return 0;\n"
            "  u32 n = ev->len & 63; events.perf_submit(ctx, ev, sizeof(u32) + n); return 0; }\n")
    result = rewrite(text, kernel=fake_kernel)
    assert result.event_types == {"events": "__bcc_event_t__events"}
    assert "typedef __typeof__(*(ev)) __bcc_event_t__events;" in result.source


def test_a_missing_kernel_type_is_a_refusal(cache_home: Path) -> None:
    text = "int f(struct pt_regs *ctx) { struct bpfkit_no_such_type *p = 0; return p->x; }\n"
    with pytest.raises(NotSupportedError) as ei:
        BPF(text=text)
    assert "struct bpfkit_no_such_type" in str(ei.value) and "BTF" in str(ei.value)


# ---- fallbacks ----------------------------------------------------------------------------------


STAT = ("int syscall__stat_entry(struct pt_regs *ctx, const char *f) { return 0; }\n"
        "int syscall__newstat_entry(struct pt_regs *ctx, const char *f) { return 0; }\n"
        "int trace_return(struct pt_regs *ctx) { return PT_REGS_RC(ctx); }\n")


def test_a_syscall_function_maps_to_its_syscall_define_tracepoint(rec: Recorder, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    no_kprobes(monkeypatch)
    refuse_trampolines(monkeypatch)
    k = make_fake_kernel()
    k.formats[("syscalls", "sys_enter_newstat")] = SYS_ENTER_NEWSTAT
    k.formats[("syscalls", "sys_exit_newstat")] = SYS_ENTER_NEWSTAT.replace("sys_enter", "sys_exit")
    b = make_bpf(STAT, k, rec)
    for name in ("stat", "newstat"):
        b.attach_kprobe(event=f"__x64_sys_{name}", fn_name=f"syscall__{name}_entry")
        b.attach_kretprobe(event=f"__x64_sys_{name}", fn_name="trace_return")
    tps = [link.what[:4] for link in rec.attached if link.what[0] == "tracepoint"]
    assert tps == [("tracepoint", "syscall__stat_entry__bcc_tpe", "syscalls", "sys_enter_newstat"),
                   ("tracepoint", "trace_return__bcc_tpx", "syscalls", "sys_exit_newstat"),
                   ("tracepoint", "syscall__newstat_entry__bcc_tpe", "syscalls", "sys_enter_newstat")]
    assert b.num_open_kprobes() == 4  # the second return probe shares the first one's link
    for name in ("stat", "newstat"):
        b.detach_kretprobe(f"__x64_sys_{name}")
    assert b.num_open_kprobes() == 2


@pytest.mark.kernel
def test_a_missing_raw_tracepoint_is_a_refusal(cache_home: Path) -> None:
    with BPF(text="int f(struct bpf_raw_tracepoint_args *ctx) { return 0; }\n") as b, \
            pytest.raises(NotSupportedError) as ei:
        b.attach_raw_tracepoint(tp="bpfkit_no_such_tracepoint", fn_name="f")
    assert "bpfkit_no_such_tracepoint" in str(ei.value)


def test_tracefs_where_bcc_tools_look_for_it() -> None:
    from bpfkit.host import debugfs_tracing

    root = debugfs_tracing()  # mounts debugfs (and so tracefs under it) when missing
    assert root == "/sys/kernel/debug/tracing"
    assert os.path.isdir(os.path.join(root, "events", "syscalls"))


def test_the_runner_refuses_in_one_line(tmp_path: Path) -> None:
    script = tmp_path / "tool.py"
    script.write_text("from bcc import BPF\nfrom bpfkit.errors import NotSupportedError\n"
                      "raise NotSupportedError('this kernel has no widgets', feature='widgets')\n")
    p = subprocess.run([sys.executable, "-m", "bpfkit.bcc", str(script)], capture_output=True, text=True,
                       check=False)
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("bpfkit.bcc: error:")]
    assert lines == ["bpfkit.bcc: error: tool.py: this kernel has no widgets"]
    assert "Traceback" not in p.stderr


def test_sockaddr_storage_is_the_kernels_tag(cache_home: Path) -> None:
    # rdmaucma: 'struct sockaddr_storage' is '#define sockaddr_storage __kernel_sockaddr_storage' in the kernel
    text = ("int f(struct pt_regs *ctx, struct sock *sk) {\n"
            "  struct sockaddr_storage *ss = (struct sockaddr_storage *)sk;\n"
            "  return ss->ss_family == AF_INET;\n}\n")
    out = rewrite(text, kernel=HostKernel()).source
    assert "BPF_CORE_READ(ss, ss_family)" in out  # a kernel struct: read with CO-RE
    compile_c(out)


# ---- a capabilities-only user (CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN, no root) -----------------

_REFUSALS = r"""
import ctypes, ctypes.util, json, os, sys
from bpfkit import features
from bpfkit.bcc import BPF
from bpfkit.errors import AccessError, BpfError, NotSupportedError

def outcome(fn):
    try:
        fn()
    except BpfError as exc:
        return {"raised": type(exc).__name__, "cause": getattr(exc, "cause", None),
                "fix": getattr(exc, "fix", None), "message": str(exc)}
    return {"raised": None}

tracefs = features.check("tracefs")
out = {"tracefs": tracefs.available, "tracefs_cause": tracefs.cause and tracefs.cause.value,
       "uprobes": features.check("uprobes").available}
out["tracepoint"] = outcome(lambda: BPF(text="TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return 0; }\n"))
out["ksymname"] = outcome(lambda: BPF.ksymname("do_sys_openat2"))
out["tracepoint_exists"] = BPF.tracepoint_exists("syscalls", "sys_enter_getppid")
with BPF(text="int f(struct __sk_buff *skb) { return 0; }\nint u(struct pt_regs *ctx) { return 0; }\n") as b:
    out["raw_socket"] = outcome(lambda: b.attach_raw_socket(b.load_func("f", BPF.SOCKET_FILTER), "lo"))
    out["uprobe"] = outcome(lambda: b.attach_uprobe(name="c", sym="getpid", fn_name="u"))
print(json.dumps(out))
"""


@pytest.mark.kernel
def test_refusals_of_a_capabilities_only_user_name_the_cause() -> None:
    from hostenv import CAPS_ONLY, run_as

    r = run_as(CAPS_ONLY, ["-c", _REFUSALS])  # no home: bpfkit.bcc compiles in a private temporary cache
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    if not out["tracefs"]:  # mode 700 for root (or empty): what needs it says why, and names what works without it
        assert out["tracepoint"]["raised"] == "NotSupportedError"
        assert out["tracepoint"]["cause"] == out["tracefs_cause"] is not None
        assert "RAW_TRACEPOINT_PROBE" in out["tracepoint"]["message"]
    else:
        assert out["tracepoint"]["raised"] is None
    assert out["tracepoint_exists"] == out["tracefs"]  # BCC's tools then take their kprobe path
    hidden = out["ksymname"]["raised"] is not None
    assert not hidden or (out["ksymname"]["raised"] == "AccessError" and out["ksymname"]["fix"])
    assert out["raw_socket"]["raised"] == "AccessError" and "CAP_NET_RAW" in out["raw_socket"]["message"]
    if out["uprobes"]:
        assert out["uprobe"]["raised"] is None
    else:
        assert out["uprobe"]["raised"] == "NotSupportedError" and out["uprobe"]["cause"] == "capability"


@pytest.mark.kernel
def test_the_runner_refuses_a_capabilities_only_user_in_one_line() -> None:
    from hostenv import CAPS_ONLY, run_as

    path = Path(__file__).resolve().parents[2] / "examples" / "bcc_syscount.py"
    probe = run_as(CAPS_ONLY, ["-c", "from bpfkit import features; print(features.check('tracefs').available)"])
    assert probe.returncode == 0, probe.stderr
    r = run_as(CAPS_ONLY, ["-m", "bpfkit.bcc", str(path), "--interval", "0.2", "--times", "1"], timeout=300)
    if probe.stdout.strip() == "True":  # a host whose tracefs this user may read: the tool runs
        assert r.returncode == 0 and "Tracing syscalls" in r.stdout, r.stderr[-2000:]
        return
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith("bpfkit.bcc: error: bcc_syscount.py: ") and "tracefs" in lines[0]
