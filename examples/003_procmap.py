#!/usr/bin/env python3
"""003: kernel_and_user_map: the kernel keeps PID -> process name in a hash map, user space prints it.

The BPF side (src/bpfkit/tools/procmap.bpf.c, shipped built) has tracepoints
on sched/sched_process_exec (store pid -> comm) and sched/sched_process_exit
(delete the pid). This user side reads the whole map every --interval seconds
with the map API the document lists (get_next_key and lookup, here through
items()) and prints the processes; Ctrl+C stops it cleanly. It also shows the
other calls of the document on a map of its own: create, update with
BPF_ANY / BPF_NOEXIST / BPF_EXIST, lookup, lookup_and_delete, delete.

    sudo python3 examples/003_procmap.py [--interval SECONDS] [--duration SECONDS]
"""

import argparse
import errno
import os
import time

import bpfkit
from bpfkit.tools import object_path


def map_api_tour() -> None:
    """bpf_map_create / update_elem (flags) / lookup_elem / lookup_and_delete_elem / delete_elem."""
    with bpfkit.Map.create("hash", key_size=4, value_size=16, max_entries=8, name="demo",
                           key_type="u32", value_type="16s") as m:
        m.update(1, b"init", flags=bpfkit.ANY)  # create or replace
        m.update(2, b"kthreadd", flags=bpfkit.NOEXIST)  # create only
        try:
            m.update(2, b"again", flags=bpfkit.NOEXIST)
        except bpfkit.KernelError as exc:
            print(f"update NOEXIST of an existing key: {errno.errorcode.get(exc.errno or 0)}")
        m.update(1, b"systemd", flags=bpfkit.EXIST)  # replace only
        print("lookup 1:", m.lookup(1).rstrip(b"\0"))
        try:
            print("lookup_and_delete 2:", m.lookup_and_delete(2).rstrip(b"\0"), "-> keys left:", list(m.keys()))
        except bpfkit.NotSupportedError as exc:  # hash maps have it from Linux 5.14
            print("lookup_and_delete 2:", exc)
            m.delete(2)
        m.delete(1)
        print("after delete:", dict(m.items()))


def own_pid_namespace() -> dict[str, int]:
    """Constants that make the tool's BPF side report PIDs as this process's PID namespace numbers them."""
    st = os.stat("/proc/self/ns/pid")  # in a container: its own numbers, as ps and Popen.pid show them
    return {"pidns_dev": st.st_dev, "pidns_ino": st.st_ino}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between reads (default 2)")
    ap.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = ap.parse_args()

    map_api_tour()
    with bpfkit.load(object_path("procmap"), constants=own_pid_namespace()) as obj:
        obj.attach()
        proc_map = obj.maps["proc_map"]  # pid_t -> char[16]
        print("reading the process map; Ctrl+C to stop", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(args.interval)
                procs = sorted(proc_map.items())
                print(f"--- {len(procs)} processes", flush=True)
                for pid, comm in procs:
                    name = comm.split(b"\0")[0].decode(errors="replace")
                    print(f"{pid:>7} {name}", flush=True)
        except KeyboardInterrupt:
            print("bye", flush=True)


if __name__ == "__main__":
    main()
