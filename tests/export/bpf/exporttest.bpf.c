// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Test object of bpfkit export: counts the test's own execs per UID, a log2 histogram of the
 * arguments the test passes to getpgid(), and one hash entry per argument of getsid() (for max_series). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile u32 target_tgid = 0;

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

SEC("tp/syscalls/sys_enter_execve")
int on_execve(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	u32 uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;

	if (BPF_CORE_READ(task, real_parent, tgid) != target_tgid)
		return 0;
	add(&execs, &uid);
	return 0;
}

SEC("tp/syscalls/sys_enter_getpgid")
int on_getpgid(struct trace_event_raw_sys_enter *ctx)
{
	u32 zero = 0;
	u64 arg = ctx->args[0];
	struct hist *h;
	struct arg_key k = {.kind = 1};

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
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

SEC("tp/syscalls/sys_enter_getsid")
int on_getsid(struct trace_event_raw_sys_enter *ctx)
{
	u32 arg = ctx->args[0];

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	add(&sids, &arg);
	return 0;
}
