// SPDX-License-Identifier: MIT
/*
 * b5_perfbuf: perf event array throughput with libbpf's perf_buffer consumer.
 *
 * usage: b5_perfbuf [-b BATCH] [-p PAGES] [-w WAKEUP] [-m concurrent|drain|both] [N]
 *        defaults: N 1000000, BATCH 1024, PAGES 256 (per CPU), WAKEUP 1, mode both
 *
 * Producer: program produce_pb (SEC "raw_tp", ctx args[0] = count, args[1] =
 * run) of producer.bpf.o, run with BPF_PROG_RUN; each run emits BATCH
 * 64-byte records (struct bench_record) with bpf_perf_event_output into the
 * perf event array "pb" (BPF_F_CURRENT_CPU) using bpf_loop, and counts failed
 * outputs in the .bss global pb_dropped. A record takes 80 bytes of a perf
 * buffer (header, size, 64 bytes of data, padding).
 *
 * WAKEUP is the perf events' wakeup_events: 1 (default) is what
 * perf_buffer__new asks for, a wakeup per record; with more, the buffers are
 * opened with perf_buffer__new_raw and this program parses the records
 * itself (fewer wakeups; compare like with like). Whatever the setting, a
 * poll that times out (1 ms) is followed by perf_buffer__consume.
 *
 * concurrent: PAGES pages per CPU; a thread repeats test runs where the
 *   scheduler puts it while the main thread consumes with perf_buffer__poll.
 *   The producer waits while more than half of one CPU buffer's worth of
 *   records is unconsumed. records_per_s = records consumed / (start of
 *   producing .. last record consumed).
 * drain: all runs on CPU 0 (BPF_F_TEST_RUN_ON_CPU), each CPU buffer sized to hold
 *   N records; produce everything, then perf_buffer__consume; records_per_s =
 *   N / drain time.
 * "lost" is what the kernel reported in PERF_RECORD_LOST records; "dropped"
 * is the producer's count of failed outputs. Prints one JSON object.
 */
#include <linux/perf_event.h>

#include "producer_run.h"

#define PB_RECORD_BYTES 80

struct consumer {
	struct producer *prod;
	uint64_t records;
	uint64_t lost;
	uint64_t bad;
};

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	struct consumer *c = ctx;
	const struct bench_record *rec = data;

	(void)cpu;
	/* The raw sample is padded so that size + 4 is a multiple of 8: 68 bytes here. */
	if (size < sizeof(*rec) || rec->seq >= c->prod->batch)
		c->bad++;
	c->records++;
	consumer_add(c->prod, 1);
}

static void on_lost(void *ctx, int cpu, __u64 count)
{
	struct consumer *c = ctx;

	(void)cpu;
	c->lost += count;
}

/* Records as laid out by the kernel for perf_buffer__new_raw's callback. */
struct sample_event {
	struct perf_event_header header;
	__u32 size;
	char data[];
};

struct lost_event {
	struct perf_event_header header;
	__u64 id;
	__u64 lost;
};

static enum bpf_perf_event_ret on_raw_event(void *ctx, int cpu, struct perf_event_header *event)
{
	struct consumer *c = ctx;

	switch (event->type) {
	case PERF_RECORD_SAMPLE:
		on_sample(ctx, cpu, ((struct sample_event *)event)->data, ((struct sample_event *)event)->size);
		break;
	case PERF_RECORD_LOST:
		on_lost(ctx, cpu, ((struct lost_event *)event)->lost);
		break;
	default:
		c->bad++;
	}
	return LIBBPF_PERF_EVENT_CONT;
}

struct result {
	uint64_t pages, records, lost, dropped, runs, elapsed_ns, produce_ns, throttle_ns;
};

static struct bpf_object *load_producer(struct producer *p)
{
	char path[PATH_MAX];
	struct bpf_object *obj;

	path_beside_exe(path, sizeof(path), "producer.bpf.o");
	obj = open_object(path);
	/* produce_rb is not used here; its ring buffer (256 KiB) is created anyway. */
	check_libbpf(bpf_object__load(obj), "bpf_object__load");
	p->prog_fd = bpf_program__fd(find_prog(obj, "produce_pb"));
	producer_map_bss(p, obj, "pb_emitted", "pb_dropped");
	return obj;
}

static struct perf_buffer *open_perf(struct bpf_object *obj, uint64_t pages, uint64_t wakeup, struct consumer *c)
{
	int map_fd = bpf_map__fd(find_map(obj, "pb"));
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_BPF_OUTPUT,
		.sample_type = PERF_SAMPLE_RAW,
		.sample_period = 1,
		.wakeup_events = wakeup,
	};
	struct perf_buffer *pb;

	if (wakeup == 1)
		pb = perf_buffer__new(map_fd, pages, on_sample, on_lost, c, NULL);
	else
		pb = perf_buffer__new_raw(map_fd, pages, &attr, on_raw_event, c, NULL);
	if (!pb)
		die("perf_buffer__new with %" PRIu64 " pages per CPU: %s", pages, strerror(errno));
	return pb;
}

static void run_concurrent(uint64_t n, uint64_t batch, uint64_t pages, uint64_t wakeup, struct result *res)
{
	struct producer p = { .n = n, .batch = batch, .cpu = -1, .window = pages * 4096 / PB_RECORD_BYTES / 2 };
	struct consumer c = { .prod = &p };
	struct bpf_object *obj = load_producer(&p);
	struct perf_buffer *pb = open_perf(obj, pages, wakeup, &c);
	uint64_t t0, t_last;
	pthread_t thread;
	int got;

	t0 = t_last = mono_ns();
	thread = producer_start(&p);
	while (!producer_drained(&p)) {
		got = perf_buffer__poll(pb, 1);
		if (got < 0 && got != -EINTR)
			check_libbpf(got, "perf_buffer__poll");
		/* Records short of a wakeup are never signalled: on a 1 ms timeout, look anyway. */
		if (got == 0) {
			uint64_t before = c.records;

			check_libbpf(perf_buffer__consume(pb), "perf_buffer__consume");
			got = c.records > before;
		}
		if (got > 0)
			t_last = mono_ns();
	}
	pthread_join(thread, NULL);
	if (c.bad)
		die("%" PRIu64 " malformed records", c.bad);

	res->pages = pages;
	res->records = c.records;
	res->lost = c.lost;
	res->dropped = load_u64(p.dropped);
	res->runs = p.runs;
	res->elapsed_ns = t_last - t0;
	res->produce_ns = p.run_ns;
	res->throttle_ns = p.throttle_ns;
	if (c.records + res->dropped != n)
		die("consumed %" PRIu64 " + dropped %" PRIu64 " != %" PRIu64, c.records, res->dropped, n);
	perf_buffer__free(pb);
	producer_unmap_bss(&p);
	bpf_object__close(obj);
}

static void run_drain(uint64_t n, uint64_t batch, uint64_t wakeup, struct result *res)
{
	/* One page more than the records need, for the wrap-around slack. */
	uint64_t pages = pow2_ceil((n * PB_RECORD_BYTES + 4095) / 4096 + 1), t;
	struct producer p = { .n = n, .batch = batch, .cpu = 0 };
	struct consumer c = { .prod = &p };
	struct bpf_object *obj = load_producer(&p);
	struct perf_buffer *pb = open_perf(obj, pages, wakeup, &c);
	int got;

	t = mono_ns();
	producer_run(&p);
	res->produce_ns = mono_ns() - t;
	if (load_u64(p.dropped))
		die("%" PRIu64 " records dropped although the buffer holds all %" PRIu64, load_u64(p.dropped), n);

	t = mono_ns();
	got = perf_buffer__consume(pb);
	res->elapsed_ns = mono_ns() - t;
	check_libbpf(got, "perf_buffer__consume");
	if (c.bad)
		die("%" PRIu64 " malformed records", c.bad);
	if (c.records != n || c.lost)
		die("drained %" PRIu64 " records and %" PRIu64 " lost, expected %" PRIu64 " and 0", c.records, c.lost,
		    n);

	res->pages = pages;
	res->records = c.records;
	res->lost = 0;
	res->dropped = 0;
	res->runs = p.runs;
	res->throttle_ns = 0;
	perf_buffer__free(pb);
	producer_unmap_bss(&p);
	bpf_object__close(obj);
}

static void print_result(const char *name, const struct result *r)
{
	printf(", \"%s\": {\"pages_per_cpu\": %" PRIu64 ", \"records\": %" PRIu64 ", \"lost\": %" PRIu64
	       ", \"dropped\": %" PRIu64 ", \"test_runs\": %" PRIu64 ", \"elapsed_ns\": %" PRIu64
	       ", \"produce_ns\": %" PRIu64 ", \"throttle_ns\": %" PRIu64 ", \"records_per_s\": %.0f}",
	       name, r->pages, r->records, r->lost, r->dropped, r->runs, r->elapsed_ns, r->produce_ns,
	       r->throttle_ns, r->elapsed_ns ? (double)r->records * 1e9 / (double)r->elapsed_ns : 0.0);
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000, batch = 1024, pages = 256, wakeup = 1;
	struct result res_concurrent, res_drain;
	bool concurrent = true, drain = true;
	int opt;

	bench_init(argv[0]);
	while ((opt = getopt(argc, argv, "b:p:w:m:")) != -1) {
		switch (opt) {
		case 'b':
			batch = parse_count(optarg, "BATCH", PRODUCER_MAX_COUNT);
			break;
		case 'p':
			pages = parse_count(optarg, "PAGES", 1u << 18);
			if (pages != pow2_ceil(pages))
				die("PAGES must be a power of 2, got %" PRIu64, pages);
			break;
		case 'w':
			wakeup = parse_count(optarg, "WAKEUP", 1u << 20);
			break;
		case 'm':
			parse_mode(optarg, &concurrent, &drain);
			break;
		default:
			die("usage: %s [-b BATCH] [-p PAGES] [-w WAKEUP] [-m concurrent|drain|both] [N]", argv[0]);
		}
	}
	if (optind < argc - 1)
		die("usage: %s [-b BATCH] [-p PAGES] [-w WAKEUP] [-m concurrent|drain|both] [N]", argv[0]);
	if (optind == argc - 1)
		n = parse_count(argv[optind], "N", 1ull << 30);
	if (concurrent && batch * PB_RECORD_BYTES > pages * 4096 / 2)
		die("BATCH %" PRIu64 " records do not fit in half of a %" PRIu64 "-page buffer", batch, pages);

	/* Measure everything first: a failure must not leave half a JSON object on stdout. */
	if (concurrent)
		run_concurrent(n, batch, pages, wakeup, &res_concurrent);
	if (drain)
		run_drain(n, batch, wakeup, &res_drain);
	printf("{\"bench\": \"b5_perfbuf\", \"n\": %" PRIu64 ", \"record_size\": %zu, \"batch\": %" PRIu64
	       ", \"wakeup_events\": %" PRIu64 ", \"cpus\": %d",
	       n, sizeof(struct bench_record), batch, wakeup, libbpf_num_possible_cpus());
	if (concurrent)
		print_result("concurrent", &res_concurrent);
	if (drain)
		print_result("drain", &res_drain);
	printf(", \"peak_rss_kib\": %ld}\n", peak_rss_kib());
	return 0;
}
