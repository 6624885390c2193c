// SPDX-License-Identifier: GPL-2.0
/* Feature: bpf_for_each_map_elem over an array and a hash map.
 * for_each_sum sums and counts the values of vals (array) and table (hash);
 * a third walk over vals stops when it reaches index stop_index (callback
 * returns 1). Results go to the ctx; the helper returns how many elements
 * it visited.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} vals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} table SEC(".maps");

struct walk_state {
	__u64 sum;
	__u32 count;
	__u32 stop_index;
};

struct each_args {
	__u32 stop_index;
	__u32 pad;
	__u64 array_sum;	/* out */
	__u64 hash_sum;		/* out */
	__s64 array_visited;	/* out: helper return */
	__s64 hash_visited;	/* out: helper return */
	__s64 stopped_visited;	/* out: helper return of the early-stop walk */
	__u64 stopped_sum;	/* out */
};

static long sum_elem(struct bpf_map *map, __u32 *key, __u64 *val, struct walk_state *w)
{
	w->sum += *val;
	w->count++;
	return 0;
}

static long sum_until(struct bpf_map *map, __u32 *key, __u64 *val, struct walk_state *w)
{
	w->sum += *val;
	return *key == w->stop_index ? 1 : 0;
}

SEC("syscall")
int for_each_sum(struct each_args *args)
{
	struct walk_state a = {}, h = {}, s = { .stop_index = args->stop_index };

	args->array_visited = bpf_for_each_map_elem(&vals, sum_elem, &a, 0);
	args->hash_visited = bpf_for_each_map_elem(&table, sum_elem, &h, 0);
	args->stopped_visited = bpf_for_each_map_elem(&vals, sum_until, &s, 0);
	args->array_sum = a.sum;
	args->hash_sum = h.sum;
	args->stopped_sum = s.sum;
	return a.count + h.count;
}

char LICENSE[] SEC("license") = "GPL";
