// Global data of every kind: .data, .rodata, .bss, custom .data.* / .rodata.*, statics, hidden.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int data_int = 42;
long long data_neg = -5;
const volatile u64 ro_u64 = 0x1122334455667788ULL;
const volatile int ro_arr[3] = {7, 8, 9};
const volatile bool ro_flag = true;
const char ro_plain[4] = "abc";
u32 bss_u32;
u64 bss_arr[8];
static int static_counter = 3;
__attribute__((visibility("hidden"))) int hidden_int = 11;
int custom_data SEC(".data.custom") = 77;
const volatile int custom_ro SEC(".rodata.custom") = 99;

SEC("raw_tp/sys_enter")
int use_globals(void *ctx)
{
	static_counter++;
	bss_u32 += data_int + ro_arr[2] + (ro_flag ? 1 : 0) + hidden_int + custom_data + custom_ro + ro_plain[1];
	bss_arr[3] = ro_u64 + data_neg;
	bpf_printk("counter %d", static_counter);
	bpf_trace_printk("literal %d\n", sizeof("literal %d\n"), bss_u32);
	return 0;
}
