"""Every misuse of issue 2 item 5, on the real kernel: assert on types and fields, not message text."""

from __future__ import annotations

import errno
import os
import pickle

import pytest

import bpfkit
from bpfkit import features
from bpfkit.maps import Map
from bpfkit.testing import require

pytestmark = pytest.mark.kernel

DESC = "map 'counts' (hash, key 4 B, value 8 B)"


@pytest.fixture
def counts() -> Map:
    m = Map.create("hash", key_size=4, value_size=8, max_entries=2, name="counts")
    yield m
    m.close()


def test_noexist_on_existing_key(counts: Map) -> None:
    counts[1] = 1
    with pytest.raises(bpfkit.KernelError) as ei:
        counts.update(1, 2, flags=bpfkit.NOEXIST)
    e = ei.value
    assert e.errno == errno.EEXIST and e.errno_name == "EEXIST"
    assert e.command == "BPF_MAP_UPDATE_ELEM"
    assert e.target == DESC
    assert isinstance(e, OSError)
    assert counts[1] == 1


def test_exist_on_missing_key(counts: Map) -> None:
    with pytest.raises(bpfkit.KernelError) as ei:
        counts.update(5, 2, flags=bpfkit.EXIST)
    assert ei.value.errno == errno.ENOENT and ei.value.target == DESC


def test_delete_on_array() -> None:
    with Map.create("array", key_size=4, value_size=4, max_entries=2, name="arr") as a:
        with pytest.raises(bpfkit.KernelError) as ei:
            a.delete(0)
        assert ei.value.errno == errno.EINVAL and ei.value.command == "BPF_MAP_DELETE_ELEM"
        with pytest.raises(TypeError):
            del a[0]


def test_full_map(counts: Map) -> None:
    counts[1] = 1
    counts[2] = 2
    with pytest.raises(bpfkit.KernelError) as ei:
        counts[3] = 3
    assert ei.value.errno == errno.E2BIG and ei.value.target == DESC


def test_wrong_sizes_are_value_errors_before_any_syscall(counts: Map, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_syscall() -> int:
        raise AssertionError("a syscall was made")

    for attr in ("_c_lookup", "_c_update", "_c_delete"):
        monkeypatch.setattr(counts, attr, no_syscall)
    monkeypatch.setattr("bpfkit._sys.commands.bpf", lambda *a, **k: no_syscall())  # every command goes through it
    with pytest.raises(ValueError):
        counts[b"\x01\x02\x03"]
    with pytest.raises(ValueError):
        counts[b"\x01\x02\x03\x04"] = b"\x00" * 7
    with pytest.raises(ValueError):
        del counts[bytearray(5)]
    with pytest.raises(ValueError):
        counts.update_batch([(1, b"\x00")])
    with pytest.raises(TypeError):
        counts["one"] = 1
    with pytest.raises(OverflowError):
        counts[-1] = 0
    with pytest.raises(OverflowError):
        counts[1] = 2**64


def test_closed_map_names_itself() -> None:
    m = Map.create("hash", key_size=4, value_size=8, max_entries=2, name="counts")
    m[1] = 1
    m.close()
    m.close()  # idempotent
    assert m.closed
    ops = (lambda: m[1], lambda: m.update(1, 2), lambda: m.delete(1), lambda: list(m.keys()),
           m.info, lambda: m.fd, m.freeze, m.lookup_batch)
    for op in ops:
        with pytest.raises(ValueError) as ei:
            op()
        assert "'counts'" in str(ei.value) and "closed" in str(ei.value)


def test_missing_key(counts: Map) -> None:
    with pytest.raises(bpfkit.MapKeyError) as ei:
        counts[9]
    assert isinstance(ei.value, KeyError)
    assert ei.value.key == 9 and ei.value.map_name == "counts"
    with pytest.raises(KeyError):
        del counts[9]


def test_missing_pin() -> None:
    require("pinning")  # else the bpffs itself is out of reach (EACCES), not the pin missing
    path = "/sys/fs/bpf/bpfkit-test-does-not-exist"
    with pytest.raises(bpfkit.KernelError) as ei:
        Map.from_pin(path)
    assert ei.value.errno == errno.ENOENT
    assert path in (ei.value.target or "")


def test_missing_id() -> None:
    require("object_ids")  # else the kernel refuses any id (EPERM) before looking it up
    with pytest.raises(bpfkit.KernelError) as ei:
        Map.from_id(0x7FFFFFF0)
    assert ei.value.errno == errno.ENOENT


def test_pin_twice(counts: Map) -> None:
    require("pinning")
    path = f"/sys/fs/bpf/bpfkit-test-twice-{os.getpid()}"
    counts.pin(path)
    try:
        with pytest.raises(bpfkit.KernelError) as ei:
            counts.pin(path)
        assert ei.value.errno == errno.EEXIST
    finally:
        counts.unpin()
    assert not os.path.exists(path)


def _drop_every_capability() -> None:
    """capset(2) with empty sets: what a forked child of root, of a capabilities-only user or of a user
    namespace's root (whose BPF token checks capabilities in its namespace) has left is no privilege at all."""
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    data = (Data * 2)()
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:  # _LINUX_CAPABILITY_VERSION_3
        raise OSError(ctypes.get_errno(), "capset")


def test_no_privileges_in_unprivileged_child() -> None:
    """Drop to nobody (where this process may) and every capability in a forked child; the parent checks
    what the child saw."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        result: dict[str, object] = {}
        try:
            if os.getuid() == 0:
                try:
                    os.setresgid(65534, 65534, 65534)
                    os.setresuid(65534, 65534, 65534)
                except OSError:  # a user namespace that maps no uid 65534: the capabilities still go
                    pass
            _drop_every_capability()
            try:
                Map.create("hash", key_size=4, value_size=8, max_entries=2, name="denied")
                result["raised"] = None
            except bpfkit.BpfPermissionError as exc:
                result.update(raised="BpfPermissionError", errno=exc.errno, hint="CAP_BPF" in str(exc),
                              is_permission=isinstance(exc, PermissionError), command=exc.command)
            except BaseException as exc:  # noqa: BLE001
                result["raised"] = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(w, pickle.dumps(result))
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    result = pickle.loads(data)
    assert result.get("raised") == "BpfPermissionError", result
    assert result["errno"] in (errno.EPERM, errno.EACCES)
    assert result["hint"] and result["is_permission"]
    assert result["command"] == "BPF_MAP_CREATE"


def test_unknown_and_unsupported_types() -> None:
    with pytest.raises(ValueError):
        Map.create("no_such_type", key_size=4, value_size=4, max_entries=1)
    if features.check("map:insn_array"):  # Linux 6.19: the probe decides, not the version
        with Map.create("insn_array", key_size=4, value_size=16, max_entries=1) as m:
            assert m.value_size == 16  # created: tests/maps/test_insn_array.py covers the type itself
    else:
        with pytest.raises(bpfkit.NotSupportedError) as ei:
            Map.create("insn_array", key_size=4, value_size=16, max_entries=1)
        assert ei.value.min_kernel == "6.19"
    with pytest.raises(bpfkit.KernelError) as ki:
        Map.create(999, key_size=4, value_size=4, max_entries=1)
    assert ki.value.errno == errno.EINVAL


def test_missing_sizes_are_value_errors() -> None:
    with pytest.raises(ValueError, match="key_size"):
        Map.create("hash", value_size=4, max_entries=1)
    with pytest.raises(ValueError, match="max_entries"):
        Map.create("hash", key_size=4, value_size=4)
    with pytest.raises(TypeError):
        from bpfkit.maps import ArrayMap

        ArrayMap.create("hash", key_size=4, value_size=4, max_entries=1)


def test_kernel_rejects_bad_attributes_with_kernel_error() -> None:
    with pytest.raises(bpfkit.KernelError) as ei:
        Map.create("hash", key_size=0, value_size=4, max_entries=1)
    assert ei.value.errno == errno.EINVAL and ei.value.command == "BPF_MAP_CREATE"
