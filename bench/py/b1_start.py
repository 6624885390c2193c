"""B1, bpfkit side of bench/c/b1_start.c: a fresh process loads and attaches bootstrap.bpf.o.

usage: b1_start.py [-d MIN_DURATION_NS] OBJECT

Imports bpfkit, loads OBJECT with the .rodata constant min_duration_ns set,
attaches every program, then tears down. Prints one JSON object: since_spawn_ns
(from the runner's CLOCK_MONOTONIC stamp BENCH_SPAWN_MONO_NS, taken just before
the spawn, to the last attach), main_to_attached_ns (first line of this script
to the last attach), the phases and peak_rss_kib (getrusage). Imports stay
minimal before the clock stops: what a tool needs to start, no more.
"""

import time

t_main = time.monotonic_ns()

import os  # noqa: E402  (after the first timestamp on purpose)
import sys  # noqa: E402


def main() -> int:
    args = sys.argv[1:]
    min_duration = 0
    if len(args) >= 2 and args[0] == "-d":
        min_duration = int(args[1])
        args = args[2:]
    if len(args) != 1:
        print("usage: b1_start.py [-d MIN_DURATION_NS] OBJECT", file=sys.stderr)
        return 2
    path = args[0]

    import bpfkit

    t_import = time.monotonic_ns()
    if not hasattr(bpfkit, "load"):
        import json

        print(json.dumps({"bench": "b1_start", "unavailable": "bpfkit.load (Collection) has not landed"}))
        return 0
    coll = bpfkit.load(path, constants={"min_duration_ns": min_duration})
    t_load = time.monotonic_ns()
    links = coll.attach()
    t_attach = time.monotonic_ns()
    spawn = os.environ.get("BENCH_SPAWN_MONO_NS")

    nprogs = len(coll.programs)
    del links
    coll.close()
    t_done = time.monotonic_ns()

    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # at the end, like the C side

    import json

    out = {
        "bench": "b1_start",
        "object": path,
        "programs": nprogs,
        "min_duration_ns": min_duration,
        "import_ns": t_import - t_main,
        "load_ns": t_load - t_import,
        "attach_ns": t_attach - t_load,
        "teardown_ns": t_done - t_attach,
        "main_to_attached_ns": t_attach - t_main,
        "peak_rss_kib": rss,
    }
    if spawn is not None:
        out["since_spawn_ns"] = t_attach - int(spawn)
        out["interpreter_start_ns"] = t_main - int(spawn)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
