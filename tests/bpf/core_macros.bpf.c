// SPDX-License-Identifier: GPL-2.0
/* Feature: the CO-RE query macros of libbpf 1.1 (field exists/size/offset,
 * type exists/size, local and kernel type ids, enum value exists/value),
 * each answered by the loader from the kernel's BTF. bpf_core_type_matches
 * is not used: clang 14 cannot compile it. Results go to .bss.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___local {
	int pid;
	int bpfkit_no_such_field;
} __attribute__((preserve_access_index));

struct bpfkit_no_such_type {
	int x;
} __attribute__((preserve_access_index));

/* Local enumerator values deliberately differ from the kernel's. */
enum bpf_map_type___local {
	BPF_MAP_TYPE_HASH___local = 100,
	BPF_MAP_TYPE_RINGBUF___local = 101,
	BPFKIT_NO_SUCH_MAP_TYPE___local = 102,
};

__u32 pid_exists;
__u32 missing_field_exists = 0xff;
__u32 pid_size;
__u32 comm_size;
__u32 pid_offset;
__u32 task_exists;
__u32 missing_type_exists = 0xff;
__u32 task_size;
__u32 task_id_local;
__u32 task_id_kernel;
__u32 missing_type_id_kernel = 0xff;
__u32 hash_exists;
__u32 missing_enum_exists = 0xff;
__u64 hash_value;
__u64 ringbuf_value;

SEC("syscall")
int core_macros(void *ctx)
{
	struct task_struct *t = (void *)0;
	struct task_struct___local *tl = (void *)0;

	pid_exists = bpf_core_field_exists(t->pid);
	missing_field_exists = bpf_core_field_exists(tl->bpfkit_no_such_field);
	pid_size = bpf_core_field_size(t->pid);
	comm_size = bpf_core_field_size(struct task_struct, comm);
	pid_offset = bpf_core_field_offset(struct task_struct, pid);
	task_exists = bpf_core_type_exists(struct task_struct);
	missing_type_exists = bpf_core_type_exists(struct bpfkit_no_such_type);
	task_size = bpf_core_type_size(struct task_struct);
	task_id_local = bpf_core_type_id_local(struct task_struct);
	task_id_kernel = bpf_core_type_id_kernel(struct task_struct);
	missing_type_id_kernel = bpf_core_type_id_kernel(struct bpfkit_no_such_type);
	hash_exists = bpf_core_enum_value_exists(enum bpf_map_type___local,
						 BPF_MAP_TYPE_HASH___local);
	missing_enum_exists = bpf_core_enum_value_exists(enum bpf_map_type___local,
							 BPFKIT_NO_SUCH_MAP_TYPE___local);
	hash_value = bpf_core_enum_value(enum bpf_map_type___local, BPF_MAP_TYPE_HASH___local);
	ringbuf_value = bpf_core_enum_value(enum bpf_map_type___local,
					    BPF_MAP_TYPE_RINGBUF___local);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
