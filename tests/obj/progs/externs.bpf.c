// __kconfig and __ksym externs, kfunc calls.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

enum libbpf_tristate_local { TRI_NO_L = 0 };

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool LINUX_HAS_BPF_COOKIE __kconfig __weak;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_BPF_LSM __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig __weak;
extern int CONFIG_HZ __kconfig __weak;
extern u64 CONFIG_NR_CPUS __kconfig __weak;
extern char CONFIG_CHAR_VAL __kconfig __weak;
extern u16 CONFIG_SHORT_VAL __kconfig __weak;

extern const struct rq runqueues __ksym;
extern const void bpf_link_fops __ksym;
extern const int bpf_weak_sym __ksym __weak;

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

u64 out[8];

SEC("tp_btf/sched_switch")
int handle_switch(u64 *ctx)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct task_struct *a = bpf_task_acquire(t);
	if (a)
		bpf_task_release(a);
	out[0] = LINUX_KERNEL_VERSION;
	out[1] = LINUX_HAS_BPF_COOKIE + CONFIG_BPF_SYSCALL + CONFIG_BPF_LSM;
	out[2] = CONFIG_DEFAULT_HOSTNAME[0] + CONFIG_HZ + CONFIG_NR_CPUS + CONFIG_CHAR_VAL + CONFIG_SHORT_VAL;
	out[3] = (u64)&bpf_link_fops + (u64)&bpf_weak_sym;
	out[4] = (u64)bpf_this_cpu_ptr(&runqueues);
	return 0;
}
