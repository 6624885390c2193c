// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Test object of bpfkit export: counts the test's own execs per UID, a log2 histogram of the
 * arguments the test passes to getpgid(), and one hash entry per argument of getsid() (for max_series).
 * The programs are tp_btf on the raw sys_enter tracepoint, each picking its call by number (set before load:
 * this architecture's), so that they attach without tracefs (a user with only CAP_BPF + CAP_PERFMON, a BPF
 * token) and read the BTF-typed registers directly (no bpf_probe_read_kernel: lockdown=confidentiality). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile u32 target_tgid = 0;
const volatile long nr_execve = -1, nr_getpgid = -1, nr_getsid = -1;

#define SLOTS 8

struct hist {
	u32 slots[SLOTS];
	u64 sum;
};

struct arg_key {
	u32 kind;
	u32 slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct hist);
} arg_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, struct arg_key);
	__type(value, u64);
} arg_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);
	__type(value, u64);
} sids SEC(".maps");

static __always_inline u32 log2l(u64 v)
{
	u32 r = 0;
	while (v > 1 && r < 63) {
		v >>= 1;
		r++;
	}
	return r;
}

static __always_inline void add(void *map, void *key)
{
	u64 one = 1, *v = bpf_map_lookup_elem(map, key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, key, &one, BPF_ANY);
}

/* The test's children (forked by target_tgid): their execs are the ones counted. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, u32);
	__type(value, u8);
} children SEC(".maps");

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	u32 pid = child->pid;
	u8 one = 1;

	if (parent->tgid == target_tgid)
		bpf_map_update_elem(&children, &pid, &one, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_execve, struct pt_regs *regs, long id)
{
	u32 uid = bpf_get_current_uid_gid() & 0xFFFFFFFF, tgid = bpf_get_current_pid_tgid() >> 32;

	if (id != nr_execve || !bpf_map_lookup_elem(&children, &tgid))
		return 0;
	add(&execs, &uid);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_getpgid, struct pt_regs *regs, long id)
{
	u32 zero = 0;
	u64 arg;
	struct hist *h;
	struct arg_key k = {.kind = 1};

	if (id != nr_getpgid || (bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	arg = PT_REGS_PARM1(regs);
	h = bpf_map_lookup_elem(&arg_hist, &zero);
	if (!h)
		return 0;
	k.slot = log2l(arg);
	if (k.slot >= SLOTS)
		k.slot = SLOTS - 1;
	__sync_fetch_and_add(&h->slots[k.slot & (SLOTS - 1)], 1);
	__sync_fetch_and_add(&h->sum, arg);
	add(&arg_slots, &k);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_getsid, struct pt_regs *regs, long id)
{
	u32 arg;

	if (id != nr_getsid || (bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	arg = PT_REGS_PARM1(regs);
	add(&sids, &arg);
	return 0;
}
