"""A syscount-like counter in BCC style: system calls per syscall number, printed sorted by count.

One TRACEPOINT_PROBE on raw_syscalls:sys_enter counts into a BPF_HASH, optionally only for one
process; Python prints the top N every interval with the syscall names of <asm/unistd_64.h>.

Run: python -m bpfkit.bcc examples/bcc_syscount.py [--pid PID] [--interval S] [--times N] [--top N]
"""

import argparse
import os
import re
import sys
from time import sleep

from bcc import BPF

program = r"""
BPF_HASH(data, u32, u64);

TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 pid = pid_tgid >> 32;
#ifdef FILTER_PID
    if (pid != FILTER_PID)
        return 0;
#endif
    u32 key = args->id;
    data.increment(key);
    return 0;
}
"""


def syscall_names():
    """Syscall number -> name, from the C library's <asm/unistd_64.h> (numbers when absent)."""
    names = {}
    for path in ("/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h",
                 "/usr/include/asm-generic/unistd.h"):
        if os.path.exists(path):
            with open(path) as f:
                for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", f.read()):
                    names.setdefault(int(m.group(2)), m.group(1))
            break
    return names


parser = argparse.ArgumentParser(description="Summarize syscall counts")
parser.add_argument("-p", "--pid", type=int, help="trace only this pid")
parser.add_argument("-i", "--interval", type=float, default=1.0, help="print every this many seconds")
parser.add_argument("-d", "--times", type=int, default=0, help="print this many times, then exit (0: forever)")
parser.add_argument("-T", "--top", type=int, default=10, help="print only the top N syscalls")
args = parser.parse_args()

cflags = ["-DFILTER_PID=%d" % args.pid] if args.pid else []
b = BPF(text=program, cflags=cflags)
names = syscall_names()
print("Tracing syscalls, printing top %d... Ctrl+C to quit." % args.top, flush=True)

printed = 0
while not args.times or printed < args.times:
    try:
        sleep(args.interval)
    except KeyboardInterrupt:
        sys.exit(0)
    counts = sorted(b["data"].items(), key=lambda kv: -kv[1].value)
    print("%-22s %8s" % ("SYSCALL", "COUNT"))
    for k, v in counts[: args.top]:
        print("%-22s %8d" % (names.get(k.value, "[%d]" % k.value), v.value))
    print("", flush=True)
    b["data"].clear()
    printed += 1
