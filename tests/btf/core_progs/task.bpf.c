/* CO-RE against the running kernel's BTF: task->real_parent->tgid, a bitfield,
 * a flavor, an enum value, type info, anonymous members and arrays, and direct
 * loads (tp_btf) whose width must change, with local types that deliberately
 * disagree with vmlinux (member order, sizes, enum value).  Loadable: libbpf
 * (via bpftool prog loadall) relocates the same object for comparison. */

#define SEC(name) __attribute__((section(name), used))
#define PAI __attribute__((preserve_access_index))
#define ACCESS(expr) __builtin_preserve_access_index(expr)
#define FIELD(expr, kind) __builtin_preserve_field_info(expr, kind)
#define TYPE_INFO(type, kind) __builtin_preserve_type_info(*(type *)0, kind)
#define TYPE_ID(type, kind) __builtin_btf_type_id(*(type *)0, kind)
#define ENUM_INFO(type, value, kind) __builtin_preserve_enum_value(*(type *)value, kind)

enum { BYTE_OFFSET, BYTE_SIZE, EXISTS, SIGNED, LSHIFT_U64, RSHIFT_U64 };

static long (*bpf_probe_read_kernel)(void *dst, unsigned int size, const void *src) = (void *)113;
static unsigned long long (*bpf_get_current_task)(void) = (void *)35;

struct task_struct {
	int tgid;
	int pid;
	unsigned int frozen : 1;
	unsigned int in_execve : 1;
	struct task_struct *real_parent;
	unsigned long flags; /* unsigned int in the kernel: a load of it must shrink */
	char comm[16];
} PAI;

struct net_device;

struct sk_buff {
	struct net_device *dev; /* three anonymous unions/structs deep in the kernel */
	unsigned int len;
	char cb[48];
} PAI;

struct task_struct___new {
	unsigned int __state;
} PAI;

struct task_struct___old {
	long state;
} PAI;

enum bpf_map_type { BPF_MAP_TYPE_RINGBUF = 100 };
enum bpf_map_type___gone { BPF_MAP_TYPE_NOT_A_MAP = 1 };

unsigned long long out[16];

SEC("raw_tp/sys_enter")
int parent_tgid(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct___new *t2 = (void *)task;
	struct task_struct *parent = 0;
	unsigned long long bits = 0;
	int tgid = 0;
	unsigned int st = 0;

	bpf_probe_read_kernel(&parent, sizeof(parent), ACCESS(&task->real_parent));
	bpf_probe_read_kernel(&tgid, sizeof(tgid), ACCESS(&parent->tgid));
	out[0] = tgid;
	bpf_probe_read_kernel(&tgid, sizeof(tgid), ACCESS(&task->pid));
	out[1] = tgid;
	bpf_probe_read_kernel(&bits, FIELD(task->frozen, BYTE_SIZE),
			      (char *)task + FIELD(task->frozen, BYTE_OFFSET));
	bits <<= FIELD(task->frozen, LSHIFT_U64);
	bits >>= FIELD(task->frozen, RSHIFT_U64);
	out[2] = bits;
	bpf_probe_read_kernel(&st, sizeof(st), ACCESS(&t2->__state));
	out[3] = st;
	out[4] = TYPE_INFO(struct task_struct, 1);
	out[5] = ENUM_INFO(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF, 1);
	out[6] = TYPE_ID(struct task_struct, 1);
	out[7] = FIELD(task->in_execve, LSHIFT_U64);
	bpf_probe_read_kernel(&bits, 1, ACCESS(&task->comm[3]));
	out[12] = bits;
	bpf_probe_read_kernel(&bits, 8, ACCESS(&((struct sk_buff *)task)->dev));
	out[13] = bits;
	bpf_probe_read_kernel(&bits, 1, ACCESS(&((struct sk_buff *)task)->cb[5]));
	out[14] = bits + FIELD(((struct sk_buff *)task)->len, SIGNED);
	return 0;
}

SEC("tp_btf/sched_switch")
int on_switch(unsigned long long *ctx)
{
	struct task_struct *prev = (void *)ctx[1];

	out[15] = prev->pid + prev->flags;
	return 0;
}

SEC("raw_tp/sys_exit")
int guarded(void *ctx)
{
	struct task_struct___old *old = (void *)bpf_get_current_task();
	long state = 0;

	out[8] = FIELD(old->state, EXISTS);
	out[9] = ENUM_INFO(enum bpf_map_type___gone, BPF_MAP_TYPE_NOT_A_MAP, 0);
	out[10] = TYPE_INFO(struct task_struct___old, 0);
	if (FIELD(old->state, EXISTS)) {
		bpf_probe_read_kernel(&state, sizeof(state), ACCESS(&old->state));
		out[11] = state;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
