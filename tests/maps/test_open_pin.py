"""Pin/unpin, open by pin, id and fd, and the leak warning, on the real kernel."""

from __future__ import annotations

import gc
import os

import pytest

import bpfkit
from bpfkit._sys import Fd
from bpfkit._sys import commands as C
from bpfkit.maps import ArrayMap, HashMap, Map, map_ids
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


def _path(tag: str) -> str:
    return f"/sys/fs/bpf/bpfkit-test-{tag}-{os.getpid()}"


def test_pin_from_pin_unpin() -> None:
    require("pinning")
    path = _path("pin")
    with Map.create("hash", key_size=4, value_size=8, max_entries=4, name="pinned") as m:
        m[1] = 11
        m.pin(path)
        assert m.pinned_path == path and os.path.exists(path)
        with Map.from_pin(path) as again:
            assert isinstance(again, HashMap)
            assert again.id == m.id and again[1] == 11
            again[2] = 22
            assert again.pinned_path == path
        assert m[2] == 22
        m.unpin()
        assert not os.path.exists(path) and m.pinned_path is None
        m.unpin()  # nothing pinned: no-op


def test_from_pin_read_only() -> None:
    require("pinning")
    path = _path("ro")
    with Map.create("array", key_size=4, value_size=4, max_entries=2, name="ro") as m:
        m.pin(path)
        try:
            with Map.from_pin(path, flags=bpfkit.MapFlags.RDONLY) as ro:
                assert ro[0] == 0
                with pytest.raises(bpfkit.KernelError):
                    ro[0] = 1
        finally:
            m.unpin()


def test_from_id_and_map_ids() -> None:
    require("object_ids")
    with Map.create("array", key_size=4, value_size=4, max_entries=2, name="byid") as m:
        assert m.id in map_ids()
        with Map.from_id(m.id) as again:
            assert isinstance(again, ArrayMap) and again.name == "byid"
        with ArrayMap.from_id(m.id) as typed:
            assert typed.max_entries == 2
        with pytest.raises(TypeError):
            HashMap.from_id(m.id)


def test_from_fd_takes_ownership_or_dups() -> None:
    raw = C.map_create(bpfkit.MapType.HASH, 4, 4, 2, name="fromfd")
    m = Map.from_fd(raw)
    assert m.fd == raw and m.name == "fromfd"
    with Map.from_fd(m) as dup:  # another object with fileno(): duplicated
        assert dup.fd != m.fd and dup.id == m.id
    with Map.from_fd(m.fd, dup=True) as dup2:
        assert dup2.fd != m.fd
    m.close()
    with pytest.raises(OSError):
        os.fstat(raw)  # owned and closed
    owned = Fd(C.map_create(bpfkit.MapType.ARRAY, 4, 4, 1), "map")
    with Map.from_fd(owned) as m2:
        assert owned.closed is True and m2.type == bpfkit.MapType.ARRAY  # Fd ownership moved


def test_from_fd_refuses_non_maps() -> None:
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError, match="not a BPF map"):
            Map.from_fd(r, dup=True)
        with pytest.raises(ValueError, match="not a BPF map"):
            Map.from_fd(r)
        os.fstat(r)  # not taken over: still open
    finally:
        os.close(r)
        os.close(w)


def test_leaked_map_warns() -> None:
    import warnings

    with warnings.catch_warnings():  # garbage earlier tests left (a socket, say) is not this test's to judge
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    m = Map.create("hash", key_size=4, value_size=4, max_entries=1, name="leaky")
    fd = m.fd
    with pytest.warns(ResourceWarning, match="leaky"):
        del m
        gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)
