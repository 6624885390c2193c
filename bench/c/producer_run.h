/* SPDX-License-Identifier: MIT */
/*
 * Driving bench/bpf/producer.bpf.o from user space: repeated BPF_PROG_RUNs of
 * a producer program, optionally throttled so that no more than `window`
 * records are waiting for the consumer, in the caller's thread or in its own.
 */
#ifndef BPFKIT_BENCH_PRODUCER_RUN_H
#define BPFKIT_BENCH_PRODUCER_RUN_H

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <bpf/bpf.h>

#include "common.h"
#include "producer.h"

struct producer {
	/* set by the caller */
	int prog_fd;
	int cpu;			/* >= 0: run on this CPU (BPF_F_TEST_RUN_ON_CPU); -1: where the thread is */
	uint64_t n;			/* records to emit in total */
	uint64_t batch;			/* records per test run */
	uint64_t window;		/* max records emitted but not consumed before a run; 0: no limit */
	const volatile uint64_t *emitted;	/* the object's live .bss counters (producer_map_bss) */
	const volatile uint64_t *dropped;
	void *bss;
	size_t bss_size;
	/* shared with the consumer */
	uint64_t consumed;		/* written by the consumer (atomic) */
	int done;			/* set (atomic) after the last run */
	/* results */
	uint64_t runs;
	uint64_t run_ns;		/* time spent inside BPF_PROG_RUN */
	uint64_t throttle_ns;		/* time spent waiting for the consumer */
};

/*
 * Map the object's .bss (loaded, so BPF_F_MMAPABLE) and point p->emitted and
 * p->dropped at two of its u64 globals. libbpf only maps it for skeletons.
 */
static inline void producer_map_bss(struct producer *p, struct bpf_object *obj, const char *emitted,
				    const char *dropped)
{
	struct bpf_map *bss = find_map(obj, ".bss");
	size_t off_emitted = datasec_var_offset(obj, ".bss", emitted, sizeof(uint64_t));
	size_t off_dropped = datasec_var_offset(obj, ".bss", dropped, sizeof(uint64_t));
	long page = sysconf(_SC_PAGESIZE);
	char *base;

	p->bss_size = (bpf_map__value_size(bss) + page - 1) / page * page;
	base = mmap(NULL, p->bss_size, PROT_READ, MAP_SHARED, bpf_map__fd(bss), 0);
	if (base == MAP_FAILED)
		die("mmap of .bss: %s", strerror(errno));
	p->bss = base;
	p->emitted = (const volatile uint64_t *)(base + off_emitted);
	p->dropped = (const volatile uint64_t *)(base + off_dropped);
}

/* Drop the .bss mapping (it keeps the map alive). */
static inline void producer_unmap_bss(struct producer *p)
{
	if (p->bss && munmap(p->bss, p->bss_size))
		die("munmap of .bss: %s", strerror(errno));
	p->bss = NULL;
}

static inline uint64_t load_u64(const volatile uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void producer_run(struct producer *p)
{
	struct produce_args args;
	uint64_t produced = 0, t;
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	if (p->batch == 0 || p->batch > PRODUCER_MAX_COUNT)
		die("batch must be in 1..%u", PRODUCER_MAX_COUNT);
	if (p->window && p->batch > p->window)
		die("batch %" PRIu64 " is larger than the window %" PRIu64, p->batch, p->window);
	while (produced < p->n) {
		args.count = p->n - produced < p->batch ? p->n - produced : p->batch;
		args.run = p->runs;
		if (p->window) {
			t = mono_ns();
			while (load_u64(p->emitted) - __atomic_load_n(&p->consumed, __ATOMIC_ACQUIRE) + args.count >
			       p->window)
				sched_yield();
			p->throttle_ns += mono_ns() - t;
		}
		opts.ctx_in = &args;
		opts.ctx_size_in = sizeof(args);
		if (p->cpu >= 0) {
			opts.flags = BPF_F_TEST_RUN_ON_CPU;
			opts.cpu = p->cpu;
		}
		t = mono_ns();
		check_libbpf(bpf_prog_test_run_opts(p->prog_fd, &opts), "bpf_prog_test_run_opts");
		p->run_ns += mono_ns() - t;
		if ((int)opts.retval != (int)args.count)
			die("producer run %" PRIu64 " returned %d, expected %" PRIu64, (uint64_t)args.run, (int)opts.retval,
			    (uint64_t)args.count);
		produced += args.count;
		p->runs++;
	}
	__atomic_store_n(&p->done, 1, __ATOMIC_RELEASE);
}

static inline void *producer_thread(void *arg)
{
	producer_run(arg);
	return NULL;
}

static inline pthread_t producer_start(struct producer *p)
{
	pthread_t thread;
	int err = pthread_create(&thread, NULL, producer_thread, p);

	if (err)
		die("pthread_create: %s", strerror(err));
	return thread;
}

/* The consumer's side of the throttle. */
static inline void consumer_add(struct producer *p, uint64_t records)
{
	__atomic_store_n(&p->consumed, __atomic_load_n(&p->consumed, __ATOMIC_RELAXED) + records, __ATOMIC_RELEASE);
}

/* True once the producer has finished and every emitted record was consumed. */
static inline bool producer_drained(struct producer *p)
{
	return __atomic_load_n(&p->done, __ATOMIC_ACQUIRE) &&
	       __atomic_load_n(&p->consumed, __ATOMIC_RELAXED) >= load_u64(p->emitted);
}

/* The -m option of b4 and b5: "concurrent", "drain" or "both" of the two measurements. */
static inline void parse_mode(const char *arg, bool *concurrent, bool *drain)
{
	*concurrent = !strcmp(arg, "concurrent") || !strcmp(arg, "both");
	*drain = !strcmp(arg, "drain") || !strcmp(arg, "both");
	if (!*concurrent && !*drain)
		die("mode must be concurrent, drain or both, got '%s'", arg);
}

#endif /* BPFKIT_BENCH_PRODUCER_RUN_H */
