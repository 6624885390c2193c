// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_ARRAY_OF_MAPS and BPF_MAP_TYPE_HASH_OF_MAPS declared
 * with __array(values, struct inner_map) and filled statically: outer_arr[0] ->
 * inner_a, outer_arr[1] -> inner_b, outer_hash[3] -> inner_b. inner_add adds
 * ctx->add to inner[ctx->inner_key] of the map found at outer[ctx->outer_key]
 * (outer_hash when ctx->use_hash, else outer_arr).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_arr SEC(".maps") = {
	.values = { [0] = &inner_a, [1] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_hash SEC(".maps") = {
	.values = { [3] = &inner_b },
};

struct inner_args {
	__u32 use_hash;
	__u32 outer_key;
	__u32 inner_key;
	__u32 pad;
	__u64 add;
	__u64 result;	/* out: inner value after the addition */
};

SEC("syscall")
int inner_add(struct inner_args *args)
{
	__u32 okey = args->outer_key, ikey = args->inner_key;
	void *inner;
	__u64 *val;

	if (args->use_hash)
		inner = bpf_map_lookup_elem(&outer_hash, &okey);
	else
		inner = bpf_map_lookup_elem(&outer_arr, &okey);
	if (!inner)
		return 1;	/* no inner map at that outer key */
	val = bpf_map_lookup_elem(inner, &ikey);
	if (!val)
		return 2;	/* inner key out of range */
	*val += args->add;
	args->result = *val;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
