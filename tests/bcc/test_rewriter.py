"""The BCC C rewriter, on text only (a fake kernel supplies BTF facts and tracefs formats)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfkit.arch import arch as this_arch
from bpfkit.bcc import CompileError
from bpfkit.bcc._lexer import Kind, tokenize
from bpfkit.bcc._maps import MapDecl, map_decl, map_definition
from bpfkit.bcc._rewriter import FuncKind, Mode, rewrite
from bpfkit.bcc._tracepoints import parse_format, syscall_arg_count, tracepoint_struct

from .conftest import SCHED_SWITCH, SYS_ENTER_EXECVE, FakeKernel

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def user_part(source: str) -> str:
    """The rewritten user text: from its '#line 1' marker to the generated epilogue."""
    start = source.index('#line 1 "<text>"\n') + len('#line 1 "<text>"\n')
    end = source.index('#line 1 "<bpfkit.bcc generated>"')
    return source[start:end]


def program_text(example: str) -> str:
    """The C text of an example program (program = r\"\"\"...\"\"\")."""
    text = (EXAMPLES / example).read_text()
    m = re.search(r'program = r"""\n(.*?)"""', text, re.S)
    assert m is not None
    return m.group(1)


# ---- lexer ---------------------------------------------------------------------------


@pytest.mark.parametrize("example", ["bcc_uid_counter.py", "bcc_perf_hello.py", "bcc_tailcalls.py"])
def test_lexer_round_trips_the_examples(example: str) -> None:
    text = program_text(example)
    assert "".join(t.text for t in tokenize(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab_1 \t\n(){}[];,.->+*&/#\"'\\x=!<")), max_size=80))
def test_lexer_round_trips_or_refuses(text: str) -> None:
    try:
        toks = tokenize(text)
    except ValueError:
        return  # an unterminated literal or comment: refused, never mangled
    assert "".join(t.text for t in toks) == text


def test_lexer_keeps_lines_and_directives() -> None:
    toks = tokenize('#include <x.h>\nint a; /* c\n */ char *s = "x\\"y";\n#define F(a) \\\n  a\nb')
    kinds = [(t.kind, t.line) for t in toks if t.kind in (Kind.DIRECTIVE, Kind.STRING, Kind.COMMENT)]
    assert kinds == [(Kind.DIRECTIVE, 1), (Kind.COMMENT, 2), (Kind.STRING, 3), (Kind.DIRECTIVE, 4)]
    assert [t for t in toks if t.text == "b"][0].line == 6


# ---- maps ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("macro", "args", "expect"),
    [
        ("BPF_HASH", ["counts"], ("HASH", "u64", "u64", "10240")),
        ("BPF_HASH", ["counts", "u32"], ("HASH", "u32", "u64", "10240")),
        ("BPF_HASH", ["c", "struct key_t", "struct val_t", "128"], ("HASH", "struct key_t", "struct val_t", "128")),
        ("BPF_LRU_HASH", ["c", "u32"], ("LRU_HASH", "u32", "u64", "10240")),
        ("BPF_PERCPU_HASH", ["c"], ("PERCPU_HASH", "u64", "u64", "10240")),
        ("BPF_ARRAY", ["a"], ("ARRAY", "int", "u64", "10240")),
        ("BPF_ARRAY", ["a", "struct v", "4"], ("ARRAY", "int", "struct v", "4")),
        ("BPF_PERCPU_ARRAY", ["a", "u32"], ("PERCPU_ARRAY", "int", "u32", "10240")),
        ("BPF_HISTOGRAM", ["dist"], ("ARRAY", "int", "u64", "64")),
        ("BPF_HISTOGRAM", ["dist", "struct hist_key"], ("HASH", "struct hist_key", "u64", "64")),
        ("BPF_PERF_OUTPUT", ["events"], ("PERF_EVENT_ARRAY", "int", "u32", "__BCC_NR_CPUS")),
        ("BPF_RINGBUF_OUTPUT", ["rb", "8"], ("RINGBUF", None, None, "((8) * __BCC_PAGE_SIZE)")),
        ("BPF_PROG_ARRAY", ["syscall", "300"], ("PROG_ARRAY", "u32", "u32", "300")),
        ("BPF_STACK_TRACE", ["st", "1024"], ("STACK_TRACE", "int", "struct bpf_stacktrace", "1024")),
        ("BPF_QUEUE", ["q", "u32", "16"], ("QUEUE", None, "u32", "16")),
        ("BPF_STACK", ["s", "u64", "8"], ("STACK", None, "u64", "8")),
        ("BPF_TABLE", ['"lru_hash"', "u32", "u64", "t", "99"], ("LRU_HASH", "u32", "u64", "99")),
        ("BPF_TABLE", ['"histogram"', "int", "u64", "h", "64"], ("ARRAY", "int", "u64", "64")),
    ],
)
def test_map_macros_have_bccs_defaults(macro: str, args: list[str], expect: tuple[str, str | None, str | None, str]) -> None:
    d = map_decl(macro, args)
    assert (d.map_type, d.key_type, d.leaf_type, d.max_entries) == expect


def test_lpm_trie_and_flags() -> None:
    assert map_decl("BPF_LPM_TRIE", ["t", "struct k"]).flags == "BPF_F_NO_PREALLOC"
    d = map_decl("BPF_F_TABLE", ['"hash"', "u32", "u32", "t", "10", "BPF_F_NO_PREALLOC"])
    assert d.flags == "BPF_F_NO_PREALLOC"
    assert "__uint(map_flags, BPF_F_NO_PREALLOC);" in map_definition(d)


@pytest.mark.parametrize(
    ("macro", "args"),
    [("BPF_HASH", []), ("BPF_ARRAY", ["a", "b", "c", "d"]), ("BPF_TABLE", ["hash", "u32", "u32", "t", "1"]),
     ("BPF_TABLE", ['"nope"', "u32", "u32", "t", "1"]), ("BPF_TABLE_PINNED", ['"hash"', "u32", "u32", "t", "1", '"/p"']),
     ("BPF_HASH_OF_MAPS", ["m", "inner"])],
)
def test_bad_map_macros_are_refused(macro: str, args: list[str]) -> None:
    with pytest.raises(ValueError):
        map_decl(macro, args)


def test_maps_of_maps_name_their_inner_map() -> None:
    h = map_decl("BPF_HASH_OF_MAPS", ["outer", "u32", '"ex1"', "8"])
    assert (h.map_type, h.key_type, h.inner, h.max_entries) == ("HASH_OF_MAPS", "u32", "ex1", "8")
    assert map_decl("BPF_HASH_OF_MAPS", ["outer", '"ex1"', "8"]).key_type == "int"
    a = map_decl("BPF_ARRAY_OF_MAPS", ["outer", '"ex2"', "4"])
    assert (a.map_type, a.key_type, a.inner) == ("ARRAY_OF_MAPS", "int", "ex2")
    t = map_decl("BPF_TABLE", ['"hash_of_maps$ex1"', "int", "int", "outer", "8"])  # BCC's own expansion
    assert (t.map_type, t.inner) == ("HASH_OF_MAPS", "ex1")
    text = map_definition(a)
    assert text.endswith('__typeof__(ex2) *values[]; } outer SEC(".maps")') and "value_size" not in text
    with pytest.raises(ValueError, match="string literal"):
        map_decl("BPF_ARRAY_OF_MAPS", ["outer", "ex2", "4"])


def test_map_definitions_are_btf_maps_or_sized() -> None:
    h = map_definition(MapDecl("counts", "BPF_HASH", "HASH", "u32", "u64", "10240"))
    assert "__type(key, __bcc_key_t__counts);" in h and 'counts SEC(".maps")' in h
    assert "typedef u32 __bcc_key_t__counts;" in h
    p = map_definition(map_decl("BPF_PERF_OUTPUT", ["events"]))
    assert "__uint(key_size, sizeof(__bcc_key_t__events));" in p and "__type(" not in p
    r = map_definition(map_decl("BPF_RINGBUF_OUTPUT", ["rb", "4"]))
    assert "BPF_MAP_TYPE_RINGBUF" in r and "key" not in r.replace("__bcc", "")
    assert "\n" not in h + p + r


# ---- methods --------------------------------------------------------------------------------


def test_document_002_program(fake_kernel: FakeKernel) -> None:
    r = rewrite(program_text("bcc_uid_counter.py"), kernel=fake_kernel)
    body = user_part(r.source)
    assert "p = ((__bcc_leaf_t__counter_table *)bpf_map_lookup_elem(&counter_table, &uid));" in body
    assert "bpf_map_update_elem(&counter_table, &uid, &counter, BPF_ANY);" in body
    assert "static __always_inline int __bcc_fn_hello(void *ctx)" in body
    fn = r.functions["hello"]
    assert fn.kind is FuncKind.PROGRAM and fn.symbols == {Mode.KPROBE: "hello"}  # reads no registers: one entry
    assert 'SEC(__BCC_NOAUTO "kprobe") int hello(void *ctx) { return __bcc_fn_hello(ctx); }' in r.source
    assert r.maps["counter_table"].map_type == "HASH"


def test_lines_of_the_user_text_are_kept(fake_kernel: FakeKernel) -> None:
    text = program_text("bcc_uid_counter.py")
    body = user_part(rewrite(text, kernel=fake_kernel).source)
    for needle in ("counter++;", "uid = bpf_get_current_uid_gid()", "return 0;"):
        src_line = next(i for i, ln in enumerate(text.splitlines()) if needle in ln)
        out_line = next(i for i, ln in enumerate(body.splitlines()) if needle in ln)
        assert src_line == out_line, needle


def test_document_004_perf_output_records_the_event_type(fake_kernel: FakeKernel) -> None:
    r = rewrite(program_text("bcc_perf_hello.py"), kernel=fake_kernel)
    assert r.event_types == {"output": "__bcc_event_t__output"}
    body = user_part(r.source)
    assert "typedef __typeof__(data) __bcc_event_t__output;" in body
    assert "__builtin_btf_type_id(*(__bcc_event_t__output *)0, 0)" in body
    assert "bpf_perf_event_output(ctx, &output, BPF_F_CURRENT_CPU, &data, sizeof(data));" in body


def test_document_004_tail_calls(fake_kernel: FakeKernel) -> None:
    r = rewrite(program_text("bcc_tailcalls.py"), kernel=fake_kernel)
    body = user_part(r.source)
    assert "bpf_tail_call(ctx, &syscall, opcode);" in body
    assert '__bcc_printk("Another syscall: %d", opcode);' in body
    assert set(r.functions) == {"hello", "hello_execve", "hello_timer", "ignore_opcode"}
    assert r.functions["hello"].section == "raw_tracepoint"  # from its bpf_raw_tracepoint_args context
    assert r.maps["syscall"].map_type == "PROG_ARRAY"


def test_the_documents_typos_are_reported_with_their_line(fake_kernel: FakeKernel) -> None:
    text = program_text("bcc_tailcalls.py").replace('"Executing a program");', '"Executing a program);')
    with pytest.raises(CompileError) as ei:
        rewrite(text, kernel=fake_kernel)
    assert ei.value.line == next(i for i, ln in enumerate(text.splitlines(), 1) if "Executing a program" in ln)
    assert "unterminated string" in str(ei.value)


def test_hash_comments_are_refused_as_c_does(fake_kernel: FakeKernel) -> None:
    text = "# a comment as in document 004\nBPF_HASH(h);\nint f(void *ctx) { return 0; }\n"
    r = rewrite(text, kernel=fake_kernel)  # a '#' line is a (bad) directive: clang refuses it, with its line
    assert "# a comment as in document 004" in r.source


METHODS = """
BPF_HASH(h, u32, u64);
BPF_ARRAY(a, u64, 8);
BPF_QUEUE(q, u32, 16);
BPF_STACK_TRACE(st, 128);
BPF_RINGBUF_OUTPUT(rb, 4);
struct ev { u32 pid; };
int f(void *ctx) {
    u32 k = 1; u64 v = 2, *p;
    h.insert(&k, &v);
    h.delete(&k);
    p = h.lookup_or_try_init(&k, &v);
    h.increment(k);
    h.increment(k, 5);
    a.atomic_increment(3);
    q.push(&k, 0);
    q.pop(&k);
    q.peek(&k);
    int id = st.get_stackid(ctx, 0);
    struct ev *e = rb.ringbuf_reserve(sizeof(struct ev));
    if (e) rb.ringbuf_submit(e, 0);
    rb.ringbuf_output(&k, sizeof(k), 0);
    return sizeof(h.leaf) + h.lookup(&k)[0];
}
"""


def test_table_methods_become_helper_calls(fake_kernel: FakeKernel) -> None:
    r = rewrite(METHODS, kernel=fake_kernel)
    body = user_part(r.source)
    assert "bpf_map_update_elem(&h, &k, &v, BPF_NOEXIST);" in body
    assert "bpf_map_delete_elem(&h, &k);" in body
    assert "if (!__leaf) { bpf_map_update_elem(&h, &k, &v, BPF_NOEXIST);" in body
    # increment inserts zero+n into a hash, only updates in place in an array
    inc = re.findall(r"\(\{ __bcc_key_t__h __key = k;.*?\}\)", body)
    assert len(inc) == 2 and "(*__leaf) += 1;" in inc[0] and "(*__leaf) += (5);" in inc[1]
    assert all("BPF_NOEXIST" in x for x in inc)
    arr = re.search(r"\(\{ __bcc_key_t__a __key = 3;.*?\}\)", body)
    assert arr is not None and "__sync_fetch_and_add(__leaf, 1);" in arr.group(0) and "NOEXIST" not in arr.group(0)
    assert "bpf_map_push_elem(&q, &k, 0);" in body and "bpf_map_pop_elem(&q, &k);" in body
    assert "bpf_map_peek_elem(&q, &k);" in body
    assert "bpf_get_stackid(ctx, &st, 0)" in body
    assert "bpf_ringbuf_reserve(&rb, sizeof(struct ev), 0)" in body and "typedef __typeof__(struct ev)" in body
    assert "bpf_ringbuf_submit(e, 0)" in body
    assert "sizeof((*(__bcc_leaf_t__h *)0))" in body
    assert "((__bcc_leaf_t__h *)bpf_map_lookup_elem(&h, &k))[0]" in body
    assert r.event_types == {"rb": "__bcc_event_t__rb"}


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ("h.frobnicate(&k);", "has no method 'frobnicate'"),
        ("h.lookup(&k, &k);", "takes 1 argument(s), got 2"),
        ("h.perf_submit(ctx, &k, 4);", "not available on a hash map"),
        ("h.increment();", "takes 1 or 2 argument(s), got 0"),
    ],
)
def test_bad_method_calls_name_the_line(fake_kernel: FakeKernel, snippet: str, message: str) -> None:
    text = f"BPF_HASH(h, u32);\nint f(void *ctx) {{\n  u32 k = 0;\n  {snippet}\n  return 0;\n}}\n"
    with pytest.raises(CompileError) as ei:
        rewrite(text, kernel=fake_kernel)
    assert ei.value.line == 4
    assert message in str(ei.value)


def test_trace_printk(fake_kernel: FakeKernel) -> None:
    text = ('int f(void *ctx) {\n  char fmt[] = "x %d";\n  bpf_trace_printk("a %d %d\\n", 1, 2);\n'
            '  bpf_trace_printk(fmt, sizeof(fmt), 3);\n  bpf_trace_printk("many %d %d %d %d", 1, 2, 3, 4);\n'
            "  return 0;\n}\n")
    body = user_part(rewrite(text, kernel=fake_kernel).source)
    assert '__bcc_printk("a %d %d\\n", 1, 2);' in body
    assert "bpf_trace_printk(fmt, sizeof(fmt), 3);" in body  # the helper itself: left alone
    assert 'bpf_printk("many %d %d %d %d", 1, 2, 3, 4);' in body  # more than 3 args: trace_vprintk


def test_defines_that_use_tables_are_rewritten(fake_kernel: FakeKernel) -> None:
    text = "BPF_PERF_OUTPUT(events);\n#define SUBMIT(d) events.perf_submit(ctx, &d, sizeof(d))\n" \
           "struct e { int x; };\nint f(void *ctx) { struct e d = {}; SUBMIT(d); return 0; }\n"
    src = rewrite(text, kernel=fake_kernel).source
    assert "#define SUBMIT(d) ({ typedef __typeof__(d) __bcc_event_t__events;" in src


def test_kernel_includes_are_dropped_and_local_ones_kept(fake_kernel: FakeKernel) -> None:
    text = '#include <linux/sched.h>\n#include <uapi/linux/ptrace.h>\n#include "mine.h"\nint f(void *ctx) { return 0; }\n'
    body = user_part(rewrite(text, kernel=fake_kernel).source)
    assert "#include <linux" not in body and "#include <uapi" not in body
    assert '#include "mine.h"' in body
    assert body.splitlines()[3].startswith("static __always_inline int __bcc_fn_f")


# ---- functions and sections -----------------------------------------------------------------


def test_probe_macros_and_named_functions(fake_kernel: FakeKernel) -> None:
    text = """
TRACEPOINT_PROBE(syscalls, sys_enter_execve) { bpf_trace_printk("%s", args->filename); return 0; }
RAW_TRACEPOINT_PROBE(sched_switch) { return 0; }
KFUNC_PROBE(do_unlinkat, int dfd, struct filename *name) { return 0; }
KRETFUNC_PROBE(do_unlinkat, int dfd, struct filename *name, long ret) { return 0; }
int tracepoint__sched__sched_process_exec(struct tracepoint__sched__sched_process_exec *args) { return args->pid; }
int raw_tracepoint__sys_exit(struct bpf_raw_tracepoint_args *ctx) { return 0; }
int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk) { return 0; }
int kretprobe__tcp_v4_connect(struct pt_regs *ctx) { return PT_REGS_RC(ctx); }
static int helper(int x) { return x; }
int uses_helper(void *ctx) { return helper(1); }
"""
    r = rewrite(text, kernel=fake_kernel)
    f = r.functions
    assert f["tracepoint__syscalls__sys_enter_execve"].section == "tracepoint/syscalls/sys_enter_execve"
    assert f["raw_tracepoint__sched_switch"].section == "raw_tracepoint/sched_switch"
    assert f["kfunc__vmlinux__do_unlinkat"].section == "fentry/do_unlinkat"
    assert f["kretfunc__vmlinux__do_unlinkat"].section == "fexit/do_unlinkat"
    assert f["tracepoint__sched__sched_process_exec"].section == "tracepoint/sched/sched_process_exec"
    assert f["raw_tracepoint__sys_exit"].section == "raw_tracepoint/sys_exit"
    assert f["kprobe__tcp_v4_connect"].kind is FuncKind.PROGRAM
    assert f["kretprobe__tcp_v4_connect"].section == "kretprobe"
    assert "helper" not in f and f["uses_helper"].kind is FuncKind.PROGRAM
    assert "int BPF_PROG(kfunc__vmlinux__do_unlinkat, int dfd, struct filename *name)" in r.source
    assert "struct tracepoint__syscalls__sys_enter_execve {" in r.source
    assert "struct tracepoint__sched__sched_process_exec {" in r.source
    assert r.tracepoints == [("syscalls", "sys_enter_execve"), ("sched", "sched_process_exec")]
    assert "static __always_inline int helper(int x)" in r.source
    # register readers get one entry point per kprobe fallback
    assert set(f["kprobe__tcp_v4_connect"].symbols) == set(Mode)
    assert f["kretprobe__tcp_v4_connect"].symbols[Mode.SYSCALL_EXIT] == "kretprobe__tcp_v4_connect__bcc_tpx"


def test_a_function_called_by_another_is_a_helper(fake_kernel: FakeKernel) -> None:
    text = "int sub(void *ctx) { return 1; }\nint main_prog(void *ctx) { return sub(ctx); }\n"
    r = rewrite(text, kernel=fake_kernel)
    assert list(r.functions) == ["main_prog"]
    assert "static __always_inline int sub(void *ctx)" in r.source


SYSCALL = """
struct data_t { u32 pid; u32 ppid; char comm[16]; };
BPF_PERF_OUTPUT(events);
static int submit(struct pt_regs *ctx, struct data_t *d) {
    events.perf_submit(ctx, d, sizeof(*d));
    return PT_REGS_PARM2(ctx) != 0;
}
int syscall__execve(struct pt_regs *ctx, const char __user *filename, const char __user *const __user *argv) {
    struct data_t data = {};
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    data.ppid = task->real_parent->tgid;
    bpf_probe_read_user_str(data.comm, sizeof(data.comm), filename);
    return submit(ctx, &data);
}
int ret_execve(struct pt_regs *ctx) { return PT_REGS_RC(ctx); }
"""


@pytest.mark.parametrize(("arch", "first", "second"), [("x86", "di", "si"), ("arm64", "orig_x0", "regs[1]")])
def test_syscall_convention_wrappers(fake_kernel: FakeKernel, arch: str, first: str, second: str) -> None:
    r = rewrite(SYSCALL, kernel=fake_kernel, arch=arch)
    fn = r.functions["syscall__execve"]
    assert fn.syscall_convention and fn.extra_args == 2
    src = r.source
    kprobe = re.search(r'SEC\(__BCC_NOAUTO "kprobe"\) int syscall__execve\(void \*ctx\) \{.*\}', src)
    assert kprobe is not None
    # on a kprobe of __x64_sys_execve (__arm64_sys_execve) the arguments are in the user pt_regs the first
    # argument points to, in the registers of the architecture's system call convention
    assert "struct pt_regs *__bcc_sr = (struct pt_regs *)PT_REGS_PARM1((struct pt_regs *)ctx);" in kprobe.group(0)
    assert f"(const char __user *)BPF_CORE_READ(__bcc_sr, {first})" in kprobe.group(0)
    assert f"BPF_CORE_READ(__bcc_sr, {second})" in kprobe.group(0)
    tpe = re.search(r'int syscall__execve__bcc_tpe\(void \*ctx\) \{.*\}', src)
    assert tpe is not None
    assert "((struct trace_event_raw_sys_enter *)ctx)->args[0]" in tpe.group(0)
    assert "((struct trace_event_raw_sys_enter *)ctx)->args[1]" in tpe.group(0)
    # the helper is copied per mode, so PT_REGS_* read that mode's context
    assert "static __always_inline int submit__bcc_tpe(struct pt_regs *ctx, struct data_t *d)" in src
    assert "return submit__bcc_tpe(ctx, &data);" in src
    tpe_block = src[src.index("syscall_enter copies"):src.index("syscall_exit copies")]
    assert "#define PT_REGS_PARM2(x) ((unsigned long)((struct trace_event_raw_sys_enter *)(x))->args[1])" in tpe_block
    tpx_block = src[src.index("syscall_exit copies"):src.index("fentry copies")]
    assert "#define PT_REGS_RC(x) ((unsigned long)((struct trace_event_raw_sys_exit *)(x))->ret)" in tpx_block
    fexit_block = src[src.index("fexit copies"):]
    assert "#define PT_REGS_RC(x) (__bcc_func_ret(x))" in fexit_block
    # kernel pointer chains are CO-RE reads in every copy
    assert src.count("data.ppid = BPF_CORE_READ(task, real_parent, tgid);") == 5


def test_modes_can_be_limited(fake_kernel: FakeKernel) -> None:
    r = rewrite(SYSCALL, kernel=fake_kernel, modes=(Mode.SYSCALL_ENTER,))
    assert set(r.functions["syscall__execve"].symbols) == {Mode.KPROBE, Mode.SYSCALL_ENTER}
    assert "fentry copies" not in r.source


def test_extra_kprobe_arguments_need_pt_regs(fake_kernel: FakeKernel) -> None:
    with pytest.raises(CompileError, match="struct pt_regs"):
        rewrite("int f(void *ctx, int x) { return x; }\n", kernel=fake_kernel)


# ---- kernel pointer dereferences ------------------------------------------------------------


def deref(fake: FakeKernel, body: str, params: str = "struct pt_regs *ctx") -> str:
    text = f"int f({params}) {{\n  struct task_struct *task = (struct task_struct *)bpf_get_current_task();\n" \
           f"  struct sock *sk = 0;\n{body}\n  return 0;\n}}\n"
    return user_part(rewrite(text, kernel=fake, modes=()).source).splitlines()[3]


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ("  u32 a = task->tgid;", "  u32 a = BPF_CORE_READ(task, tgid);"),
        ("  u32 a = task->real_parent->real_parent->tgid;", "  u32 a = BPF_CORE_READ(task, real_parent, real_parent, tgid);"),
        ("  u64 a = task->se.vruntime;", "  u64 a = BPF_CORE_READ(task, se.vruntime);"),
        ("  void *a = &task->real_parent->comm;", "  void *a = &(BPF_CORE_READ(task, real_parent))->comm;"),
        ("  char *a = task->real_parent->comm;", "  char *a = (BPF_CORE_READ(task, real_parent))->comm;"),
        ("  char *a = task->comm;", "  char *a = task->comm;"),
        ("  int a = sizeof(task->real_parent->tgid);", "  int a = sizeof(task->real_parent->tgid);"),
        ("  char a = task->comm[0];", "  char a = BPF_CORE_READ(task, comm[0]);"),
        ("  int a = task->real_parent->in_execve;",
         "  int a = BPF_CORE_READ_BITFIELD_PROBED(BPF_CORE_READ(task, real_parent), in_execve);"),
        ("  u16 a = sk->sk_family;", "  u16 a = BPF_CORE_READ(sk, __sk_common.skc_family);"),
        ("  u16 a = sk->__sk_common.skc_dport;", "  u16 a = BPF_CORE_READ(sk, __sk_common.skc_dport);"),
        ("  int a = task->no_such_field;", "  int a = task->no_such_field;"),
        ("  u64 a = task->mm->arg_start + task->pid;", "  u64 a = BPF_CORE_READ(task, mm, arg_start) + BPF_CORE_READ(task, pid);"),
    ],
)
def test_kernel_pointer_chains_become_core_reads(fake_kernel: FakeKernel, body: str, expect: str) -> None:
    assert deref(fake_kernel, body) == expect


def test_writes_through_kernel_pointers_are_refused(fake_kernel: FakeKernel) -> None:
    for body in ("  task->pid = 1;", "  task->real_parent->tgid += 1;", "  ++task->pid;"):
        with pytest.raises(CompileError) as ei:
            deref(fake_kernel, body)
        assert ei.value.line == 4 and "writes to kernel memory" in str(ei.value)


def test_parameters_of_kprobes_are_kernel_pointers(fake_kernel: FakeKernel) -> None:
    text = "int kprobe__tcp_connect(struct pt_regs *ctx, struct sock *sk) {\n  return sk->__sk_common.skc_dport;\n}\n"
    assert "return BPF_CORE_READ(sk, __sk_common.skc_dport);" in rewrite(text, kernel=fake_kernel).source


def test_default_arch_is_this_machines(fake_kernel: FakeKernel) -> None:
    """Without ``arch`` the rewriter names the registers of the machine it runs on (its programs load here)."""
    here = rewrite(SYSCALL, kernel=fake_kernel).source
    assert here == rewrite(SYSCALL, kernel=fake_kernel, arch=this_arch().target).source


def test_no_rewrite_of_user_structs_ctx_or_network_programs(fake_kernel: FakeKernel) -> None:
    text = """
struct task_like { int pid; };
int f(struct pt_regs *ctx) { struct task_like *t = 0; return t->pid + ctx->di; }
int x(struct xdp_md *ctx) { struct sock *sk = 0; return sk->sk_rcvbuf; }
"""
    src = user_part(rewrite(text, kernel=fake_kernel, modes=()).source)
    assert "return t->pid + ctx->di;" in src
    assert "return sk->sk_rcvbuf;" in src


def test_user_types_that_vmlinux_also_defines_are_renamed(fake_kernel: FakeKernel) -> None:
    text = "struct key { u32 a; };\ntypedef int key_t;\nBPF_HASH(h, struct key, key_t);\n" \
           "int f(void *ctx) { struct key k = {}; key_t v = 0; h.update(&k, &v); return 0; }\n"
    body = user_part(rewrite(text, kernel=fake_kernel).source)
    assert "struct key___bcc { u32 a; };" in body and "typedef int key_t___bcc;" in body
    assert "typedef struct key___bcc __bcc_key_t__h;" in body
    assert "struct key___bcc k = {}; key_t___bcc v = 0;" in body


# ---- tracepoint structs -------------------------------------------------------------------------


def test_tracepoint_formats() -> None:
    fields = parse_format(SYS_ENTER_EXECVE)
    assert [f.name for f in fields][-3:] == ["filename", "argv", "envp"]
    assert syscall_arg_count(SYS_ENTER_EXECVE) == 3
    s = tracepoint_struct("sched", "sched_switch", SCHED_SWITCH, lambda n: n == "pid_t")
    assert "char prev_comm[16];" in s and "pid_t prev_pid;" in s and "long prev_state;" in s
    assert "u16 odd;" in s  # a type vmlinux.h does not have: an integer of its size
    assert "_Static_assert(__builtin_offsetof(struct tracepoint__sched__sched_switch, next_prio) == 60" in s


def test_unknown_tracepoint_is_an_error(fake_kernel: FakeKernel) -> None:
    with pytest.raises(CompileError, match="tracepoint nope:nothing does not exist"):
        rewrite("TRACEPOINT_PROBE(nope, nothing) { return 0; }\n", kernel=fake_kernel)


def test_a_map_may_be_defined_once_per_if_branch(fake_kernel: FakeKernel) -> None:
    text = "#ifdef LATENCY\nBPF_HASH(data, u32, struct d);\n#else\nBPF_HASH(data, u32, u64);\n#endif\n" \
           "int f(void *ctx) { u32 k = 0; data.increment(k); return 0; }\n"
    r = rewrite(text, kernel=fake_kernel)
    assert r.source.count('data SEC(".maps")') == 2
    assert r.maps["data"].leaf_type == "struct d" and r.warnings and "another definition" in r.warnings[0]
    with pytest.raises(CompileError, match="defined twice"):
        rewrite("BPF_HASH(data);\n#ifdef X\nBPF_HASH(data);\n#endif\n", kernel=fake_kernel)


def test_kernel_pointers_kept_in_the_programs_own_struct_are_read_with_core(fake_kernel: FakeKernel) -> None:
    # xfsslower's return probe: the entry probe stored the task in a map value; the chain through it reads kernel memory
    text = ("struct val_t { u64 ts; struct task_struct *t; };\nBPF_HASH(info, u32, struct val_t);\n"
            "int f(struct pt_regs *ctx) {\n  u32 k = 0;\n  struct val_t *valp = info.lookup(&k);\n"
            "  if (!valp) return 0;\n  u64 a = valp->t->real_parent->pid;\n  u64 b = valp->ts;\n"
            "  struct task_struct *p = valp->t;\n  return a + b + (p != 0);\n}\n")
    lines = user_part(rewrite(text, kernel=fake_kernel, modes=()).source).splitlines()
    body = "\n".join(lines)
    assert "u64 a = ({ __typeof__(valp->t) __bcc_kb = valp->t; BPF_CORE_READ(__bcc_kb, real_parent, pid); });" in body
    assert "u64 b = valp->ts;" in body and "struct task_struct *p = valp->t;" in body  # the map value itself: plain
