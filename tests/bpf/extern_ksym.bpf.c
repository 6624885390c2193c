// SPDX-License-Identifier: GPL-2.0
/* Feature: __ksym externs that load on any BTF kernel. Typed ksyms here are
 * kfuncs (bpf_task_from_pid / bpf_task_release, resolved to vmlinux BTF
 * FUNC ids); bpf_prog_put is an untyped `extern const void sym __ksym`
 * whose address the loader takes from /proc/kallsyms; a __weak untyped
 * ksym that does not exist resolves to address 0. ksym_read looks up the
 * task of ctx->pid and records its tgid and pid.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern const void bpf_prog_put __ksym;
extern const void bpfkit_no_such_symbol __ksym __weak;

struct ksym_args {
	__s32 pid;		/* in: a thread id */
	__s32 found;		/* out: 1 when bpf_task_from_pid found it */
	__s32 task_pid;		/* out */
	__s32 task_tgid;	/* out */
	__u64 prog_put_addr;	/* out: &bpf_prog_put */
	__u64 missing_addr;	/* out: &bpfkit_no_such_symbol, 0 */
};

SEC("syscall")
int ksym_read(struct ksym_args *args)
{
	struct task_struct *task = bpf_task_from_pid(args->pid);

	args->prog_put_addr = (__u64)&bpf_prog_put;
	args->missing_addr = (__u64)&bpfkit_no_such_symbol;
	if (!task) {
		args->found = 0;
		return 0;
	}
	args->found = 1;
	args->task_pid = task->pid;
	args->task_tgid = task->tgid;
	bpf_task_release(task);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
