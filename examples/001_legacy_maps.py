#!/usr/bin/env python3
"""001: an ELF loader for SEC("maps") done by hand, and a walk over a map with get_next_key.

The kernel's samples/bpf/bpf_load.c made `struct bpf_map_def SEC("maps")`
work in four steps, done here one by one with bpfkit's public API
(bpfkit.load() does all of them, and much more, in one call):

1. parse the ELF: the "maps" section (one struct bpf_map_def per map), the
   "license" section, the programs and their relocations;
2. create every map with BPF_MAP_CREATE;
3. rewrite each BPF_LD_IMM64 that a relocation points at: src_reg
   BPF_PSEUDO_MAP_FD and imm = the map's fd;
4. load the programs with BPF_PROG_LOAD, then attach them.

Then, after --duration seconds of counting, the map is read with the
document's iteration template: get_next_key from a key that is not in the
map gives the first key, then each key gives the next, until the end.
Compiling 001_legacy_maps.bpf.c needs clang.

    sudo python3 examples/001_legacy_maps.py [--duration SECONDS]
"""

import argparse
import os
import time
from pathlib import Path

import bpfkit
from bpfkit.asm import PseudoLd
from bpfkit.testing import compile_bpf

HERE = Path(__file__).resolve().parent


def load_legacy(path: Path) -> tuple[dict[str, bpfkit.Map], dict[str, bpfkit.Program]]:
    """Steps 1 to 4 of bpf_load.c: maps from SEC("maps"), fds patched into the programs, programs loaded."""
    spec = bpfkit.ObjectSpec.from_file(path)  # 1. parse (no syscall)
    maps = {}
    for ms in spec.maps.values():  # 2. BPF_MAP_CREATE per struct bpf_map_def
        maps[ms.name] = bpfkit.Map.create(ms.type, ms.key_size, ms.value_size, ms.max_entries, flags=ms.flags,
                                          name=ms.name, key_type="<II", value_type="<QQ")
    progs = {}
    for ps in spec.programs.values():
        insns = [ins.copy() for ins in ps.instructions]
        for ref in ps.map_refs:  # 3. the relocations: LD_IMM64 -> map fd
            insns[ref.insn].src_reg = PseudoLd.MAP_FD
            insns[ref.insn].imm = maps[ref.map].fd
        progs[ps.name] = bpfkit.Program.load(ps.type, insns, license=spec.license, name=ps.name,  # 4. load
                                             section=ps.section, attach_target=ps.attach_target)
    return maps, progs


def walk(m: bpfkit.Map, start: tuple[int, int]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The document's template: get_next_key from a key not in the map, then lookup each key."""
    rows = []
    lookup_key = start
    while (next_key := m.get_next_key(lookup_key)) is not None:
        rows.append((next_key, m.lookup(next_key)))
        lookup_key = next_key
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=2.0, help="seconds to count writes (default 2)")
    args = ap.parse_args()

    maps, progs = load_legacy(compile_bpf(HERE / "001_legacy_maps.bpf.c"))
    links = []
    try:
        ns = os.stat("/proc/self/ns/pid")  # count pids as this PID namespace numbers them (a container's own)
        maps["pid_ns"][(0, 0)] = (ns.st_dev, ns.st_ino)
        links = [p.attach() for p in progs.values()]  # tp/syscalls/sys_enter_write
        print(f"counting write() calls per (pid, fd) for {args.duration:g} s", flush=True)
        with open(os.devnull, "wb") as null:
            for _ in range(5):
                null.write(b"x" * 100)
                null.flush()  # five write(2) calls of 100 bytes from this process
            time.sleep(args.duration)
            fd = null.fileno()
        m = maps["write_stats"]
        assert isinstance(m, bpfkit.HashMap)
        rows = walk(m, start=(0, 0xFFFFFFFF))  # no process has pid 0 writing to fd 0xffffffff
        print(f"get_next_key walked {len(rows)} keys")
        for (pid, wfd), (calls, nbytes) in sorted(rows, key=lambda r: -r[1][1])[:10]:
            print(f"  pid {pid:<7} fd {wfd:<4} {calls:>6} calls {nbytes:>10} bytes")
        print(f"this process, fd {fd}: {m[(os.getpid(), fd)][0]} calls, {m[(os.getpid(), fd)][1]} bytes")
    finally:
        for link in links:  # bpf_link__destroy
            link.close()
        for p in progs.values():  # bpf_object__close: programs, then maps
            p.close()
        for mp in maps.values():
            mp.close()


if __name__ == "__main__":
    main()
