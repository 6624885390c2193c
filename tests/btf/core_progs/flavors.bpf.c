/* CO-RE flavors: two local variants of one kernel struct (thing___old and
 * thing___new), picked at run time by a field-existence check. */

#define SEC(name) __attribute__((section(name), used))
#define PAI __attribute__((preserve_access_index))
#define FIELD(expr, kind) __builtin_preserve_field_info(expr, kind)

enum { BYTE_OFFSET, BYTE_SIZE, EXISTS };

struct thing___old {
	int before;
	int gone;
} PAI;

struct thing___new {
	int before;
	int added;
} PAI;

struct thing {
	int before;
} PAI;

unsigned long long out[4];

SEC("raw_tp/sys_enter")
int flavors(unsigned long long *ctx)
{
	void *p = (void *)ctx[0];
	struct thing___new *n = p;
	struct thing___old *o = p;

	if (FIELD(n->added, EXISTS))
		out[0] = n->added;
	else
		out[0] = o->gone;
	out[1] = ((struct thing *)p)->before;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
