#!/usr/bin/env python3
"""002: count execve calls per UID in a hash map and print them every 2 seconds, as the BCC example does.

The BPF side (src/bpfkit/tools/execcount.bpf.c, shipped built) is the
document's `hello` program: on each execve it adds one to counter_table[uid].
BCC attached it with a kprobe on the execve syscall; this kernel has no
kprobes, so the program is on the syscalls/sys_enter_execve tracepoint. The
loop is the document's: sleep, read every key and value, print
`ID <uid>: <count>` tab-separated. Ctrl+C prints the totals once more and stops.

    sudo python3 examples/002_execcount.py [--interval SECONDS] [--duration SECONDS]
"""

import argparse
import time

import bpfkit
from bpfkit.tools import object_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between prints (default 2)")
    ap.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = ap.parse_args()

    with bpfkit.load(object_path("execcount")) as b:
        b.attach()
        counter_table = b.maps["counter_table"]  # u64 uid -> u64 count, decoded from the object's BTF
        print("counting execve calls per UID; Ctrl+C to stop", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(args.interval if deadline is None else max(0.0, min(args.interval, deadline - time.monotonic())))
                s = ""
                for k, v in counter_table.items():
                    s += f"ID {k}: {v}\t"
                print(s, flush=True)
        except KeyboardInterrupt:
            print("\t".join(f"ID {k}: {v}" for k, v in sorted(counter_table.items())), flush=True)


if __name__ == "__main__":
    main()
