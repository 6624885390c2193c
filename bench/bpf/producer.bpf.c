// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Record producers for the buffer benchmarks: each test run (BPF_PROG_RUN)
 * emits `count` 64-byte records with bpf_loop, into a BPF ring buffer
 * (produce_rb) or a perf event array (produce_pb), and counts the records
 * the buffer had no room for.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "producer.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* The consumer sets the size before load (bpf_map__set_max_entries); a power of 2 of pages. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

/* max_entries left 0: the loader sets it to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(u32));
} pb SEC(".maps");

/* Totals over all runs, in .bss: records emitted and records dropped for lack of room. */
__u64 rb_emitted = 0;
__u64 rb_dropped = 0;
__u64 pb_emitted = 0;
__u64 pb_dropped = 0;

struct rb_loop {
	__u64 run;
};

static long emit_rb(__u32 i, void *data)
{
	struct rb_loop *loop = data;
	struct bench_record *rec;

	rec = bpf_ringbuf_reserve(&rb, sizeof(*rec), 0);
	if (!rec) {
		__sync_fetch_and_add(&rb_dropped, 1);
		return 0;
	}
	rec->run = loop->run;
	rec->seq = i;
	__builtin_memset(rec->pad, 0, sizeof(rec->pad));
	bpf_ringbuf_submit(rec, 0);
	__sync_fetch_and_add(&rb_emitted, 1);
	return 0;
}

/* ctx: struct produce_args. Returns the number of loop iterations, or a negative errno. */
SEC("syscall")
int produce_rb(struct produce_args *args)
{
	struct rb_loop loop = { .run = args->run };
	__u64 count = args->count;

	if (count == 0 || count > PRODUCER_MAX_COUNT)
		return -22; /* EINVAL */
	return bpf_loop(count, emit_rb, &loop, 0);
}

struct pb_loop {
	void *ctx;
	__u64 run;
};

static long emit_pb(__u32 i, void *data)
{
	struct pb_loop *loop = data;
	struct bench_record rec = { .run = loop->run, .seq = i };

	if (bpf_perf_event_output(loop->ctx, &pb, BPF_F_CURRENT_CPU, &rec, sizeof(rec)))
		__sync_fetch_and_add(&pb_dropped, 1);
	else
		__sync_fetch_and_add(&pb_emitted, 1);
	return 0;
}

/* ctx: args[0] = count, args[1] = run (pass struct produce_args as ctx_in). Runs only via BPF_PROG_RUN. */
SEC("raw_tp")
int produce_pb(struct bpf_raw_tracepoint_args *ctx)
{
	struct pb_loop loop = { .ctx = ctx, .run = ctx->args[1] };
	__u64 count = ctx->args[0];

	if (count == 0 || count > PRODUCER_MAX_COUNT)
		return -22; /* EINVAL */
	return bpf_loop(count, emit_pb, &loop, 0);
}
