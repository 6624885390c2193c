"""The tools' shared runtime: stopping on signals, --duration and a closed stdout; option types."""

from __future__ import annotations

import argparse
import io
import os
import signal
import time

import pytest

from bpfkit.tools import TOOLS, object_path
from bpfkit.tools._common import Session, cstr, milliseconds, seconds


class ClosedPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_signals_stop_it_and_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with Session(out=io.StringIO(), err=io.StringIO()) as s:
        assert not s.stopped
        os.kill(os.getpid(), signal.SIGTERM)
        assert s.wait_until(time.monotonic() + 60)  # returns at once: stopped
        assert s.stopped and s.signal == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):  # a second signal: no more waiting for a clean exit
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_duration_counts_from_ready() -> None:
    err = io.StringIO()
    with Session(duration=0.2, out=io.StringIO(), err=err) as s:
        time.sleep(0.25)
        assert not s.stopped  # not ready yet: the deadline is not set
        start = time.monotonic()
        s.ready("Doing it")
        rounds = list(s.every(0.05))
        assert time.monotonic() - start >= 0.2
    assert rounds[-1] is True and rounds.count(True) == 1 and len(rounds) >= 2
    assert err.getvalue() == "Doing it (for 0.2 s)\n"


def test_closed_stdout_stops_it_quietly() -> None:
    with Session(json_output=True, out=ClosedPipe(), err=io.StringIO()) as s:
        s.record({"a": 1})
        assert s.stopped and s.broken_pipe
        s.record({"a": 2})  # ignored, not raised


def test_text_and_json_records() -> None:
    out = io.StringIO()
    with Session(out=out, err=io.StringIO()) as s:
        s.record({"x": "é"}, "text é")
        s.record({"x": 1})  # no text form: nothing in text mode
    with Session(json_output=True, out=out, err=io.StringIO()) as s:
        s.record({"x": "é"}, "text é")
    assert out.getvalue() == 'text é\n{"x": "é"}\n'


def test_option_types() -> None:
    assert seconds("0.5") == 0.5 and milliseconds("0") == 0
    for bad in ("0", "-1", "nan", "inf", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            seconds(bad)
    for bad in ("-1", "1.5", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            milliseconds(bad)


def test_object_path_and_cstr() -> None:
    assert {object_path(t).name for t in TOOLS} == {f"{t}.bpf.o" for t in TOOLS}
    with pytest.raises(ValueError):
        object_path("nope")
    assert cstr(b"sh\0garbage") == "sh" and cstr(b"\xff\0") == "\ufffd" and cstr("a\0b") == "a"


def test_wait_readable_says_whether_the_source_is_readable() -> None:
    r, w = os.pipe()
    try:
        with Session(out=io.StringIO(), err=io.StringIO(), handle_signals=False) as s:
            assert s.wait_readable(_Fileno(r), 0) is False
            os.write(w, b"x")
            assert s.wait_readable(_Fileno(r), 60) is True  # readable: returns at once
            assert s.wait_readable(None, 0) is False
    finally:
        os.close(r)
        os.close(w)


def test_a_stop_ends_a_wait_for_a_source_that_stays_quiet() -> None:
    r, w = os.pipe()
    try:
        with Session(out=io.StringIO(), err=io.StringIO()) as s:
            os.kill(os.getpid(), signal.SIGINT)  # the handler stops the session and wakes the wait
            assert s.wait_readable(_Fileno(r), 60) is False
            assert s.stopped and s.signal == signal.SIGINT
    finally:
        os.close(r)
        os.close(w)


class _Fileno:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd
