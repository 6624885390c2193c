"""Program load, verifier errors, test_run, info and pin on the real kernel."""

from __future__ import annotations

import errno
import os
import struct

import pytest

from bpfkit import features, host
from bpfkit._uapi import ProgType
from bpfkit.btf import BtfKind
from bpfkit.errors import NotSupportedError, VerifierError
from bpfkit.programs import Program
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


def ins(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


RET = lambda v: ins(0xB7, 0, 0, 0, v) + ins(0x95)  # noqa: E731 - r0 = v; exit


@pytest.mark.quick
def test_syscall_program_runs_and_reports_info() -> None:
    require("prog:syscall")
    with Program.load("syscall", RET(42), name="ret42") as p:
        r = p.test_run(ctx=b"\0" * 8)
        assert r.retval == 42
        info = p.info()
        assert info.name == "ret42"
        assert info.verified_insns == 2
        assert p.id == info.id > 0


def test_xdp_program_runs_on_packet_data() -> None:
    with Program.load("xdp", RET(1), name="drop") as p:
        r = p.test_run(data=b"\xaa" * 64, repeat=10)
        assert r.retval == 1  # XDP_DROP
        assert r.data == b"\xaa" * 64 or r.data == b""


@pytest.mark.quick
def test_unknown_program_type_is_not_supported_error() -> None:
    """A program type the kernel lacks is refused with the minimum Linux version, not a bare EINVAL."""
    if features.have_prog_type("syscall"):
        Program.load("syscall", RET(0), name="known").close()
    else:
        with pytest.raises(NotSupportedError) as ei:
            Program.load("syscall", RET(0), name="unknown")
        assert ei.value.feature == "program type syscall"
        assert ei.value.min_kernel == "5.14"


def test_verifier_error_carries_log() -> None:
    with pytest.raises(VerifierError) as ei:
        Program.load("socket_filter", ins(0x79, 0, 2, 0, 0) + ins(0x95), name="bad")
    exc = ei.value
    assert exc.errno == errno.EACCES
    assert "R2" in exc.log
    assert exc.command == "BPF_PROG_LOAD"
    assert "bad" in (exc.target or "")


def test_trampoline_refusal_is_reported_as_not_supported() -> None:
    btf = host.vmlinux_btf()
    fid = btf.find("do_nanosleep", BtfKind.FUNC)[0]
    try:
        p = Program.load("tracing", RET(0), name="fent", expected_attach_type="trace_fentry", attach_btf_id=fid)
    except NotSupportedError as exc:
        assert exc.feature == "trampoline"
        assert "tracepoints" in str(exc)
    else:  # a kernel with trampolines loads it
        p.close()


def test_pin_and_reopen(tmp_path: object) -> None:
    require("pinning")
    path = f"/sys/fs/bpf/bpfkit_test_prog_{os.getpid()}"
    with Program.load("xdp", RET(7), name="pinme") as p:
        p.pin(path)
        try:
            with Program.from_pin(path) as q:
                assert q.info().id == p.info().id
                assert q.name == "pinme"
                assert q.test_run(data=b"\0" * 64).retval == 7
        finally:
            p.unpin()
    assert not os.path.exists(path)


def test_closed_program_refuses_use() -> None:
    p = Program.load("xdp", RET(0), name="c")
    p.close()
    with pytest.raises(ValueError, match="closed"):
        p.test_run(data=b"\0" * 64)


def test_from_spec_loads_what_the_spec_says() -> None:
    from bpfkit.asm._instruction import decode
    from bpfkit.obj import ProgramSpec

    spec = ProgramSpec(name="from_spec", section="xdp", type=ProgType.XDP, instructions=decode(RET(3)))
    with Program.from_spec(spec) as p:
        assert p.spec is spec and p.name == "from_spec" and p.section == "xdp" and p.type == ProgType.XDP
        assert p.test_run(data=b"\0" * 64).retval == 3
    bad = ProgramSpec(name="bad", section="xdp", type=ProgType.XDP, instructions=decode(ins(0x95)))  # r0 unset
    with pytest.raises(VerifierError):
        Program.from_spec(bad)
