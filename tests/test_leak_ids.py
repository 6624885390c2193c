"""bpfkit.testing's kernel-side leak helpers: kernel_ids() and orphan_ids()."""

from __future__ import annotations

import os
import struct

import pytest

import bpfkit
from bpfkit._sys import commands as C
from bpfkit._uapi import AttachType
from bpfkit.programs import Program
from bpfkit.testing import kernel_ids, orphan_ids, require

pytestmark = pytest.mark.kernel

RET1 = struct.pack("<BBhi", 0xB7, 0, 0, 1) + struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 = 1; exit


def test_created_objects_are_listed_and_go_with_their_fds() -> None:
    require("object_ids")
    before = kernel_ids()
    m = bpfkit.Map.create("array", key_size=4, value_size=4, max_entries=1, name="leakids_m")
    p = Program.load("socket_filter", RET1, name="leakids_p")
    now = kernel_ids()
    assert m.info().id in now["map"] - before["map"]
    assert p.info().id in now["prog"] - before["prog"]
    assert orphan_ids(before, names={"leakids_m", "leakids_p"}) == {}  # held by this process's fds
    m.close()
    p.close()
    assert orphan_ids(before, names={"leakids_m", "leakids_p"}) == {}  # freed (after the RCU grace period)


def test_a_program_only_a_cgroup_holds_is_an_orphan() -> None:
    """A legacy cgroup attach (no link) keeps the program in the kernel after its fd is closed:
    orphan_ids reports it, and no longer once it is detached."""
    from bpfkit.links._net import cgroup2_root

    require("object_ids")  # and making a cgroup, which the same privilege allows
    cg = os.path.join(cgroup2_root(), f"bpfkit-leakids-{os.getpid()}")
    os.mkdir(cg)
    cg_fd = os.open(cg, os.O_RDONLY | os.O_DIRECTORY)
    try:
        before = kernel_ids()
        with Program.load("cgroup_skb", RET1, name="leakids_cg", expected_attach_type=AttachType.CGROUP_INET_INGRESS) as p:
            prog_id = p.info().id
            C.prog_attach(cg_fd, p.fd, AttachType.CGROUP_INET_INGRESS)
        assert orphan_ids(before, names={"leakids_cg"}, settle=0.5).get("prog") == {prog_id}
        assert orphan_ids(before, names={"something_else"}) == {}
        fd = C.prog_get_fd_by_id(prog_id)
        try:
            C.prog_detach(cg_fd, fd, AttachType.CGROUP_INET_INGRESS)
        finally:
            os.close(fd)
        assert orphan_ids(before, names={"leakids_cg"}) == {}
    finally:
        os.close(cg_fd)
        os.rmdir(cg)
