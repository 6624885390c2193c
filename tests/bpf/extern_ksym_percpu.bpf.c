// SPDX-License-Identifier: GPL-2.0
/* Feature: typed __ksym externs of per-CPU kernel variables (runqueues,
 * bpf_prog_active) read with bpf_this_cpu_ptr and bpf_per_cpu_ptr. The
 * loader resolves each to its vmlinux BTF VAR id; the kernel then needs the
 * symbol's address from kallsyms, which it only has with
 * CONFIG_KALLSYMS_ALL=y. Without it the load fails with ENOENT ("ldimm64
 * failed to find the address for kernel symbol 'runqueues'").
 * percpu_ksym_read records the running CPU, rq->cpu of this CPU (and whether
 * it matches), rq->cpu of CPUs 0 and 1, whether CPU 100000 gives NULL, and
 * this CPU's bpf_prog_active.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern const struct rq runqueues __ksym;
extern const int bpf_prog_active __ksym;

__u32 this_cpu;
__s32 this_rq_cpu = -1;
__s32 rq_cpu[2] = { -1, -1 };
__u32 rq_far_is_null;
__s32 prog_active = -1;
__u32 this_rq_matches;

SEC("syscall")
int percpu_ksym_read(void *ctx)
{
	const struct rq *rq;
	const int *active;

	this_cpu = bpf_get_smp_processor_id();
	rq = bpf_this_cpu_ptr(&runqueues);
	this_rq_cpu = rq->cpu;
	this_rq_matches = this_rq_cpu == (__s32)this_cpu;
	for (__u32 cpu = 0; cpu < 2; cpu++) {
		rq = bpf_per_cpu_ptr(&runqueues, cpu);
		if (rq)
			rq_cpu[cpu] = rq->cpu;
	}
	rq_far_is_null = bpf_per_cpu_ptr(&runqueues, 100000) == NULL;
	active = bpf_this_cpu_ptr(&bpf_prog_active);
	prog_active = *active;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
