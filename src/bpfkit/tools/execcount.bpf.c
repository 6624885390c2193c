// SPDX-License-Identifier: GPL-2.0 OR MIT
/* execcount: count execve/execveat calls per UID in a hash map that user space polls. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* uid -> number of execve/execveat calls */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u64);
	__type(value, u64);
} counter_table SEC(".maps");

static __always_inline int count_exec(void)
{
	u64 uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
	u64 one = 1;
	u64 *count;

	count = bpf_map_lookup_elem(&counter_table, &uid);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return 0;
	}
	/* First exec of this uid; if another CPU won the race, add to its entry. */
	if (bpf_map_update_elem(&counter_table, &uid, &one, BPF_NOEXIST) != 0) {
		count = bpf_map_lookup_elem(&counter_table, &uid);
		if (count)
			__sync_fetch_and_add(count, 1);
	}
	return 0;
}

SEC("tp/syscalls/sys_enter_execve")
int count_execve(void *ctx)
{
	return count_exec();
}

SEC("tp/syscalls/sys_enter_execveat")
int count_execveat(void *ctx)
{
	return count_exec();
}
