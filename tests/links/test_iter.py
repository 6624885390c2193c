"""A BPF iterator compiled from C, attached through the loader and read line by line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bpfkit
from bpfkit.links import Iterator_
from bpfkit.testing import compile_bpf
from hostenv import kernel_tgid

pytestmark = pytest.mark.kernel


def test_task_iterator_lists_this_process() -> None:
    obj = compile_bpf(Path(__file__).parent / "progs" / "iter_task.bpf.c")
    with bpfkit.load(obj) as col:
        prog = col.programs["dump_task"]
        assert prog.attach_target == "task"
        with Iterator_(prog.attach()) as it:
            lines = list(it.lines())
            again = it.read()
    pid = str(kernel_tgid())  # the kernel's numbering (a container's os.getpid() is its own)
    mine = [line for line in lines if line.split()[0] == pid]
    assert mine, "the iterator must list the test process"
    assert any(line.split()[1] == pid for line in mine)
    procs = sum(1 for d in os.listdir("/proc") if d.isdigit())  # this PID namespace's (a container's few)
    assert len(lines) >= min(procs, 10)
    assert again.count(b"\n") >= min(procs, 10)
