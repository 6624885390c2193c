// SPDX-License-Identifier: MIT
/*
 * tools_check: load each of bpfkit's ready-tool BPF objects with libbpf, make
 * the events they watch happen, and check what they report. It is the C
 * oracle for the tools' kernel side; the Python tools are tested elsewhere.
 *
 * usage: tools_check [TOOL...]   (bootstrap execcount hello tailcalls procmap; default all)
 * Needs root and tracefs mounted.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <bpf/bpf.h>

#include "common.h"
#include "bootstrap.h"

#define MAX_LINKS 8

static int failures;

#define CHECK(cond, ...)                                                 \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "  FAIL %s:%d: ", __func__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                    \
			fputc('\n', stderr);                             \
			failures++;                                      \
		}                                                        \
	} while (0)

struct loaded {
	struct bpf_object *obj;
	struct bpf_link *links[MAX_LINKS];
	int nlinks;
};

/* Write a `const volatile` global of .rodata before load. */
static void set_rodata(struct bpf_object *obj, const char *name, const void *value, size_t size)
{
	struct bpf_map *rodata = find_map(obj, ".rodata");
	size_t offset = datasec_var_offset(obj, ".rodata", name, size);
	const void *initial;
	size_t data_size;
	char *data;

	initial = bpf_map__initial_value(rodata, &data_size);
	if (!initial || offset + size > data_size)
		die("no initial value for .rodata");
	data = malloc(data_size);
	if (!data)
		die("out of memory");
	memcpy(data, initial, data_size);
	memcpy(data + offset, value, size);
	check_libbpf(bpf_map__set_initial_value(rodata, data, data_size), "bpf_map__set_initial_value");
	free(data);
}

static void load_object(struct loaded *l, struct bpf_object *obj, const char *const *attach)
{
	memset(l, 0, sizeof(*l));
	l->obj = obj;
	check_libbpf(bpf_object__load(obj), "bpf_object__load");
	for (; *attach; attach++) {
		struct bpf_link *link = bpf_program__attach(find_prog(obj, *attach));

		if (!link)
			die("attach of %s failed: %s", *attach, strerror(errno));
		if (l->nlinks == MAX_LINKS)
			die("too many links");
		l->links[l->nlinks++] = link;
	}
}

static void unload_object(struct loaded *l)
{
	while (l->nlinks)
		bpf_link__destroy(l->links[--l->nlinks]);
	bpf_object__close(l->obj);
}

static struct bpf_object *open_tool(const char *name)
{
	char path[PATH_MAX];

	path_beside_exe(path, sizeof(path), name);
	return open_object(path);
}

/* fork + execv(argv[0], argv); returns the child's pid. */
static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		die("waitpid: %s", strerror(errno));
	return status;
}

/* ---- bootstrap ---------------------------------------------------------- */

struct boot_seen {
	pid_t child;
	int execs, exits;
	struct event exec, exit;
};

static int on_boot_event(void *ctx, void *data, size_t size)
{
	struct boot_seen *seen = ctx;
	const struct event *e = data;

	if (size != sizeof(*e)) {
		CHECK(0, "ring buffer record of %zu bytes, expected %zu", size, sizeof(*e));
		return 0;
	}
	if (e->pid != seen->child)
		return 0;
	if (e->exit_event) {
		seen->exits++;
		seen->exit = *e;
	} else {
		seen->execs++;
		seen->exec = *e;
	}
	return 0;
}

static void run_bootstrap(unsigned long long min_duration_ns, char *const argv[], struct boot_seen *seen)
{
	static const char *const progs[] = { "handle_exec", "handle_exit", NULL };
	struct bpf_object *obj = open_tool("bootstrap.bpf.o");
	struct ring_buffer *rb;
	struct loaded l;
	uint64_t deadline;

	set_rodata(obj, "min_duration_ns", &min_duration_ns, sizeof(min_duration_ns));
	load_object(&l, obj, progs);
	rb = ring_buffer__new(bpf_map__fd(find_map(obj, "rb")), on_boot_event, seen, NULL);
	if (!rb)
		die("ring_buffer__new: %s", strerror(errno));

	memset(seen, 0, sizeof(*seen));
	seen->child = spawn(argv);
	reap(seen->child);
	/* The exit event is submitted before the parent can reap; allow a little slack anyway. */
	deadline = mono_ns() + 500000000ull;
	while (mono_ns() < deadline && !seen->exits)
		check_libbpf(ring_buffer__poll(rb, 50) < 0 ? -errno : 0, "ring_buffer__poll");
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	unload_object(&l);
}

static void check_bootstrap(void)
{
	char *const quick[] = { "/bin/sh", "-c", "exit 3", NULL };
	char *const slow[] = { "/bin/sleep", "0.3", NULL };
	struct boot_seen seen;

	run_bootstrap(0, quick, &seen);
	CHECK(seen.execs == 1, "%d exec events for the child", seen.execs);
	CHECK(seen.exits == 1, "%d exit events for the child", seen.exits);
	CHECK(seen.exec.ppid == getpid(), "exec ppid %d, expected %d", seen.exec.ppid, getpid());
	CHECK(!strcmp(seen.exec.filename, "/bin/sh"), "exec filename '%s'", seen.exec.filename);
	CHECK(!strcmp(seen.exec.comm, "sh"), "exec comm '%s'", seen.exec.comm);
	CHECK(seen.exec.duration_ns == 0 && seen.exec.exit_code == 0, "exec event carries exit data");
	CHECK(seen.exit.exit_code == 3, "exit code %u, expected 3", seen.exit.exit_code);
	CHECK(seen.exit.duration_ns > 0, "exit duration 0");
	CHECK(seen.exit.ppid == getpid(), "exit ppid %d", seen.exit.ppid);
	CHECK(!strcmp(seen.exit.comm, "sh"), "exit comm '%s'", seen.exit.comm);
	CHECK(seen.exit.filename[0] == '\0', "exit event has a filename");

	/* With a 200 ms threshold: a quick process is silent, a 300 ms one reports only its exit. */
	run_bootstrap(200000000ull, quick, &seen);
	CHECK(seen.execs == 0 && seen.exits == 0, "quick child reported (%d execs, %d exits) despite min_duration_ns",
	      seen.execs, seen.exits);
	run_bootstrap(200000000ull, slow, &seen);
	CHECK(seen.execs == 0, "exec reported although min_duration_ns is set");
	CHECK(seen.exits == 1, "%d exit events for the slow child", seen.exits);
	CHECK(seen.exit.duration_ns >= 200000000ull, "duration %llu ns < 200 ms", seen.exit.duration_ns);
	CHECK(!strcmp(seen.exit.comm, "sleep"), "exit comm '%s'", seen.exit.comm);
}

/* ---- execcount ---------------------------------------------------------- */

static uint64_t exec_count(int map_fd, uint64_t uid)
{
	uint64_t count = 0;

	if (bpf_map_lookup_elem(map_fd, &uid, &count) && errno != ENOENT)
		die("lookup in counter_table: %s", strerror(errno));
	return count;
}

static void check_execcount(void)
{
	static const char *const progs[] = { "count_execve", "count_execveat", NULL };
	char *const true_argv[] = { "/bin/true", NULL };
	struct loaded l;
	uint64_t before, after, uid = getuid();
	int map_fd, i, fd;
	pid_t pid;

	load_object(&l, open_tool("execcount.bpf.o"), progs);
	map_fd = bpf_map__fd(find_map(l.obj, "counter_table"));
	before = exec_count(map_fd, uid);
	for (i = 0; i < 3; i++)
		reap(spawn(true_argv));
	/* and one through execveat (glibc's fexecve) */
	fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open /bin/true: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		syscall(SYS_execveat, fd, "", true_argv, environ, AT_EMPTY_PATH);
		_exit(127);
	}
	CHECK(WIFEXITED(reap(pid)), "execveat child failed");
	close(fd);
	after = exec_count(map_fd, uid);
	/* Other processes of this uid may exec meanwhile, so at least 4. */
	CHECK(after - before >= 4, "count for uid %" PRIu64 " went %" PRIu64 " -> %" PRIu64, uid, before, after);
	unload_object(&l);
}

/* ---- hello -------------------------------------------------------------- */

struct data_t {
	int pid;
	int uid;
	char command[16];
	char message[12];
};

struct hello_seen {
	pid_t child;
	int hits;
	struct data_t data;
};

static void on_hello(void *ctx, int cpu, void *data, __u32 size)
{
	struct hello_seen *seen = ctx;
	struct data_t d;

	(void)cpu;
	if (size < sizeof(d)) {
		CHECK(0, "perf record of %u bytes", size);
		return;
	}
	memcpy(&d, data, sizeof(d));
	if (d.pid != seen->child)
		return;
	seen->hits++;
	seen->data = d;
}

static void check_hello(void)
{
	static const char *const progs[] = { "hello", NULL };
	char *const true_argv[] = { "/bin/true", NULL };
	struct hello_seen seen = { 0 };
	struct perf_buffer *pb;
	char comm[16] = { 0 };
	struct loaded l;
	uint64_t deadline;

	load_object(&l, open_tool("hello.bpf.o"), progs);
	pb = perf_buffer__new(bpf_map__fd(find_map(l.obj, "output")), 8, on_hello, NULL, &seen, NULL);
	if (!pb)
		die("perf_buffer__new: %s", strerror(errno));
	seen.child = spawn(true_argv);
	reap(seen.child);
	deadline = mono_ns() + 500000000ull;
	while (mono_ns() < deadline && !seen.hits)
		perf_buffer__poll(pb, 50);
	perf_buffer__free(pb);
	unload_object(&l);

	/* The event fires at execve entry, while the child still has our name. */
	if (prctl(PR_GET_NAME, comm))
		die("cannot read own comm");
	CHECK(seen.hits == 1, "%d records for the child", seen.hits);
	CHECK(seen.data.uid == (int)getuid(), "uid %d", seen.data.uid);
	CHECK(!memcmp(seen.data.message, "Hello World", 12), "message '%.12s'", seen.data.message);
	CHECK(!strncmp(seen.data.command, comm, 16), "command '%.16s', expected '%s'", seen.data.command, comm);
}

/* ---- tailcalls ---------------------------------------------------------- */

static void read_counts(int fd, uint64_t out[4])
{
	uint32_t i;

	for (i = 0; i < 4; i++)
		if (bpf_map_lookup_elem(fd, &i, &out[i]))
			die("lookup counts[%u]: %s", i, strerror(errno));
}

static uint32_t prog_id(int prog_fd)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	check_libbpf(bpf_obj_get_info_by_fd(prog_fd, &info, &len), "bpf_obj_get_info_by_fd");
	return info.id;
}

/* arm64 (the generic syscall table) has no access or pipe: its C library calls faccessat and pipe2 */
#ifdef SYS_access
#define SYS_ACCESS_LIKE SYS_access
#define ACCESS_LIKE(path) syscall(SYS_access, (path), F_OK)
#else
#define SYS_ACCESS_LIKE SYS_faccessat
#define ACCESS_LIKE(path) syscall(SYS_faccessat, AT_FDCWD, (path), F_OK)
#endif
#ifdef SYS_pipe
#define SYS_PIPE_LIKE SYS_pipe
#define PIPE_LIKE(fds) syscall(SYS_pipe, (fds))
#else
#define SYS_PIPE_LIKE SYS_pipe2
#define PIPE_LIKE(fds) syscall(SYS_pipe2, (fds), 0)
#endif

static void check_tailcalls(void)
{
	static const char *const progs[] = { "hello", NULL };
	/* this architecture's numbers (<sys/syscall.h>): the tool fills the array the same way */
	static const struct { uint32_t slot; const char *prog; } table[] = {
		{ SYS_execve, "hello_execve" },
		{ SYS_timer_create, "hello_timer" }, { SYS_timer_settime, "hello_timer" },
		{ SYS_timer_gettime, "hello_timer" }, { SYS_timer_getoverrun, "hello_timer" },
		{ SYS_timer_delete, "hello_timer" },
		{ SYS_ACCESS_LIKE, "ignore_opcode" }, { SYS_PIPE_LIKE, "ignore_opcode" },
		{ SYS_mremap, "ignore_opcode" }, { SYS_shmget, "ignore_opcode" }, { SYS_epoll_create1, "ignore_opcode" },
	};
	const long nr_timer_create = SYS_timer_create, nr_timer_delete = SYS_timer_delete;
	char *const argv[] = { "/nonexistent/bpfkit", NULL };
	uint64_t before[4], after[4];
	struct bpf_object *obj = open_tool("tailcalls.bpf.o");
	int target = getpid(), counts_fd, array_fd, fds[2], efd;
	struct loaded l;
	timer_t timer;
	struct itimerspec its = { 0 };
	uint32_t slot, id;
	size_t i;

	set_rodata(obj, "target_tgid", &target, sizeof(target));
	set_rodata(obj, "nr_timer_create", &nr_timer_create, sizeof(nr_timer_create));
	set_rodata(obj, "nr_timer_delete", &nr_timer_delete, sizeof(nr_timer_delete));
	load_object(&l, obj, progs);
	counts_fd = bpf_map__fd(find_map(obj, "counts"));
	array_fd = bpf_map__fd(find_map(obj, "syscall"));

	/* Fill the program array, then read the program ids back. */
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		int prog_fd = bpf_program__fd(find_prog(obj, table[i].prog));

		slot = table[i].slot;
		CHECK(!bpf_map_update_elem(array_fd, &slot, &prog_fd, BPF_ANY), "fill slot %u: %s", slot, strerror(errno));
	}
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		slot = table[i].slot;
		id = 0;
		CHECK(!bpf_map_lookup_elem(array_fd, &slot, &id), "slot %u empty", slot);
		CHECK(id == prog_id(bpf_program__fd(find_prog(obj, table[i].prog))), "slot %u holds prog id %u, not %s",
		      slot, id, table[i].prog);
	}
	slot = 0;
	CHECK(bpf_map_lookup_elem(array_fd, &slot, &id) && errno == ENOENT, "slot 0 is not empty");

	read_counts(counts_fd, before);
	/* execve x2 (both fail: no such file, but sys_enter has fired) */
	syscall(SYS_execve, argv[0], argv, environ);
	syscall(SYS_execve, argv[0], argv, environ);
	/* timer_create, timer_settime, timer_gettime, timer_getoverrun, timer_delete */
	if (syscall(SYS_timer_create, CLOCK_MONOTONIC, NULL, &timer))
		die("timer_create: %s", strerror(errno));
	syscall(SYS_timer_settime, timer, 0, &its, NULL);
	syscall(SYS_timer_gettime, timer, &its);
	syscall(SYS_timer_getoverrun, timer);
	syscall(SYS_timer_delete, timer);
	/* ignored: access (or faccessat), pipe (or pipe2), epoll_create1 */
	ACCESS_LIKE("/");
	if (PIPE_LIKE(fds))
		die("pipe: %s", strerror(errno));
	efd = syscall(SYS_epoll_create1, 0);
	/* others: getppid x10 and the closes */
	for (i = 0; i < 10; i++)
		syscall(SYS_getppid);
	close(fds[0]);
	close(fds[1]);
	if (efd >= 0)
		close(efd);
	read_counts(counts_fd, after);
	unload_object(&l);

	CHECK(after[1] - before[1] == 2, "execve count +%" PRIu64 ", expected +2", after[1] - before[1]);
	CHECK(after[2] - before[2] == 5, "timer count +%" PRIu64 ", expected +5", after[2] - before[2]);
	CHECK(after[3] - before[3] == 3, "ignored count +%" PRIu64 ", expected +3", after[3] - before[3]);
	CHECK(after[0] - before[0] >= 13, "other count +%" PRIu64 ", expected >= 13", after[0] - before[0]);
}

/* ---- procmap ------------------------------------------------------------ */

static void check_procmap(void)
{
	static const char *const progs[] = { "handle_exec", "handle_exit", NULL };
	char *const sleep_argv[] = { "/bin/sleep", "5", NULL };
	char comm[16];
	struct loaded l;
	uint64_t deadline;
	int map_fd, found = 0;
	pid_t child;

	load_object(&l, open_tool("procmap.bpf.o"), progs);
	map_fd = bpf_map__fd(find_map(l.obj, "proc_map"));
	child = spawn(sleep_argv);
	deadline = mono_ns() + 2000000000ull;
	while (mono_ns() < deadline) {
		if (!bpf_map_lookup_elem(map_fd, &child, comm)) {
			found = 1;
			break;
		}
		usleep(2000);
	}
	CHECK(found, "pid %d never appeared in proc_map", child);
	CHECK(!found || !strncmp(comm, "sleep", 16), "proc_map[%d] = '%.16s'", child, comm);
	kill(child, SIGKILL);
	reap(child);
	/* The exit tracepoint runs before the parent is told, so the entry is already gone. */
	CHECK(bpf_map_lookup_elem(map_fd, &child, comm) && errno == ENOENT, "pid %d still in proc_map after exit", child);
	unload_object(&l);
}

static const struct {
	const char *name;
	void (*run)(void);
} checks[] = {
	{ "bootstrap", check_bootstrap },
	{ "execcount", check_execcount },
	{ "hello", check_hello },
	{ "tailcalls", check_tailcalls },
	{ "procmap", check_procmap },
};

int main(int argc, char **argv)
{
	size_t i;
	int a, ran = 0;

	bench_init(argv[0]);
	require_tracefs();
	for (a = 1; a < argc; a++) {
		for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
			if (!strcmp(argv[a], checks[i].name))
				break;
		if (i == sizeof(checks) / sizeof(checks[0]))
			die("unknown tool '%s'", argv[a]);
	}
	for (i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
		int before = failures, selected = argc == 1;

		for (a = 1; a < argc; a++)
			selected |= !strcmp(argv[a], checks[i].name);
		if (!selected)
			continue;
		checks[i].run();
		ran++;
		printf("%s %s\n", failures == before ? "PASS" : "FAIL", checks[i].name);
		fflush(stdout);
	}
	printf("%d checks, %d failed assertions\n", ran, failures);
	return failures ? 1 : 0;
}
