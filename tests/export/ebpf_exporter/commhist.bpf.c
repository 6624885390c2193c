// SPDX-License-Identifier: GPL-2.0 OR MIT
/* An ebpf_exporter-style program written for bpfkit's tests: execs per command name (a counter map)
 * and an exp2 histogram of getpgid() arguments per command name, whose key ends with the bucket
 * (and bucket_max + 1 holding the sum), as ebpf_exporter's histograms are laid out. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define MAX_BUCKET 10

struct comm_key {
	char comm[16];
};

struct hist_key {
	char comm[16];
	u64 bucket;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct comm_key);
	__type(value, u64);
} commhist_execs_total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct hist_key);
	__type(value, u64);
} commhist_getpgid_arg SEC(".maps");

static __always_inline void bump(void *map, void *key, u64 by)
{
	u64 *v = bpf_map_lookup_elem(map, key);
	if (v)
		__sync_fetch_and_add(v, by);
	else
		bpf_map_update_elem(map, key, &by, BPF_NOEXIST);
}

SEC("tp/sched/sched_process_exec")
int count_exec(void *ctx)
{
	struct comm_key k = {};

	bpf_get_current_comm(k.comm, sizeof(k.comm));
	bump(&commhist_execs_total, &k, 1);
	return 0;
}

SEC("tp/syscalls/sys_enter_getpgid")
int observe_getpgid(struct trace_event_raw_sys_enter *ctx)
{
	struct hist_key k = {};
	u64 arg = ctx->args[0], b = 0;

	bpf_get_current_comm(k.comm, sizeof(k.comm));
	/* exp2: the smallest b with arg <= 2^b */
	while (b < MAX_BUCKET && (1ULL << b) < arg)
		b++;
	k.bucket = b;
	bump(&commhist_getpgid_arg, &k, 1);
	k.bucket = MAX_BUCKET + 1;
	bump(&commhist_getpgid_arg, &k, arg);
	return 0;
}
