"""Soak run: the same cycle of real work over and over, with the fds, kernel objects and memory it leaves.

One cycle loads the bootstrap tool's object, attaches it, makes a few execs and reads their events from
the ring buffer, detaches and closes; then churns maps (hash: create, fill, batch lookup/delete,
iterate; per-CPU array; a pinned map opened again from its pin and unpinned; a ring buffer map and
its reader) and runs a program with BPF_PROG_RUN. After a warm-up, growth per cycle is reported:
fds of this process, kernel objects (BPF_*_GET_NEXT_ID) made by the soak and still alive, and RSS.
The targets: no fd and no kernel object per cycle, and under 0.1 KiB of RSS per cycle.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import struct
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ._leaks import bpf_fds, kernel_ids, orphan_ids

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["SoakResult", "main", "soak"]

PREFIX = "soak_"  # the names of the maps and programs the churn creates
_RET0 = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 = 0; exit
_TRUE = shutil.which("true") or "/bin/true"


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _slope(ys: list[float]) -> float:
    """Least-squares growth per step of ``ys`` (0 for fewer than two points)."""
    n = len(ys)
    if n < 2:
        return 0.0
    mx = (n - 1) / 2
    my = sum(ys) / n
    num = sum((i - mx) * (y - my) for i, y in enumerate(ys))
    den = sum((i - mx) ** 2 for i in range(n))
    return num / den


@dataclass
class SoakResult:
    """What a soak measured: per-cycle samples after each cycle, and the kernel objects left at the end."""

    cycles: int = 0
    seconds: float = 0.0
    warmup: int = 0
    sample_every: int = 10
    events: int = 0
    created: dict[str, int] = field(default_factory=dict)  # kernel objects the soak made, by kind
    rss_kib: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    bpf_fds: list[int] = field(default_factory=list)
    alive: list[int] = field(default_factory=list)  # kernel objects of the soak alive after a cycle (sampled)
    left: dict[str, set[int]] = field(default_factory=dict)  # at the end, after settling
    growth: list[str] = field(default_factory=list)  # with trace: where Python memory grew most

    def _after_warmup(self, xs: list[int]) -> list[int]:
        return xs[self.warmup :] if len(xs) > self.warmup + 1 else xs

    @property
    def rss_per_cycle_kib(self) -> float:
        """RSS growth per cycle after the warm-up (least squares), KiB."""
        return _slope([float(x) for x in self._after_warmup(self.rss_kib)])

    @property
    def kernel_objects_per_cycle(self) -> float:
        """Growth per cycle of the soak's live kernel objects (sampled every ``sample_every`` cycles) after the warm-up."""
        xs = self.alive[self.warmup // self.sample_every :] if len(self.alive) > self.warmup // self.sample_every + 1 else self.alive
        return _slope([float(x) for x in xs]) / self.sample_every

    @property
    def fd_growth(self) -> int:
        """Fds open after the last cycle minus after the warm-up."""
        xs = self._after_warmup(self.fds)
        return xs[-1] - xs[0] if xs else 0

    @property
    def bpf_fd_growth(self) -> int:
        """BPF fds (maps, programs, links, perf events) after the last cycle minus after the warm-up."""
        xs = self._after_warmup(self.bpf_fds)
        return xs[-1] - xs[0] if xs else 0

    @property
    def kernel_objects_left(self) -> int:
        """Kernel objects the soak made that are alive after its end (0 is the target)."""
        return sum(len(v) for v in self.left.values())

    def report(self) -> str:
        """The figures as text."""
        post = self._after_warmup(self.rss_kib)
        cycles = max(1, self.cycles)
        lines = [
            f"{self.cycles} cycles in {self.seconds:.0f} s ({1000 * self.seconds / cycles:.0f} ms per cycle), "
            f"warm-up {self.warmup} cycles, {self.events} ring buffer events read",
            "kernel objects made: " + ", ".join(f"{k} {v}" for k, v in self.created.items()),
            f"kernel objects of the soak alive after a cycle (sampled every {self.sample_every}): max "
            f"{max(self.alive, default=0)}, {self.kernel_objects_per_cycle:+.4f} per cycle after warm-up; "
            f"left at the end: {self.kernel_objects_left} {self.left or ''}".rstrip(),
            f"fds: {self.fds[0] if self.fds else 0} after cycle 1, growth after warm-up {self.fd_growth} "
            f"({self.fd_growth / cycles:.4f} per cycle); BPF fds growth {self.bpf_fd_growth}",
            f"RSS: {self.rss_kib[0] if self.rss_kib else 0} KiB after cycle 1, {post[0] if post else 0} KiB after warm-up, "
            f"{self.rss_kib[-1] if self.rss_kib else 0} KiB at the end; "
            f"{self.rss_per_cycle_kib:+.4f} KiB per cycle after warm-up (least squares)",
            *(["Python allocations that grew most after the warm-up:", *self.growth] if self.growth else []),
        ]
        return "\n".join(lines)


class _Cycle:
    """The work of one cycle, with what it needs prepared once (object bytes, scratch pin directory)."""

    def __init__(self, pin_dir: str) -> None:
        from ..tools._common import object_path

        self.obj = object_path("bootstrap").read_bytes()
        self.pin_dir = pin_dir
        self.events = 0
        self.n = 0
        self.made: Counter[str] = Counter()  # kernel objects this soak created, by kind

    def _on_event(self, data: Any) -> None:
        self.events += 1

    def tool(self) -> None:
        """Load, attach, exec a few times, read the ring buffer, detach, close."""
        import bpfkit

        with bpfkit.load(self.obj, constants={"min_duration_ns": 0}) as obj:
            self.made.update(prog=len(obj.programs), map=len(obj.maps), btf=1 if obj.btf_fd is not None else 0)
            self.made["link"] += len(obj.attach())
            with bpfkit.RingBuffer(obj.maps["rb"], callback=self._on_event) as rb:
                for _ in range(2):
                    pid = os.posix_spawn(_TRUE, [_TRUE], {})
                    os.waitpid(pid, 0)
                deadline = time.monotonic() + 2.0
                while rb.poll(timeout=0.05) == 0 and time.monotonic() < deadline:
                    pass
                rb.consume()
            obj.detach()

    def maps(self) -> None:
        """Create, fill, read in batches, iterate, delete, pin and unpin maps; a ring buffer reader."""
        import bpfkit

        self.n += 1
        self.made["map"] += 4
        with bpfkit.Map.create("hash", key_size=4, value_size=8, max_entries=4096, name=PREFIX + "hash") as h:
            h.update_batch((k, k * 3) for k in range(1000))
            got = h.lookup_batch()
            if len(got) != 1000:
                raise AssertionError(f"lookup_batch gave {len(got)} of 1000 entries")
            for k in range(0, 1000, 100):
                h.update(k, h.lookup(k) + 1)
                h.delete(k + 1)
            if sum(1 for _ in h.items()) != 990:
                raise AssertionError("iteration after deletes")
            h.delete_batch([k for k in range(500, 1000) if k % 100 != 1])
            h.lookup_and_delete_batch()
        with bpfkit.Map.create("percpu_array", key_size=4, value_size=8, max_entries=16, name=PREFIX + "pcpu") as p:
            for k in range(16):
                p.update(k, [k] * len(p.lookup(k)))
            list(p.values())
        path = os.path.join(self.pin_dir, f"m{self.n % 4}")
        with bpfkit.Map.create("array", key_size=4, value_size=4, max_entries=8, name=PREFIX + "pinned") as a:
            a.pin(path)
            try:
                with bpfkit.Map.from_pin(path) as again:
                    again.update(3, self.n & 0xFFFFFFFF)
                if a.lookup(3) != self.n & 0xFFFFFFFF:
                    raise AssertionError("the pinned map opened again is not the same map")
            finally:
                a.unpin()
        with bpfkit.Map.create("ringbuf", key_size=0, value_size=0, max_entries=4096, name=PREFIX + "rb") as r, \
                bpfkit.RingBuffer(r, callback=self._on_event) as rb:
            rb.poll(timeout=0)

    def program(self) -> None:
        """Load a program and run it with BPF_PROG_RUN."""
        from ..programs import Program

        self.made["prog"] += 1
        with Program.load("socket_filter", _RET0, name=PREFIX + "prog") as p:
            res = p.test_run(data=bytes(64), repeat=10)
            if res.retval != 0:
                raise AssertionError(f"test_run returned {res.retval}")

    def run(self) -> None:
        self.tool()
        self.maps()
        self.program()


def _ours(name: str) -> bool:
    return name.startswith(PREFIX) or name in ("handle_exec", "handle_exit", "exec_start", "rb") or name.startswith("bootstra")


def _alive(before: dict[str, set[int]]) -> int:
    """Kernel objects made since ``before`` with the soak's names, alive now and held by no other process."""
    return sum(len(v) for v in orphan_ids(before, names=_ours, settle=0, ignore_pid=os.getpid()).values())


def soak(
    *,
    seconds: float | None = None,
    cycles: int | None = None,
    warmup: int = 20,
    sample_every: int = 10,
    trace: bool = False,
    log: Callable[[str], None] | None = None,
) -> SoakResult:
    """Run cycles until ``seconds`` passed or ``cycles`` were done; return the measurements.

    ``trace`` follows Python allocations from the end of the warm-up (tracemalloc: slower) and puts
    the places that grew most in ``SoakResult.growth``.
    """
    import tracemalloc

    from .._sys.mounts import ensure_bpffs_for

    start_ids = kernel_ids()  # first: a process that may not walk ids (no CAP_SYS_ADMIN) leaves no pin directory
    ensure_bpffs_for("/sys/fs/bpf")
    pin_dir = tempfile.mkdtemp(prefix="bpfkit-soak-", dir="/sys/fs/bpf")
    res = SoakResult(warmup=warmup, sample_every=sample_every)
    work = _Cycle(pin_dir)
    t0 = time.monotonic()
    end = None if seconds is None else t0 + seconds
    try:
        while (cycles is None or res.cycles < cycles) and (end is None or time.monotonic() < end):
            work.run()
            res.cycles += 1
            gc.collect(0)
            res.rss_kib.append(_rss_kib())
            res.fds.append(_fd_count())
            res.bpf_fds.append(len(bpf_fds()))
            if res.cycles % sample_every == 0:
                res.alive.append(_alive(start_ids))
            if trace and res.cycles == warmup:
                tracemalloc.start(12)
                first = tracemalloc.take_snapshot()
            if log and res.cycles % 500 == 0:
                log(f"cycle {res.cycles}: RSS {res.rss_kib[-1]} KiB, fds {res.fds[-1]}, "
                    f"slope {res.rss_per_cycle_kib:+.4f} KiB/cycle")
        if trace and tracemalloc.is_tracing():
            gc.collect()
            stats = tracemalloc.take_snapshot().compare_to(first, "traceback")[:5]
            res.growth = [f"{st.size_diff / 1024:+.1f} KiB in {st.count_diff:+d} blocks at\n    "
                          + "\n    ".join(st.traceback.format(limit=6)) for st in stats]
    finally:
        if trace:
            tracemalloc.stop()
        res.seconds = time.monotonic() - t0
        res.events = work.events
        with contextlib.suppress(OSError):
            os.rmdir(pin_dir)
    res.created = dict(work.made)
    # what is still alive, held by nobody but this process (which should hold nothing now)
    res.left = orphan_ids(start_ids, names=_ours, ignore_pid=os.getpid())
    return res


def _parse_args(argv: Iterable[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bpfkit.testing.soak", description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "3600")),
                   help="how long to run (default $SOAK_SECONDS or 3600)")
    p.add_argument("--cycles", type=int, default=None, help="stop after this many cycles instead")
    p.add_argument("--warmup", type=int, default=50, help="cycles before growth is measured (default 50)")
    p.add_argument("--trace", action="store_true", help="show where Python memory grew after the warm-up (tracemalloc)")
    return p.parse_args(list(argv) if argv is not None else None)


def main(argv: Iterable[str] | None = None) -> int:
    """``make soak``: run, print the figures; exit 1 when a kernel object or an fd is left per cycle."""
    ns = _parse_args(argv)
    try:
        res = soak(seconds=None if ns.cycles else ns.seconds, cycles=ns.cycles, warmup=ns.warmup, trace=ns.trace,
                   log=lambda m: print(m, flush=True))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(res.report())
    ok = res.kernel_objects_left == 0 and res.fd_growth <= 0 and res.bpf_fd_growth <= 0
    print("targets (0 kernel objects, 0 fds, < 0.1 KiB RSS per cycle): " +
          ("met" if ok and res.rss_per_cycle_kib < 0.1 else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
