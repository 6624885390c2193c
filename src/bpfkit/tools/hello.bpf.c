// SPDX-License-Identifier: GPL-2.0 OR MIT
/* hello: send a "Hello World" record per execve to user space through a perf buffer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "pidns.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* One record of the "output" perf buffer: 36 bytes, no padding. */
struct data_t {
	int pid;
	int uid;
	char command[16];
	char message[12];
};

/* max_entries left 0: the loader sets it to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(u32));
} output SEC(".maps");

/* Never used: makes clang keep struct data_t in the object's BTF, so that `bpfkit run`
 * and `bpfkit gen python` can decode the perf buffer's records by name. */
const struct data_t *unused_data __attribute__((unused));

SEC("tp/syscalls/sys_enter_execve")
int hello(void *ctx)
{
	struct data_t data = {};
	pid_t tid;

	data.pid = current_ids(&tid);
	if (!data.pid)
		return 0;
	data.uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
	bpf_get_current_comm(&data.command, sizeof(data.command));
	/* 11 characters and the terminating NUL fill message[12] exactly */
	__builtin_memcpy(data.message, "Hello World", sizeof(data.message));

	bpf_perf_event_output(ctx, &output, BPF_F_CURRENT_CPU, &data, sizeof(data));
	return 0;
}
