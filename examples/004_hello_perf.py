#!/usr/bin/env python3
"""004: the perf buffer "hello world": one record per execve, sent with bpf_perf_event_output.

The BPF side (src/bpfkit/tools/hello.bpf.c, shipped built) fills
struct data_t {int pid; int uid; char command[16]; char message[12];} and
submits it to the perf event array "output" (BCC: BPF_PERF_OUTPUT(output) and
output.perf_submit). This user side is BCC's open_perf_buffer(print_event) and
perf_buffer_poll() loop: bpfkit.PerfBuffer(map, callback(cpu, data)) and poll().

    sudo python3 examples/004_hello_perf.py [--duration SECONDS]
"""

import argparse
import os
import struct
import time

import bpfkit
from bpfkit.tools import object_path

DATA_T = struct.Struct("<ii16s12s")  # pid, uid, command[16], message[12]


def print_event(cpu: int, data: bytes) -> None:
    pid, uid, command, message = DATA_T.unpack_from(data)
    command = command.split(b"\0")[0].decode(errors="replace")
    message = message.split(b"\0")[0].decode(errors="replace")
    print(f"{pid} {uid} {command} {message}", flush=True)


def own_pid_namespace() -> dict[str, int]:
    """Constants that make the tool's BPF side report PIDs as this process's PID namespace numbers them."""
    st = os.stat("/proc/self/ns/pid")  # in a container: its own numbers, as ps and Popen.pid show them
    return {"pidns_dev": st.st_dev, "pidns_ino": st.st_ino}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = ap.parse_args()

    with bpfkit.load(object_path("hello"), constants=own_pid_namespace()) as b:
        b.attach()  # tp/syscalls/sys_enter_execve (BCC: attach_kprobe on the execve syscall)
        with bpfkit.PerfBuffer(b.maps["output"], callback=print_event) as perf:
            print("saying hello for every execve; Ctrl+C to stop", flush=True)
            deadline = None if args.duration is None else time.monotonic() + args.duration
            try:
                while deadline is None or time.monotonic() < deadline:
                    perf.poll(timeout=0.1)  # b.perf_buffer_poll()
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()
