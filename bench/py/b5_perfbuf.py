"""B5, bpfkit side of bench/c/b5_perfbuf.c (placeholder until bpfkit.load and bpfkit.PerfBuffer land)."""

from __future__ import annotations

import sys

from _common import missing_api, unavailable

BENCH = "b5_perfbuf"


def main() -> int:
    why = missing_api("load", "PerfBuffer")
    if why:
        unavailable(BENCH, why)
    unavailable(BENCH, "not wired yet")


if __name__ == "__main__":
    sys.exit(main())
