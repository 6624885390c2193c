"""Print what bpfkit's feature probes say about the running kernel, as JSON (for the matrix's feature table).

Run with the interpreter that has bpfkit (the guest runs it before the tests):
``python matrix/probe_features.py``. Every value is true, false, or the text of
the error a probe raised. Only bpfkit's public feature probes are used.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

# (row, probe): the rows of the table, in order
_ROWS: list[tuple[str, str]] = [
    ("BTF kind FLOAT (5.13)", "btf:FLOAT"),
    ("BTF kind DECL_TAG (5.16)", "btf:DECL_TAG"),
    ("BTF kind TYPE_TAG (5.17)", "btf:TYPE_TAG"),
    ("BTF kind ENUM64 (6.0)", "btf:ENUM64"),
    ("ring buffer (5.8)", "map:ringbuf"),
    ("task storage (5.11)", "map:task_storage"),
    ("bloom filter (5.16)", "map:bloom_filter"),
    ("user ring buffer (6.1)", "map:user_ringbuf"),
    ("cgrp_storage maps (6.2)", "map:cgrp_storage"),
    ("arena (6.9)", "map:arena"),
    ("syscall programs (5.14)", "prog:syscall"),
    ("netfilter programs (6.4)", "prog:netfilter"),
    ("bpf_for_each_map_elem (5.13)", "helper:for_each_map_elem"),
    ("bpf_loop (5.17)", "helper:loop"),
    ("kfunc bpf_task_from_pid (6.2)", "kfunc:bpf_task_from_pid"),
    ("hash lookup_and_delete (5.14)", "hash_lookup_and_delete"),
    ("queue maps in sleepable programs", "sleepable_map:queue"),
    ("bpf_spin_lock in sleepable programs", "sleepable_spin_lock"),
    ("BPF links for perf events (5.15)", "bpf_link_perf_event"),
    ("tcx links (6.6)", "tcx"),
    ("kprobes", "kprobes"),
    ("fentry/fexit (trampolines)", "trampolines"),
    ("fmod_ret on bpf_modify_return_test", "fmod_ret"),
    ("lsm programs (BPF LSM active)", "bpf_lsm"),
]


def _probe(name: str) -> Callable[[], bool]:
    from bpfkit import features

    kind, _, what = name.partition(":")
    simple: dict[str, Callable[[], bool]] = {
        "hash_lookup_and_delete": features.have_hash_lookup_and_delete,
        "sleepable_spin_lock": features.have_sleepable_spin_lock,
        "bpf_link_perf_event": features.have_bpf_link_perf_event,
        "tcx": features.have_tcx,
        "kprobes": features.have_kprobes,
        "trampolines": features.have_trampolines,
        "fmod_ret": features.have_fmod_ret,
        "bpf_lsm": features.have_bpf_lsm,
    }
    if not what:
        return simple[kind]
    if kind == "btf":
        return lambda: features.have_btf_kind(what)
    if kind == "map":
        return lambda: features.have_map_type(what)
    if kind == "prog":
        return lambda: features.have_prog_type(what)
    if kind == "helper":
        return lambda: features.have_helper("raw_tracepoint", what)
    if kind == "kfunc":
        return lambda: features.have_kfunc(what, "syscall")
    if kind == "sleepable_map":
        return lambda: features.have_sleepable_map(what)
    raise ValueError(name)


def probe_all() -> dict[str, Any]:
    """Row name -> True / False / the error text."""
    out: dict[str, Any] = {}
    for row, name in _ROWS:
        try:
            out[row] = bool(_probe(name)())
        except Exception as exc:
            out[row] = f"{type(exc).__name__}: {exc}"
    return out


def main() -> int:
    """Print the JSON object."""
    json.dump(probe_all(), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
