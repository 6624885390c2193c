// SPDX-License-Identifier: GPL-2.0
/* Feature: pinning LIBBPF_PIN_BY_NAME. pinned_ctr is pinned as
 * <pin root>/pinned_ctr (libbpf's default root: /sys/fs/bpf) and reused by the
 * next load of this object, so its value survives a reload; unpinned is not
 * pinned and starts from zero again. pin_bump adds 1 to both.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pinned_ctr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unpinned SEC(".maps");

SEC("syscall")
int pin_bump(void *ctx)
{
	__u32 k = 0;
	__u64 *a = bpf_map_lookup_elem(&pinned_ctr, &k);
	__u64 *b = bpf_map_lookup_elem(&unpinned, &k);

	if (!a || !b)
		return 1;
	*a += 1;
	*b += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
