// SPDX-License-Identifier: GPL-2.0
/* Feature: a program the verifier rejects, for VerifierError reporting.
 * oob_read indexes a 4-slot map value with (ctx->idx & 7), up to slot 7, so
 * the verifier reports an out-of-bounds map value access; the object is
 * built with -g so the log carries the offending source line.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct oob_slots {
	__u64 slot[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct oob_slots);
} table SEC(".maps");

struct oob_args {
	__u32 idx;
};

SEC("syscall")
int oob_read(struct oob_args *args)
{
	__u32 zero = 0, idx = args->idx;
	struct oob_slots *s = bpf_map_lookup_elem(&table, &zero);

	if (!s)
		return 0;
	return s->slot[idx & 7]; /* BPFKIT-OOB: slot 4..7 is past the value */
}

char LICENSE[] SEC("license") = "GPL";
