/* CO-RE field, type and enum relocations against local (not vmlinux) types.
 * tests/btf/test_core.py compiles this with clang and relocates it against
 * its own BTF and against hand-built targets. */

#define SEC(name) __attribute__((section(name), used))
#define FIELD(expr, kind) __builtin_preserve_field_info(expr, kind)
#define TYPE_INFO(type, kind) __builtin_preserve_type_info(*(type *)0, kind)
#define TYPE_ID(type, kind) __builtin_btf_type_id(*(type *)0, kind)
#define ENUM_INFO(type, value, kind) __builtin_preserve_enum_value(*(type *)value, kind)

enum { BYTE_OFFSET, BYTE_SIZE, EXISTS, SIGNED, LSHIFT_U64, RSHIFT_U64 };

typedef unsigned int u32;

enum color { RED = 1, GREEN = 2, BLUE = 4 };

struct inner {
	int x;
	unsigned short y;
};

struct sample {
	int a;
	struct inner in;
	union {
		long u1;
		int u2;
	};
	struct {
		char c1;
		int c2;
	};
	int arr[4];
	int grid[3][5];
	unsigned int bf1 : 3, bf2 : 9;
	int sbf : 5;
	u32 count;
	long long sx;
	struct inner *ptr;
	enum color col;
	int tail[];
} __attribute__((preserve_access_index));

typedef struct sample sample_t;

unsigned long long out[64];

SEC("raw_tp/sys_enter")
int fields(unsigned long long *ctx)
{
	struct sample *s = (struct sample *)ctx[0];

	out[0] = s->a;
	out[1] = s->in.y;
	out[2] = s->u2;
	out[3] = s->c2;
	out[4] = s->arr[2];
	out[5] = s->grid[1][3];
	out[6] = s->count;
	out[7] = s->ptr->x;
	out[8] = s->tail[1];
	out[9] = s->sx;
	out[10] = s[1].a;
	return 0;
}

SEC("raw_tp/sys_exit")
int infos(unsigned long long *ctx)
{
	struct sample *s = (struct sample *)ctx[0];

	out[0] = FIELD(s->bf2, BYTE_OFFSET);
	out[1] = FIELD(s->bf2, BYTE_SIZE);
	out[2] = FIELD(s->bf2, LSHIFT_U64);
	out[3] = FIELD(s->bf2, RSHIFT_U64);
	out[4] = FIELD(s->sbf, SIGNED);
	out[5] = FIELD(s->sbf, LSHIFT_U64);
	out[6] = FIELD(s->sbf, RSHIFT_U64);
	out[7] = FIELD(s->bf1, LSHIFT_U64);
	out[8] = FIELD(s->count, EXISTS);
	out[9] = FIELD(s->count, BYTE_SIZE);
	out[10] = FIELD(s->sx, SIGNED);
	out[11] = FIELD(s->in.y, BYTE_OFFSET);
	out[12] = FIELD(s->grid[2][4], BYTE_OFFSET);
	out[13] = FIELD(s->arr[1], BYTE_SIZE);
	out[14] = TYPE_INFO(struct sample, 0);
	out[15] = TYPE_INFO(struct sample, 1);
	out[16] = TYPE_INFO(sample_t, 1);
	out[17] = TYPE_ID(struct sample, 0);
	out[18] = TYPE_ID(struct inner, 1);
	out[19] = ENUM_INFO(enum color, GREEN, 0);
	out[20] = ENUM_INFO(enum color, BLUE, 1);
	out[21] = FIELD(s->col, SIGNED);
	out[22] = FIELD(s->u1, BYTE_SIZE);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
