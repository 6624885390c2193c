// SPDX-License-Identifier: GPL-2.0
/* Feature: legacy map definitions, struct bpf_map_def in SEC("maps").
 * libbpf >= 1.0 refuses this section; bpfkit reads it: each symbol in "maps"
 * is 20 bytes {type, key_size, value_size, max_entries, map_flags}.
 * legacy_add adds legacy_cfg[0] to legacy_sums[ctx->key] and counts runs in
 * legacy_cfg[1]. The program uses no globals, BTF maps or CO-RE.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_sums = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 8,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def SEC("maps") legacy_cfg = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 2,
};

struct legacy_args {
	__u32 key;
};

SEC("syscall")
int legacy_add(struct legacy_args *args)
{
	__u32 key = args->key, k0 = 0, k1 = 1;
	__u32 *step = bpf_map_lookup_elem(&legacy_cfg, &k0);
	__u32 *runs = bpf_map_lookup_elem(&legacy_cfg, &k1);
	__u64 *sum, init;

	if (!step || !runs)
		return 1;
	*runs += 1;
	sum = bpf_map_lookup_elem(&legacy_sums, &key);
	if (sum) {
		*sum += *step;
		return 0;
	}
	init = *step;
	return bpf_map_update_elem(&legacy_sums, &key, &init, BPF_NOEXIST) ? 2 : 0;
}

char LICENSE[] SEC("license") = "GPL";
