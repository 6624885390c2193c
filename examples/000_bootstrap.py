#!/usr/bin/env python3
"""000: libbpf-bootstrap's "bootstrap" with bpfkit: process exec and exit through a ring buffer.

The BPF side (src/bpfkit/tools/bootstrap.bpf.c, shipped built) keeps pid -> exec
time in the hash map exec_start and sends a struct event per exec and exit
through the ring buffer rb. This script does what bootstrap.c does with libbpf:
set the const volatile min_duration_ns before load, load, attach, then
ring_buffer__new / ring_buffer__poll / ring_buffer__free, here
bpfkit.RingBuffer(map, callback) / poll(timeout) / close.

    sudo python3 examples/000_bootstrap.py [-d MS] [--duration SECONDS]
"""

import argparse
import os
import struct
import time

import bpfkit
from bpfkit.tools import object_path

# struct event of bootstrap.h: pid, ppid, exit_code, (4 bytes padding), duration_ns, comm[16], filename[127], exit_event
EVENT = struct.Struct("<iiI4xQ16s127s?")


def text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode(errors="replace")


def handle_event(data: bytes) -> None:
    pid, ppid, exit_code, duration_ns, comm, filename, exit_event = EVENT.unpack(data)
    ts = time.strftime("%H:%M:%S")
    if exit_event:
        line = f"{ts:<8} {'EXIT':<5} {text(comm):<16} {pid:<7} {ppid:<7} [{exit_code}]"
        if duration_ns:
            line += f" ({duration_ns // 1_000_000}ms)"
    else:
        line = f"{ts:<8} {'EXEC':<5} {text(comm):<16} {pid:<7} {ppid:<7} {text(filename)}"
    print(line, flush=True)


def own_pid_namespace() -> dict[str, int]:
    """Constants that make the tool's BPF side report PIDs as this process's PID namespace numbers them."""
    st = os.stat("/proc/self/ns/pid")  # in a container: its own numbers, as ps and Popen.pid show them
    return {"pidns_dev": st.st_dev, "pidns_ino": st.st_ino}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-d", "--min-duration", type=int, default=0, metavar="MS", help="only exits of processes older than MS")
    ap.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = ap.parse_args()

    constants = {"min_duration_ns": args.min_duration * 1_000_000, **own_pid_namespace()}
    with bpfkit.load(object_path("bootstrap"), constants=constants) as obj:
        obj.attach()  # tp/sched/sched_process_exec and tp/sched/sched_process_exit
        with bpfkit.RingBuffer(obj.maps["rb"], callback=handle_event) as rb:
            print(f"{'TIME':<8} {'EVENT':<5} {'COMM':<16} {'PID':<7} {'PPID':<7} FILENAME/EXIT CODE", flush=True)
            deadline = None if args.duration is None else time.monotonic() + args.duration
            try:
                while deadline is None or time.monotonic() < deadline:
                    rb.poll(timeout=0.1)  # ring_buffer__poll(rb, 100 /* ms */)
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()
