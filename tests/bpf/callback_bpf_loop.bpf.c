// SPDX-License-Identifier: GPL-2.0
/* Feature: bpf_loop with a static callback that may stop early.
 * loop_squares sums i*i for i = 0 .. n-1, stopping after the iteration where
 * i == stop_at (the callback returns 1); bpf_loop returns the number of
 * iterations it ran.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct loop_args {
	__u32 n;
	__u32 stop_at;
	__u64 sum;		/* out */
	__s64 iterations;	/* out: bpf_loop's return value */
};

struct square_state {
	__u64 sum;
	__u32 stop_at;
};

static long add_square(__u32 i, void *data)
{
	struct square_state *st = data;

	st->sum += (__u64)i * i;
	return i == st->stop_at ? 1 : 0;
}

SEC("syscall")
int loop_squares(struct loop_args *args)
{
	struct square_state st = { .stop_at = args->stop_at };

	args->iterations = bpf_loop(args->n, add_square, &st, 0);
	args->sum = st.sum;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
