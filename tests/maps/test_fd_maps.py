"""Maps whose values are fds: map-in-map, program arrays, perf event arrays, cgroup arrays (real kernel)."""

from __future__ import annotations

import errno
import os

import pytest
from maps_helpers import Prog, cgroup2_root, load_trivial, perf_event_open_bpf_output, prog_id

import bpfkit
from bpfkit import host
from bpfkit.maps import (
    ArrayOfMapsMap,
    CgroupArrayMap,
    HashOfMapsMap,
    Map,
    PerfEventArrayMap,
    ProgArrayMap,
)
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


def test_array_of_maps() -> None:
    with Map.create("array", key_size=4, value_size=4, max_entries=2, name="inner") as inner, \
         Map.create("array_of_maps", key_size=4, max_entries=4, inner_map=inner, name="outer") as outer:
        assert isinstance(outer, ArrayOfMapsMap) and outer.value_size == 4
        inner[1] = 42
        outer[0] = inner
        assert outer[0] == inner.id
        assert 0 in outer and 1 not in outer
        assert list(outer.items()) == [(0, inner.id)]
        del outer[0]
        with pytest.raises(KeyError):
            outer[0]
        with pytest.raises(IndexError):
            outer[4] = inner


def test_get_map_opens_the_inner_map_by_id() -> None:
    require("object_ids")  # a map of maps reads back ids; opening one is BPF_MAP_GET_FD_BY_ID
    with Map.create("array", key_size=4, value_size=4, max_entries=2, name="inner") as inner, \
         Map.create("array_of_maps", key_size=4, max_entries=4, inner_map=inner, name="outer") as outer:
        inner[1] = 42
        outer[0] = inner
        with outer.get_map(0) as again:
            assert again.id == inner.id and again[1] == 42


def test_hash_of_maps_takes_fds_and_maps() -> None:
    with Map.create("hash", key_size=4, value_size=8, max_entries=2, name="tmpl") as tmpl, \
         Map.create("hash", key_size=4, value_size=8, max_entries=2, name="in2") as other, \
         Map.create("hash_of_maps", key_size=8, max_entries=4, inner_map=tmpl.fd, name="hom") as hom:
        assert isinstance(hom, HashOfMapsMap)
        hom[1] = tmpl
        hom[2] = other.fd
        assert dict(hom.items()) == {1: tmpl.id, 2: other.id}
        with pytest.raises(bpfkit.KernelError) as ei:
            hom.update(1, other, flags=bpfkit.NOEXIST)
        assert ei.value.errno == errno.EEXIST
        assert hom.pop(2) == other.id


def test_map_in_map_needs_inner_map() -> None:
    with pytest.raises(ValueError, match="inner_map"):
        Map.create("array_of_maps", key_size=4, max_entries=4)


def test_inner_map_must_match_template() -> None:
    with Map.create("array", key_size=4, value_size=4, max_entries=2, name="tmpl2") as tmpl, \
         Map.create("array", key_size=4, value_size=8, max_entries=2, name="wrong") as wrong, \
         Map.create("array_of_maps", key_size=4, max_entries=2, inner_map=tmpl, name="aom2") as outer:
        with pytest.raises(bpfkit.KernelError) as ei:
            outer[0] = wrong
        assert ei.value.errno == errno.EINVAL


def test_prog_array(prog: Prog) -> None:
    with Map.create("prog_array", key_size=4, max_entries=8, name="jmp") as pa:
        assert isinstance(pa, ProgArrayMap) and pa.value_size == 4
        pa[3] = prog
        assert pa[3] == prog_id(prog.fd)
        assert list(pa.keys()) == [3]
        with load_trivial(name="second") as fd2:
            pa[4] = fd2.fd  # a raw fd works too
            assert pa[4] == prog_id(fd2.fd)
        del pa[3]
        assert 3 not in pa
        with pytest.raises(bpfkit.KernelError):
            with Map.create("array", key_size=4, value_size=4, max_entries=1, name="notprog") as m:
                pa[5] = m  # a map is not a program


def test_perf_event_array() -> None:
    require("perf_events")
    n = host.possible_cpus()
    with Map.create("perf_event_array", name="events") as pea:
        assert isinstance(pea, PerfEventArrayMap) and pea.max_entries == n
        events = [perf_event_open_bpf_output(cpu) for cpu in range(n)]
        try:
            for cpu, ev in enumerate(events):
                pea[cpu] = ev
            with pytest.raises(bpfkit.KernelError) as ei:
                pea[0]  # the kernel cannot read perf event slots back
            assert ei.value.errno in (524, errno.EOPNOTSUPP)
            del pea[0]
            with pytest.raises(KeyError):
                del pea[0]
        finally:
            for ev in events:
                ev.close()


def test_cgroup_array() -> None:
    fd = os.open(cgroup2_root(), os.O_RDONLY | os.O_DIRECTORY)
    try:
        with Map.create("cgroup_array", key_size=4, max_entries=2, name="cgs") as ca:
            assert isinstance(ca, CgroupArrayMap)
            ca[0] = fd
            del ca[0]
            with pytest.raises(KeyError):
                del ca[0]
            with pytest.raises(bpfkit.KernelError):
                ca[1] = 0  # stdin is not a cgroup
    finally:
        os.close(fd)
