"""close() racing other threads' operations never lets them use a released fd number (issue 13 #1).

The attack: a thread writes (or reads) a map in a loop while the main thread
closes it and at once dup()s another map's fd, which takes the lowest free
number, i.e. the one close() released. Had the writer's syscall used the old
number, it would have written the other map.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from bpfkit._sys import Fd
from bpfkit.maps import Map

pytestmark = pytest.mark.kernel

ROUNDS = 150
KEY = 7


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads as often as CPython allows, so the race window is hit often."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _race(op: Callable[[Map], object], workers: int) -> tuple[int, int]:
    """ROUNDS rounds of: ``workers`` threads run ``op`` on a map until it is closed under them.

    Returns (rounds where the other map was touched, operations that failed other than by closing).
    """
    touched = 0
    odd: list[BaseException] = []
    with Map.create("hash", 4, 8, 16, name="other") as other:
        other[KEY] = 2  # what a read through a stale fd number would see
        for _ in range(ROUNDS):
            victim = Map.create("hash", 4, 8, 16, name="victim")
            victim[KEY] = 1
            started = threading.Barrier(workers + 1)

            def work(m: Map = victim, started: threading.Barrier = started) -> None:
                op(m)
                started.wait()  # close() comes while the loop below runs
                while True:
                    try:
                        op(m)
                    except ValueError:  # the map is closed: the only way this loop may end
                        return
                    except BaseException as exc:  # pragma: no cover - reported by the assertion
                        odd.append(exc)
                        return

            threads = [threading.Thread(target=work) for _ in range(workers)]
            for t in threads:
                t.start()
            started.wait()
            victim.close()
            dup = os.dup(other.fd)  # takes the number victim's close released
            try:
                for t in threads:
                    t.join()
            finally:
                os.close(dup)
            if other[KEY] != 2:
                touched += 1
                other[KEY] = 2
    return touched, len(odd)


@pytest.mark.usefixtures("fast_switching")
def test_close_under_a_writer_never_writes_another_map() -> None:
    def write(m: Map) -> None:
        m[KEY] = 1

    assert _race(write, 1) == (0, 0)


@pytest.mark.usefixtures("fast_switching")
def test_close_under_contending_writers_never_writes_another_map() -> None:
    """Two writers: one takes the shared-buffer fast path, the other the slow path."""

    def write(m: Map) -> None:
        m.update(KEY, 1)
        m.update(KEY, 1, flags=0)
        m.update_batch([(KEY, 1)])

    assert _race(write, 2) == (0, 0)


@pytest.mark.usefixtures("fast_switching")
def test_close_under_readers_never_reads_another_map() -> None:
    seen: set[int] = set()

    def read(m: Map) -> None:
        seen.add(m[KEY])
        seen.add(m.get(KEY))
        seen.add(m.lookup(KEY, flags=0))

    assert _race(read, 2) == (0, 0)
    assert seen == {1}


def test_fd_close_waits_for_a_borrow_on_another_thread() -> None:
    r, w = os.pipe()
    os.close(w)
    fd = Fd(r, "pipe")
    inside = threading.Event()
    leave = threading.Event()
    numbers: list[int] = []

    def borrower() -> None:
        with fd.borrow() as n:
            inside.set()
            leave.wait()
            numbers.append(n)
            os.fstat(n)  # still this pipe: close() has not released it

    t = threading.Thread(target=borrower)
    t.start()
    inside.wait()
    closer = threading.Thread(target=fd.close)
    closer.start()
    closer.join(0.05)  # close() is waiting for the borrow (it may not return before)
    assert fd.closed
    with pytest.raises(ValueError):
        fd.borrow().__enter__()
    leave.set()
    t.join()
    closer.join()
    with pytest.raises(OSError):
        os.fstat(numbers[0])


def test_fd_close_inside_its_own_borrow_takes_effect_when_it_ends() -> None:
    r, w = os.pipe()
    os.close(w)
    fd = Fd(r, "pipe")
    with fd.borrow() as n:
        fd.close()  # from a callback, say: must not wait for itself
        assert fd.closed
        os.fstat(n)  # not released yet
    with pytest.raises(OSError):
        os.fstat(n)
