// SPDX-License-Identifier: GPL-2.0
/* Feature: maps declared with __uint(key_size)/__uint(value_size) instead of
 * BTF types, so the kernel map has no BTF key/value type. sized_put stores
 * the 16 value bytes from the ctx under the 8-byte key from the ctx and
 * counts calls in raw[0] (a 4-byte key, 24-byte value array).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__uint(key_size, 8);
	__uint(value_size, 16);
} by_size SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, 4);
	__uint(value_size, 24);
} raw SEC(".maps");

struct sized_args {
	__u64 key;
	__u8 value[16];
};

SEC("syscall")
int sized_put(struct sized_args *args)
{
	__u64 key = args->key;
	__u8 value[16];
	__u32 k0 = 0;
	__u64 *slot;

	__builtin_memcpy(value, args->value, sizeof(value));
	if (bpf_map_update_elem(&by_size, &key, value, BPF_ANY))
		return 1;
	slot = bpf_map_lookup_elem(&raw, &k0);
	if (!slot)
		return 2;
	slot[0] += 1;		/* bytes 0..7: calls */
	slot[2] = key;		/* bytes 16..23: last key */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
