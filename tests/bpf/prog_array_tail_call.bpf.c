// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_PROG_ARRAY with static initial values
 * (jump_table[1] = tail_pass, jump_table[2] = tail_tx) and bpf_tail_call.
 * tail_entry (XDP) tail-calls jump_table[packet byte 0]; when the slot is
 * empty or out of range the call falls through and it returns XDP_DROP.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u32 entry_hits;
__u32 fallthrough_hits;
__u32 pass_hits;
__u32 tx_hits;

SEC("xdp")
int tail_pass(struct xdp_md *ctx)
{
	pass_hits++;
	return XDP_PASS;
}

SEC("xdp")
int tail_tx(struct xdp_md *ctx)
{
	tx_hits++;
	return XDP_TX;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int (struct xdp_md *));
} jump_table SEC(".maps") = {
	.values = { [1] = (void *)&tail_pass, [2] = (void *)&tail_tx },
};

SEC("xdp")
int tail_entry(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *first = data;

	entry_hits++;
	if ((void *)(first + 1) > data_end)
		return XDP_ABORTED;
	bpf_tail_call(ctx, &jump_table, *first);
	fallthrough_hits++;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
