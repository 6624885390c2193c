/* kprobe.multi and uprobe.multi programs: count hits per attach cookie (return probes add 1000). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#ifndef MULTI_EXE
#define MULTI_EXE "/nonexistent"
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} hits SEC(".maps");

static __always_inline void count(void *ctx, __u64 base)
{
	__u64 key = bpf_get_attach_cookie(ctx) + base, one = 1;
	__u64 *v = bpf_map_lookup_elem(&hits, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&hits, &key, &one, BPF_NOEXIST);
}

SEC("kprobe.multi")
int kmulti(struct pt_regs *ctx) { count(ctx, 0); return 0; }

SEC("kretprobe.multi")
int kretmulti(struct pt_regs *ctx) { count(ctx, 1000); return 0; }

SEC("uprobe.multi")
int umulti(struct pt_regs *ctx) { count(ctx, 0); return 0; }

SEC("uretprobe.multi")
int uretmulti(struct pt_regs *ctx) { count(ctx, 1000); return 0; }

/* attached by Collection.attach() from the section alone: functions a and b of the test binary */
SEC("uprobe.multi/" MULTI_EXE ":bpfkit_multi_[ab]")
int uauto(struct pt_regs *ctx) { count(ctx, 2000); return 0; }

char LICENSE[] SEC("license") = "GPL";
