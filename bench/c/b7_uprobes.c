// SPDX-License-Identifier: MIT
/*
 * b7_uprobes: attach then detach N uprobes + N uretprobes on libc functions with libbpf.
 *
 * usage: b7_uprobes OBJECT LIBC N
 *        OBJECT is uprobe_nop.bpf.o (program b7_probe), LIBC the path of libc, N <= 20.
 *
 * Opens and loads the object (untimed), then times attaching a uprobe and a uretprobe
 * (bpf_program__attach_uprobe_opts with func_name: libbpf resolves the symbol) to each
 * of the first N functions of the list below (rarely called, so the probes cost the
 * machine nothing), then destroying every link in order. Prints one JSON object:
 *   n_links, attach_ns, detach_ns   (CLOCK_MONOTONIC)
 */
#include "common.h"

#define MAX_FUNCS 20

/* the same list as bench/py/b7_uprobes.py */
static const char *const FUNCS[MAX_FUNCS] = {
	"strfry", "memfrob", "l64a", "a64l", "ecvt", "fcvt", "gcvt", "qecvt", "qfcvt", "qgcvt",
	"lcong48", "seed48", "ether_aton", "ether_ntoa", "swab", "insque", "remque", "getdate",
	"psiginfo", "argz_count",
};

int main(int argc, char **argv)
{
	struct bpf_link *links[2 * MAX_FUNCS];
	struct bpf_program *prog;
	struct bpf_object *obj;
	uint64_t t0, t1, t2;
	int n, k = 0;

	bench_prog = "b7_uprobes";
	if (argc != 4)
		die("usage: b7_uprobes OBJECT LIBC N");
	n = (int)parse_count(argv[3], "N", MAX_FUNCS);
	libbpf_set_strict_mode(LIBBPF_STRICT_ALL);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		die("open %s: %s", argv[1], strerror(errno));
	check_libbpf(bpf_object__load(obj), "bpf_object__load");
	prog = bpf_object__find_program_by_name(obj, "b7_probe");
	if (!prog)
		die("no program b7_probe in %s", argv[1]);

	t0 = mono_ns();
	for (int i = 0; i < n; i++) {
		for (int ret = 0; ret < 2; ret++) {
			LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = FUNCS[i], .retprobe = ret);
			links[k] = bpf_program__attach_uprobe_opts(prog, -1, argv[2], 0, &opts);
			if (!links[k])
				die("attach %s to %s:%s: %s", ret ? "uretprobe" : "uprobe", argv[2], FUNCS[i], strerror(errno));
			k++;
		}
	}
	t1 = mono_ns();
	for (int i = 0; i < k; i++)
		bpf_link__destroy(links[i]);
	t2 = mono_ns();
	bpf_object__close(obj);
	printf("{\"bench\": \"b7_uprobes\", \"n_links\": %d, \"attach_ns\": %" PRIu64 ", \"detach_ns\": %" PRIu64 "}\n",
	       k, t1 - t0, t2 - t1);
	return 0;
}
