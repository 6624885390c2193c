// SPDX-License-Identifier: MIT
/*
 * b1_start: cold start of a CO-RE tool with libbpf. Open, load and attach
 * every program of bootstrap.bpf.o (two tracepoints, a hash map, a ring
 * buffer, a .rodata constant, CO-RE reads), then tear down and exit.
 *
 * usage: b1_start [-d MIN_DURATION_NS] [OBJECT]
 *        OBJECT defaults to bootstrap.bpf.o next to this program; with -d, the
 *        .rodata constant min_duration_ns is set before load (as the bootstrap
 *        tool's -d does), so the verifier sees the frozen value.
 *
 * Prints one JSON object. Times are CLOCK_MONOTONIC nanoseconds:
 *   open_ns, load_ns, attach_ns, teardown_ns   the phases
 *   main_to_attached_ns                        main() entry to the last attach
 *   since_spawn_ns        runner's spawn to the last attach, only when the runner
 *                         exported BENCH_SPAWN_MONO_NS (its CLOCK_MONOTONIC ns just before spawning)
 *   since_exec_ns         from the kernel's process start time (/proc/self/stat, in
 *                         clock ticks: since_exec_resolution_ns says how coarse)
 *   peak_rss_kib          getrusage ru_maxrss at exit
 * Needs root and tracefs mounted.
 */
#define _GNU_SOURCE
#include <fcntl.h>

#include "common.h"

#define MAX_LINKS 16

/* Nanoseconds between the kernel's start time of this process and now (CLOCK_BOOTTIME). */
static int64_t since_exec_ns(long *resolution_ns)
{
	char buf[4096], *p;
	unsigned long long start_ticks;
	struct timespec now;
	long hz = sysconf(_SC_CLK_TCK);
	ssize_t n;
	int fd, field;

	fd = open("/proc/self/stat", O_RDONLY);
	if (fd < 0)
		die("open /proc/self/stat: %s", strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		die("read /proc/self/stat failed");
	buf[n] = '\0';
	/* Field 2 (comm) may hold spaces; count fields after its closing parenthesis. */
	p = strrchr(buf, ')');
	if (!p || hz <= 0)
		die("cannot parse /proc/self/stat");
	for (field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p + 1, "%llu", &start_ticks) != 1)
		die("cannot parse starttime in /proc/self/stat");
	clock_gettime(CLOCK_BOOTTIME, &now);
	*resolution_ns = 1000000000L / hz;
	return (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec - (int64_t)(start_ticks * (1000000000ULL / hz));
}

/* Set a u64 .rodata constant of an opened, not yet loaded object (what a skeleton's rodata-> does). */
static void set_rodata_u64(struct bpf_object *obj, const char *name, uint64_t value)
{
	struct bpf_map *rodata = find_map(obj, ".rodata");
	size_t off = datasec_var_offset(obj, ".rodata", name, sizeof(value)), size;
	const void *init = bpf_map__initial_value(rodata, &size);
	char *copy;

	if (!init || off + sizeof(value) > size)
		die("no room for %s in .rodata", name);
	copy = malloc(size);
	if (!copy)
		die("out of memory");
	memcpy(copy, init, size);
	memcpy(copy + off, &value, sizeof(value));
	check_libbpf(bpf_map__set_initial_value(rodata, copy, size), "bpf_map__set_initial_value");
	free(copy);
}

int main(int argc, char **argv)
{
	uint64_t t_main = mono_ns(), t_open, t_load, t_attach, t_done;
	struct bpf_link *links[MAX_LINKS];
	struct bpf_object *obj;
	char path[PATH_MAX];
	const char *spawn_env, *min_duration = NULL;
	long resolution_ns;
	uint64_t min_duration_ns = 0;
	int64_t exec_ns;
	int nlinks = 0, i, opt;

	bench_init(argv[0]);
	while ((opt = getopt(argc, argv, "d:")) != -1) {
		if (opt != 'd')
			die("usage: %s [-d MIN_DURATION_NS] [OBJECT]", argv[0]);
		min_duration = optarg;
	}
	if (argc - optind > 1)
		die("usage: %s [-d MIN_DURATION_NS] [OBJECT]", argv[0]);
	if (optind < argc)
		snprintf(path, sizeof(path), "%s", argv[optind]);
	else
		path_beside_exe(path, sizeof(path), "bootstrap.bpf.o");
	require_tracefs();

	obj = open_object(path);
	if (min_duration) {
		min_duration_ns = parse_count(min_duration, "MIN_DURATION_NS", UINT64_MAX);
		set_rodata_u64(obj, "min_duration_ns", min_duration_ns);
	}
	t_open = mono_ns();
	check_libbpf(bpf_object__load(obj), "bpf_object__load");
	t_load = mono_ns();
	nlinks = attach_all(obj, links, MAX_LINKS);
	t_attach = mono_ns();
	exec_ns = since_exec_ns(&resolution_ns);
	spawn_env = getenv("BENCH_SPAWN_MONO_NS");

	for (i = nlinks - 1; i >= 0; i--)
		bpf_link__destroy(links[i]);
	bpf_object__close(obj);
	t_done = mono_ns();

	printf("{\"bench\": \"b1_start\", \"object\": \"%s\", \"programs\": %d, \"min_duration_ns\": %" PRIu64 ", "
	       "\"open_ns\": %" PRIu64 ", \"load_ns\": %" PRIu64 ", \"attach_ns\": %" PRIu64
	       ", \"teardown_ns\": %" PRIu64 ", \"main_to_attached_ns\": %" PRIu64,
	       path, nlinks, min_duration_ns, t_open - t_main, t_load - t_open, t_attach - t_load, t_done - t_attach,
	       t_attach - t_main);
	if (spawn_env) {
		uint64_t spawn = parse_count(spawn_env, "BENCH_SPAWN_MONO_NS", UINT64_MAX);

		if (spawn > t_attach)
			die("BENCH_SPAWN_MONO_NS is in the future (not CLOCK_MONOTONIC?)");
		printf(", \"since_spawn_ns\": %" PRIu64, t_attach - spawn);
	}
	printf(", \"since_exec_ns\": %" PRId64 ", \"since_exec_resolution_ns\": %ld, \"peak_rss_kib\": %ld}\n",
	       exec_ns, resolution_ns, peak_rss_kib());
	return 0;
}
