// SPDX-License-Identifier: GPL-2.0
/* Feature: custom global data sections .data.foo, .rodata.bar and a zeroed
 * .data.zero; each becomes its own internal array map. sections_step adds
 * bar_step (a const volatile in .rodata.bar, set before load; default 10)
 * to foo_val, doubles every foo_arr element, counts runs in zero_runs and
 * returns bar_step.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u32 foo_val SEC(".data.foo") = 0x1234;
__u64 foo_arr[3] SEC(".data.foo") = { 1, 2, 3 };
const volatile __u32 bar_step SEC(".rodata.bar") = 10;
const volatile char bar_name[8] SEC(".rodata.bar") = "bar";
__u32 zero_runs SEC(".data.zero") = 0;
char name_copy[8];

SEC("syscall")
int sections_step(void *ctx)
{
	foo_val += bar_step;
	for (int i = 0; i < 3; i++)
		foo_arr[i] *= 2;
	zero_runs++;
	for (int i = 0; i < 8; i++)
		name_copy[i] = bar_name[i];
	return bar_step;
}

char LICENSE[] SEC("license") = "GPL";
