// SPDX-License-Identifier: GPL-2.0
/* Feature: a CO-RE relocation against a field the kernel does not have,
 * guarded by bpf_core_field_exists. The loader cannot resolve the read of
 * bpfkit_no_such_field and poisons that instruction, but the guard is 0 so
 * the verifier sees the poisoned path as dead code and the program loads.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___guarded {
	int pid;
	int bpfkit_no_such_field;
} __attribute__((preserve_access_index));

struct guarded_args {
	__u32 field_exists;	/* out */
	__s32 field_value;	/* out: stays -1 when the field is absent */
	__s32 pid;		/* out */
};

SEC("syscall")
int guarded_read(struct guarded_args *args)
{
	struct task_struct___guarded *t = (void *)bpf_get_current_task();

	args->field_value = -1;
	args->field_exists = bpf_core_field_exists(t->bpfkit_no_such_field);
	if (bpf_core_field_exists(t->bpfkit_no_such_field))
		args->field_value = BPF_CORE_READ(t, bpfkit_no_such_field);
	args->pid = BPF_CORE_READ(t, pid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
