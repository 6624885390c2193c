// SPDX-License-Identifier: GPL-2.0
/* Feature: static __noinline subprograms and bpf-to-bpf calls four deep.
 * chain(x) = step1(x) = step2(x) - 1; step2(x) = step3(x) ^ 0x55;
 * step3(x) = step4(x) + step4(x + 1); step4(x) = 3 * x + 1.
 * So chain(x) = ((6x + 5) ^ 0x55) - 1. static_calls writes chain(ctx->x) and
 * the call depth reached into the ctx.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u32 deepest;

static __noinline __u64 step4(__u64 x)
{
	deepest = 4;
	return 3 * x + 1;
}

static __noinline __u64 step3(__u64 x)
{
	return step4(x) + step4(x + 1);
}

static __noinline __u64 step2(__u64 x)
{
	return step3(x) ^ 0x55;
}

static __noinline __u64 step1(__u64 x)
{
	return step2(x) - 1;
}

struct chain_args {
	__u64 x;
	__u64 result;	/* out */
	__u32 depth;	/* out */
};

SEC("syscall")
int static_calls(struct chain_args *args)
{
	deepest = 0;
	args->result = step1(args->x);
	args->depth = deepest;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
