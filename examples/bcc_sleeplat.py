"""A latency histogram in BCC style: how long clock_nanosleep() calls take, as a log2 histogram.

TRACEPOINT_PROBEs on syscalls:sys_enter_clock_nanosleep / sys_exit_clock_nanosleep store the entry
time per thread and add the duration (in microseconds) to a BPF_HISTOGRAM with bpf_log2l(); Python
prints it with print_log2_hist, as BCC's biolatency and friends do.

Run: python -m bpfkit.bcc examples/bcc_sleeplat.py [--pid PID] [--interval S] [--times N]
"""

import argparse
import sys
from time import sleep

from bcc import BPF

program = r"""
BPF_HASH(start, u32, u64);
BPF_HISTOGRAM(dist);

TRACEPOINT_PROBE(syscalls, sys_enter_clock_nanosleep) {
    u64 id = bpf_get_current_pid_tgid();
#ifdef FILTER_PID
    if ((id >> 32) != FILTER_PID)
        return 0;
#endif
    u32 tid = id;
    u64 ts = bpf_ktime_get_ns();
    start.update(&tid, &ts);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_exit_clock_nanosleep) {
    u32 tid = bpf_get_current_pid_tgid();
    u64 *tsp = start.lookup(&tid);
    if (tsp == 0)
        return 0;
    u64 delta = (bpf_ktime_get_ns() - *tsp) / 1000;
    dist.increment(bpf_log2l(delta));
    start.delete(&tid);
    return 0;
}
"""

parser = argparse.ArgumentParser(description="Summarize clock_nanosleep() latency as a histogram")
parser.add_argument("-p", "--pid", type=int, help="trace only this pid")
parser.add_argument("-i", "--interval", type=float, default=1.0, help="print every this many seconds")
parser.add_argument("-d", "--times", type=int, default=1, help="print this many times, then exit")
args = parser.parse_args()

b = BPF(text=program, cflags=["-DFILTER_PID=%d" % args.pid] if args.pid else [])
print("Tracing clock_nanosleep()... Hit Ctrl-C to end.", flush=True)
# as biolatency: print and clear the histogram every interval, and once more on Ctrl-C
# (a sleep that ends between a print and its clear() is lost: a print on Ctrl-C counts everything)
countdown = args.times
exiting = False
while not exiting:
    try:
        sleep(args.interval)
    except KeyboardInterrupt:
        exiting = True
    print()
    b["dist"].print_log2_hist("usecs")
    sys.stdout.flush()
    b["dist"].clear()
    countdown -= 1
    exiting = exiting or countdown == 0
