// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_BLOOM_FILTER with map_extra (number of hash
 * functions) and BPF_F_ZERO_SEED so membership answers are reproducible.
 * Sleepable (syscall) programs may not use bloom filters, so bloom_ops is a
 * raw_tp program: it pushes args[0..2], then sets bit i of bloom_found when
 * bpf_map_peek_elem says args[3 + i] (i < 4) may be present. The value to
 * test is passed from a global, not the stack: Linux 7.2's verifier takes
 * peek's value argument for an output (as it is for queues and stacks),
 * drops the store before the call as dead and then refuses the read
 * ("slot poisoned by dead code elimination"), with libbpf as with bpfkit.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_ZERO_SEED);
	__uint(map_extra, 3);
	__type(value, __u32);
} seen SEC(".maps");

__u32 bloom_found = 0xffffffff;
__u32 push_errors;
__u32 peek_value;

SEC("raw_tp")
int bloom_ops(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 found = 0, v;

	for (int i = 0; i < 3; i++) {
		v = ctx->args[i];
		if (bpf_map_push_elem(&seen, &v, BPF_ANY))
			push_errors++;
	}
	for (int i = 0; i < 4; i++) {
		peek_value = ctx->args[3 + i];
		if (bpf_map_peek_elem(&seen, &peek_value) == 0)
			found |= 1u << i;
	}
	bloom_found = found;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
