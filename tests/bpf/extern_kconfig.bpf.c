// SPDX-License-Identifier: GPL-2.0
/* Feature: __kconfig externs. The loader fills them from the running
 * kernel's config (/proc/config.gz or /boot/config-$(uname -r)) and
 * LINUX_KERNEL_VERSION from uname; a __weak extern for an option the kernel
 * lacks reads as 0. kconfig_read copies every value into .bss.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern __u32 LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;		/* =y as bool */
extern enum libbpf_tristate CONFIG_BPF_JIT __kconfig;	/* =y as tristate */
extern int CONFIG_HZ __kconfig;				/* integer option */
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig;	/* string option */
extern bool CONFIG_BPFKIT_NO_SUCH_OPTION __kconfig __weak;
extern enum libbpf_tristate CONFIG_BPFKIT_NO_SUCH_TRISTATE __kconfig __weak;
extern __u64 CONFIG_BPFKIT_NO_SUCH_NUMBER __kconfig __weak;

__u32 kernel_version;
__u32 bpf_syscall;
__u32 bpf_jit;
__s32 hz;
char hostname[8];
__u32 missing_bool = 0xff;
__u32 missing_tristate = 0xff;
__u64 missing_number = 0xff;

SEC("syscall")
int kconfig_read(void *ctx)
{
	kernel_version = LINUX_KERNEL_VERSION;
	bpf_syscall = CONFIG_BPF_SYSCALL;
	bpf_jit = CONFIG_BPF_JIT;
	hz = CONFIG_HZ;
	for (int i = 0; i < 8; i++)
		hostname[i] = CONFIG_DEFAULT_HOSTNAME[i];
	missing_bool = CONFIG_BPFKIT_NO_SUCH_OPTION;
	missing_tristate = CONFIG_BPFKIT_NO_SUCH_TRISTATE;
	missing_number = CONFIG_BPFKIT_NO_SUCH_NUMBER;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
