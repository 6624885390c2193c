// SPDX-License-Identifier: GPL-2.0
/* Feature: ___flavor suffixes. struct task_struct___mine declares only pid
 * and tgid; the loader matches it to the kernel's struct task_struct (the
 * suffix after ___ is ignored) and relocates both offsets. flavor_read
 * writes them and bpf_get_current_pid_tgid() into the ctx.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___mine {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

struct flavor_args {
	__s32 pid;		/* out */
	__s32 tgid;		/* out */
	__u64 pid_tgid;		/* out */
};

SEC("syscall")
int flavor_read(struct flavor_args *args)
{
	struct task_struct___mine *t = (void *)bpf_get_current_task();

	args->pid = BPF_CORE_READ(t, pid);
	args->tgid = BPF_CORE_READ(t, tgid);
	args->pid_tgid = bpf_get_current_pid_tgid();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
