"""B4, bpfkit side of bench/c/b4_ringbuf.c (placeholder until bpfkit.load and bpfkit.RingBuffer land)."""

from __future__ import annotations

import sys

from _common import missing_api, unavailable

BENCH = "b4_ringbuf"


def main() -> int:
    why = missing_api("load", "RingBuffer")
    if why:
        unavailable(BENCH, why)
    unavailable(BENCH, "not wired yet")


if __name__ == "__main__":
    sys.exit(main())
