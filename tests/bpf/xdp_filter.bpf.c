// SPDX-License-Identifier: GPL-2.0
/* Feature: an XDP program under BPF_PROG_TEST_RUN with packet data.
 * Frames shorter than 16 bytes and frames whose byte 14 (first byte after
 * the Ethernet header) is 0xff are dropped (XDP_DROP); otherwise byte 15 is
 * incremented in place and the frame passes (XDP_PASS). Counters in .bss.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u32 passed;
__u32 dropped;
__u32 last_len;

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data;
	__u8 *data_end = (void *)(long)ctx->data_end;

	last_len = data_end - data;
	if (data + 16 > data_end || data[14] == 0xff) {
		dropped++;
		return XDP_DROP;
	}
	data[15] += 1;
	passed++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
