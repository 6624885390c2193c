// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * 001: a map declared the legacy way, a struct bpf_map_def in SEC("maps"), as
 * the kernel's samples/bpf loader (bpf_load.c) read them. It counts write()
 * calls and bytes per (process, fd), like the document's rx_cnt/rx_bytes per
 * address pair. No BTF-defined maps and no CO-RE: the loader in
 * 001_legacy_maps.py only has to create maps and patch their fds in.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct pair {
	__u32 pid;
	__u32 fd;
};

struct stats {
	__u64 calls;
	__u64 bytes;
};

struct bpf_map_def SEC("maps") write_stats = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(struct pair),
	.value_size = sizeof(struct stats),
	.max_entries = 1024,
	.map_flags = BPF_F_NO_PREALLOC,
};

/* One entry, key {0, 0}, set by the loader before attaching: st_dev and st_ino of its /proc/self/ns/pid, so
 * that pids are counted as its PID namespace numbers them (a container's own, as its os.getpid() shows). */
struct ns_id {
	__u64 dev;
	__u64 ino;
};

struct bpf_map_def SEC("maps") pid_ns = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(struct pair),
	.value_size = sizeof(struct ns_id),
	.max_entries = 1,
};

/* The record of syscalls/sys_enter_write, as its tracefs format file lays it out. */
struct sys_enter_write_args {
	__u64 common;
	__s64 syscall_nr;
	__u64 fd;
	__u64 buf;
	__u64 count;
};

SEC("tp/syscalls/sys_enter_write")
int count_writes(struct sys_enter_write_args *ctx)
{
	struct pair key = { .pid = bpf_get_current_pid_tgid() >> 32, .fd = ctx->fd }, zero = {};
	struct stats init = { .calls = 1, .bytes = ctx->count };
	struct bpf_pidns_info ids;
	struct ns_id *ns;
	struct stats *st;

	ns = bpf_map_lookup_elem(&pid_ns, &zero);
	if (ns) {
		if (bpf_get_ns_current_pid_tgid(ns->dev, ns->ino, &ids, sizeof(ids)))
			return 0; /* a process outside the loader's PID namespace */
		key.pid = ids.tgid;
	}

	st = bpf_map_lookup_elem(&write_stats, &key);
	if (st) {
		__sync_fetch_and_add(&st->calls, 1);
		__sync_fetch_and_add(&st->bytes, ctx->count);
		return 0;
	}
	bpf_map_update_elem(&write_stats, &key, &init, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
