"""Feature probes on the real kernel: what came after a kernel's version must be reported missing for
that reason, and what the version promises must be there or be missing for a reason the probe names
(lockdown, a capability, the configuration); the QEMU matrix runs these on 5.10 ... 7.x."""

from __future__ import annotations

import errno
from typing import Any

import pytest

from bpfkit import features, host
from bpfkit._sys import perf_event
from bpfkit._uapi import MAP_MIN_KERNEL, PROG_MIN_KERNEL, MapType, ProgType
from bpfkit.errors import NotSupportedError

pytestmark = pytest.mark.kernel


def _new_enough(v: str) -> bool:
    return host.kernel_version()[:2] >= tuple(int(x) for x in v.split("."))


def _agrees_with_version(feature: object, since: str) -> features.Support:
    """A feature newer than the kernel is missing for that reason; an older one is here or missing for another."""
    s = features.check(feature)  # type: ignore[arg-type]
    assert s.min_kernel == since
    if not _new_enough(since):
        assert (s.available, s.cause) == (False, features.Cause.VERSION), s
    elif not s.available:
        assert s.cause not in (features.Cause.VERSION, features.Cause.UNKNOWN) and s.reason, s
    return s


@pytest.mark.parametrize("t", [t for t in MapType if t != MapType.UNSPEC])
def test_every_map_type_of_an_old_enough_kernel_is_there(t: MapType) -> None:
    got = features.have_map_type(t)
    assert _agrees_with_version(t, MAP_MIN_KERNEL[t.name]).available is got
    assert features.have_map_type(t) is got  # cached
    assert features.have_map_type(t.name.lower()) is got


def test_map_type_probe_answers_false_for_unknown_types() -> None:
    assert features.have_map_type("no_such_map_type") is False
    assert features.have_map_type(4000) is False


@pytest.mark.parametrize("t", [ProgType.SOCKET_FILTER, ProgType.XDP, ProgType.SCHED_CLS, ProgType.TRACEPOINT,
                               ProgType.RAW_TRACEPOINT, ProgType.CGROUP_SKB, ProgType.CGROUP_SOCK_ADDR,
                               ProgType.CGROUP_SOCKOPT, ProgType.SK_LOOKUP, ProgType.SYSCALL, ProgType.TRACING,
                               ProgType.NETFILTER, ProgType.STRUCT_OPS, ProgType.PERF_EVENT, ProgType.KPROBE])
def test_program_types(t: ProgType) -> None:
    assert _agrees_with_version(t, PROG_MIN_KERNEL[t.name]).available is features.have_prog_type(t)


@pytest.mark.parametrize(("helper", "since"), [("ringbuf_output", "5.8"), ("for_each_map_elem", "5.13"),
                                               ("loop", "5.17"), ("user_ringbuf_drain", "6.1")])
def test_helper_probe_follows_the_kernel_version(helper: str, since: str) -> None:
    assert features.HELPER_MIN_KERNEL[helper] == since
    got = _agrees_with_version(f"helper:{helper}", since).available
    assert features.have_helper("raw_tracepoint", helper) is got
    assert features.have_helper(ProgType.RAW_TRACEPOINT, features.HelperId[helper]) is got


def test_helper_probe_knows_program_types_and_unknown_helpers() -> None:
    assert features.have_helper("socket_filter", "map_lookup_elem") is True
    assert features.have_helper("socket_filter", "xdp_adjust_head") is False  # XDP only
    assert features.have_helper("xdp", "xdp_adjust_head") is True
    assert features.have_helper("xdp", 100_000) is False
    assert features.have_helper(4000, "map_lookup_elem") is False
    with pytest.raises(ValueError):
        features.have_helper("xdp", "no_such_helper")


@pytest.mark.quick
def test_link_and_attach_probes_follow_the_kernel_version() -> None:
    assert _agrees_with_version("bpf_link_perf_event", "5.15").available is features.have_bpf_link_perf_event()
    assert _agrees_with_version("tcx", "6.6").available is features.have_tcx()
    assert _agrees_with_version("hash_lookup_and_delete", "5.14").available is features.have_hash_lookup_and_delete()


@pytest.mark.quick
def test_btf_kinds_follow_the_kernel_version() -> None:
    for kind, since in features.BTF_KIND_MIN_KERNEL.items():
        assert _agrees_with_version(f"btf:{kind}", since).available is features.have_btf_kind(kind), kind


@pytest.mark.quick
def test_trampoline_lsm_and_kprobe_probes_agree_with_the_kernel() -> None:
    """These depend on the configuration as much as the version; check them against the kernel itself."""
    from bpfkit._sys.perf_event import kprobe_support

    if kprobe_support() is None:
        assert features.have_kprobes() is False
    elif not features.have_kprobes():  # there, but refused to this process: the probe says why
        assert features.check("kprobes").cause in (features.Cause.LOCKDOWN, features.Cause.CAPABILITY,
                                                   features.Cause.REFUSED)
    lsms = host.active_lsms()
    if lsms is not None and "bpf" not in lsms:
        assert features.have_bpf_lsm() is False
    if features.have_bpf_lsm() or features.have_fmod_ret():
        assert features.have_trampolines() is True
    if not _new_enough("5.5"):
        assert features.have_trampolines() is False


def test_program_type_probe_answers_false_for_unknown_types() -> None:
    assert features.have_prog_type(4000) is False


def test_batch_and_mmap_probes() -> None:
    assert features.have_batch_ops() is True
    assert features.have_mmapable_arrays() is True


def test_require() -> None:
    features.require(MapType.HASH)
    features.require("map:ringbuf")
    features.require(ProgType.XDP)
    features.require("prog:socket_filter")
    features.require("batch_ops")
    features.require("mmapable_arrays")
    if features.have_map_type("insn_array"):  # Linux 6.19 and later
        features.require("map:insn_array")
    else:
        with pytest.raises(NotSupportedError) as ei:
            features.require("map:insn_array")
        assert ei.value.min_kernel == "6.19" and ei.value.feature == "map type insn_array"
    with pytest.raises(ValueError):
        features.require("warp_drive")
    with pytest.raises(ValueError):
        features.require("kfunc:foo")
    with pytest.raises(ValueError):
        features.require("btf:no_such_kind")
    with pytest.raises(ValueError):
        features.require("helper:no_such_helper")


def test_require_names_the_minimum_version_of_what_is_missing() -> None:
    for feature, have, label, since in [
        ("helper:loop", features.have_helper("raw_tracepoint", "loop"), "helper bpf_loop in raw_tracepoint programs",
         "5.17"),
        ("btf:enum64", features.have_btf_kind("ENUM64"), "BTF kind ENUM64", "6.0"),
        ("tcx", features.have_tcx(), "tcx links", "6.6"),
        ("bpf_link_perf_event", features.have_bpf_link_perf_event(), "BPF links for perf events", "5.15"),
        ("trampolines", features.have_trampolines(), "BPF trampolines (fentry/fexit/fmod_ret)", "5.5"),
    ]:
        if have:
            features.require(feature)
            continue
        with pytest.raises(NotSupportedError) as ei:
            features.require(feature)
        assert (ei.value.feature, ei.value.min_kernel) == (label, since)


def _check_without_sys_admin(monkeypatch: pytest.MonkeyPatch, name: str, probe: Any, paranoid: int) -> features.Support:
    """features.check(name) afresh for a process with every capability but CAP_SYS_ADMIN, at perf_event_paranoid
    ``paranoid``; the cached probe and its reason are forgotten afterwards."""
    from bpfkit._sys import perf_event, privilege

    monkeypatch.setattr(perf_event, "current_paranoid", lambda: paranoid)
    monkeypatch.setattr(host, "has_capability", lambda cap: cap != host.CAP_SYS_ADMIN)
    monkeypatch.setattr(privilege, "has_capability", lambda cap: cap != host.CAP_SYS_ADMIN)  # perf_event_open's view
    probe.cache_clear()
    try:
        return features.check(name)
    finally:
        probe.cache_clear()
        features._REFUSALS.pop(features._FEATURE_LABEL[name], None)


@pytest.mark.parametrize(("paranoid", "errno_", "cause"), [
    (3, errno.EACCES, "refused"),  # Debian/Ubuntu's level 3: CAP_PERFMON is not enough
    (2, errno.EPERM, None),  # mainline levels: a capability or lockdown (this host's mode decides)
])
def test_kprobes_refused_to_this_process_are_no_with_the_reason(
        monkeypatch: pytest.MonkeyPatch, paranoid: int, errno_: int, cause: str | None) -> None:
    """A kernel with a kprobe PMU that refuses this process a kprobe: the probe answers no and says why."""
    from bpfkit.errors import BpfPermissionError

    def refused(func: str, *, retprobe: bool, offset: int = 0) -> int:
        raise BpfPermissionError(errno_, command="perf_event_open", target=f"kprobe {func}")

    monkeypatch.setattr(perf_event, "kprobe_support", lambda: "pmu")
    monkeypatch.setattr(perf_event, "open_kprobe_event", refused)
    s = _check_without_sys_admin(monkeypatch, "kprobes", features.have_kprobes, paranoid)
    assert not s.available
    if cause is None:
        cause = "lockdown" if host.lockdown_mode() not in (None, "none") else "refused"
    assert s.cause == features.Cause(cause)
    if paranoid > 2:
        assert "kernel.perf_event_paranoid=3" in s.reason


def test_perf_events_refused_by_paranoid_three_are_no_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """A perf_event_open refused under Debian/Ubuntu's perf_event_paranoid=3: no, and the sysctl named."""
    from bpfkit._sys import perf_event
    from bpfkit.errors import BpfPermissionError

    def refused(*_a: object, **_k: object) -> int:
        raise BpfPermissionError(errno.EACCES, command="perf_event_open", target="probe BPF output event")

    monkeypatch.setattr(perf_event, "perf_event_open", refused)
    s = _check_without_sys_admin(monkeypatch, "perf_events", features.have_perf_events, 3)
    assert (s.available, s.cause) == (False, features.Cause.REFUSED)
    assert "kernel.perf_event_paranoid=3" in s.reason
