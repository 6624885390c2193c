// SPDX-License-Identifier: GPL-2.0
/* bench/offcpu.py: where the threads of one process sleep in the kernel. On each context switch,
 * a thread of process `tgid` that leaves the CPU has its kernel stack and the time recorded; when it
 * comes back, the interval (if at least `min_ns` long) goes to the ring buffer with that stack. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define DEPTH 24

struct offcpu_interval {
	__u32 tid;
	__u32 pad;
	__u64 start_ns;
	__u64 end_ns;
	__u64 stack[DEPTH];
};

const volatile __u32 tgid = 0;
const volatile __u64 min_ns = 1000000;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct offcpu_interval);
} asleep SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct offcpu_interval);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} intervals SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 zero = 0, tid;
	struct offcpu_interval *iv;

	if (prev->tgid == tgid) {
		iv = bpf_map_lookup_elem(&scratch, &zero);
		if (!iv)
			return 0;
		__builtin_memset(iv, 0, sizeof(*iv));
		tid = prev->pid;
		iv->tid = tid;
		bpf_get_stack(ctx, iv->stack, sizeof(iv->stack), 0);
		iv->start_ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&asleep, &tid, iv, BPF_ANY);
	}
	if (next->tgid == tgid) {
		tid = next->pid;
		iv = bpf_map_lookup_elem(&asleep, &tid);
		if (!iv)
			return 0;
		iv->end_ns = bpf_ktime_get_ns();
		if (iv->end_ns - iv->start_ns >= min_ns)
			bpf_ringbuf_output(&intervals, iv, sizeof(*iv), 0);
		bpf_map_delete_elem(&asleep, &tid);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
