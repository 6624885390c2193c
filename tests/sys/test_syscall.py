"""The syscall chokepoint, the errno table and Fd ownership, on the real kernel."""

from __future__ import annotations

import ctypes
import errno
import gc
import os

import pytest

from bpfkit._sys import Fd, commands
from bpfkit._uapi import MapType, UpdateFlags
from bpfkit.errors import BpfPermissionError, KernelError

pytestmark = pytest.mark.kernel


def test_create_update_lookup_raw() -> None:
    with Fd(commands.map_create(MapType.HASH, 4, 8, 16, name="raw_hash"), "map") as fd:
        k = ctypes.c_uint32(7)
        v = ctypes.c_uint64(99)
        out = ctypes.c_uint64()
        commands.map_update_elem(fd.fd, ctypes.addressof(k), ctypes.addressof(v), UpdateFlags.NOEXIST)
        commands.map_lookup_elem(fd.fd, ctypes.addressof(k), ctypes.addressof(out))
        assert out.value == 99
        with pytest.raises(KernelError) as ei:
            commands.map_update_elem(fd.fd, ctypes.addressof(k), ctypes.addressof(v), UpdateFlags.NOEXIST, target="map 'raw_hash'")
        assert ei.value.errno == errno.EEXIST
        assert ei.value.command == "BPF_MAP_UPDATE_ELEM"
        assert ei.value.target == "map 'raw_hash'"
        assert isinstance(ei.value, OSError)


def test_bad_fd_is_ebadf() -> None:
    k = ctypes.c_uint32(0)
    with pytest.raises(KernelError) as ei:
        commands.map_lookup_elem(987654, ctypes.addressof(k), ctypes.addressof(k))
    assert ei.value.errno == errno.EBADF


def test_invalid_map_attrs_are_einval() -> None:
    with pytest.raises(KernelError) as ei:
        commands.map_create(MapType.HASH, 0, 8, 16)
    assert ei.value.errno == errno.EINVAL


def test_permission_error_class() -> None:
    from bpfkit._sys.syscall import error_for
    from bpfkit._uapi import Cmd

    exc = error_for(errno.EPERM, Cmd.MAP_CREATE, "map 'x'")
    assert isinstance(exc, BpfPermissionError) and isinstance(exc, PermissionError)
    assert "CAP_BPF" in str(exc)


def test_fd_warns_when_leaked() -> None:
    fd = os.open("/dev/null", os.O_RDONLY)
    f = Fd(fd, "test object")
    with pytest.warns(ResourceWarning):
        del f
        gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_fd_close_is_idempotent_and_guards_use() -> None:
    f = Fd(os.open("/dev/null", os.O_RDONLY), "thing")
    f.close()
    f.close()
    assert f.closed
    with pytest.raises(ValueError, match="thing is closed"):
        f.fileno()
