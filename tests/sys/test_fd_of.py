"""fd_of: the one conversion of an object to an fd, shared by maps, codecs, readers, links and the loader."""

from __future__ import annotations

import os

import pytest

import bpfkit
from bpfkit._sys.fd import dup_fd, fd_of
from bpfkit.maps import Map


class _WithFd:
    def __init__(self, fd: object) -> None:
        self.fd = fd


def test_fd_of_accepts_int_fileno_and_fd() -> None:
    r, w = os.pipe()
    try:
        with open(r, closefd=False) as f:
            assert fd_of(r) == r
            assert fd_of(f) == r
            assert fd_of(_WithFd(w)) == w
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("bad", [True, "3", None, 1.0, _WithFd("3"), _WithFd(False)])
def test_fd_of_refuses_what_is_not_an_fd(bad: object) -> None:
    with pytest.raises(bpfkit.BpfTypeError):
        fd_of(bad)


def test_fd_of_refuses_a_negative_fd() -> None:
    with pytest.raises(bpfkit.BpfValueError):
        fd_of(-1)


def test_one_fd_of_everywhere() -> None:
    import bpfkit._bufreader as bufreader
    import bpfkit.links._net as net
    import bpfkit.maps._codec as codec

    assert bpfkit.maps.fd_of is fd_of
    assert codec.fd_of is fd_of and net.fd_of is fd_of and bufreader.fd_of is fd_of


@pytest.mark.kernel
def test_dup_fd_is_an_owned_duplicate() -> None:
    with Map.create("array", 4, 4, 1) as m:
        with dup_fd(m.fd, "map") as d:
            assert d.fd != m.fd
            with Map.from_fd(d, dup=True) as again:
                assert again.id == m.id
