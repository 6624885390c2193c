"""Map.from_spec: the one path from a MapSpec to a kernel map (the loader's and the users')."""

from __future__ import annotations

import os

import pytest

import bpfkit
from bpfkit import host
from bpfkit._uapi import MapType
from bpfkit.maps import ArrayMap, HashMap, Map, PerfEventArrayMap, RingBufMap
from bpfkit.obj import MapKind, MapSpec, Pinning
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


def _path(tag: str) -> str:
    return f"/sys/fs/bpf/bpfkit-test-spec-{tag}-{os.getpid()}"


def test_from_spec_creates_the_class_of_its_type() -> None:
    spec = MapSpec(name="counts", type=MapType.HASH, key_size=4, value_size=8, max_entries=16)
    with Map.from_spec(spec) as m:
        assert isinstance(m, HashMap)
        assert (m.name, m.key_size, m.value_size, m.max_entries) == ("counts", 4, 8, 16)
        m[1] = 2
        assert m[1] == 2


def test_from_spec_adjusts_like_libbpf() -> None:
    ring = MapSpec(name="rb", type=MapType.RINGBUF, key_size=0, value_size=0, max_entries=1000)
    with Map.from_spec(ring) as rb:
        assert isinstance(rb, RingBufMap)
        assert rb.max_entries == host.page_size()  # rounded up to a power-of-2 multiple of the page size
    perf = MapSpec(name="events", type=MapType.PERF_EVENT_ARRAY, key_size=4, value_size=4, max_entries=0)
    with Map.from_spec(perf) as pe:
        assert isinstance(pe, PerfEventArrayMap)
        assert pe.max_entries == host.possible_cpus()
    assert ring.max_entries == 1000 and perf.max_entries == 0  # the spec itself is left as written


def test_from_spec_zero_entries_is_a_value_error() -> None:
    spec = MapSpec(name="sized_later", type=MapType.HASH, key_size=4, value_size=4, max_entries=0)
    with pytest.raises(bpfkit.BpfValueError):
        Map.from_spec(spec)


def test_from_spec_writes_and_freezes_data() -> None:
    spec = MapSpec(name=".rodata", type=MapType.ARRAY, key_size=4, value_size=4, max_entries=1,
                   data=b"\x07\x00\x00\x00", kind=MapKind.RODATA)
    with Map.from_spec(spec) as m:
        assert isinstance(m, ArrayMap)
        assert m[0] == 7
        with pytest.raises(bpfkit.KernelError):
            m[0] = 8  # frozen


def test_from_spec_pins_then_reopens_and_checks_the_pin() -> None:
    require("pinning")
    path = _path("pin")
    spec = MapSpec(name="shared", type=MapType.ARRAY, key_size=4, value_size=8, max_entries=4, pinning=Pinning.BY_NAME)
    first = Map.from_spec(spec, pin_path=path)
    try:
        assert first.pinned_path == path and os.path.exists(path)
        first[1] = 5
        with Map.from_spec(spec, pin_path=path) as again:  # already pinned: opened, not created
            assert again.id == first.id and again[1] == 5
        other = MapSpec(name="shared", type=MapType.ARRAY, key_size=4, value_size=4, max_entries=4)
        with pytest.raises(bpfkit.BpfError) as ei:
            Map.from_spec(other, pin_path=path)
        assert not isinstance(ei.value, bpfkit.KernelError)  # refused before anything was created
    finally:
        first.unpin()
        first.close()
    assert not os.path.exists(path)


def test_errors_name_a_map_the_same_way_on_both_paths() -> None:
    spec = MapSpec(name="dup", type=MapType.HASH, key_size=4, value_size=4, max_entries=4)
    with Map.from_spec(spec) as a, Map.create("hash", 4, 4, 4, name="dup") as b:
        assert a._desc == b._desc
        with pytest.raises(bpfkit.KernelError) as ea:
            a.update(1, 1, flags=bpfkit.EXIST)
        with pytest.raises(bpfkit.KernelError) as eb:
            b.update(1, 1, flags=bpfkit.EXIST)
        assert ea.value.target == eb.value.target
