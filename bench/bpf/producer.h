/* SPDX-License-Identifier: MIT */
/* Layouts shared by producer.bpf.c and the ring/perf buffer benchmark consumers. */
#ifndef BPFKIT_BENCH_PRODUCER_H
#define BPFKIT_BENCH_PRODUCER_H

#if !defined(__bpf__)
#include <linux/types.h>
#endif

/* Most records one test run may emit: bpf_loop's iteration limit (1 << 23). */
#define PRODUCER_MAX_COUNT (1u << 23)

/*
 * Context of one test run, 16 bytes. produce_rb (SEC "syscall") takes it as
 * its ctx; produce_pb (SEC "raw_tp") takes it as raw tracepoint args[0], args[1].
 */
struct produce_args {
	__u64 count;	/* records to emit, 1..PRODUCER_MAX_COUNT */
	__u64 run;	/* copied into every record, so a consumer can tell runs apart */
};

/* One record, exactly 64 bytes. */
struct bench_record {
	__u64 run;	/* produce_args.run */
	__u64 seq;	/* 0..count-1 within the run */
	__u8 pad[48];	/* zeros */
};

#endif /* BPFKIT_BENCH_PRODUCER_H */
