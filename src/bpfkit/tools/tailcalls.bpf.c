// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tailcalls: a raw tracepoint on sys_enter that dispatches by syscall number
 * through a program array. System call numbers differ between architectures
 * (execve is 59 on x86_64, 221 on arm64): the tool fills the array after loading
 * and sets the two numbers hello_timer tells apart, from bpfkit.arch's tables.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "pidns.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Indexes of the `counts` array. */
#define COUNT_OTHER   0	/* no program for this syscall: the dispatcher fell through */
#define COUNT_EXECVE  1
#define COUNT_TIMER   2
#define COUNT_IGNORED 3
#define COUNT_SLOTS   4

/* Set before load; when non-zero only syscalls of this thread group are dispatched and counted. */
const volatile int target_tgid = 0;
/*
 * Set before load; when non-zero the syscalls of this thread group are left alone. The reader of
 * trace_pipe sets its own: each line it reads and prints costs syscalls that would print more lines.
 */
const volatile int ignore_tgid = 0;
/* Set before load: this architecture's numbers of timer_create and timer_delete. */
const volatile long nr_timer_create = -1;
const volatile long nr_timer_delete = -1;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COUNT_SLOTS);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

static __always_inline void bump(u32 slot)
{
	u64 *count = bpf_map_lookup_elem(&counts, &slot);

	if (count)
		__sync_fetch_and_add(count, 1);
}

/* The tail-called programs have no attach target: they only run through `syscall`. */

SEC("raw_tp")
int hello_execve(struct bpf_raw_tracepoint_args *ctx)
{
	bump(COUNT_EXECVE);
	bpf_printk("Executing a program");
	return 0;
}

SEC("raw_tp")
int hello_timer(struct bpf_raw_tracepoint_args *ctx)
{
	unsigned long opcode = ctx->args[1];

	bump(COUNT_TIMER);
	if (opcode == nr_timer_create)
		bpf_printk("Creating a timer");
	else if (opcode == nr_timer_delete)
		bpf_printk("Deleting a timer");
	else
		bpf_printk("Some other timer operation");
	return 0;
}

SEC("raw_tp")
int ignore_opcode(struct bpf_raw_tracepoint_args *ctx)
{
	bump(COUNT_IGNORED);
	return 0;
}

/* syscall number -> program: filled by the tool after loading, with this architecture's numbers. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 512);
	/* key_size, not __type(key): the kernel rejects BTF types on program arrays. */
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} syscall SEC(".maps");

/* raw_tp/sys_enter arguments: args[0] = struct pt_regs *, args[1] = syscall number. */
SEC("raw_tp/sys_enter")
int hello(struct bpf_raw_tracepoint_args *ctx)
{
	int opcode = ctx->args[1];
	pid_t tid;
	/* target_tgid and ignore_tgid are PIDs of the tool's namespace; 0 for a process outside it */
	u32 tgid = current_ids(&tid);

	if (target_tgid && tgid != (u32)target_tgid)
		return 0;
	if (ignore_tgid && tgid == (u32)ignore_tgid)
		return 0;

	bpf_tail_call(ctx, &syscall, opcode);
	/* Reached only when slot `opcode` is empty or out of range. */
	bump(COUNT_OTHER);
	bpf_printk("Another syscall: %d", opcode);
	return 0;
}
