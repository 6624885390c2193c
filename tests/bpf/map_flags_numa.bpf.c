// SPDX-License-Identifier: GPL-2.0
/* Feature: map_flags and numa_node in BTF map definitions.
 * nopre: hash with BPF_F_NO_PREALLOC; on_node0: array with BPF_F_NUMA_NODE
 * and numa_node 0; ro_prog: array with BPF_F_RDONLY_PROG (user space writes,
 * the program may only read). flags_touch writes nopre[1] = 11 and
 * on_node0[0] = 22 and returns ro_prog[0].
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u32);
} nopre SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_NUMA_NODE);
	__uint(numa_node, 0);
	__type(key, __u32);
	__type(value, __u32);
} on_node0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, __u32);
} ro_prog SEC(".maps");

SEC("syscall")
int flags_touch(void *ctx)
{
	__u32 k0 = 0, k1 = 1, v11 = 11, v22 = 22;
	__u32 *ro;

	if (bpf_map_update_elem(&nopre, &k1, &v11, BPF_ANY))
		return 1000;
	if (bpf_map_update_elem(&on_node0, &k0, &v22, BPF_ANY))
		return 1001;
	ro = bpf_map_lookup_elem(&ro_prog, &k0);
	if (!ro)
		return 1002;
	return *ro;
}

char LICENSE[] SEC("license") = "GPL";
