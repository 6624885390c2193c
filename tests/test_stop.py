"""Stopping (issue 18): links are closed concurrently, and nothing stays attached when the process ends,
whether it closes everything itself or a signal ends it in the middle of closing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import bpfkit
from bpfkit.links import close_links
from bpfkit.testing import attached_program_ids, require

SRC = str(Path(__file__).resolve().parents[1] / "src")
BOOTSTRAP = str(Path(SRC) / "bpfkit" / "tools" / "bootstrap.bpf.o")  # two tracepoint programs

# A child that loads and attaches, says so with its program ids, then closes the object and says that too.
CHILD = """
import json, sys
import bpfkit
obj = bpfkit.load(sys.argv[1], constants={"min_duration_ns": 0})
links = obj.attach()
print(json.dumps({"prog_ids": [p.id for p in obj.programs.values()], "links": len(links)}), flush=True)
sys.stdin.readline()
print("closing", flush=True)
obj.close()
print("closed", flush=True)
"""


def test_collection_close_closes_every_link() -> None:
    require("tracefs")
    with bpfkit.load(BOOTSTRAP, constants={"min_duration_ns": 0}) as obj:
        links = obj.attach()
        ids = {p.id for p in obj.programs.values()}
        assert len(links) == 2
        assert ids <= attached_program_ids()
    assert all(link.closed for link in links)
    assert obj.links == []
    assert not ids & attached_program_ids()


def test_close_links_closes_all_and_raises_the_first_error() -> None:
    require("tracefs")
    with bpfkit.load(BOOTSTRAP, constants={"min_duration_ns": 0}) as obj:
        links = obj.attach()
        ids = {p.id for p in obj.programs.values()}
        obj.links.clear()  # closed here instead of by the collection
        close_links(links)
        assert all(link.closed for link in links)
        assert not ids & attached_program_ids()
        close_links(links)  # closed links are skipped


@pytest.mark.parametrize("sig", [None, signal.SIGINT, signal.SIGTERM])
def test_nothing_stays_attached_after_the_process_ends(sig: signal.Signals | None) -> None:
    """The child closes its object; a signal (if any) arrives while the links are being closed."""
    require("tracefs")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, BOOTSTRAP], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = json.loads(proc.stdout.readline())
        ids = set(ready["prog_ids"])
        assert ready["links"] == 2
        assert ids <= attached_program_ids()
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "closing"
        if sig is not None:
            proc.send_signal(sig)  # each link's close takes tens of ms in the kernel: mid-close
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stdin.close()
        assert proc.stderr is not None
        proc.stderr.close()
    if sig is None:
        assert proc.returncode == 0
    assert not ids & attached_program_ids()
