// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * tailcalls: a raw tracepoint on sys_enter that dispatches by syscall number
 * through a program array filled statically at load time.
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
	if (opcode == 222)
		bpf_printk("Creating a timer");
	else if (opcode == 226)
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

/* syscall number (x86_64) -> program; libbpf and bpfkit fill the slots after loading the programs. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 300);
	/* key_size, not __type(key): the kernel rejects BTF types on program arrays. */
	__uint(key_size, sizeof(u32));
	__array(values, int (void *));
} syscall SEC(".maps") = {
	.values = {
		[59] = (void *)&hello_execve,		/* execve */
		[222] = (void *)&hello_timer,		/* timer_create */
		[223] = (void *)&hello_timer,		/* timer_settime */
		[224] = (void *)&hello_timer,		/* timer_gettime */
		[225] = (void *)&hello_timer,		/* timer_getoverrun */
		[226] = (void *)&hello_timer,		/* timer_delete */
		[21] = (void *)&ignore_opcode,		/* access */
		[22] = (void *)&ignore_opcode,		/* pipe */
		[25] = (void *)&ignore_opcode,		/* mremap */
		[29] = (void *)&ignore_opcode,		/* shmget */
		[291] = (void *)&ignore_opcode,		/* epoll_create1 */
	},
};

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
