"""Tracing links on the real kernel: tracepoint, raw tracepoint, tp_btf, fentry/fexit/fmod_ret/lsm, iterators.

Trampoline programs run for real where the kernel allows them (probed); where it
does not, loading or attaching them must fail with a clear NotSupportedError.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from link_progs import RET0, counter_prog, ins, read0

from bpfkit import features, host
from bpfkit._sys import Fd
from bpfkit._sys import commands as C
from bpfkit._uapi import LinkType, MapType
from bpfkit.btf import BtfKind
from bpfkit.errors import NotSupportedError
from bpfkit.links import Iterator_, attach_iter, attach_program, attach_tracepoint, attach_trampoline
from bpfkit.programs import Program
from bpfkit.testing import require

pytestmark = pytest.mark.kernel

_BPF_PERF_EVENT_TRACEPOINT = 5  # enum bpf_perf_event_type






def run_true(n: int) -> None:
    for _ in range(n):
        subprocess.run(["/bin/true"], check=True)


def store_ctx_prog(map_fd: int, ctx_off: int) -> bytes:
    """Store the u64 at ``ctx + ctx_off`` (a traced function's argument or return value) in element 0."""
    return (
        ins(0x79, 7, 1, ctx_off)  # r7 = *(u64 *)(r1 + off)
        + ins(0xB7, 1) + ins(0x63, 10, 1, -4)
        + ins(0x18, 1, 1, 0, map_fd) + ins(0)
        + ins(0xBF, 2, 10) + ins(0x07, 2, 0, 0, -4)
        + ins(0x85, 0, 0, 0, 1)
        + ins(0x15, 0, 0, 1, 0)
        + ins(0x7B, 0, 7, 0, 0)  # *(u64 *)(r0 + 0) = r7
        + ins(0xB7, 0) + ins(0x95)
    )


def func_id(name: str) -> int:
    return host.vmlinux_btf().find(name, BtfKind.FUNC)[0]


@pytest.mark.quick
def test_tracepoint_counts_execs(counter: Fd) -> None:
    require("tracefs")  # the tracepoint id comes from tracefs
    with Program.load("tracepoint", counter_prog(counter.fd), name="cnt_exec") as p:
        cookie = 0x1234_5678_9ABC if features.have_bpf_link_perf_event() else 0  # a cookie needs the bpf_link (5.15)
        with attach_tracepoint(p, "sched", "sched_process_exec", cookie=cookie) as link:
            run_true(5)
            if features.have_bpf_link_perf_event():
                info = link.info()
                assert link.is_bpf_link and info.type == LinkType.PERF_EVENT and info.attach_type() is None
                if info.details()["type"]:  # the kernel reports what a perf link is on since Linux 6.6 (else zeros)
                    assert info.details()["type"] == _BPF_PERF_EVENT_TRACEPOINT
                    assert info.details()["tracepoint.cookie"] == cookie
            else:  # before Linux 5.15: PERF_EVENT_IOC_SET_BPF on the perf event, no bpf_link
                assert not link.is_bpf_link
                with pytest.raises(ValueError, match="not a bpf_link"):
                    link.info()
        run_true(2)
    assert read0(counter) >= 5
    assert read0(counter) < 5 + 50  # detached: later execs of this test are not counted


def test_raw_tracepoint_counts_execs(counter: Fd) -> None:
    with Program.load("raw_tracepoint", counter_prog(counter.fd), name="cnt_raw") as p:
        p.attach_target = "sched_process_exec"
        with attach_program(p) as link:
            run_true(3)
            info = link.info()
            assert (info.type, info.name, info.attach_type()) == (LinkType.RAW_TRACEPOINT, "sched_process_exec", None)
    before = read0(counter)
    assert before >= 3
    run_true(2)
    assert read0(counter) == before


def test_missing_tracepoint_is_enoent() -> None:
    require("tracefs")  # ENOENT needs a tracefs this process can read (else the answer is access or lockdown)
    with Program.load("tracepoint", RET0, name="nope") as p:
        with pytest.raises(OSError) as ei:
            attach_tracepoint(p, "sched", "no_such_tracepoint")
        assert ei.value.errno == 2


def test_tp_btf_attaches() -> None:
    btf = host.vmlinux_btf()
    tid = btf.find("btf_trace_sched_process_exec", BtfKind.TYPEDEF)[0]
    with Program.load("tracing", RET0, name="tpbtf", expected_attach_type="trace_raw_tp", attach_btf_id=tid) as p:
        with attach_trampoline(p) as link:
            assert link.info().type == LinkType.RAW_TRACEPOINT


def _refused_attach(monkeypatch: pytest.MonkeyPatch, err: int, euid: int,
                    lockdown: str | None = None) -> BaseException:
    """What attach_trampoline raises for a tp_btf program when the kernel answers the attach with ``err``, as
    user ``euid`` (and in lockdown mode ``lockdown``, when given)."""
    from bpfkit._sys import privilege
    from bpfkit.errors import BpfError, KernelError
    from bpfkit.links import _tracing

    def refuse(*args: object, **kwargs: object) -> int:
        raise KernelError(err, command="BPF_RAW_TRACEPOINT_OPEN")

    btf = host.vmlinux_btf()
    tid = btf.find("btf_trace_sched_process_exec", BtfKind.TYPEDEF)[0]
    with Program.load("tracing", RET0, name="tpbtf", expected_attach_type="trace_raw_tp", attach_btf_id=tid) as p:
        monkeypatch.setattr(_tracing.C, "raw_tracepoint_open", refuse)
        monkeypatch.setattr(_tracing.os, "geteuid", lambda: euid)
        if lockdown is not None:
            monkeypatch.setattr(privilege, "lockdown_mode", lambda: lockdown)
        with pytest.raises(BpfError) as ei:
            attach_trampoline(p)
    return ei.value


@pytest.mark.parametrize(("err", "euid", "clear"), [(524, 65534, True), (95, 65534, True), (1, 0, True),
                                                     (1, 65534, False)])
def test_trampoline_attach_refusals_by_errno_and_user(monkeypatch: pytest.MonkeyPatch, err: int, euid: int,
                                                      clear: bool) -> None:
    """ENOTSUPP/EOPNOTSUPP from the attach is 'no trampolines' for any user (arm64 6.1 loads fentry, then
    cannot attach it); EPERM is only for root, since a capabilities-only user may lack one instead."""
    from bpfkit.errors import KernelError

    exc = _refused_attach(monkeypatch, err, euid)
    assert isinstance(exc, NotSupportedError) is clear
    assert clear or (isinstance(exc, KernelError) and exc.errno == err)
    if clear:
        assert isinstance(exc, NotSupportedError) and exc.feature == "trampoline"
        assert "use tracepoints, raw tracepoints or tp_btf" in str(exc)


@pytest.mark.parametrize(("err", "mode", "cause"), [(1, "integrity", "lockdown"), (1, "none", None),
                                                    (524, "integrity", None)])
def test_trampoline_attach_refusal_names_lockdown_when_it_is_the_cause(monkeypatch: pytest.MonkeyPatch, err: int,
                                                                       mode: str, cause: str | None) -> None:
    """Root's EPERM on a locked-down kernel is lockdown's doing, as at load; ENOTSUPP is the kernel's lack."""
    exc = _refused_attach(monkeypatch, err, 0, lockdown=mode)
    assert isinstance(exc, NotSupportedError) and exc.cause == cause
    assert ("lockdown=integrity" in str(exc)) is (cause == "lockdown")


def test_iterator_link_reads() -> None:
    btf = host.vmlinux_btf()
    fid = btf.find("bpf_iter_task", BtfKind.FUNC)[0]
    with Program.load("tracing", RET0, name="it", expected_attach_type="trace_iter", attach_btf_id=fid) as p:
        with Iterator_(attach_iter(p)) as it:
            assert it.read() == b""
            info = it.link.info()
            assert (info.type, info.name) == (LinkType.ITER, "task")


def test_task_iterator_of_one_process_reports_it() -> None:
    """iter/task with a pid: LINK_CREATE's iter_info carries it, and the link info reports it back."""
    fid = host.vmlinux_btf().find("bpf_iter_task", BtfKind.FUNC)[0]
    with Program.load("tracing", RET0, name="itp", expected_attach_type="trace_iter", attach_btf_id=fid) as p:
        try:
            link = attach_iter(p, pid=os.getpid())
        except NotSupportedError as exc:  # before Linux 6.1 the kernel's iterator info holds a map only: refused clearly
            assert (exc.feature, exc.min_kernel) == ("iter_task_filter", "6.1")
            return
        with link:
            info = link.info()
            assert (info.type, info.name) == (LinkType.ITER, "task")
            assert info.details()["task.pid"] == os.getpid()


@pytest.mark.quick
def test_fentry_and_fexit_see_arguments_and_return_value(counter: Fd) -> None:
    """fentry on bpf_fentry_test1(int a) records a; fexit records its return value (a + 1)."""
    require("trampolines")
    with Fd(C.map_create(MapType.ARRAY, 4, 8, 1, name="ret"), "map") as ret:
        fid = func_id("bpf_fentry_test1")
        with Program.load("tracing", counter_prog(counter.fd), name="fent", expected_attach_type="trace_fentry",
                          attach_btf_id=fid, attach_target="bpf_fentry_test1") as fent, \
             Program.load("tracing", store_ctx_prog(ret.fd, 8), name="fexit", expected_attach_type="trace_fexit",
                          attach_btf_id=fid, attach_target="bpf_fentry_test1") as fexit:
            with attach_program(fent) as l1, attach_program(fexit) as l2:
                assert l1.kind == "fentry" and l2.kind == "fexit"
                assert l1.info().type == LinkType.TRACING
                # BPF_PROG_TEST_RUN of a tracing program calls bpf_fentry_test1(1) ... in the kernel
                assert fent.test_run().retval == 0
            assert read0(counter) == 1
            assert read0(ret) == 2  # bpf_fentry_test1(1) returns 2
            fexit.test_run()  # detached: nothing more is recorded
            assert read0(counter) == 1


@pytest.mark.quick
def test_fmod_ret_overrides_the_return_value() -> None:
    """fmod_ret on bpf_modify_return_test: returning non-zero skips the function and replaces its result."""
    require("fmod_ret")
    with Program.load("tracing", ins(0xB7, 0, 0, 0, 42) + ins(0x95), name="fmodret",
                      expected_attach_type="modify_return", attach_btf_id=func_id("bpf_modify_return_test"),
                      attach_target="bpf_modify_return_test") as p:
        # the test run calls bpf_modify_return_test(1, &b) (returns 4, bumps b), and on newer kernels also
        # bpf_modify_return_test2: retval = (functions that bumped b << 16) | the sum of their results
        untouched = p.test_run().retval
        assert untouched >> 16 >= 1 and untouched & 0xFFFF >= 4
        with attach_program(p) as link:
            assert link.kind == "fmod_ret"
            replaced = p.test_run().retval  # bpf_modify_return_test did not run: 42 instead of 4, no bump
        assert replaced >> 16 == (untouched >> 16) - 1
        assert replaced & 0xFFFF == (untouched & 0xFFFF) - 4 + 42
        assert p.test_run().retval == untouched


@pytest.mark.quick
def test_lsm_program_sees_file_opens(counter: Fd, tmp_path: object) -> None:
    """lsm/file_open counts opens (and allows them: it returns 0)."""
    require("bpf_lsm")
    with Program.load("lsm", counter_prog(counter.fd), name="opens", expected_attach_type="lsm_mac",
                      attach_btf_id=func_id("bpf_lsm_file_open"), attach_target="file_open") as p:
        with attach_program(p) as link:
            assert link.kind == "lsm"
            for _ in range(5):
                with open("/proc/self/stat", "rb") as f:
                    f.read(1)
        seen = read0(counter)
        assert seen >= 5
        with open("/proc/self/stat", "rb"):
            pass
        assert read0(counter) == seen


def test_lsm_refusal_is_clear(counter: Fd) -> None:
    """Where lsm programs cannot run, loading or attaching one says so."""
    if features.have_bpf_lsm():
        return  # test_lsm_program_sees_file_opens runs them for real
    try:
        p = Program.load("lsm", counter_prog(counter.fd), name="opens", expected_attach_type="lsm_mac",
                         attach_btf_id=func_id("bpf_lsm_file_open"), attach_target="file_open")
    except NotSupportedError as exc:
        assert exc.feature == "trampoline"
        return
    with p, pytest.raises(NotSupportedError) as ei:
        attach_program(p)
    assert ei.value.feature in ("trampoline", "bpf_lsm")


def test_fentry_refusal_is_clear() -> None:
    btf = host.vmlinux_btf()
    fid = btf.find("do_nanosleep", BtfKind.FUNC)[0]
    try:
        p = Program.load("tracing", RET0, name="fent", expected_attach_type="trace_fentry", attach_btf_id=fid)
    except NotSupportedError as exc:
        assert exc.feature == "trampoline" and not features.have_trampolines()
        return
    with p:
        if not features.have_trampolines():  # it loads, and the kernel cannot attach it (arm64 before direct calls)
            with pytest.raises(NotSupportedError) as ei:
                attach_trampoline(p)
            assert ei.value.feature == "trampoline" and "'fent'" in str(ei.value)
            return
        with attach_trampoline(p) as link:  # a kernel with trampolines attaches for real
            assert link.info().type == LinkType.TRACING
