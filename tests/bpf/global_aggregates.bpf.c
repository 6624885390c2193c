// SPDX-License-Identifier: GPL-2.0
/* Feature: structs and arrays as globals, a file-scope static and a
 * function-scope static variable. record(value) updates g_stats (a struct
 * in .data with a char array), hist[value & 7] (a .bss array), s_calls
 * (static, file scope) and the function-local static seen_max; copies of the
 * statics go to calls_copy and max_copy.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct agg_stats {
	__u32 count;
	__u32 max;
	__u64 sum;
	char tag[8];
};

struct agg_stats g_stats = { .tag = "init" };	/* .data */
__u32 hist[8];					/* .bss */
static __u64 s_calls;				/* .bss, local symbol */
__u64 calls_copy;
__u32 max_copy;

struct agg_args {
	__u32 value;
};

static __noinline __u32 track_max(__u32 value)
{
	static __u32 seen_max;			/* function-scope static */

	if (value > seen_max)
		seen_max = value;
	return seen_max;
}

SEC("syscall")
int record(struct agg_args *args)
{
	__u32 value = args->value;

	g_stats.count++;
	g_stats.sum += value;
	if (value > g_stats.max)
		g_stats.max = value;
	hist[value & 7]++;
	s_calls++;
	calls_copy = s_calls;
	max_copy = track_max(value);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
