/* USDT programs in libbpf's style (usdt.bpf.h): record each probe's arguments for the tests. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#ifndef USDT_EXE
#define USDT_EXE "/nonexistent"
#endif

struct event {
	long args[6];
	long cookie;
	long hits;
	int cnt;
	int err;
	char str[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct event);
} events SEC(".maps");

static __always_inline void record(struct pt_regs *ctx, __u32 slot, int str_arg)
{
	struct event *e = bpf_map_lookup_elem(&events, &slot);
	if (!e)
		return;
	e->cnt = bpf_usdt_arg_cnt(ctx);
	e->err = 0;
#pragma unroll
	for (int i = 0; i < 6; i++)
		e->err |= bpf_usdt_arg(ctx, i, &e->args[i]) && i < e->cnt;
	e->cookie = bpf_usdt_cookie(ctx);
	if (str_arg >= 0)
		bpf_probe_read_user_str(e->str, sizeof(e->str), (void *)e->args[str_arg]);
	__sync_fetch_and_add(&e->hits, 1);
}

SEC("usdt")
int on_hit(struct pt_regs *ctx)
{
	record(ctx, 0, 5);
	return 0;
}

SEC("usdt/" USDT_EXE ":bpfkit_test:nosema")
int on_nosema(struct pt_regs *ctx)
{
	record(ctx, 1, -1);
	return 0;
}

SEC("usdt")
int on_lib(struct pt_regs *ctx)
{
	record(ctx, 2, 4);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
