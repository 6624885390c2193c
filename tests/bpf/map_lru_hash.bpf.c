// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_LRU_HASH. lru_fill inserts keys args[0] ..
 * args[0] + args[1] - 1 (at most 32) with value key * 10; inserting more keys
 * than max_entries evicts older ones instead of failing.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} lru SEC(".maps");

__u32 failed_updates;

SEC("raw_tp")
int lru_fill(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 first = ctx->args[0];
	__u32 count = ctx->args[1];

	for (__u32 i = 0; i < 32; i++) {
		if (i >= count)
			break;
		__u32 key = first + i;
		__u64 val = (__u64)key * 10;
		if (bpf_map_update_elem(&lru, &key, &val, BPF_ANY))
			failed_updates++;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
