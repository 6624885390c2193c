"""Fixtures of the BCC front-end tests: a small fake kernel for the rewriter, tracefs format samples."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bpfkit.bcc._rewriter import MemberType

SYS_ENTER_EXECVE = """name: sys_enter_execve
ID: 862
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;
\tfield:const char *const * envp;\toffset:32;\tsize:8;\tsigned:0;

print fmt: "filename: 0x%08lx", ((unsigned long)(REC->filename))
"""

SCHED_PROCESS_EXEC = """name: sched_process_exec
ID: 365
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;

print fmt: "filename=%s pid=%d", __get_str(filename), REC->pid
"""

SCHED_SWITCH = """name: sched_switch
ID: 300
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char prev_comm[TASK_COMM_LEN];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:int prev_prio;\toffset:28;\tsize:4;\tsigned:1;
\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;
\tfield:char next_comm[16];\toffset:40;\tsize:16;\tsigned:0;
\tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;
\tfield:int next_prio;\toffset:60;\tsize:4;\tsigned:1;
\tfield:weird_kernel_t odd;\toffset:64;\tsize:2;\tsigned:0;

print fmt: "prev_comm=%s", REC->prev_comm
"""

RAW_SYS_ENTER = """name: sys_enter
ID: 21
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:long id;\toffset:8;\tsize:8;\tsigned:1;
\tfield:unsigned long args[6];\toffset:16;\tsize:48;\tsigned:0;

print fmt: "NR %ld", REC->id
"""


def _scalar() -> MemberType:
    return MemberType("scalar")


@dataclass
class FakeKernel:
    """A kernel with a handful of types: enough for the rewriter's decisions, no /sys."""

    records: dict[str, dict[str, MemberType]] = field(default_factory=dict)
    typedefs: set[str] = field(default_factory=set)
    formats: dict[tuple[str, str], str] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)

    def tracepoint_format(self, category: str, event: str) -> str | None:
        return self.formats.get((category, event))

    def has_type(self, kind: str, name: str) -> bool:
        if kind == "typedef":
            return name in self.typedefs
        return name in self.records or name in self.tags

    def record(self, kind: str, name: str) -> object | None:
        return name if name in self.records else None

    def member(self, record: object, name: str) -> MemberType | None:
        assert isinstance(record, str)
        return self.records.get(record, {}).get(name)


def make_fake_kernel() -> FakeKernel:
    """task_struct, sched_entity, sock/sock_common, file/path/dentry; u8..u64, pid_t; four formats."""
    k = FakeKernel()
    k.records["task_struct"] = {
        "real_parent": MemberType("pointer", "task_struct"),
        "parent": MemberType("pointer", "task_struct"),
        "tgid": _scalar(),
        "pid": _scalar(),
        "comm": MemberType("array", None, _scalar()),
        "se": MemberType("struct", "sched_entity"),
        "in_execve": MemberType("scalar", None, None, True),
        "mm": MemberType("pointer", "mm_struct"),
    }
    k.records["sched_entity"] = {"vruntime": _scalar(), "on_rq": _scalar()}
    k.records["mm_struct"] = {"arg_start": _scalar()}
    k.records["sock"] = {"__sk_common": MemberType("struct", "sock_common"), "sk_rcvbuf": _scalar()}
    k.records["sock_common"] = {"skc_family": _scalar(), "skc_dport": _scalar()}
    k.records["key"] = {"serial": _scalar()}
    k.typedefs |= {"u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "pid_t", "size_t", "key_t"}
    k.formats[("syscalls", "sys_enter_execve")] = SYS_ENTER_EXECVE
    k.formats[("sched", "sched_process_exec")] = SCHED_PROCESS_EXEC
    k.formats[("sched", "sched_switch")] = SCHED_SWITCH
    k.formats[("raw_syscalls", "sys_enter")] = RAW_SYS_ENTER
    return k


@pytest.fixture
def fake_kernel() -> FakeKernel:
    """A fresh fake kernel."""
    return make_fake_kernel()


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One compile cache (XDG_CACHE_HOME) for a test module, so its compiles and vmlinux.h are reused but not shared."""
    d = tmp_path_factory.mktemp("bcc-cache")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(d)
    yield d
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


KERNEL_PID_CODE = """
import struct as _struct
from bpfkit import Program as _Program
def _ins(op, imm=0):
    return _struct.pack("<BBhi", op, 0, 0, imm)
# r0 = bpf_get_current_pid_tgid() >> 32; exit -- run by BPF_PROG_TEST_RUN in this task
with _Program.load("raw_tracepoint", _ins(0x85, 14) + _ins(0x77, 32) + _ins(0x95), name="kernel_pid") as _p:
    KERNEL_PID = _p.test_run(ctx=bytes(16)).retval
"""
"""Python that sets KERNEL_PID: the running process's PID as BPF helpers see it (also for the tests' children)."""


def kernel_pid() -> int:
    """This process's PID as BPF helpers see it (the initial PID namespace's): os.getpid() only outside a
    container, whose own PID namespace numbers it differently."""
    from hostenv import kernel_tgid

    return kernel_tgid()


def kallsyms_hidden() -> bool:
    """Whether /proc/kallsyms hides kernel addresses from this process (the 'kallsyms' probe: kptr_restrict,
    no CAP_SYSLOG)."""
    from bpfkit import features

    return not features.check("kallsyms")
