// SPDX-License-Identifier: GPL-2.0
/* Feature: global variables in .data, .bss and .rodata. rodata_mult is a
 * const volatile the loader sets before load (default 3); rodata_keep keeps
 * its compiled-in value. Each globals_step run adds 1 to data_counter, adds
 * rodata_mult to bss_total, copies rodata_keep to seen_keep and returns
 * rodata_mult.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 data_counter = 100;			/* .data */
__u64 bss_total;				/* .bss */
__u64 seen_keep;				/* .bss */
const volatile __u32 rodata_mult = 3;		/* .rodata */
const volatile __u64 rodata_keep = 42;		/* .rodata */

SEC("syscall")
int globals_step(void *ctx)
{
	data_counter += 1;
	bss_total += rodata_mult;
	seen_keep = rodata_keep;
	return rodata_mult;
}

char LICENSE[] SEC("license") = "GPL";
