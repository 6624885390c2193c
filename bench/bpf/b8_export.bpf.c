// SPDX-License-Identifier: GPL-2.0 OR MIT
/* B8: a map for bpfkit export to serve; the benchmark fills it from user space (no program needed). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct series_key {
	u32 pid;
	u32 cpu;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, struct series_key);
	__type(value, u64);
} b8_series SEC(".maps");
