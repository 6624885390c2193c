// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_HASH declared in .maps with __type(key)/__type(value).
 * hash_add adds ctx->add to counts[ctx->key] (inserting with BPF_NOEXIST when
 * absent) and writes the new value back into the ctx; hash_delete deletes the
 * key and returns the helper's errno as a positive number.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct hash_args {
	__u32 key;
	__u32 pad;
	__u64 add;
	__u64 result;	/* out: value after the update */
};

SEC("syscall")
int hash_add(struct hash_args *args)
{
	__u32 key = args->key;
	__u64 *val = bpf_map_lookup_elem(&counts, &key);

	if (val) {
		*val += args->add;
		args->result = *val;
		return 1;	/* updated in place */
	}
	__u64 init = args->add;
	if (bpf_map_update_elem(&counts, &key, &init, BPF_NOEXIST))
		return 2;
	args->result = init;
	return 0;		/* inserted */
}

SEC("syscall")
int hash_delete(struct hash_args *args)
{
	__u32 key = args->key;

	return -bpf_map_delete_elem(&counts, &key);	/* 0 or ENOENT */
}

char LICENSE[] SEC("license") = "GPL";
