// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_PERCPU_ARRAY. A raw_tp program (test_run can pin it
 * to a CPU with BPF_F_TEST_RUN_ON_CPU) adds 1 to slot 0 and args[0] to slot 1
 * of the running CPU's copy, and records that CPU in .bss.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} per_cpu SEC(".maps");

__u32 last_cpu = 0xffffffff;

SEC("raw_tp")
int percpu_count(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 k0 = 0, k1 = 1;
	__u64 *calls = bpf_map_lookup_elem(&per_cpu, &k0);
	__u64 *total = bpf_map_lookup_elem(&per_cpu, &k1);

	if (!calls || !total)
		return 1;
	*calls += 1;
	*total += ctx->args[0];
	last_cpu = bpf_get_smp_processor_id();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
