// SPDX-License-Identifier: GPL-2.0
/* Feature: a SEC("syscall") program run with BPF_PROG_TEST_RUN on a ctx
 * struct of the caller's choosing. The kernel copies the ctx back into the
 * caller's ctx_in buffer after the run, so outputs are written there.
 * ctx_math writes a + b, a * b, a - b (signed) and a fixed tag string, and
 * returns 1 when a > b, else 0. The ctx must be at least as large as the
 * highest offset the program touches (40 bytes), or test_run fails with
 * EINVAL.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct math_args {
	__u32 a;		/* in */
	__u32 b;		/* in */
	__u64 sum;		/* out */
	__u64 product;		/* out */
	__s64 diff;		/* out */
	char tag[8];		/* out: "bpfkit\0\0" */
};

SEC("syscall")
int ctx_math(struct math_args *args)
{
	__u32 a = args->a, b = args->b;

	args->sum = (__u64)a + b;
	args->product = (__u64)a * b;
	args->diff = (__s64)a - (__s64)b;
	__builtin_memcpy(args->tag, "bpfkit\0", 8);
	return a > b;
}

char LICENSE[] SEC("license") = "GPL";
