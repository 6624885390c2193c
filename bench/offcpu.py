#!/usr/bin/env python3
"""Where the threads of a command sleep in the kernel: an off-CPU timeline with kernel stacks (B9's evidence).

usage: offcpu.py [--sigint-after-ready] [--min-ms MS] [--json] [--object OFFCPU_BPF_O] -- CMD [ARG...]

Starts CMD held at a gate, loads bpf/offcpu.bpf.c (a tp_btf/sched_switch program, with bpfkit) for CMD's
process, then lets CMD run. Each time one of its threads leaves the CPU and comes back at least MS later
(default 1), that interval and the kernel stack it slept in are recorded. With --sigint-after-ready, it
reads CMD's first stdout line (a "ready" line, as bench/py/b9_stop.py and c/b9_stop.c print), waits
0.2 s, sends SIGINT and shows the intervals from the signal to CMD's exit; else from the start. Times
are ms from that origin. The stacks shown leave out the scheduler, generic wait and syscall entry frames.

Run a B9 stop under it to see its chain of RCU grace periods:
    python bench/offcpu.py --sigint-after-ready -- python bench/py/b9_stop.py -r rb bench/build/bootstrap.bpf.o
Needs root (CAP_BPF, CAP_PERFMON, kallsyms readable) and a kernel with BTF.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEPTH = 24
_HEAD = struct.Struct("=IIQQ")
# generic waits and the system call entry: the frames between them say what the thread waited for (the
# frames down to __schedule, this program's own and the scheduler's, are cut first)
_PLUMBING = ("schedule", "preempt_schedule", "__wait_for_common", "wait_for_completion", "__wait_rcu_gp",
             "do_syscall_64", "entry_SYSCALL_64", "__x64_sys_", "__arm64_sys_", "el0", "invoke_syscall")
# the gate: the child waits for one byte on stdin, then execs CMD (same pid, so the program filters on it)
_GATE = "import os, sys\nos.read(0, 1)\nos.execvp(sys.argv[1], sys.argv[1:])\n"


def _build() -> Path:
    env = os.environ.get("BENCH_BUILD")
    return Path(env) if env else HERE / "build"


def _symbolizer() -> Any:
    from bpfkit.bcc._syms import kernel_symbols

    syms = kernel_symbols()

    def name(addr: int) -> str:
        hit = syms.resolve(addr)
        return hit[0] if hit is not None else f"0x{addr:x}"

    return name


def decode(raw: bytes, name: Any) -> dict[str, Any]:
    """One ring buffer record: the thread, its interval (CLOCK_MONOTONIC ns) and its stack without plumbing."""
    tid, _, start, end = _HEAD.unpack_from(raw)
    addrs = [a for a in struct.unpack_from(f"={DEPTH}Q", raw, _HEAD.size) if a]
    frames = [name(a) for a in addrs]
    if "__schedule" in frames:
        frames = frames[frames.index("__schedule") + 1 :]
    shown = [f for f in frames if not f.startswith(_PLUMBING)]
    return {"tid": tid, "start_ns": start, "end_ns": end, "stack": shown or frames}


def record(cmd: list[str], *, sigint_after_ready: bool, min_ms: float, obj: Path) -> tuple[int, list[dict[str, Any]]]:
    """Run ``cmd`` under the off-CPU program; the origin (CLOCK_MONOTONIC ns) and the intervals after it."""
    import bpfkit

    proc = subprocess.Popen([sys.executable, "-c", _GATE, *cmd], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE if sigint_after_ready else None, text=True)
    assert proc.stdin is not None
    got: list[bytes] = []
    try:
        with bpfkit.load(str(obj), constants={"tgid": proc.pid, "min_ns": int(min_ms * 1e6)}) as coll:
            coll.attach()
            rb = bpfkit.RingBuffer(coll.maps["intervals"], callback=lambda data: got.append(bytes(data)))
            origin = time.monotonic_ns()
            proc.stdin.write("x")
            proc.stdin.close()
            if sigint_after_ready:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit(f"offcpu: {cmd} printed no ready line")
                time.sleep(0.2)
                origin = time.monotonic_ns()
                proc.send_signal(signal.SIGINT)
            while proc.poll() is None:
                rb.poll(timeout=0.05)
            rb.poll(timeout=0)
            rb.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    name = _symbolizer()
    # after a SIGINT, also the waits it ended (clipped to it); from the start, not the gate's own wait
    intervals = [iv for iv in (decode(raw, name) for raw in got)
                 if iv["end_ns"] > origin and (sigint_after_ready or iv["start_ns"] >= origin)]
    intervals.sort(key=lambda iv: (iv["start_ns"], iv["tid"]))
    return origin, intervals


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sigint-after-ready", action="store_true", help="SIGINT 0.2 s after CMD's first stdout line")
    ap.add_argument("--min-ms", type=float, default=1.0, help="shortest interval recorded (default 1 ms)")
    ap.add_argument("--json", action="store_true", help="one JSON object instead of the timeline")
    ap.add_argument("--object", type=Path, default=_build() / "offcpu.bpf.o", help="the built bpf/offcpu.bpf.c")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given (after --)")
    origin, intervals = record(cmd, sigint_after_ready=args.sigint_after_ready, min_ms=args.min_ms, obj=args.object)
    rel = [dict(iv, start_ms=(max(iv["start_ns"], origin) - origin) / 1e6, end_ms=(iv["end_ns"] - origin) / 1e6)
           for iv in intervals]
    if args.json:
        print(json.dumps({"origin": "SIGINT" if args.sigint_after_ready else "start", "intervals": rel}))
        return 0
    for iv in rel:
        print(f"{iv['start_ms']:8.1f} -> {iv['end_ms']:8.1f} ms ({(iv['end_ns'] - iv['start_ns']) / 1e6:6.1f})"
              f"  {iv['tid']}: {' < '.join(iv['stack'][:8])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
