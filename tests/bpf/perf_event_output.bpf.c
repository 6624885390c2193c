// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_PERF_EVENT_ARRAY (max_entries 0: the loader sizes it
 * to the number of possible CPUs) written with bpf_perf_event_output from a
 * raw_tp program. The helper's result lands in output_ret: 0 when a perf
 * buffer is open on the running CPU, -ENOENT (-2) when none is.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_out SEC(".maps");

struct perf_sample {
	__u32 magic;
	__u32 arg;
	__u64 cpu;
};

__s64 output_ret = 1;

SEC("raw_tp")
int perf_emit(struct bpf_raw_tracepoint_args *ctx)
{
	struct perf_sample s = {
		.magic = 0xb0f0cafe,
		.arg = (__u32)ctx->args[0],
		.cpu = bpf_get_smp_processor_id(),
	};

	output_ret = bpf_perf_event_output(ctx, &perf_out, BPF_F_CURRENT_CPU, &s, sizeof(s));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
