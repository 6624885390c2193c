// SPDX-License-Identifier: GPL-2.0 OR MIT
/* An ebpf_exporter-style program on a kprobe: refused clearly where kprobes are missing. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} kprobed_calls_total SEC(".maps");

SEC("kprobe/do_nanosleep")
int on_nanosleep(void *ctx)
{
	u32 zero = 0;
	u64 *v = bpf_map_lookup_elem(&kprobed_calls_total, &zero);

	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}
