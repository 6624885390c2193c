// SPDX-License-Identifier: GPL-2.0
/* Feature: an unguarded CO-RE relocation against a field the kernel does not
 * have. This object must NOT load: the loader has to report a relocation
 * error naming task_struct___reached.bpfkit_missing_field (libbpf poisons the
 * instruction and the verifier then rejects the reachable poisoned call).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___reached {
	int pid;
	int bpfkit_missing_field;
} __attribute__((preserve_access_index));

__s32 value;

SEC("syscall")
int reached_read(void *ctx)
{
	struct task_struct___reached *t = (void *)bpf_get_current_task();

	value = BPF_CORE_READ(t, bpfkit_missing_field);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
