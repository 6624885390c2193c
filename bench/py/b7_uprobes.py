"""B7, bpfkit side of bench/c/b7_uprobes.c: attach then detach N uprobes + N uretprobes on libc.

usage: b7_uprobes.py OBJECT LIBC N

Loads uprobe_nop.bpf.o (untimed), then times ``bpfkit.links.attach_uprobe`` of a
uprobe and a uretprobe on each of the first N functions of the same list as the C
side (each call resolves its symbol: the first parses libc's symbol tables, the
others find them cached), then ``bpfkit.links.close_links`` of every link (the
detaches overlap). Prints the same JSON as the C side.
"""

from __future__ import annotations

import sys

from _common import emit, fail, mono_ns

BENCH = "b7_uprobes"
FUNCS = (
    "strfry", "memfrob", "l64a", "a64l", "ecvt", "fcvt", "gcvt", "qecvt", "qfcvt", "qgcvt",
    "lcong48", "seed48", "ether_aton", "ether_ntoa", "swab", "insque", "remque", "getdate",
    "psiginfo", "argz_count",
)


def main() -> None:
    if len(sys.argv) != 4:
        fail(BENCH, "usage: b7_uprobes.py OBJECT LIBC N")
    obj_path, libc, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if not 1 <= n <= len(FUNCS):
        fail(BENCH, f"N must be in 1..{len(FUNCS)}, got {n}")
    import bpfkit
    from bpfkit.links import attach_uprobe, close_links

    with bpfkit.load(obj_path) as col:
        prog = col.programs["b7_probe"]
        t0 = mono_ns()
        links = [attach_uprobe(prog, libc, f, retprobe=ret) for f in FUNCS[:n] for ret in (False, True)]
        t1 = mono_ns()
        close_links(links)
        t2 = mono_ns()
    emit({"bench": BENCH, "n_links": len(links), "attach_ns": t1 - t0, "detach_ns": t2 - t1})


if __name__ == "__main__":
    main()
