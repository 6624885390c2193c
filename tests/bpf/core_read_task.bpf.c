// SPDX-License-Identifier: GPL-2.0
/* Feature: CO-RE reads of task_struct chains. task_read records, for the
 * task running test_run: bpf_get_current_pid_tgid(), pid and tgid read
 * directly from bpf_get_current_task_btf(), real_parent->tgid through both
 * the BTF pointer and BPF_CORE_READ on bpf_get_current_task() (probe reads),
 * and comm via BPF_CORE_READ_STR_INTO.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_args {
	__u64 pid_tgid;		/* out */
	__s32 pid_btf;		/* out: current->pid via the BTF pointer */
	__s32 tgid_btf;		/* out */
	__s32 ppid_btf;		/* out: current->real_parent->tgid, BTF pointer */
	__s32 ppid_core;	/* out: the same through BPF_CORE_READ */
	__s32 pid_core;		/* out */
	__s32 comm_len;		/* out: bpf_probe_read_kernel_str result */
	char comm[16];		/* out */
};

SEC("syscall")
int task_read(struct task_args *args)
{
	struct task_struct *btf_task = bpf_get_current_task_btf();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	char comm[16] = {};

	args->pid_tgid = bpf_get_current_pid_tgid();
	args->pid_btf = btf_task->pid;
	args->tgid_btf = btf_task->tgid;
	args->ppid_btf = btf_task->real_parent->tgid;
	args->ppid_core = BPF_CORE_READ(task, real_parent, tgid);
	args->pid_core = BPF_CORE_READ(task, pid);
	args->comm_len = BPF_CORE_READ_STR_INTO(&comm, task, comm);
	__builtin_memcpy(args->comm, comm, sizeof(comm));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
