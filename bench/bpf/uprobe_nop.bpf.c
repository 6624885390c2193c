// SPDX-License-Identifier: GPL-2.0
/* B7: the program both sides attach as uprobes and uretprobes on libc (it does nothing). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("uprobe")
int b7_probe(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
