// SPDX-License-Identifier: GPL-2.0
/* Feature: a SEC("tc") (sched_cls) program on a __sk_buff under
 * BPF_PROG_TEST_RUN, with packet data and a ctx_in/ctx_out __sk_buff.
 * Frames whose byte 14 is 0xff get TC_ACT_SHOT; otherwise byte 15 is
 * incremented with bpf_skb_store_bytes and the frame gets TC_ACT_OK. Either
 * way skb->mark becomes mark + 1 and cb[0] the skb length.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#ifndef TC_ACT_OK
#define TC_ACT_OK 0
#endif
#ifndef TC_ACT_SHOT
#define TC_ACT_SHOT 2
#endif

__u32 seen_len;
__u32 seen_mark;
__u32 seen_protocol;	/* skb->protocol, network byte order */
__u32 ok_count;
__u32 shot_count;

SEC("tc")
int tc_filter(struct __sk_buff *skb)
{
	__u8 *data = (void *)(long)skb->data;
	__u8 *data_end = (void *)(long)skb->data_end;
	__u8 next;

	seen_len = skb->len;
	seen_mark = skb->mark;
	seen_protocol = skb->protocol;
	skb->mark = skb->mark + 1;
	skb->cb[0] = skb->len;
	if (data + 16 > data_end || data[14] == 0xff) {
		shot_count++;
		return TC_ACT_SHOT;
	}
	next = data[15] + 1;
	if (bpf_skb_store_bytes(skb, 15, &next, 1, 0))
		return TC_ACT_SHOT;
	ok_count++;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
