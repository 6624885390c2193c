// SPDX-License-Identifier: GPL-2.0 OR MIT
/* procmap: keep a pid -> command name table of live processes for user space to read. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "pidns.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define PROCMAP_COMM_LEN 16

/* tgid -> comm after its last exec */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, pid_t);
	__type(value, char[PROCMAP_COMM_LEN]);
} proc_map SEC(".maps");

SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
	char comm[PROCMAP_COMM_LEN] = {};
	pid_t tid, pid = current_ids(&tid);

	if (!pid)
		return 0;
	/* exec has already renamed the task, so this is the new program's name */
	bpf_get_current_comm(comm, sizeof(comm));
	bpf_map_update_elem(&proc_map, &pid, comm, BPF_ANY);
	return 0;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(void *ctx)
{
	pid_t tid, pid = current_ids(&tid);

	/* A thread exiting does not end the process. */
	if (!pid || pid != tid)
		return 0;
	bpf_map_delete_elem(&proc_map, &pid);
	return 0;
}
