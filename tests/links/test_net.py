"""Network links on the real kernel: XDP and tcx on a veth pair between two namespaces the test
creates (traffic stays inside them), cgroup skb, socket filters and sockmap programs."""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from link_progs import counter_prog, ins, read0

from bpfkit import features, host
from bpfkit._sys import Fd
from bpfkit._sys import commands as C
from bpfkit._uapi import AttachType, LinkType, MapType
from bpfkit.errors import NotSupportedError
from bpfkit.links import _net as net
from bpfkit.programs import Program
from bpfkit.testing import require_capability

pytestmark = pytest.mark.kernel

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)






def sh(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True)


class NetnsPair:
    """Namespaces A (veth 'va', 10.77.0.1) and B (veth 'vb', 10.77.0.2); this thread enters A."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.a, self.b = f"bpfkit-a-{tag}", f"bpfkit-b-{tag}"
        sh("ip", "netns", "add", self.a)
        sh("ip", "netns", "add", self.b)
        sh("ip", "-n", self.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", self.b)
        sh("ip", "-n", self.a, "addr", "add", "10.77.0.1/24", "dev", "va")
        sh("ip", "-n", self.b, "addr", "add", "10.77.0.2/24", "dev", "vb")
        sh("ip", "-n", self.a, "link", "set", "va", "up")
        sh("ip", "-n", self.b, "link", "set", "vb", "up")
        self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
        self._enter(f"/run/netns/{self.a}")

    def _enter(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {path}")
        finally:
            os.close(fd)

    def send_from_b(self, count: int) -> None:
        code = (
            "import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for i in range({count}): s.sendto(b'bpfkit', ('10.77.0.1', 9))\n"
        )
        subprocess.run(["ip", "netns", "exec", self.b, sys.executable, "-c", code], check=True, timeout=30)

    def close(self) -> None:
        if _libc.setns(self._home, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back home")
        os.close(self._home)
        subprocess.run(["ip", "netns", "del", self.a], check=False)
        subprocess.run(["ip", "netns", "del", self.b], check=False)


@pytest.fixture
def netns_pair() -> Iterator[NetnsPair]:
    require_capability(host.CAP_SYS_ADMIN, "creating network namespaces (ip netns add: unshare and a bind mount)")
    pair = NetnsPair()
    try:
        yield pair
    finally:
        pair.close()


def test_xdp_link_sees_packets(netns_pair: NetnsPair, counter: Fd) -> None:
    with Program.load("xdp", counter_prog(counter.fd, 2), name="xdp_cnt") as p:  # XDP_PASS
        with net.attach_xdp(p, "va") as link:
            info = link.info()
            assert info.type == LinkType.XDP and info.details() == {"ifindex": net.ifindex_of("va")}
            netns_pair.send_from_b(5)
    assert read0(counter) >= 5


def test_tcx_ingress_sees_packets(netns_pair: NetnsPair, counter: Fd) -> None:
    if not features.have_tcx():
        with Program.load("sched_cls", counter_prog(counter.fd, 0), name="tcx_cnt") as p, \
                pytest.raises(NotSupportedError) as ei:
            net.attach_tcx(p, "va", "ingress")
        assert (ei.value.feature, ei.value.min_kernel) == ("tcx link", "6.6")
        pytest.skip(f"probe: {ei.value}")
    with Program.load("sched_cls", counter_prog(counter.fd, 0), name="tcx_cnt") as p:  # TC_ACT_OK
        with net.attach_tcx(p, "va", "ingress") as link:
            info = link.info()
            assert info.type == LinkType.TCX and info.attach_type() == AttachType.TCX_INGRESS
            assert info.details()["ifindex"] == net.ifindex_of("va")
            netns_pair.send_from_b(4)
    assert read0(counter) >= 4


def test_bad_interface_is_clear() -> None:
    with Program.load("xdp", counter_prog(0, 2)[:0] + ins(0xB7, 0, 0, 0, 2) + ins(0x95), name="x") as p:
        with pytest.raises(OSError) as ei:
            net.attach_xdp(p, "no-such-if0")
        assert ei.value.errno == 19  # ENODEV


@pytest.fixture
def cgroup_dir() -> Iterator[Path]:
    require_capability(host.CAP_SYS_ADMIN, "creating a cgroup in the cgroup2 hierarchy (root's; delegating a "
                       "subtree to a user is the administrator's part)")
    root = Path(net.cgroup2_root())
    d = root / f"bpfkit-test-{uuid.uuid4().hex[:8]}"
    d.mkdir()
    try:
        yield d
    finally:
        d.rmdir()


def test_cgroup_skb_egress_counts(cgroup_dir: Path, counter: Fd) -> None:
    with Program.load("cgroup_skb", counter_prog(counter.fd, 1), name="cg_cnt",
                      expected_attach_type="cgroup_inet_egress") as p:
        with net.attach_cgroup(p, str(cgroup_dir)) as link:
            info = link.info()
            assert info.type == LinkType.CGROUP and info.attach_type() == AttachType.CGROUP_INET_EGRESS
            assert info.details()["cgroup_id"] == cgroup_dir.stat().st_ino  # a cgroup2 id is its inode number
            code = (
                f"open('{cgroup_dir}/cgroup.procs', 'w').write('0')\n"
                "import socket\n"
                "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                "for i in range(3): s.sendto(b'x', ('127.0.0.1', 9))\n"
            )
            subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    assert read0(counter) >= 3


def test_socket_filter_drops_and_passes(counter: Fd) -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(0.3)
        with Program.load("socket_filter", counter_prog(counter.fd, 0), name="drop_all") as drop:
            with net.attach_socket_filter(drop, rx):
                tx.sendto(b"dropped", rx.getsockname())
                with pytest.raises(TimeoutError):
                    rx.recv(64)
        assert read0(counter) == 1
        tx.sendto(b"passes", rx.getsockname())
        assert rx.recv(64) == b"passes"
    finally:
        rx.close()
        tx.close()


def test_sk_msg_on_sockmap(counter: Fd) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname())
    peer, _ = srv.accept()
    try:
        with Fd(C.map_create(MapType.SOCKMAP, 4, 4, 2, name="socks"), "sockmap") as smap:
            with Program.load("sk_msg", counter_prog(counter.fd, 1), name="msg_cnt") as p:  # SK_PASS
                with net.attach_sockmap(p, smap.fd, "sk_msg"):
                    k = ctypes.c_uint32(0)
                    v = ctypes.c_uint32(cli.fileno())
                    C.map_update_elem(smap.fd, ctypes.addressof(k), ctypes.addressof(v))
                    cli.sendall(b"hello")
                    assert peer.recv(16) == b"hello"
        assert read0(counter) >= 1
    finally:
        cli.close()
        peer.close()
        srv.close()
