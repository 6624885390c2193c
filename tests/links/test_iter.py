"""A BPF iterator compiled from C, attached through the loader and read line by line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bpfkit
from bpfkit.links import Iterator_
from bpfkit.testing import compile_bpf

pytestmark = pytest.mark.kernel


def test_task_iterator_lists_this_process() -> None:
    obj = compile_bpf(Path(__file__).parent / "progs" / "iter_task.bpf.c")
    with bpfkit.load(obj) as col:
        prog = col.programs["dump_task"]
        assert prog.attach_target == "task"
        with Iterator_(prog.attach()) as it:
            lines = list(it.lines())
            again = it.read()
    mine = [line for line in lines if line.split()[0] == str(os.getpid())]
    assert mine, "the iterator must list the test process"
    assert any(line.split()[1] == str(os.getpid()) for line in mine)
    assert len(lines) > 10
    assert again.count(b"\n") > 10
