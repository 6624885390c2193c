// SPDX-License-Identifier: GPL-2.0 OR MIT
/* bootstrap: report process exec and exit (with lifetime) through a ring buffer. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bootstrap.h"
#include "pidns.h"

/* Never used: makes clang keep struct event in the object's BTF, so that `bpfkit run`
 * and `bpfkit gen python` can decode the ring buffer's records by name. */
const struct event *unused_event __attribute__((unused));

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* tgid -> bpf_ktime_get_ns() at its last exec */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, pid_t);
	__type(value, u64);
} exec_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

/* Events that found rb full (the reader fell behind): the kernel does not count failed reserves.
 * bpfkit's convention: a map "<ring>_lost" of one u64 at key 0, read by RingBuffer.lost. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} rb_lost SEC(".maps");

static __always_inline void count_lost(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&rb_lost, &zero);

	if (n)
		(*n)++;
}

/* Set before load; when non-zero only exits of processes that lived at least this long are reported. */
const volatile unsigned long long min_duration_ns = 0;

SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task;
	struct event *e;
	unsigned int filename_off;
	pid_t pid, tid;
	u64 now;

	pid = current_ids(&tid);
	if (!pid)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&exec_start, &pid, &now, BPF_ANY);

	/* With a duration filter only exits are interesting. */
	if (min_duration_ns)
		return 0;

	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}

	task = (struct task_struct *)bpf_get_current_task();
	e->exit_event = false;
	e->pid = pid;
	e->ppid = parent_tgid(task);
	e->exit_code = 0;
	e->duration_ns = 0;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));

	/* The low 16 bits of a __data_loc field are the offset of the string in the record. */
	filename_off = ctx->__data_loc_filename & 0xFFFF;
	bpf_probe_read_kernel_str(&e->filename, sizeof(e->filename), (void *)ctx + filename_off);

	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp/sched/sched_process_exit")
int handle_exit(void *ctx)
{
	struct task_struct *task;
	struct event *e;
	u64 *start, duration_ns = 0;
	pid_t pid, tid;

	pid = current_ids(&tid);
	/* Only the thread-group leader's exit ends the process. */
	if (!pid || pid != tid)
		return 0;

	start = bpf_map_lookup_elem(&exec_start, &pid);
	if (start)
		duration_ns = bpf_ktime_get_ns() - *start;
	else if (min_duration_ns)
		return 0;
	bpf_map_delete_elem(&exec_start, &pid);

	if (min_duration_ns && duration_ns < min_duration_ns)
		return 0;

	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}

	task = (struct task_struct *)bpf_get_current_task();
	e->exit_event = true;
	e->pid = pid;
	e->ppid = parent_tgid(task);
	e->exit_code = (BPF_CORE_READ(task, exit_code) >> 8) & 0xff;
	e->duration_ns = duration_ns;
	e->filename[0] = '\0';
	bpf_get_current_comm(&e->comm, sizeof(e->comm));

	bpf_ringbuf_submit(e, 0);
	return 0;
}
