// SPDX-License-Identifier: MIT
/*
 * b9_stop: the C side of B9 (stop). Load OBJECT, attach every program, then wait
 * as a tool does until SIGINT or SIGTERM; then destroy the links (in order, as a
 * libbpf skeleton's __destroy does), free the ring buffer and close the object.
 *
 * usage: b9_stop [-j] [-r RINGBUF_MAP] OBJECT
 *        with -r, the wait is ring_buffer__poll(100 ms) on that map (as bootstrap
 *        does), counting the records; without it, pause().
 *        with -j, the links are destroyed concurrently, one thread each: not what
 *        libbpf's tools do, but the best stop a C program can get on this kernel,
 *        the reference B9 puts next to bpfkit's (which closes its links concurrently).
 *
 * Prints one line once attached, "ready {JSON}" with the programs' kernel ids
 * (prog_ids) so that the harness (bench/stopwatch.py) can check that nothing is
 * left attached after the exit; the harness times from its kill() to the exit.
 * Needs root and tracefs mounted.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <bpf/bpf.h>

#include "common.h"

#define MAX_LINKS 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)data;
	(void)size;
	(*(uint64_t *)ctx)++;
	return 0;
}

static void *destroy_link(void *link)
{
	bpf_link__destroy(link);
	return NULL;
}

/* bpf_link__destroy every link, each from its own thread (this one takes the first), then join them */
static void destroy_concurrently(struct bpf_link **links, int n)
{
	pthread_t threads[MAX_LINKS];
	int i, err;

	for (i = 1; i < n; i++) {
		err = pthread_create(&threads[i], NULL, destroy_link, links[i]);
		if (err)
			die("pthread_create failed: %s", strerror(err));
	}
	if (n > 0)
		bpf_link__destroy(links[0]);
	for (i = 1; i < n; i++)
		pthread_join(threads[i], NULL);
}

int main(int argc, char **argv)
{
	struct bpf_link *links[MAX_LINKS];
	struct ring_buffer *rb = NULL;
	struct bpf_program *prog;
	struct bpf_object *obj;
	struct sigaction sa;
	const char *rb_name = NULL;
	uint64_t records = 0;
	int nlinks = 0, concurrent = 0, i, opt;

	bench_init(argv[0]);
	while ((opt = getopt(argc, argv, "jr:")) != -1) {
		if (opt == 'j')
			concurrent = 1;
		else if (opt == 'r')
			rb_name = optarg;
		else
			die("usage: %s [-j] [-r RINGBUF_MAP] OBJECT", argv[0]);
	}
	if (argc - optind != 1)
		die("usage: %s [-j] [-r RINGBUF_MAP] OBJECT", argv[0]);
	require_tracefs();

	/* no SA_RESTART: the signal ends epoll_wait/pause at once */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	obj = open_object(argv[optind]);
	check_libbpf(bpf_object__load(obj), "bpf_object__load");
	nlinks = attach_all(obj, links, MAX_LINKS);
	if (rb_name) {
		rb = ring_buffer__new(bpf_map__fd(find_map(obj, rb_name)), on_record, &records, NULL);
		if (!rb)
			die("ring_buffer__new failed: %s", strerror(errno));
	}

	printf("ready {\"links\": %d, \"prog_ids\": [", nlinks);
	i = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		check_libbpf(bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len), "bpf_obj_get_info_by_fd");
		printf("%s%u", i++ ? ", " : "", info.id);
	}
	printf("]}\n");
	fflush(stdout);

	while (!stop) {
		if (rb) {
			int err = ring_buffer__poll(rb, 100);

			if (err < 0 && err != -EINTR)
				die("ring_buffer__poll failed: %s", strerror(-err));
		} else {
			pause();
		}
	}

	if (concurrent)
		destroy_concurrently(links, nlinks);
	else
		for (i = 0; i < nlinks; i++)
			bpf_link__destroy(links[i]);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
