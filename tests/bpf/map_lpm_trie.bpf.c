// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_LPM_TRIE (needs map_flags BPF_F_NO_PREALLOC) with an
 * IPv4 key {prefixlen, addr[4]}. Sleepable (syscall) programs may not use
 * LPM tries, so lpm_lookup is a raw_tp program: args[0] holds the address
 * bytes in its low 4 bytes (memory order), args[1] != 0 first inserts
 * 172.16.0.0/12 -> 4. The longest match's value goes to lpm_result (0 when
 * none) and lpm_found; the program returns 0.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct ipv4_lpm_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipv4_lpm_key);
	__type(value, __u32);
} routes SEC(".maps");

__u32 lpm_result = 0xffffffff;
__u32 lpm_found = 0xffffffff;

SEC("raw_tp")
int lpm_lookup(struct bpf_raw_tracepoint_args *ctx)
{
	struct ipv4_lpm_key key = { .prefixlen = 32 };
	__u64 addr = ctx->args[0];
	__u32 *val;

	if (ctx->args[1]) {
		struct ipv4_lpm_key net = { .prefixlen = 12, .addr = { 172, 16, 0, 0 } };
		__u32 four = 4;

		bpf_map_update_elem(&routes, &net, &four, BPF_ANY);
	}
	__builtin_memcpy(key.addr, &addr, 4);
	val = bpf_map_lookup_elem(&routes, &key);
	lpm_found = val != NULL;
	lpm_result = val ? *val : 0;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
