// SPDX-License-Identifier: GPL-2.0
/* Feature: global (non-static) functions, which the verifier checks once on
 * their own against their BTF prototype rather than per call site.
 * global_scale(v, f) = v * f, or 0 when f > 1000; global_fill(args) reads and
 * writes the ctx through a pointer argument; global_mix calls global_scale
 * from another global function.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct global_args {
	__u32 value;
	__u32 factor;
	__u64 scaled;	/* out */
	__u64 mixed;	/* out */
};

__noinline __u64 global_scale(__u32 value, __u32 factor)
{
	if (factor > 1000)
		return 0;
	return (__u64)value * factor;
}

__noinline __u64 global_mix(__u32 value)
{
	return global_scale(value, 2) + global_scale(value, 5000) + 7;
}

__noinline int global_fill(struct global_args *args)
{
	if (!args)
		return -1;
	args->scaled = global_scale(args->value, args->factor);
	args->mixed = global_mix(args->value);
	return 0;
}

SEC("syscall")
int global_calls(struct global_args *args)
{
	return global_fill(args);
}

char LICENSE[] SEC("license") = "GPL";
