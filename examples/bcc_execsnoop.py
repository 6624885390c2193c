"""An execsnoop-like tracer in BCC style: every execve() with its command, pid, ppid, return value and argv[0].

Written as BCC's execsnoop is: a ``syscall__execve`` kprobe with BCC's syscall argument convention,
a kretprobe on the same function, ``task->real_parent->tgid`` read through a plain dereference, and a
perf buffer.  Where the kernel has no kprobes (and no fentry), bpfkit.bcc runs both on the
syscalls:sys_enter_execve / sys_exit_execve tracepoints.

Run: python -m bpfkit.bcc examples/bcc_execsnoop.py [--count N] [--timeout SECONDS]
"""

import argparse
import sys
import time

from bcc import BPF

program = r"""
#include <uapi/linux/ptrace.h>
#include <linux/sched.h>
#include <linux/fs.h>

#define ARGSIZE 128

enum event_type {
    EVENT_ARG,
    EVENT_RET,
};

struct data_t {
    u32 pid;  // PID as in the userspace term (i.e. task->tgid in kernel)
    u32 ppid; // Parent PID as in the userspace term (i.e task->real_parent->tgid in kernel)
    u32 uid;
    char comm[TASK_COMM_LEN];
    enum event_type type;
    char argv[ARGSIZE];
    int retval;
};

BPF_PERF_OUTPUT(events);

static int submit_arg(struct pt_regs *ctx, const void *ptr, struct data_t *data)
{
    bpf_probe_read_user_str(data->argv, sizeof(data->argv), ptr);
    events.perf_submit(ctx, data, sizeof(struct data_t));
    return 1;
}

int syscall__execve(struct pt_regs *ctx,
    const char __user *filename,
    const char __user *const __user *__argv,
    const char __user *const __user *__envp)
{
    struct data_t data = {};
    struct task_struct *task;

    data.pid = bpf_get_current_pid_tgid() >> 32;
    task = (struct task_struct *)bpf_get_current_task();
    data.ppid = task->real_parent->tgid;
    data.uid = bpf_get_current_uid_gid() & 0xffffffff;
    bpf_get_current_comm(&data.comm, sizeof(data.comm));
    data.type = EVENT_ARG;
    submit_arg(ctx, (void *)filename, &data);
    return 0;
}

int do_ret_sys_execve(struct pt_regs *ctx)
{
    struct data_t data = {};
    struct task_struct *task;

    data.pid = bpf_get_current_pid_tgid() >> 32;
    task = (struct task_struct *)bpf_get_current_task();
    data.ppid = task->real_parent->tgid;
    data.uid = bpf_get_current_uid_gid() & 0xffffffff;
    bpf_get_current_comm(&data.comm, sizeof(data.comm));
    data.type = EVENT_RET;
    data.retval = PT_REGS_RC(ctx);
    events.perf_submit(ctx, &data, sizeof(data));
    return 0;
}
"""

parser = argparse.ArgumentParser(description="Trace exec() syscalls")
parser.add_argument("--count", type=int, default=0, help="stop after this many execs (0: never)")
parser.add_argument("--timeout", type=float, default=0, help="stop after this many seconds (0: never)")
args = parser.parse_args()

b = BPF(text=program)
execve_fnname = b.get_syscall_fnname("execve")
b.attach_kprobe(event=execve_fnname, fn_name="syscall__execve")
b.attach_kretprobe(event=execve_fnname, fn_name="do_ret_sys_execve")

argv0 = {}
seen = 0


def print_event(cpu, data, size):
    global seen
    event = b["events"].event(data)
    if event.type == 0:  # EVENT_ARG: the file being executed
        argv0[event.pid] = event.argv
        return
    path = argv0.pop(event.pid, b"")
    print("%-16s %-7d %-7d %-6d %3d %s" % (event.comm.decode(errors="replace"), event.pid, event.ppid, event.uid,
                                          event.retval, path.decode(errors="replace")), flush=True)
    seen += 1


b["events"].open_perf_buffer(print_event)
print("%-16s %-7s %-7s %-6s %3s %s" % ("PCOMM", "PID", "PPID", "UID", "RET", "ARGS"), flush=True)
deadline = time.monotonic() + args.timeout if args.timeout else None
while not args.count or seen < args.count:
    if deadline is not None and time.monotonic() > deadline:
        break
    try:
        b.perf_buffer_poll(timeout=200)
    except KeyboardInterrupt:
        sys.exit(0)
