// SPDX-License-Identifier: GPL-2.0
/* Feature: a function pointer chosen at run time and handed through a
 * static subprogram to bpf_loop as its callback. With mode 0 the callback
 * adds i to acc, with mode 1 it doubles acc and adds 1. fnptr_run writes acc
 * (starting from ctx->start) after ctx->n iterations into the ctx.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

typedef long (*loop_cb)(__u32 index, void *data);

struct acc_state {
	__u64 acc;
};

static long cb_add_index(__u32 index, void *data)
{
	struct acc_state *st = data;

	st->acc += index;
	return 0;
}

static long cb_double_plus_one(__u32 index, void *data)
{
	struct acc_state *st = data;

	st->acc = st->acc * 2 + 1;
	return 0;
}

static __noinline long run_callback(loop_cb fn, __u32 n, struct acc_state *st)
{
	return bpf_loop(n, fn, st, 0);
}

struct fnptr_args {
	__u32 mode;
	__u32 n;
	__u64 start;
	__u64 acc;	/* out */
};

SEC("syscall")
int fnptr_run(struct fnptr_args *args)
{
	struct acc_state st = { .acc = args->start };
	loop_cb fn = args->mode ? cb_double_plus_one : cb_add_index;
	long ret = run_callback(fn, args->n, &st);

	args->acc = st.acc;
	return ret;
}

char LICENSE[] SEC("license") = "GPL";
