"""devmap, devmap_hash, cpumap, xskmap, sockmap, sockhash, reuseport sockarray, on the real kernel."""

from __future__ import annotations

import errno
import os
import socket

import pytest
from maps_helpers import socket_cookie, tcp_pair

import bpfkit
from bpfkit import host
from bpfkit.maps import (
    CpuMap,
    CpumapValue,
    DevMap,
    DevMapHash,
    DevmapValue,
    Map,
    ReuseportSockArray,
    SockHash,
    SockMap,
    XskMap,
)

pytestmark = pytest.mark.kernel

LO = socket.if_nametoindex("lo")


def test_devmap() -> None:
    with Map.create("devmap", key_size=4, max_entries=4, name="dev") as d:
        assert isinstance(d, DevMap) and d.value_size == 4
        d[1] = LO
        assert d[1] == LO and 1 in d and 0 not in d
        assert list(d.items()) == [(1, LO)]
        del d[1]
        assert 1 not in d
    with Map.create("devmap", key_size=4, value_size=8, max_entries=2, name="dev8") as d8:
        d8[0] = {"ifindex": LO}
        got = d8[0]
        assert isinstance(got, DevmapValue) and got.ifindex == LO and got.prog == 0
        d8[1] = DevmapValue(ifindex=LO)
        assert d8[1]._asdict() == {"ifindex": LO, "prog": 0}


def test_devmap_hash() -> None:
    with Map.create("devmap_hash", max_entries=4, name="devh") as d:
        assert isinstance(d, DevMapHash)
        d[1000] = LO
        assert dict(d.items()) == {1000: LO}
        with pytest.raises(bpfkit.KernelError):
            d[1001] = 999999  # no such interface


def test_cpumap() -> None:
    with Map.create("cpumap", name="cpus") as c:
        assert isinstance(c, CpuMap) and c.max_entries == host.possible_cpus()
        c[0] = 192
        assert c[0] == 192
        del c[0]
        assert 0 not in c
    with Map.create("cpumap", value_size=8, max_entries=1, name="cpus8") as c8:
        c8[0] = CpumapValue(qsize=64)
        assert c8[0].qsize == 64


def test_xskmap_refuses_non_xsk_sockets() -> None:
    with Map.create("xskmap", key_size=4, max_entries=2, name="xsk") as x, socket.socket() as s:
        assert isinstance(x, XskMap)
        with pytest.raises(bpfkit.KernelError) as ei:
            x[0] = s
        assert ei.value.errno in (errno.EOPNOTSUPP, errno.EINVAL, 524)
        with pytest.raises(bpfkit.KernelError):
            x[0]  # xskmap slots cannot be read back from user space
        del x[0]  # emptying an empty xskmap slot is not an error for the kernel


def test_sockmap_with_tcp_sockets() -> None:
    lst, cli, srv = tcp_pair()
    try:
        with Map.create("sockmap", key_size=4, max_entries=4, name="socks") as sm:
            assert isinstance(sm, SockMap) and sm.value_size == 8
            sm[0] = cli
            sm[1] = srv.fileno()
            assert sm[0] == socket_cookie(cli)
            assert sm[1] == socket_cookie(srv)
            assert sorted(sm.keys()) == [0, 1]
            del sm[0]
            assert 0 not in sm
            r, w = os.pipe()
            try:
                with pytest.raises(bpfkit.KernelError) as ei:
                    sm[2] = r  # not a socket
                assert ei.value.errno == errno.ENOTSOCK
            finally:
                os.close(r)
                os.close(w)
    finally:
        for s in (lst, cli, srv):
            s.close()


def test_sockhash() -> None:
    lst, cli, srv = tcp_pair()
    try:
        with Map.create("sockhash", key_size=8, max_entries=4, name="sockh") as sh:
            assert isinstance(sh, SockHash)
            sh[123456789] = cli
            assert sh[123456789] == socket_cookie(cli)
            assert list(sh.keys()) == [123456789]
            assert sh.pop(123456789) == socket_cookie(cli)
    finally:
        for s in (lst, cli, srv):
            s.close()


def test_reuseport_sockarray() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", 0))
        with Map.create("reuseport_sockarray", key_size=4, max_entries=2, name="rps") as m:
            assert isinstance(m, ReuseportSockArray)
            m[0] = s
            assert m[0] == socket_cookie(s)
            del m[0]
            assert 0 not in m
