// SPDX-License-Identifier: GPL-2.0
/* Feature: CO-RE bitfield reads, BPF_CORE_READ_BITFIELD (direct load) and
 * BPF_CORE_READ_BITFIELD_PROBED (bpf_probe_read_kernel), of unsigned
 * bitfields (struct bpf_insn dst_reg:4/src_reg:4, plain __s16 off) and of a
 * signed one (struct bpf_reg_state's iter.depth, an int:30, next to the
 * unsigned enum iter.state:2). bitfields copies the ctx's raw insn into
 * g_insn, stores ctx->depth/state into g_reg by plain C assignment, then
 * reads every field back both ways into the ctx.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct bpf_insn g_insn;
struct bpf_reg_state g_reg;

struct bitfield_args {
	__u64 raw_insn;		/* in: 8 bytes of a struct bpf_insn */
	__s32 depth;		/* in */
	__u32 state;		/* in */
	__u64 dst_reg;		/* out: BPF_CORE_READ_BITFIELD */
	__u64 src_reg;		/* out */
	__s64 off;		/* out */
	__u64 dst_reg_probed;	/* out: BPF_CORE_READ_BITFIELD_PROBED */
	__u64 src_reg_probed;	/* out */
	__s64 depth_read;	/* out */
	__s64 depth_probed;	/* out */
	__u64 state_read;	/* out */
	__u64 state_probed;	/* out */
};

SEC("syscall")
int bitfields(struct bitfield_args *args)
{
	struct bpf_insn *insn = &g_insn;
	struct bpf_reg_state *reg = &g_reg;

	__builtin_memcpy(&g_insn, &args->raw_insn, sizeof(g_insn));
	g_reg.iter.depth = args->depth;
	g_reg.iter.state = args->state;

	args->dst_reg = BPF_CORE_READ_BITFIELD(insn, dst_reg);
	args->src_reg = BPF_CORE_READ_BITFIELD(insn, src_reg);
	args->off = (__s64)BPF_CORE_READ_BITFIELD(insn, off);
	args->dst_reg_probed = BPF_CORE_READ_BITFIELD_PROBED(insn, dst_reg);
	args->src_reg_probed = BPF_CORE_READ_BITFIELD_PROBED(insn, src_reg);
	args->depth_read = (__s64)BPF_CORE_READ_BITFIELD(reg, iter.depth);
	args->depth_probed = (__s64)BPF_CORE_READ_BITFIELD_PROBED(reg, iter.depth);
	args->state_read = BPF_CORE_READ_BITFIELD(reg, iter.state);
	args->state_probed = BPF_CORE_READ_BITFIELD_PROBED(reg, iter.state);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
