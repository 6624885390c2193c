// SPDX-License-Identifier: MIT
/*
 * b3_dump: reading a whole hash map from user space.
 *
 * usage: b3_dump [N [BATCH [ROUNDS]]]     (defaults 1000000, 4096 and 3)
 *
 * Fills a hash map "b3_hash" (u32 -> u64, max_entries N, no flags) with keys
 * 0..N-1 (value = key * 7 + 1) using bpf_map_update_batch, then each round
 * dumps it twice into preallocated key and value arrays:
 *   batch:    bpf_map_lookup_batch, BATCH elements per call
 *   next_key: bpf_map_get_next_key + bpf_map_lookup_elem per element
 * Every dump is checked (N distinct keys, each with its value). Prints one
 * JSON object: total ns of each dump (median and minimum over the rounds) and
 * ns per element of the median.
 */
#include <bpf/bpf.h>

#include "common.h"

#define MAX_ROUNDS 101

static uint64_t expected(uint32_t key)
{
	return (uint64_t)key * 7 + 1;
}

/* Every key 0..n-1 exactly once, each with its value. */
static void verify(const uint32_t *keys, const uint64_t *values, uint32_t got, uint32_t n,
		   uint8_t *seen, const char *how)
{
	uint32_t i;

	if (got != n)
		die("%s dump returned %u elements, expected %u", how, got, n);
	memset(seen, 0, n);
	for (i = 0; i < n; i++) {
		if (keys[i] >= n || seen[keys[i]])
			die("%s dump: bad or repeated key %u", how, keys[i]);
		seen[keys[i]] = 1;
		if (values[i] != expected(keys[i]))
			die("%s dump: key %u has value %" PRIu64, how, keys[i], values[i]);
	}
}

/* keys and values have room for n + batch elements, so every call can ask for a full batch. */
static uint32_t dump_batch(int fd, uint32_t n, uint32_t batch, uint32_t *keys, uint64_t *values)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t token, total = 0, count;
	void *in = NULL;
	int err;

	for (;;) {
		if (total > n)
			die("batch dump returned more than %u elements", n);
		count = batch;
		err = bpf_map_lookup_batch(fd, in, &token, keys + total, values + total, &count, &opts);
		if (err && errno == ENOSPC)
			die("bpf_map_lookup_batch: ENOSPC, a hash bucket holds more than BATCH=%u elements", batch);
		if (err && errno != ENOENT)
			die("bpf_map_lookup_batch after %u elements: %s", total, strerror(errno));
		total += count;
		if (err)	/* ENOENT: the walk is complete */
			return total;
		in = &token;
	}
}

static uint32_t dump_next_key(int fd, uint32_t n, uint32_t *keys, uint64_t *values)
{
	uint32_t total = 0;
	const uint32_t *prev = NULL;

	for (;;) {
		if (total == n) {
			uint32_t extra;

			if (bpf_map_get_next_key(fd, prev, &extra) == 0)
				die("get_next_key dump found more than %u elements", n);
			if (errno != ENOENT)
				die("bpf_map_get_next_key: %s", strerror(errno));
			return total;
		}
		if (bpf_map_get_next_key(fd, prev, &keys[total])) {
			if (errno == ENOENT)
				return total;
			die("bpf_map_get_next_key after %u elements: %s", total, strerror(errno));
		}
		if (bpf_map_lookup_elem(fd, &keys[total], &values[total]))
			die("lookup of key %u: %s", keys[total], strerror(errno));
		prev = &keys[total];
		total++;
	}
}

int main(int argc, char **argv)
{
	static double batch_ns[MAX_ROUNDS], next_ns[MAX_ROUNDS];
	uint32_t n = 1000000, batch = 4096, rounds = 3, i, r, got, count;
	uint64_t t, fill_ns, *values;
	double batch_med, next_med;
	uint32_t *keys;
	uint8_t *seen;
	int fd;

	bench_init(argv[0]);
	if (argc > 4)
		die("usage: %s [N [BATCH [ROUNDS]]]", argv[0]);
	if (argc > 1)
		n = parse_count(argv[1], "N", 1u << 26);
	if (argc > 2)
		batch = parse_count(argv[2], "BATCH", 1u << 26);
	if (argc > 3)
		rounds = parse_count(argv[3], "ROUNDS", MAX_ROUNDS);

	keys = calloc((size_t)n + batch, sizeof(*keys));
	values = calloc((size_t)n + batch, sizeof(*values));
	seen = calloc(n, 1);
	if (!keys || !values || !seen)
		die("out of memory for %u elements", n);

	fd = bpf_map_create(BPF_MAP_TYPE_HASH, "b3_hash", 4, 8, n, NULL);
	check_libbpf(fd, "creating hash map b3_hash");
	for (i = 0; i < n; i++) {
		keys[i] = i;
		values[i] = expected(i);
	}
	t = mono_ns();
	count = n;
	check_libbpf(bpf_map_update_batch(fd, keys, values, &count, NULL), "bpf_map_update_batch");
	fill_ns = mono_ns() - t;
	if (count != n)
		die("bpf_map_update_batch stored %u of %u elements", count, n);

	for (r = 0; r < rounds; r++) {
		memset(keys, 0xff, (size_t)n * sizeof(*keys));
		t = mono_ns();
		got = dump_batch(fd, n, batch, keys, values);
		batch_ns[r] = (double)(mono_ns() - t);
		verify(keys, values, got, n, seen, "batch");

		memset(keys, 0xff, (size_t)n * sizeof(*keys));
		t = mono_ns();
		got = dump_next_key(fd, n, keys, values);
		next_ns[r] = (double)(mono_ns() - t);
		verify(keys, values, got, n, seen, "get_next_key");
	}
	close(fd);

	batch_med = sort_median(batch_ns, rounds);
	next_med = sort_median(next_ns, rounds);
	printf("{\"bench\": \"b3_dump\", \"n\": %u, \"batch_size\": %u, \"rounds\": %u, \"fill_ns\": %" PRIu64
	       ", \"batch\": {\"median_ns\": %.0f, \"min_ns\": %.0f, \"ns_per_elem\": %.1f}"
	       ", \"next_key\": {\"median_ns\": %.0f, \"min_ns\": %.0f, \"ns_per_elem\": %.1f}"
	       ", \"peak_rss_kib\": %ld}\n",
	       n, batch, rounds, fill_ns, batch_med, batch_ns[0], batch_med / n, next_med, next_ns[0],
	       next_med / n, peak_rss_kib());
	free(keys);
	free(values);
	free(seen);
	return 0;
}
