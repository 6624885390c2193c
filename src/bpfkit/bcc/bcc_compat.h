/* bpfkit.bcc compatibility header: what BCC programs expect from BCC's helpers.h and the
 * kernel headers they include, that vmlinux.h (types only, from BTF) cannot carry:
 * macros, annotations and a few inline helpers.  Included after vmlinux.h and libbpf's
 * bpf_helpers.h, bpf_tracing.h, bpf_core_read.h and bpf_endian.h.
 */
#ifndef __BPFKIT_BCC_COMPAT_H
#define __BPFKIT_BCC_COMPAT_H

/* every generated program section starts with '?': loaded only when Python asks for it */
#ifndef __BCC_NOAUTO
#define __BCC_NOAUTO "?"
#endif
#ifndef BCC_LICENSE
#define BCC_LICENSE "GPL"
#endif
#ifndef __BCC_NR_CPUS
#define __BCC_NR_CPUS 1024
#endif
#ifndef __BCC_PAGE_SIZE
#define __BCC_PAGE_SIZE 4096
#endif

/* annotations of the kernel's headers */
#define __user
#define __kernel
#define __force
#define __iomem
#define __rcu
#define __percpu
#define __must_check
#define __bitwise
#define __randomize_layout
#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif
#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif
#ifndef READ_ONCE
#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#endif
#ifndef WRITE_ONCE
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#endif

/* kernel version, as BCC's <linux/version.h> */
#ifndef KERNEL_VERSION
#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))
#endif

/* constants of <linux/sched.h>, <linux/fs.h>, <linux/limits.h>, <uapi/linux/...> */
#define TASK_COMM_LEN 16
#define NAME_MAX 255
#define PATH_MAX 4096
#define PAGE_SIZE __BCC_PAGE_SIZE
#define BPF_MAX_STACK_DEPTH 127
#define TASK_RUNNING 0x00000000
#define TASK_INTERRUPTIBLE 0x00000001
#define TASK_UNINTERRUPTIBLE 0x00000002
#define __TASK_STOPPED 0x00000004
#define __TASK_TRACED 0x00000008
#define EXIT_DEAD 0x00000010
#define EXIT_ZOMBIE 0x00000020
#define EXIT_TRACE (EXIT_ZOMBIE | EXIT_DEAD)
#define TASK_PARKED 0x00000040
#define TASK_DEAD 0x00000080
#define TASK_WAKEKILL 0x00000100
#define TASK_WAKING 0x00000200
#define TASK_NOLOAD 0x00000400
#define TASK_NEW 0x00000800
#define TASK_KILLABLE (TASK_WAKEKILL | TASK_UNINTERRUPTIBLE)
#define TASK_IDLE (TASK_UNINTERRUPTIBLE | TASK_NOLOAD)
#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000
#define CLONE_VM 0x00000100
#define CLONE_FS 0x00000200
#define CLONE_FILES 0x00000400
#define CLONE_THREAD 0x00010000
#define O_RDONLY 00000000
#define O_WRONLY 00000001
#define O_RDWR 00000002
#define O_ACCMODE 00000003
#define O_CREAT 00000100
#define O_EXCL 00000200
#define O_NOCTTY 00000400
#define O_TRUNC 00001000
#define O_APPEND 00002000
#define O_NONBLOCK 00004000
#define O_DSYNC 00010000
#define FASYNC 00020000
#define O_DIRECT 00040000
#define O_LARGEFILE 00100000
#define O_DIRECTORY 00200000
#define O_NOFOLLOW 00400000
#define O_NOATIME 01000000
#define O_CLOEXEC 02000000
#define __O_SYNC 04000000
#define O_SYNC (__O_SYNC | O_DSYNC)
#define O_PATH 010000000
#define __O_TMPFILE 020000000
#define O_TMPFILE (__O_TMPFILE | O_DIRECTORY)
#define O_NDELAY O_NONBLOCK
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_EXEC 0x20
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFLNK 0120000
#define S_IFREG 0100000
#define S_IFBLK 0060000
#define S_IFDIR 0040000
#define S_IFCHR 0020000
#define S_IFIFO 0010000
#define S_ISLNK(m) (((m) & S_IFMT) == S_IFLNK)
#define S_ISREG(m) (((m) & S_IFMT) == S_IFREG)
#define S_ISDIR(m) (((m) & S_IFMT) == S_IFDIR)
#define S_ISCHR(m) (((m) & S_IFMT) == S_IFCHR)
#define S_ISBLK(m) (((m) & S_IFMT) == S_IFBLK)
#define S_ISFIFO(m) (((m) & S_IFMT) == S_IFIFO)
#define S_ISSOCK(m) (((m) & S_IFMT) == S_IFSOCK)
#define MINORBITS 20
#define MINORMASK ((1U << MINORBITS) - 1)
#define MAJOR(dev) ((unsigned int)((dev) >> MINORBITS))
#define MINOR(dev) ((unsigned int)((dev) & MINORMASK))
#define MKDEV(ma, mi) (((ma) << MINORBITS) | (mi))
#define AF_UNSPEC 0
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_NETLINK 16
#define AF_PACKET 17
#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_8021Q 0x8100
#define ETH_P_IPV6 0x86DD
#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_USEC 1000ULL
#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MSEC 1000ULL
#define MSEC_PER_SEC 1000ULL
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) ((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)

/* typed minimum and maximum of include/linux/minmax.h */
#ifndef min_t
#define min_t(type, x, y) ({ type __bcc_x = (x); type __bcc_y = (y); __bcc_x < __bcc_y ? __bcc_x : __bcc_y; })
#endif
#ifndef max_t
#define max_t(type, x, y) ({ type __bcc_x = (x); type __bcc_y = (y); __bcc_x > __bcc_y ? __bcc_x : __bcc_y; })
#endif
#ifndef clamp_t
#define clamp_t(type, v, lo, hi) min_t(type, max_t(type, v, lo), hi)
#endif

/* struct in6_addr members the kernel names through macros (include/uapi/linux/in6.h) */
#ifndef s6_addr
#define s6_addr in6_u.u6_addr8
#define s6_addr16 in6_u.u6_addr16
#define s6_addr32 in6_u.u6_addr32
#endif

/* the lowest address of the kernel half (PAGE_OFFSET is randomized on x86_64: tools only compare against it) */
#ifndef PAGE_OFFSET
#if defined(__TARGET_ARCH_x86)
#define PAGE_OFFSET 0xffff800000000000ULL
#elif defined(__TARGET_ARCH_arm64)
#define PAGE_OFFSET 0xffff000000000000ULL
#endif
#endif

/* byte order, as <linux/byteorder> gives kernel code (BCC programs call them) */
#ifndef ntohs
#define ntohs(x) bpf_ntohs(x)
#define htons(x) bpf_htons(x)
#define ntohl(x) bpf_ntohl(x)
#define htonl(x) bpf_htonl(x)
#endif
#define be16_to_cpu(x) bpf_ntohs(x)
#define be32_to_cpu(x) bpf_ntohl(x)
#define be64_to_cpu(x) bpf_be64_to_cpu(x)
#define cpu_to_be16(x) bpf_htons(x)
#define cpu_to_be32(x) bpf_htonl(x)
#define cpu_to_be64(x) bpf_cpu_to_be64(x)
#define bpf_ntohll(x) bpf_be64_to_cpu(x)
#define bpf_htonll(x) bpf_cpu_to_be64(x)

/* BCC's helpers.h */
#define CUR_CPU_IDENTIFIER BPF_F_CURRENT_CPU
#define lock_xadd(ptr, val) ((void)__sync_fetch_and_add(ptr, val))

struct bpf_stacktrace {
	u64 ip[BPF_MAX_STACK_DEPTH];
};

struct bpf_stacktrace_buildid {
	struct bpf_stack_build_id trace[BPF_MAX_STACK_DEPTH];
};

/* bpf_trace_printk("literal", ...) without the size argument, as BCC allows */
#define __bcc_printk(fmt, ...) ({ char ____fmt[] = fmt; bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__); })

static __always_inline unsigned int bpf_log2(unsigned int v)
{
	unsigned int r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline unsigned int bpf_log2l(unsigned long v)
{
	unsigned int hi = v >> 32;

	return hi ? bpf_log2(hi) + 32 + 1 : bpf_log2(v) + 1;
}

/* BCC's tracepoint __data_loc readers: 'args' is the TRACEPOINT_PROBE argument */
#define TP_DATA_LOC_READ_CONST(dst, field, length) \
	do { \
		unsigned short __offset = args->data_loc_##field & 0xFFFF; \
		bpf_probe_read_kernel((void *)(dst), (length), (char *)args + __offset); \
	} while (0)
#define TP_DATA_LOC_READ(dst, field) \
	do { \
		unsigned short __offset = args->data_loc_##field & 0xFFFF; \
		unsigned short __length = args->data_loc_##field >> 16; \
		bpf_probe_read_kernel((void *)(dst), __length, (char *)args + __offset); \
	} while (0)
#define TP_DATA_LOC_READ_STR(dst, field, length) \
	do { \
		unsigned short __offset = args->data_loc_##field & 0xFFFF; \
		bpf_probe_read_kernel_str((void *)(dst), (length), (char *)args + __offset); \
	} while (0)

/* packet loads of socket filters (BPF_LD_ABS/IND), as BCC declares them */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

/* registers: libbpf stops at PARM5; BCC has PARM6 and PT_REGS_SYSCALL_CTX */
#if defined(__TARGET_ARCH_x86)
#define __BCC_PARM6_REG r9
#elif defined(__TARGET_ARCH_arm64)
#define __BCC_PARM6_REG regs[5]
#endif
#ifndef PT_REGS_PARM6
#define PT_REGS_PARM6(x) (((const struct pt_regs *)(x))->__BCC_PARM6_REG)
#define PT_REGS_PARM6_CORE(x) BPF_CORE_READ((const struct pt_regs *)(x), __BCC_PARM6_REG)
#endif
#ifndef PT_REGS_PARM6_SYSCALL
#define PT_REGS_PARM6_SYSCALL(x) PT_REGS_PARM6(x)
#define PT_REGS_PARM6_CORE_SYSCALL(x) PT_REGS_PARM6_CORE(x)
#endif
#ifndef PT_REGS_SYSCALL_CTX
#define PT_REGS_SYSCALL_CTX(x) PT_REGS_SYSCALL_REGS(x)
#endif

/* arguments and return value of fentry/fexit programs standing in for kprobes (Linux 5.17) */
static __always_inline unsigned long __bcc_func_arg(void *ctx, unsigned int n)
{
	__u64 v = 0;

	bpf_get_func_arg(ctx, n, &v);
	return v;
}

static __always_inline unsigned long __bcc_func_ret(void *ctx)
{
	__u64 v = 0;

	bpf_get_func_ret(ctx, &v);
	return v;
}

#endif /* __BPFKIT_BCC_COMPAT_H */
