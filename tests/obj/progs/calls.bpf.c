// Subprograms: static and global functions several deep, shared between programs,
// and callbacks passed to bpf_loop / bpf_for_each_map_elem.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} arr SEC(".maps");

u64 total;

static __noinline int leaf(int x) { return x * 7 + (int)total; }
static __noinline int mid(int x) { return leaf(x) + leaf(x + 1); }
__noinline int top(int x) { return mid(x) - 1; }
__noinline int other(int x) { return leaf(x) ^ 3; }

static long loop_cb(u32 i, void *ctx) { total += i; return 0; }
static long each_cb(struct bpf_map *map, u32 *key, u64 *val, void *ctx)
{
	total += *val + leaf(*key);
	return 0;
}

SEC("raw_tp/sys_enter")
int prog_one(void *ctx)
{
	total += top(1);
	bpf_loop(8, loop_cb, NULL, 0);
	return 0;
}

SEC("raw_tp/sys_exit")
int prog_two(void *ctx)
{
	bpf_for_each_map_elem(&arr, each_cb, NULL, 0);
	total += other(2) + mid(3);
	return 0;
}

SEC("xdp")
int prog_plain(struct xdp_md *ctx) { return XDP_PASS; }
