// SPDX-License-Identifier: GPL-2.0 OR MIT
/* An ebpf_exporter-style per-CPU counter: getsid(777777) calls per CPU, in a one-entry per-CPU array
 * whose only label is 'cpu' (ebpf_exporter appends the CPU as a u16 to the key and drops the zero key). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} cpucount_getsid_total SEC(".maps");

SEC("tp/syscalls/sys_enter_getsid")
int count_getsid(struct trace_event_raw_sys_enter *ctx)
{
	u32 zero = 0;
	u64 *v;

	if (ctx->args[0] != 777777)
		return 0;
	v = bpf_map_lookup_elem(&cpucount_getsid_total, &zero);
	if (v)
		*v += 1; /* per-CPU: no other CPU writes this slot */
	return 0;
}
