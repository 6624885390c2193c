// SPDX-License-Identifier: GPL-2.0
/* Feature: BPF_MAP_TYPE_RINGBUF fed from a bpf_loop callback in a raw_tp
 * program. ringbuf_emit emits args[0] records {seq, seq*seq, tag=args[1]}
 * (bpf_loop caps the count at 1 << 23; the 4 KiB ring holds 170 records).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct rb_event {
	__u32 seq;
	__u32 square;
	__u64 tag;
};

struct loop_state {
	__u64 tag;
	__u32 emitted;
	__u32 dropped;
};

__u32 emitted;
__u32 dropped;
__s64 loop_ret;

static long emit_one(__u32 index, void *data)
{
	struct loop_state *st = data;
	struct rb_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		st->dropped++;
		return 0;
	}
	e->seq = index;
	e->square = index * index;
	e->tag = st->tag;
	bpf_ringbuf_submit(e, 0);
	st->emitted++;
	return 0;
}

SEC("raw_tp")
int ringbuf_emit(struct bpf_raw_tracepoint_args *ctx)
{
	struct loop_state st = { .tag = ctx->args[1] };

	loop_ret = bpf_loop((__u32)ctx->args[0], emit_one, &st, 0);
	emitted = st.emitted;
	dropped = st.dropped;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
