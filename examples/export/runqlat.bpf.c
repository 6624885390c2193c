// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Run queue latency for bpfkit export (examples/export/runqlat.yaml): the time from a task's wakeup
 * (or preemption) to its running on a CPU, as a log2 histogram of microseconds in one array entry.
 * tp_btf arguments are BTF-typed: their fields are read directly (CO-RE relocated), not through
 * bpf_probe_read_kernel, which kernel lockdown=confidentiality refuses.
 * Build: clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I DIR_OF_VMLINUX_H -c runqlat.bpf.c -o runqlat.bpf.o
 * (bpfkit btf dump --format c > vmlinux.h writes the header). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define SLOTS 32
#define TASK_RUNNING 0

/* Linux 5.14 renamed task_struct's state to __state: both spellings, CO-RE picks the kernel's
 * (these local flavors compile against any vmlinux.h, old or new) */
struct task_struct___new {
	unsigned int __state;
} __attribute__((preserve_access_index));

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	struct task_struct___new *n = (void *)t;

	if (bpf_core_field_exists(n->__state))
		return n->__state;
	return ((struct task_struct___old *)(void *)t)->state;
}

struct hist {
	u32 slots[SLOTS];
	u64 total_us;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} enqueued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct hist);
} runq_hist SEC(".maps");

static __always_inline void enqueue(u32 pid)
{
	u64 now = bpf_ktime_get_ns();

	if (pid)
		bpf_map_update_elem(&enqueued, &pid, &now, BPF_ANY);
}

static __always_inline u32 log2l(u64 v)
{
	u32 r = 0;

	while (v > 1 && r < SLOTS - 1) {
		v >>= 1;
		r++;
	}
	return r;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runq_wakeup, struct task_struct *p)
{
	enqueue(p->pid);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(runq_wakeup_new, struct task_struct *p)
{
	enqueue(p->pid);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runq_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	u32 zero = 0, pid = next->pid, slot;
	u64 *start, delta_us;
	struct hist *h;

	if (task_state(prev) == TASK_RUNNING)
		enqueue(prev->pid); /* preempted: back in the run queue */
	start = bpf_map_lookup_elem(&enqueued, &pid);
	if (!start)
		return 0;
	delta_us = (bpf_ktime_get_ns() - *start) / 1000;
	bpf_map_delete_elem(&enqueued, &pid);
	h = bpf_map_lookup_elem(&runq_hist, &zero);
	if (!h)
		return 0;
	slot = log2l(delta_us);
	__sync_fetch_and_add(&h->slots[slot & (SLOTS - 1)], 1);
	__sync_fetch_and_add(&h->total_us, delta_us);
	return 0;
}
