// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_STACK (no key; LIFO). stack_ops pushes ctx->push[0..2],
 * tries a fourth push onto the now full stack (max_entries 4, one element was
 * pushed from user space first), then pops one element and peeks the next.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__type(value, __u32);
} lifo SEC(".maps");

struct stack_args {
	__u32 push[3];
	__u32 extra;
	__s32 full_err;	/* out: result of pushing into the full stack */
	__u32 popped;	/* out */
	__u32 peeked;	/* out */
};

SEC("syscall")
int stack_ops(struct stack_args *args)
{
	__u32 v;

	for (int i = 0; i < 3; i++) {
		v = args->push[i];
		if (bpf_map_push_elem(&lifo, &v, 0))
			return 1;
	}
	v = args->extra;
	args->full_err = bpf_map_push_elem(&lifo, &v, 0);
	if (bpf_map_pop_elem(&lifo, &v))
		return 2;
	args->popped = v;
	if (bpf_map_peek_elem(&lifo, &v))
		return 3;
	args->peeked = v;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
