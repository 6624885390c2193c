// SPDX-License-Identifier: GPL-2.0
/* Feature: bpf_printk, which writes to the trace buffer (trace_pipe).
 * With three or fewer arguments libbpf's macro calls bpf_trace_printk, with
 * more it calls bpf_trace_vprintk; both format strings live in .rodata.
 * printk_run prints both lines and keeps the helpers' results in .bss.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct printk_args {
	__u32 value;
};

__s64 printk_ret = -1;
__s64 vprintk_ret = -1;

SEC("syscall")
int printk_run(struct printk_args *args)
{
	printk_ret = bpf_printk("bpfkit-corpus printk value=%u", args->value);
	vprintk_ret = bpf_printk("bpfkit-corpus vprintk %u %u %u %u", 1, 2, 3, args->value);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
