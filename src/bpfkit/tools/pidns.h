/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* PIDs as the tool's own PID namespace numbers them ("--pid-ns own"), or as the initial one does (the default). */
#ifndef BPFKIT_TOOLS_PIDNS_H
#define BPFKIT_TOOLS_PIDNS_H

#include <bpf/bpf_core_read.h>

/* Set before load for "--pid-ns own": st_dev and st_ino of the tool's /proc/self/ns/pid. Zero: host PIDs. */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;

/* struct bpf_pidns_info of the uapi (fixed layout): declared here so that a tool using only current_ids()
 * needs no CO-RE relocation, and so no kernel BTF, to load. */
struct pidns_ids {
	__u32 pid;
	__u32 tgid;
};

/* The deepest PID namespace nesting the kernel allows (MAX_PID_NS_LEVEL). */
#define PIDNS_MAX_LEVEL 32

/* The current thread's process id (tgid) and thread id in the chosen namespace; 0 when it is not in that
 * namespace (a process outside the tool's container), which callers skip. */
static __always_inline pid_t current_ids(pid_t *tid)
{
	struct pidns_ids ns = {};
	u64 id;

	if (pidns_ino) {
		if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, (struct bpf_pidns_info *)&ns, sizeof(ns)))
			return 0;
		*tid = ns.pid;
		return ns.tgid;
	}
	id = bpf_get_current_pid_tgid();
	*tid = (u32)id;
	return id >> 32;
}

/* The process id of task's parent in the chosen namespace: 0 when the parent is outside it, as /proc shows. */
static __always_inline pid_t parent_tgid(struct task_struct *task)
{
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	struct pid *pid;
	unsigned int level;
	struct upid up;
	int i;

	if (!pidns_ino)
		return BPF_CORE_READ(parent, tgid);
	pid = BPF_CORE_READ(parent, group_leader, thread_pid);
	level = BPF_CORE_READ(pid, level);
	for (i = 0; i < PIDNS_MAX_LEVEL; i++) {
		if (i > level)
			break;
		if (bpf_core_read(&up, sizeof(up), &pid->numbers[i]))
			break;
		if (BPF_CORE_READ(up.ns, ns.inum) == pidns_ino)
			return up.nr;
	}
	return 0;
}

#endif
