"""B9, bpfkit side of bench/c/b9_stop.c: load, attach, wait for SIGINT/SIGTERM as a tool does, stop.

usage: b9_stop.py [-r RINGBUF_MAP] OBJECT

Loads OBJECT, attaches every program and waits: with -r, polling that ring
buffer every 100 ms (as bootstrap does), else in signal.pause(). Prints
"ready {JSON}" with the programs' kernel ids once attached. SIGINT stops it as
it stops any Python script (KeyboardInterrupt, which also ends a wait in poll at
once), SIGTERM likewise; the ``with`` blocks close the ring buffer and the object
(the links concurrently) and it exits. bench/stopwatch.py times from its kill() to the exit.
"""

from __future__ import annotations

import json
import signal
import sys
from types import FrameType

import bpfkit


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = sys.argv[1:]
    rb_name = None
    if len(args) >= 2 and args[0] == "-r":
        rb_name, args = args[1], args[2:]
    if len(args) != 1:
        print("usage: b9_stop.py [-r RINGBUF_MAP] OBJECT", file=sys.stderr)
        return 2
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    signal.signal(signal.SIGTERM, on_sigterm)
    records = 0

    def on_record(data: object) -> None:
        nonlocal records
        records += 1

    try:
        with bpfkit.load(args[0]) as coll:
            links = coll.attach()
            rb = bpfkit.RingBuffer(coll.maps[rb_name], callback=on_record) if rb_name else None
            ids = [p.id for p in coll.programs.values()]
            sys.stdout.write("ready " + json.dumps({"links": len(links), "prog_ids": ids}) + "\n")
            sys.stdout.flush()
            try:
                while True:
                    if rb is not None:
                        rb.poll(timeout=0.1)
                    else:
                        signal.pause()
            finally:
                if rb is not None:
                    rb.close()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
