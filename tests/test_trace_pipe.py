"""trace_pipe: line parsing, and bpf_trace_printk output of a hand-assembled program read back."""

from __future__ import annotations

import io
import os
import struct
import threading

import pytest

from bpfkit._uapi import HelperId
from bpfkit.asm import Assembler
from bpfkit.programs import Program
from bpfkit.testing import require
from bpfkit.trace_pipe import TraceEvent, TracePipe, parse_line, trace_print
from hostenv import kernel_ids

LINES = [
    ("           <...>-12345   [001] d..31  1234.567890: bpf_trace_printk: hello world",
     TraceEvent("<...>", 12345, 1, "d..31", 1234.567890, "hello world")),
    ("            bash-1234    [000] ....   123.456789: 0: message with: colons",
     TraceEvent("bash", 1234, 0, "....", 123.456789, "message with: colons")),
    (" kworker/u4:2-foo-77 [003] ...1.  99.000001: bpf_trace_printk: x-1 [002]",
     TraceEvent("kworker/u4:2-foo", 77, 3, "...1.", 99.000001, "x-1 [002]")),
    ("   my task-name-4242 ( 4242) [000] ..... 5.000000: bpf_trace_printk: with tgid",
     TraceEvent("my task-name", 4242, 0, ".....", 5.0, "with tgid")),
    ("          python-9  [001]  7.250000: bpf_trace_printk: no flags column",
     TraceEvent("python", 9, 1, "", 7.25, "no flags column")),
    ("          python-9  [001] ...1. 7.250000: bpf_trace_printk: ", TraceEvent("python", 9, 1, "...1.", 7.25, "")),
]


@pytest.mark.parametrize(("line", "event"), LINES)
def test_parse_line(line: str, event: TraceEvent) -> None:
    assert parse_line(line) == event
    assert parse_line(line.encode() + b"\n") == event


@pytest.mark.parametrize("line", ["CPU:1 [LOST 12 EVENTS]", "", "garbage", "task [001] 1.0: x"])
def test_parse_line_rejects_non_events(line: str) -> None:
    with pytest.raises(ValueError):
        parse_line(line)


def printk_program(message: str) -> Program:
    """raw_tp: bpf_trace_printk(message) with the format string built on the stack."""
    size = len(message.encode()) + 1  # the exact size: kernels before 5.13 refuse NULs before its end
    fmt = message.encode() + b"\0" * (1 + -size % 8)
    a = Assembler()
    for i in range(0, len(fmt), 8):
        a.ld_imm64(1, struct.unpack_from("<q", fmt, i)[0]).stx_mem(8, 10, 1, i - len(fmt))
    a.mov64_reg(1, 10).alu64_imm("+", 1, -len(fmt)).mov64_imm(2, size)
    a.call_helper(HelperId.trace_printk).mov64_imm(0, 0).exit_insn()
    return Program.load("raw_tracepoint", a.program(), name="printk")


@pytest.mark.kernel
def test_printk_message_is_read_from_the_pipe() -> None:
    require("tracefs")
    token = f"bpfkit-trace-{os.getpid()}-{os.urandom(4).hex()}"
    tid = kernel_ids()[1]
    with printk_program(token) as prog, TracePipe() as pipe:
        for _ in pipe.lines(timeout=0.05):  # drop what earlier writers left
            pass
        prog.test_run(ctx=b"\0" * 8, ctx_out_size=0)
        found = None
        for ev in pipe.events(timeout=10.0):
            if ev.message == token:
                found = ev
                break
        assert found is not None, "the message did not reach trace_pipe"
        assert found.pid == tid  # the kernel's thread id (a container's threading.get_native_id() is its own)
        with open(f"/proc/self/task/{threading.get_native_id()}/comm") as f:
            assert found.task in (f.read().strip(), "<...>")  # "<...>": the kernel has not cached the name
        assert found.cpu in range(os.cpu_count() or 1)
        assert found.timestamp > 0


@pytest.mark.kernel
def test_waiting_reader_wakes_on_printk() -> None:
    require("tracefs")
    token = f"bpfkit-wake-{os.getpid()}-{os.urandom(4).hex()}"
    with printk_program(token) as prog, TracePipe() as pipe:
        for _ in pipe.lines(timeout=0.05):
            pass
        worker = threading.Thread(target=lambda: prog.test_run(ctx=b"\0" * 8, ctx_out_size=0))
        worker.start()
        messages = []
        for ev in pipe.events(timeout=10.0):
            messages.append(ev.message)
            if ev.message == token:
                break
        worker.join()
        assert token in messages


@pytest.mark.kernel
def test_trace_print_formats_events() -> None:
    require("tracefs")
    token = f"bpfkit-print-{os.getpid()}-{os.urandom(4).hex()}"
    tid = kernel_ids()[1]
    with printk_program(token) as prog:
        with TracePipe() as pipe:
            for _ in pipe.lines(timeout=0.05):
                pass
        prog.test_run(ctx=b"\0" * 8, ctx_out_size=0)
        out = io.StringIO()
        printed = trace_print("{pid} {message}", timeout=2.0, file=out)
        lines = out.getvalue().splitlines()
        assert printed == len(lines)
        assert f"{tid} {token}" in lines
