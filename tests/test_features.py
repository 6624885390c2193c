"""Feature probes on the real kernel (this kernel is 6.18: everything up to 6.18 must be there)."""

from __future__ import annotations

import pytest

from bpfkit import features, host
from bpfkit._uapi import MAP_MIN_KERNEL, PROG_MIN_KERNEL, MapType, ProgType
from bpfkit.errors import NotSupportedError

pytestmark = pytest.mark.kernel


def _new_enough(v: str) -> bool:
    return host.kernel_version()[:2] >= tuple(int(x) for x in v.split("."))


@pytest.mark.parametrize("t", [t for t in MapType if t != MapType.UNSPEC])
def test_every_map_type_of_an_old_enough_kernel_is_there(t: MapType) -> None:
    got = features.have_map_type(t)
    if _new_enough(MAP_MIN_KERNEL[t.name]) and t not in (MapType.INODE_STORAGE,):
        assert got is True, f"{t.name} is missing though Linux {MAP_MIN_KERNEL[t.name]} has it"
    assert features.have_map_type(t) is got  # cached
    assert features.have_map_type(t.name.lower()) is got


def test_map_type_probe_answers_false_for_unknown_types() -> None:
    assert features.have_map_type("insn_array") is False
    assert features.have_map_type(4000) is False


@pytest.mark.parametrize("t", [ProgType.SOCKET_FILTER, ProgType.XDP, ProgType.SCHED_CLS, ProgType.TRACEPOINT,
                               ProgType.RAW_TRACEPOINT, ProgType.CGROUP_SKB, ProgType.CGROUP_SOCK_ADDR,
                               ProgType.CGROUP_SOCKOPT, ProgType.SK_LOOKUP, ProgType.SYSCALL, ProgType.TRACING,
                               ProgType.NETFILTER, ProgType.STRUCT_OPS, ProgType.PERF_EVENT, ProgType.KPROBE])
def test_program_types(t: ProgType) -> None:
    assert _new_enough(PROG_MIN_KERNEL[t.name])
    assert features.have_prog_type(t) is True


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
    with pytest.raises(NotSupportedError) as ei:
        features.require("map:insn_array")
    assert ei.value.min_kernel == "6.19" and ei.value.feature == "map type insn_array"
    with pytest.raises(ValueError):
        features.require("warp_drive")
    with pytest.raises(ValueError):
        features.require("kfunc:foo")
