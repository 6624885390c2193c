/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the C reference benchmarks: errors, argument parsing, clocks, JSON. */
#ifndef BPFKIT_BENCH_COMMON_H
#define BPFKIT_BENCH_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

static const char *bench_prog = "bench";

/* Print "prog: message" to stderr and exit 1; every failure goes through here. */
__attribute__((format(printf, 1, 2), noreturn))
static inline void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* libbpf returns -errno (and sets errno); turn that into a message and stop. */
static inline void check_libbpf(int ret, const char *what)
{
	if (ret < 0)
		die("%s failed: %s (errno %d)", what, strerror(-ret), -ret);
}

/* Parse a positive decimal integer no larger than max, or die naming the argument. */
static inline uint64_t parse_count(const char *text, const char *name, uint64_t max)
{
	unsigned long long v;
	char *end;

	if (!text || !*text || *text == '-' || *text == '+')
		die("%s must be a positive integer, got '%s'", name, text ? text : "");
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end)
		die("%s must be a positive integer, got '%s'", name, text);
	if (v == 0 || v > max)
		die("%s must be in 1..%" PRIu64 ", got %llu", name, max, v);
	return v;
}

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline long peak_rss_kib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage: %s", strerror(errno));
	return ru.ru_maxrss;
}

/* libbpf's own messages go to stderr; debug chatter only with BENCH_VERBOSE set. */
static inline int bench_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !getenv("BENCH_VERBOSE"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static inline void bench_init(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');

	bench_prog = slash ? slash + 1 : argv0;
	libbpf_set_print(bench_libbpf_print);
}

/*
 * Path of a file that sits next to this executable (the BPF objects are
 * built into the same directory), so the programs work from any cwd.
 */
static inline void path_beside_exe(char *out, size_t size, const char *name)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n < 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	if ((size_t)snprintf(out, size, "%s/%s", exe, name) >= size)
		die("path too long: %s/%s", exe, name);
}

/* Open and load a BPF object, dying with the file name on failure. */
static inline struct bpf_object *open_object(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);

	if (!obj)
		die("cannot open BPF object %s: %s", path, strerror(errno));
	return obj;
}

static inline struct bpf_map *find_map(struct bpf_object *obj, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(obj, name);

	if (!map)
		die("BPF object has no map '%s'", name);
	return map;
}

static inline struct bpf_program *find_prog(struct bpf_object *obj, const char *name)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, name);

	if (!prog)
		die("BPF object has no program '%s'", name);
	return prog;
}

/* Offset of global variable `name` (of `size` bytes) in data section `sec` (".bss", ".rodata", ...), from BTF. */
static inline size_t datasec_var_offset(struct bpf_object *obj, const char *sec, const char *name, size_t size)
{
	const struct btf *btf = bpf_object__btf(obj);
	const struct btf_var_secinfo *vsi;
	const struct btf_type *t;
	int id, i;

	if (!btf)
		die("BPF object has no BTF");
	id = btf__find_by_name_kind(btf, sec, BTF_KIND_DATASEC);
	if (id < 0)
		die("BPF object has no %s section", sec);
	t = btf__type_by_id(btf, id);
	vsi = btf_var_secinfos(t);
	for (i = 0; i < btf_vlen(t); i++, vsi++) {
		const struct btf_type *var = btf__type_by_id(btf, vsi->type);

		if (strcmp(btf__name_by_offset(btf, var->name_off), name))
			continue;
		if (vsi->size != size)
			die("variable %s in %s has %u bytes, expected %zu", name, sec, vsi->size, size);
		return vsi->offset;
	}
	die("no variable %s in %s", name, sec);
}

/* tracepoint attachment reads event ids from tracefs; say so up front instead of failing in libbpf. */
/* Attach every program of a loaded object (bpf_program__attach, by section) into links[0..max); the count. */
static inline int attach_all(struct bpf_object *obj, struct bpf_link **links, int max)
{
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, obj) {
		if (n == max)
			die("more than %d programs", max);
		links[n] = bpf_program__attach(prog);
		if (!links[n])
			die("attach of %s failed: %s", bpf_program__name(prog), strerror(errno));
		n++;
	}
	return n;
}

static inline void require_tracefs(void)
{
	if (access("/sys/kernel/tracing/events", F_OK) && access("/sys/kernel/debug/tracing/events", F_OK))
		die("tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing)");
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sort v[0..n-1] (n >= 1) in place and return its median; v[0] is then the minimum. */
static inline double sort_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Round up to a power of two (v >= 1). */
static inline uint64_t pow2_ceil(uint64_t v)
{
	uint64_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

#endif /* BPFKIT_BENCH_COMMON_H */
