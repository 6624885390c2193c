// SPDX-License-Identifier: GPL-2.0
/* B9: sixteen tracepoint programs on rarely called syscalls (they only count), so that stopping a
 * process means closing sixteen tracepoint links. Both sides attach every program by its section. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

#define COUNTER(n, syscall)                                      \
	SEC("tracepoint/syscalls/sys_enter_" #syscall)           \
	int count_##syscall(void *ctx)                           \
	{                                                        \
		__u32 key = n;                                   \
		__u64 *v = bpf_map_lookup_elem(&hits, &key);     \
		if (v)                                           \
			__sync_fetch_and_add(v, 1);              \
		return 0;                                        \
	}

COUNTER(0, getpid)
COUNTER(1, getppid)
COUNTER(2, getuid)
COUNTER(3, geteuid)
COUNTER(4, getgid)
COUNTER(5, getegid)
COUNTER(6, gettid)
COUNTER(7, getsid)
COUNTER(8, sched_yield)
COUNTER(9, umask)
COUNTER(10, sync)
COUNTER(11, getpriority)
COUNTER(12, times)
COUNTER(13, sysinfo)
COUNTER(14, getrusage)
COUNTER(15, newuname)

char LICENSE[] SEC("license") = "GPL";
