#!/usr/bin/env python3
"""004: tail calls: a raw tracepoint on sys_enter that jumps to a program chosen by the syscall number.

The BPF side (src/bpfkit/tools/tailcalls.bpf.c, shipped built) is the
document's: `hello` on raw_tp/sys_enter calls bpf_tail_call(ctx, &syscall,
opcode) into the program array "syscall"; hello_execve, hello_timer and
ignore_opcode are the targets, and bpf_printk writes to the trace pipe.
The array is filled from Python as the document does with load_func() and
prog_array[ct.c_int(59)] = fd: `prog_array[execve] = program`, with this
machine's syscall numbers from bpfkit.arch (the document's are x86_64's: execve
is 59 there and 221 on arm64, which has no access or pipe but faccessat and
pipe2). The trace pipe is then printed as
BCC's trace_print() does, and the counters the programs keep show how the
syscalls were dispatched. This script's own syscalls are left out
(ignore_tgid), or its reads of the trace pipe would fill the pipe by themselves.

    sudo python3 examples/004_tailcalls.py [--duration SECONDS]
"""

import argparse
import os
import time

import bpfkit
import bpfkit.arch
from bpfkit.tools import object_path

TIMERS = ("timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete")
NOISY = ("access", "pipe", "mremap", "shmget", "epoll_create1")
INSTEAD = {"access": "faccessat", "pipe": "pipe2"}  # what arm64's C library calls instead


def nr(name: str) -> int:
    """The number of system call ``name`` on this machine (or of the call that replaces it here)."""
    try:
        return bpfkit.arch.syscall_number(name)
    except bpfkit.NotSupportedError:
        return bpfkit.arch.syscall_number(INSTEAD[name])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = ap.parse_args()

    constants = {"ignore_tgid": os.getpid(), "nr_timer_create": nr("timer_create"), "nr_timer_delete": nr("timer_delete")}
    with bpfkit.load(object_path("tailcalls"), constants=constants) as b:
        prog_array = b.maps["syscall"]
        assert isinstance(prog_array, bpfkit.ProgArrayMap)
        prog_array[nr("execve")] = b.programs["hello_execve"]
        for name in TIMERS:
            prog_array[nr(name)] = b.programs["hello_timer"]
        for name in NOISY:
            prog_array[nr(name)] = b.programs["ignore_opcode"]

        with bpfkit.TracePipe() as pipe:
            b.attach()  # only hello has a target (raw_tp/sys_enter); the others run as tail calls
            deadline = None if args.duration is None else time.monotonic() + args.duration
            try:
                while deadline is None or time.monotonic() < deadline:
                    line = pipe.readline(timeout=0.1)  # b.trace_print()
                    if line is not None:
                        print(line, flush=True)
            except KeyboardInterrupt:
                pass
            b.detach()
        counts = b.maps["counts"]  # [0] fell through, [1] execve, [2] timer, [3] ignored
        assert isinstance(counts, bpfkit.ArrayMap)
        print(f"hello_execve: {counts[1]}  hello_timer: {counts[2]}  ignore_opcode: {counts[3]}  "
              f"no tail call: {counts[0]}")


if __name__ == "__main__":
    main()
