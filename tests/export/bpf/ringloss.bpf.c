// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Test object of bpfkit export: each getppid() of the test reserves two records of 2 KiB in a ring of
 * one page, where one fits; a reserve that fails is counted in events_lost (bpfkit's NAME_lost convention).
 * The ring 'plain' has no such counter. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile u32 target_tgid = 0;
const volatile long nr_getppid = -1; /* this architecture's, set before load */

struct event {
	u32 seq;
	u8 pad[2044];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} plain SEC(".maps"); /* no plain_lost: its losses are unknown */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} events_lost SEC(".maps");

static __always_inline void emit(u32 seq)
{
	u32 zero = 0;
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	u64 *n;

	if (!e) {
		n = bpf_map_lookup_elem(&events_lost, &zero);
		if (n)
			(*n)++;
		return;
	}
	e->seq = seq;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/sys_enter") /* (not tracefs's syscalls/sys_enter_getppid: attaches without tracefs) */
int BPF_PROG(on_getppid, struct pt_regs *regs, long id)
{
	u32 zero = 0;

	if (id != nr_getppid || (bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	emit(0);
	emit(1);
	bpf_ringbuf_output(&plain, &zero, sizeof(zero), 0);
	return 0;
}
