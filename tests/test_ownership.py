"""One ownership rule for Map, Program and Link: from_fd takes an int fd over unless dup=True, duplicates
another object's fd, refuses a wrong fd without taking it; unpin is a no-op when nothing is pinned."""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import bpfkit
from bpfkit._sys import commands as C
from bpfkit.links import Link
from bpfkit.links._tracing import attach_raw_tracepoint
from bpfkit.maps import Map
from bpfkit.programs import Program
from bpfkit.testing import require

pytestmark = pytest.mark.kernel

_RET0 = struct.pack("<BBhi", 0xB7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 = 0; exit


@contextmanager
def _map() -> Iterator[Map]:
    with Map.create("array", 4, 4, 1, name="own") as m:
        yield m


@contextmanager
def _program() -> Iterator[Program]:
    with Program.load("raw_tracepoint", _RET0, name="own") as p:
        yield p


@contextmanager
def _link() -> Iterator[Link]:
    with Program.load("raw_tracepoint", _RET0, name="own") as p, attach_raw_tracepoint(p, "sched_process_exec") as link:
        yield link


KINDS: list[tuple[Any, Callable[[], Any]]] = [(Map, _map), (Program, _program), (Link, _link)]
IDS = ["map", "program", "link"]


def _id(obj: Any) -> int:
    return int(obj.id) if not isinstance(obj, Link) else int(obj.info().id)


@pytest.mark.parametrize(("cls", "make"), KINDS, ids=IDS)
def test_from_fd_takes_an_int_over_by_default(cls: Any, make: Callable[[], Any]) -> None:
    with make() as orig:
        raw = os.dup(orig.fileno())
        with cls.from_fd(raw) as taken:
            assert taken.fileno() == raw and _id(taken) == _id(orig)
        with pytest.raises(OSError):
            os.fstat(raw)  # taken over: closed with the object


@pytest.mark.parametrize(("cls", "make"), KINDS, ids=IDS)
def test_from_fd_dup_and_objects_are_duplicated(cls: Any, make: Callable[[], Any]) -> None:
    with make() as orig:
        with cls.from_fd(orig.fileno(), dup=True) as a, cls.from_fd(orig) as b:
            assert a.fileno() != orig.fileno() and b.fileno() != orig.fileno()
            assert _id(a) == _id(b) == _id(orig)
        os.fstat(orig.fileno())  # still open: the originals keep their own fd


@pytest.mark.parametrize("cls", [Map, Program, Link], ids=IDS)
def test_from_fd_refuses_a_wrong_fd_without_taking_it(cls: Any) -> None:
    r, w = os.pipe()
    try:
        for dup in (False, True):
            with pytest.raises(bpfkit.BpfError):
                cls.from_fd(r, dup=dup)
        os.fstat(r)  # not taken over
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize(("cls", "make"), KINDS, ids=IDS)
def test_unpin_is_the_same_everywhere(cls: Any, make: Callable[[], Any]) -> None:
    require("pinning")
    path = f"/sys/fs/bpf/bpfkit-test-own-{cls.__name__}-{os.getpid()}"
    with make() as obj:
        obj.unpin()  # nothing pinned: no-op
        assert obj.pinned_path is None
        obj.pin(path)
        assert obj.pinned_path == path
        with cls.from_pin(path) as again:
            assert again.pinned_path == path and _id(again) == _id(obj)
            again.unpin()  # removes the pin it was opened from
            assert again.pinned_path is None and not os.path.exists(path)
        obj.unpin()  # already gone: no-op
        assert obj.pinned_path is None
        obj.pin(path)
        obj.unpin(path)  # an explicit path
        assert not os.path.exists(path) and obj.pinned_path is None


def test_unpin_refuses_a_bad_path() -> None:
    with _map() as m, pytest.raises(bpfkit.BpfTypeError):
        m.unpin(3)  # type: ignore[arg-type]
    assert C.obj_unpin(None, None, "nothing") is None
