// SPDX-License-Identifier: GPL-2.0
/* Feature: struct bpf_spin_lock in a map value. locked_add takes the lock
 * of accounts[ctx->key] (inserting a zero value first when absent) and adds
 * 1 to count and ctx->amount to total. User space reads and writes the same
 * values with BPF_F_LOCK, which takes the same lock and returns the lock
 * word as zero.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct acct_val {
	struct bpf_spin_lock lock;
	__u32 count;
	__u64 total;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct acct_val);
} accounts SEC(".maps");

struct lock_args {
	__u32 key;
	__u32 pad;
	__u64 amount;
};

SEC("syscall")
int locked_add(struct lock_args *args)
{
	__u32 key = args->key;
	struct acct_val *acct = bpf_map_lookup_elem(&accounts, &key);

	if (!acct) {
		struct acct_val zero = {};

		bpf_map_update_elem(&accounts, &key, &zero, BPF_NOEXIST);
		acct = bpf_map_lookup_elem(&accounts, &key);
		if (!acct)
			return 1;
	}
	bpf_spin_lock(&acct->lock);
	acct->count += 1;
	acct->total += args->amount;
	bpf_spin_unlock(&acct->lock);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
