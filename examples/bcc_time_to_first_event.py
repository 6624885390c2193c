"""Measure the time from starting a BCC program to its first event, cold (empty cache) and warm (cached).

The measured program is document 002's per-UID execve counter.  A child process starts Python,
imports bpfkit.bcc, builds BPF(text=...), attaches, then polls its table; this parent execs
/bin/true as an unused uid until the child reports the count.  Printed: total milliseconds from
spawning the child to the event, and the child's own split (import, BPF(), attach).

Run as root: python examples/bcc_time_to_first_event.py [--runs N]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r'''
import time
t0 = time.monotonic()
from bpfkit.bcc import BPF
t1 = time.monotonic()
b = BPF(text=r"""
BPF_HASH(counter_table);
int hello(void *ctx) {
    u64 uid = bpf_get_current_uid_gid() & 0xFFFFFFFF;
    u64 counter = 0, *p = counter_table.lookup(&uid);
    if (p != 0)
        counter = *p;
    counter++;
    counter_table.update(&uid, &counter);
    return 0;
}
""")
t2 = time.monotonic()
b.attach_kprobe(event=b.get_syscall_fnname("execve"), fn_name="hello")
t3 = time.monotonic()
print("attached", flush=True)
while True:
    if any(k.value == UID for k in b["counter_table"].keys()):
        break
    time.sleep(0.001)
print("event %.1f %.1f %.1f %.1f" % ((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, (time.monotonic() - t3) * 1e3),
      flush=True)
'''
UID = 54321


def once(env):
    start = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", CHILD.replace("UID", str(UID))], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout.readline().strip() == "attached"
    while True:
        subprocess.run(["/bin/true"], user=UID, check=True)
        line = child.stdout.readline()
        if line.startswith("event"):
            break
    total = (time.monotonic() - start) * 1e3
    child.wait()
    child.stdout.close()
    return total, [float(x) for x in line.split()[1:]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.join(here, "..", "src")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure with bytecode cached, as an installed package runs
    pycache = tempfile.mkdtemp(prefix="bcc-pyc-")
    env["PYTHONPYCACHEPREFIX"] = pycache
    cases = (("cold (empty cache: vmlinux.h dump + clang)", "all"),
             ("new program (vmlinux.h cached, clang runs)", "objects"),
             ("warm (cached object)", None))
    for label, wipe in cases:
        totals, splits = [], []
        with tempfile.TemporaryDirectory() as cache:
            env["XDG_CACHE_HOME"] = cache
            once(env)  # fill the caches (and Python's bytecode cache)
            for _ in range(args.runs):
                if wipe is not None:
                    top = cache if wipe == "all" else os.path.join(cache, "bpfkit", "bcc", "objects")
                    shutil.rmtree(top, ignore_errors=True)
                    os.makedirs(top, exist_ok=True)
                t, s = once(env)
                totals.append(t)
                splits.append(s)
        med = [statistics.median(x[i] for x in splits) for i in range(4)]
        print(f"{label}: median {statistics.median(totals):.0f} ms to the first event over {args.runs} runs "
              f"(min {min(totals):.0f}, max {max(totals):.0f}); in the child: import {med[0]:.0f} ms, "
              f"BPF() {med[1]:.0f} ms, attach {med[2]:.0f} ms")
    shutil.rmtree(pycache, ignore_errors=True)


if __name__ == "__main__":
    main()
