// SPDX-License-Identifier: GPL-2.0
/* bpfkit run / gen python tests: a ring buffer of struct event (named in BTF through unused_event),
 * a hash map, a log2 histogram (struct hist { u32 slots[] }) and const volatile globals of each kind. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum mode { MODE_QUIET = 0, MODE_LOUD = 7 };

struct event {
	__u32 pid;
	enum mode mode;
	char tag[8];
	__u64 value;
	bool verbose;
};
const struct event *unused_event __attribute__((unused));

struct hist { __u32 slots[16]; };

const volatile __u32 target_tgid = 0;
/* getppid's syscall number on this architecture (bpfkit.arch.syscall_number): a raw tracepoint needs no tracefs */
const volatile __u32 getppid_nr = 0;
/* the PID namespace target_tgid is numbered in (st_dev, st_ino of /proc/self/ns/pid); 0: the initial one */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;
const volatile bool verbose = false;
const volatile char tag[8] = "none";
const volatile enum mode mode = MODE_QUIET;

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, __u32); __type(value, __u64); } calls SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, struct hist); } sizes SEC(".maps");

static __u32 current_tgid(void)
{
	struct bpf_pidns_info ns = {};

	if (!pidns_ino)
		return bpf_get_current_pid_tgid() >> 32;
	if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
		return 0;  /* the task runs outside that namespace */
	return ns.tgid;
}

SEC("raw_tracepoint/sys_enter")
int on_getppid(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid, zero = 0;
	__u64 one = 1, *n;
	struct hist *h;
	struct event *e;

	if (ctx->args[1] != getppid_nr)
		return 0;
	tgid = current_tgid();
	if (tgid != target_tgid)
		return 0;
	n = bpf_map_lookup_elem(&calls, &tgid);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&calls, &tgid, &one, BPF_ANY);
	h = bpf_map_lookup_elem(&sizes, &zero);
	if (h) {
		__u64 v = n ? *n : 1;
		__u32 slot = 0;
		while (v && slot < 15) { v >>= 1; slot++; }
		h->slots[slot & 15]++;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = tgid;
	e->mode = mode;
	for (int i = 0; i < 8; i++)
		e->tag[i] = tag[i];
	e->value = n ? *n : 1;
	e->verbose = verbose;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
