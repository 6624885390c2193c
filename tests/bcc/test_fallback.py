"""attach_kprobe's fallback chain (kprobe -> fentry -> syscall tracepoint), each step stubbed.

On the test machine the chain ends at the tracepoint for real (test_bpf.py); here every branch is
taken on purpose, with the loader and the link functions replaced by recorders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

import bpfkit.links as links
from bpfkit import AttachType, features
from bpfkit._sys import perf_event
from bpfkit.bcc import bpf as bpfmod
from bpfkit.bcc._rewriter import Mode, rewrite
from bpfkit.errors import KernelError, NotSupportedError

from .conftest import FakeKernel
from .test_rewriter import SYSCALL


@dataclass
class FakeProg:
    symbol: str
    prog_type: int
    mode: Mode
    kw: dict[str, Any]
    fd: int = 99
    name: str = ""


@dataclass
class FakeLink:
    what: tuple[Any, ...]
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class Recorder:
    loads: list[FakeProg] = field(default_factory=list)
    attached: list[FakeLink] = field(default_factory=list)


def make_bpf(text: str, kernel: FakeKernel, rec: Recorder) -> bpfmod.BPF:
    """A BPF object whose loader records what would be loaded (no kernel objects)."""
    b = bpfmod.BPF.__new__(bpfmod.BPF)
    b._ctx = bpfmod._Ctx()
    b.rewritten = rewrite(text, kernel=kernel)
    b.kernel = kernel  # type: ignore[assignment]
    b._kprobe_count = 0
    b._programs = {}
    b.debug = 0

    def load(fn_name: str, prog_type: int, mode: Mode = Mode.KPROBE, **kw: Any) -> FakeProg:
        decl = b._decl(fn_name)
        p = FakeProg(b._symbol(decl, mode), prog_type, mode, kw)
        rec.loads.append(p)
        return p

    b._load = load  # type: ignore[method-assign]
    return b


@pytest.fixture
def rec(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    r = Recorder()

    def attach(kind: str) -> Any:
        def f(prog: FakeProg, *args: Any, **kw: Any) -> FakeLink:
            link = FakeLink((kind, prog.symbol, *args, tuple(sorted(kw.items()))))
            r.attached.append(link)
            return link

        return f

    monkeypatch.setattr(links, "attach_kprobe", attach("kprobe"))
    monkeypatch.setattr(links, "attach_trampoline", attach("trampoline"))
    monkeypatch.setattr(links, "attach_tracepoint", attach("tracepoint"))
    return r


def no_kprobes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(perf_event, "kprobe_support", lambda: None)
    monkeypatch.setattr(bpfmod, "_kprobes", lambda: features.Support(
        "kprobes", False, features.Cause.CONFIG, "this kernel has no kprobes (CONFIG_KPROBES is off)"))


def trampolines_probe_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cached probe says fentry loads (the attach itself may still fail)."""
    monkeypatch.setattr(bpfmod, "_probe_trampolines", lambda: True)


def refuse_trampolines(monkeypatch: pytest.MonkeyPatch) -> None:
    trampolines_probe_ok(monkeypatch)

    def refuse(prog: FakeProg, *a: Any, **k: Any) -> FakeLink:
        raise NotSupportedError("the kernel refused to attach fentry (EPERM)", feature="trampoline")

    monkeypatch.setattr(links, "attach_trampoline", refuse)


COUNTER = "BPF_HASH(c);\nint hello(void *ctx) { u64 k = 0; c.increment(k); return 0; }\n"


def test_kprobes_first(rec: Recorder, fake_kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(perf_event, "kprobe_support", lambda: "pmu")
    monkeypatch.setattr(bpfmod, "_kprobes", lambda: features.Support("kprobes", True))
    b = make_bpf(COUNTER, fake_kernel, rec)
    b.attach_kprobe(event=b"__x64_sys_execve", fn_name=b"hello")
    assert [(p.symbol, p.prog_type) for p in rec.loads] == [("hello", bpfmod.BPF.KPROBE)]
    assert rec.attached[0].what[:3] == ("kprobe", "hello", "__x64_sys_execve")
    assert b.num_open_kprobes() == 1
    assert capsys.readouterr().err == ""  # no fallback, nothing to announce


def test_fentry_second(rec: Recorder, fake_kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch,
                       capsys: pytest.CaptureFixture[str]) -> None:
    no_kprobes(monkeypatch)
    trampolines_probe_ok(monkeypatch)
    b = make_bpf(SYSCALL, fake_kernel, rec)
    b.attach_kretprobe(event="do_sys_openat2", fn_name="ret_execve")
    (p,) = rec.loads
    assert p.symbol == "ret_execve__bcc_fx" and p.prog_type == bpfmod.BPF.TRACING
    assert p.kw == {"attach_type": AttachType.TRACE_FEXIT, "target": "do_sys_openat2"}
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "no kprobes" in err[0] and "attached as fexit instead" in err[0]


def test_syscall_tracepoint_last(rec: Recorder, fake_kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    no_kprobes(monkeypatch)
    refuse_trampolines(monkeypatch)
    b = make_bpf(SYSCALL, fake_kernel, rec)
    b.attach_kprobe(event=b"__x64_sys_execve", fn_name="syscall__execve")
    assert [(p.symbol, p.mode) for p in rec.loads] == [
        ("syscall__execve__bcc_fe", Mode.FENTRY), ("syscall__execve__bcc_tpe", Mode.SYSCALL_ENTER)]
    assert rec.loads[1].prog_type == bpfmod.BPF.TRACEPOINT
    assert rec.attached[-1].what[:4] == ("tracepoint", "syscall__execve__bcc_tpe", "syscalls", "sys_enter_execve")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert "this kernel has no kprobes" in err[0] and "fentry refused" in err[0]
    assert "tracepoint syscalls:sys_enter_execve" in err[0]
    assert b.num_open_kprobes() == 1
    b.detach_kprobe(b"__x64_sys_execve")
    assert rec.attached[-1].closed and b.num_open_kprobes() == 0


def test_functions_reading_no_registers_run_as_written(rec: Recorder, fake_kernel: FakeKernel,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    no_kprobes(monkeypatch)
    refuse_trampolines(monkeypatch)
    fake_kernel.formats[("syscalls", "sys_exit_execve")] = "field:long ret;\toffset:16;\tsize:8;\tsigned:1;\n"
    b = make_bpf(COUNTER, fake_kernel, rec)
    b.attach_kretprobe(event=b.fix_syscall_fnname("sys_execve"), fn_name="hello")
    assert rec.loads[-1].symbol == "hello" and rec.loads[-1].prog_type == bpfmod.BPF.TRACEPOINT
    assert rec.attached[-1].what[2:4] == ("syscalls", "sys_exit_execve")


def test_no_stand_in_for_other_functions(rec: Recorder, fake_kernel: FakeKernel,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    no_kprobes(monkeypatch)
    refuse_trampolines(monkeypatch)
    b = make_bpf(COUNTER, fake_kernel, rec)
    with pytest.raises(NotSupportedError) as ei:
        b.attach_kprobe(event="vfs_read", fn_name="hello")
    assert ei.value.feature == "kprobe"
    assert "no kprobes" in str(ei.value) and "not a system call" in str(ei.value)
    with pytest.raises(NotSupportedError, match="no tracepoint syscalls:sys_enter_nosuch"):
        b.attach_kprobe(event="__x64_sys_nosuch", fn_name="hello")


def test_syscall_argument_count_is_checked(rec: Recorder, fake_kernel: FakeKernel,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    no_kprobes(monkeypatch)
    refuse_trampolines(monkeypatch)
    text = SYSCALL.replace("const char __user *const __user *argv)", "const char __user *const __user *argv, "
                           "void *envp, int a, int b)")
    b = make_bpf(text, fake_kernel, rec)
    with pytest.raises(ValueError, match="declares 5 syscall arguments but execve\\(\\) has 3"):
        b.attach_kprobe(event="__x64_sys_execve", fn_name="syscall__execve")


def test_a_failed_trampoline_probe_skips_fentry(rec: Recorder, fake_kernel: FakeKernel,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    no_kprobes(monkeypatch)
    monkeypatch.setattr(bpfmod, "_TRAMPOLINES", [False, "EPERM"])
    b = make_bpf(SYSCALL, fake_kernel, rec)
    b.attach_kprobe(event="__x64_sys_execve", fn_name="syscall__execve")
    assert [p.mode for p in rec.loads] == [Mode.SYSCALL_ENTER]  # no fentry load attempted
    assert "fentry refused (EPERM)" in capsys.readouterr().err


def test_loader_failures_in_fentry_also_fall_back(rec: Recorder, fake_kernel: FakeKernel,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    no_kprobes(monkeypatch)
    trampolines_probe_ok(monkeypatch)
    b = make_bpf(SYSCALL, fake_kernel, rec)
    real_load = b._load

    def load(fn_name: str, prog_type: int, mode: Mode = Mode.KPROBE, **kw: Any) -> Any:
        if mode is Mode.FENTRY:
            raise KernelError(1, command="BPF_PROG_LOAD", target="fentry")
        return real_load(fn_name, prog_type, mode, **kw)

    b._load = load  # type: ignore[method-assign]
    b.attach_kprobe(event="__x64_sys_execve", fn_name="syscall__execve")
    assert rec.attached[-1].what[1] == "syscall__execve__bcc_tpe"


def test_syscall_names() -> None:
    assert bpfmod._syscall_name("__x64_sys_execve") == "execve"
    assert bpfmod._syscall_name("sys_clone") == "clone"
    assert bpfmod._syscall_name("__arm64_sys_openat") == "openat"
    assert bpfmod._syscall_name("vfs_read") is None


class FakePipe:
    """trace_pipe lines from a list (bpfkit.TracePipe's readline contract: str, None when none)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = list(lines)

    def readline(self, timeout: float | None = None) -> str | None:
        return self.lines.pop(0) if self.lines else None

    def close(self) -> None:
        pass


def test_trace_fields_are_bccs_bytes_tuples() -> None:
    b = bpfmod.BPF.__new__(bpfmod.BPF)
    b.tracefile = FakePipe([  # type: ignore[assignment]
        "CPU:2 [LOST 10 EVENTS]",
        "",
        "           <...>-2938    [001] d..31  1234.567890: bpf_trace_printk: Executing a program",
        "            bash-17      [000] .... 98765.000001: 0x00000001: Another syscall: 59",
    ])
    b._trace_nonblocking = True
    assert b.trace_fields() == (b"<...>", 2938, 1, b"d..31", 1234.56789, b"Executing a program")
    assert b.trace_readline() == b"            bash-17      [000] .... 98765.000001: 0x00000001: Another syscall: 59"
    assert b.trace_fields(nonblocking=True) == (None,) * 6
    assert b.trace_readline(nonblocking=True) == b""
