// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_ARRAY with a struct value type from BTF.
 * array_sum sets pairs[ctx->index].sum = a + b; an index past max_entries
 * makes the lookup return NULL and the program returns 1.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct pair_val {
	__u32 a;
	__u32 b;
	__u64 sum;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct pair_val);
} pairs SEC(".maps");

struct array_args {
	__u32 index;
};

SEC("syscall")
int array_sum(struct array_args *args)
{
	__u32 index = args->index;
	struct pair_val *p = bpf_map_lookup_elem(&pairs, &index);

	if (!p)
		return 1;
	p->sum = (__u64)p->a + p->b;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
