// SPDX-License-Identifier: MIT
/*
 * b4_ringbuf: BPF ring buffer throughput with libbpf's ring_buffer consumer.
 *
 * usage: b4_ringbuf [-b BATCH] [-r RING_KIB] [-m concurrent|drain|both] [N]
 *        defaults: N 1000000, BATCH 1024, RING_KIB 1024, mode both
 *
 * Producer: program produce_rb (SEC "syscall") of producer.bpf.o, run with
 * BPF_PROG_RUN; each run emits BATCH 64-byte records (struct bench_record)
 * into the ring buffer map "rb" with bpf_loop and counts failed reserves in
 * the .bss global rb_dropped.
 *
 * concurrent: "rb" has RING_KIB KiB; a thread repeats test runs while the main
 *   thread consumes with ring_buffer__poll. The producer waits while more than
 *   half the ring's worth of records is unconsumed, so the consumer keeps up.
 *   records_per_s = records consumed / (start of producing .. last record consumed).
 * drain: "rb" is sized to hold all N records (next power of 2 of N * 72 bytes);
 *   produce everything, then one ring_buffer__consume; records_per_s = N / drain time.
 * Prints one JSON object.
 */
#include "producer_run.h"

#define RB_RECORD_BYTES 72	/* 8-byte ring buffer header + 64-byte record */

struct consumer {
	struct producer *prod;
	uint64_t records;
	uint64_t bad;
};

static int on_record(void *ctx, void *data, size_t size)
{
	struct consumer *c = ctx;
	const struct bench_record *rec = data;

	if (size != sizeof(*rec) || rec->seq >= c->prod->batch)
		c->bad++;
	c->records++;
	consumer_add(c->prod, 1);
	return 0;
}

struct result {
	uint64_t ring_bytes, records, dropped, runs, elapsed_ns, produce_ns, throttle_ns;
};

static struct bpf_object *load_producer(uint64_t ring_bytes, struct producer *p)
{
	char path[PATH_MAX];
	struct bpf_object *obj;

	path_beside_exe(path, sizeof(path), "producer.bpf.o");
	obj = open_object(path);
	check_libbpf(bpf_map__set_max_entries(find_map(obj, "rb"), ring_bytes), "setting the ring size");
	/* produce_pb is not used here; the perf event array is created anyway. */
	check_libbpf(bpf_object__load(obj), "bpf_object__load");
	p->prog_fd = bpf_program__fd(find_prog(obj, "produce_rb"));
	p->cpu = -1;
	producer_map_bss(p, obj, "rb_emitted", "rb_dropped");
	return obj;
}

static struct ring_buffer *open_ring(struct bpf_object *obj, struct consumer *c)
{
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(find_map(obj, "rb")), on_record, c, NULL);

	if (!rb)
		die("ring_buffer__new: %s", strerror(errno));
	return rb;
}

static void run_concurrent(uint64_t n, uint64_t batch, uint64_t ring_bytes, struct result *res)
{
	struct producer p = { .n = n, .batch = batch, .window = ring_bytes / RB_RECORD_BYTES / 2 };
	struct consumer c = { .prod = &p };
	struct bpf_object *obj = load_producer(ring_bytes, &p);
	struct ring_buffer *rb = open_ring(obj, &c);
	uint64_t t0, t_last;
	pthread_t thread;
	int got;

	t0 = t_last = mono_ns();
	thread = producer_start(&p);
	while (!producer_drained(&p)) {
		got = ring_buffer__poll(rb, 1);
		if (got < 0 && got != -EINTR)
			check_libbpf(got, "ring_buffer__poll");
		/* A poll that timed out (1 ms) is followed by a look at the ring anyway. */
		if (got == 0)
			got = ring_buffer__consume(rb);
		if (got < 0)
			check_libbpf(got, "ring_buffer__consume");
		if (got > 0)
			t_last = mono_ns();
	}
	pthread_join(thread, NULL);
	if (c.bad)
		die("%" PRIu64 " malformed records", c.bad);

	res->ring_bytes = ring_bytes;
	res->records = c.records;
	res->dropped = load_u64(p.dropped);
	res->runs = p.runs;
	res->elapsed_ns = t_last - t0;
	res->produce_ns = p.run_ns;
	res->throttle_ns = p.throttle_ns;
	if (c.records + res->dropped != n)
		die("consumed %" PRIu64 " + dropped %" PRIu64 " != %" PRIu64, c.records, res->dropped, n);
	ring_buffer__free(rb);
	producer_unmap_bss(&p);
	bpf_object__close(obj);
}

static void run_drain(uint64_t n, uint64_t batch, struct result *res)
{
	uint64_t ring_bytes = pow2_ceil(n * RB_RECORD_BYTES), t;
	struct producer p = { .n = n, .batch = batch };
	struct consumer c = { .prod = &p };
	struct bpf_object *obj;
	struct ring_buffer *rb;
	int got;

	if (ring_bytes < 4096)
		ring_bytes = 4096;
	obj = load_producer(ring_bytes, &p);
	rb = open_ring(obj, &c);

	t = mono_ns();
	producer_run(&p);
	res->produce_ns = mono_ns() - t;
	if (load_u64(p.dropped))
		die("%" PRIu64 " records dropped although the ring holds all %" PRIu64, load_u64(p.dropped), n);

	t = mono_ns();
	got = ring_buffer__consume(rb);
	res->elapsed_ns = mono_ns() - t;
	check_libbpf(got, "ring_buffer__consume");
	if (c.bad)
		die("%" PRIu64 " malformed records", c.bad);
	if (c.records != n)
		die("drained %" PRIu64 " records, expected %" PRIu64, c.records, n);

	res->ring_bytes = ring_bytes;
	res->records = c.records;
	res->dropped = 0;
	res->runs = p.runs;
	res->throttle_ns = 0;
	ring_buffer__free(rb);
	producer_unmap_bss(&p);
	bpf_object__close(obj);
}

static void print_result(const char *name, const struct result *r)
{
	printf(", \"%s\": {\"ring_bytes\": %" PRIu64 ", \"records\": %" PRIu64 ", \"lost\": %" PRIu64
	       ", \"test_runs\": %" PRIu64 ", \"elapsed_ns\": %" PRIu64 ", \"produce_ns\": %" PRIu64
	       ", \"throttle_ns\": %" PRIu64 ", \"records_per_s\": %.0f}",
	       name, r->ring_bytes, r->records, r->dropped, r->runs, r->elapsed_ns, r->produce_ns, r->throttle_ns,
	       r->elapsed_ns ? (double)r->records * 1e9 / (double)r->elapsed_ns : 0.0);
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000, batch = 1024, ring_kib = 1024;
	bool concurrent = true, drain = true;
	struct result res_concurrent, res_drain;
	int opt;

	bench_init(argv[0]);
	while ((opt = getopt(argc, argv, "b:r:m:")) != -1) {
		switch (opt) {
		case 'b':
			batch = parse_count(optarg, "BATCH", PRODUCER_MAX_COUNT);
			break;
		case 'r':
			ring_kib = parse_count(optarg, "RING_KIB", 1u << 20);
			if (ring_kib < 4 || ring_kib != pow2_ceil(ring_kib))
				die("RING_KIB must be a power of 2 >= 4, got %" PRIu64, ring_kib);
			break;
		case 'm':
			parse_mode(optarg, &concurrent, &drain);
			break;
		default:
			die("usage: %s [-b BATCH] [-r RING_KIB] [-m concurrent|drain|both] [N]", argv[0]);
		}
	}
	if (optind < argc - 1)
		die("usage: %s [-b BATCH] [-r RING_KIB] [-m concurrent|drain|both] [N]", argv[0]);
	if (optind == argc - 1)
		n = parse_count(argv[optind], "N", 1ull << 30);
	if (concurrent && batch * RB_RECORD_BYTES > ring_kib * 1024 / 2)
		die("BATCH %" PRIu64 " records do not fit in half of a %" PRIu64 " KiB ring", batch, ring_kib);

	/* Measure everything first: a failure must not leave half a JSON object on stdout. */
	if (concurrent)
		run_concurrent(n, batch, ring_kib * 1024, &res_concurrent);
	if (drain)
		run_drain(n, batch, &res_drain);
	printf("{\"bench\": \"b4_ringbuf\", \"n\": %" PRIu64 ", \"record_size\": %zu, \"batch\": %" PRIu64, n,
	       sizeof(struct bench_record), batch);
	if (concurrent)
		print_result("concurrent", &res_concurrent);
	if (drain)
		print_result("drain", &res_drain);
	printf(", \"peak_rss_kib\": %ld}\n", peak_rss_kib());
	return 0;
}
