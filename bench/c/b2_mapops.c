// SPDX-License-Identifier: MIT
/*
 * b2_mapops: cost of single-element map syscalls through libbpf.
 *
 * usage: b2_mapops [N [ROUNDS]]     (defaults 100000 and 3)
 *
 * Creates a hash map "b2_hash" (u32 -> u64, max_entries N, no flags) and an
 * array map "b2_array" (u32 -> u64, max_entries N). Each round, over keys
 * 0..N-1 in order, times:
 *   hash:  insert (update into the empty map), lookup, update (keys exist), delete
 *   array: update, lookup
 * Values are checked (value = key * 3 + round). Prints one JSON object with,
 * per operation, ns per call: the median and the minimum over the rounds.
 */
#include <bpf/bpf.h>

#include "common.h"

#define MAX_ROUNDS 101

enum op { H_INSERT, H_LOOKUP, H_UPDATE, H_DELETE, A_UPDATE, A_LOOKUP, N_OPS };

static void update_all(int fd, uint32_t n, uint64_t salt, uint64_t flags, const char *what)
{
	uint64_t value;
	uint32_t k;

	for (k = 0; k < n; k++) {
		value = (uint64_t)k * 3 + salt;
		if (bpf_map_update_elem(fd, &k, &value, flags))
			die("%s of key %u: %s", what, k, strerror(errno));
	}
}

static void lookup_all(int fd, uint32_t n, uint64_t salt, const char *what)
{
	uint64_t value;
	uint32_t k;

	for (k = 0; k < n; k++) {
		if (bpf_map_lookup_elem(fd, &k, &value))
			die("%s of key %u: %s", what, k, strerror(errno));
		if (value != (uint64_t)k * 3 + salt)
			die("%s of key %u: value %" PRIu64 ", expected %" PRIu64, what, k, value,
			    (uint64_t)k * 3 + salt);
	}
}

static void delete_all(int fd, uint32_t n)
{
	uint32_t k;

	for (k = 0; k < n; k++)
		if (bpf_map_delete_elem(fd, &k))
			die("hash delete of key %u: %s", k, strerror(errno));
}

int main(int argc, char **argv)
{
	static const char *const names[N_OPS][2] = {
		{ "hash", "insert" }, { "hash", "lookup" }, { "hash", "update" }, { "hash", "delete" },
		{ "array", "update" }, { "array", "lookup" },
	};
	static double ns[N_OPS][MAX_ROUNDS];
	uint32_t n = 100000, rounds = 3, r;
	int hash_fd, array_fd, op;
	uint64_t t;

	bench_init(argv[0]);
	if (argc > 3)
		die("usage: %s [N [ROUNDS]]", argv[0]);
	if (argc > 1)
		n = parse_count(argv[1], "N", 1u << 26);
	if (argc > 2)
		rounds = parse_count(argv[2], "ROUNDS", MAX_ROUNDS);

	hash_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "b2_hash", 4, 8, n, NULL);
	check_libbpf(hash_fd, "creating hash map b2_hash");
	array_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "b2_array", 4, 8, n, NULL);
	check_libbpf(array_fd, "creating array map b2_array");

	for (r = 0; r < rounds; r++) {
		t = mono_ns();
		update_all(hash_fd, n, r, BPF_NOEXIST, "hash insert");
		ns[H_INSERT][r] = (double)(mono_ns() - t) / n;

		t = mono_ns();
		lookup_all(hash_fd, n, r, "hash lookup");
		ns[H_LOOKUP][r] = (double)(mono_ns() - t) / n;

		t = mono_ns();
		update_all(hash_fd, n, r + 1, BPF_EXIST, "hash update");
		ns[H_UPDATE][r] = (double)(mono_ns() - t) / n;

		t = mono_ns();
		delete_all(hash_fd, n);
		ns[H_DELETE][r] = (double)(mono_ns() - t) / n;

		t = mono_ns();
		update_all(array_fd, n, r, BPF_ANY, "array update");
		ns[A_UPDATE][r] = (double)(mono_ns() - t) / n;

		t = mono_ns();
		lookup_all(array_fd, n, r, "array lookup");
		ns[A_LOOKUP][r] = (double)(mono_ns() - t) / n;
	}
	/* The deletes above must have emptied the hash map. */
	{
		uint32_t key;

		if (bpf_map_get_next_key(hash_fd, NULL, &key) == 0 || errno != ENOENT)
			die("hash map not empty after deleting every key");
	}
	close(hash_fd);
	close(array_fd);

	printf("{\"bench\": \"b2_mapops\", \"n\": %u, \"rounds\": %u, \"unit\": \"ns/op\"", n, rounds);
	for (op = 0; op < N_OPS; op++) {
		double median = sort_median(ns[op], rounds);

		if (op == H_INSERT || op == A_UPDATE)	/* first operation of a map */
			printf("%s, \"%s\": {", op == H_INSERT ? "" : "}", names[op][0]);
		else
			printf(", ");
		printf("\"%s\": {\"median\": %.1f, \"min\": %.1f}", names[op][1], median, ns[op][0]);
	}
	printf("}, \"peak_rss_kib\": %ld}\n", peak_rss_kib());
	return 0;
}
