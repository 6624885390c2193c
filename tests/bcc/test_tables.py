"""BCC tables over a map: ctypes keys and values, arrays, per-CPU values, prog arrays, histograms.

The map here is an in-memory stand-in with the element semantics of the kernel's maps (absent
keys, NOEXIST/EXIST, arrays that always hold every index); test_bpf.py runs the same tables on
real maps.
"""

from __future__ import annotations

import ctypes as ct
import io
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import pytest

from bpfkit._uapi import MapType, UpdateFlags
from bpfkit.bcc import table as T
from bpfkit.bcc._hist import format_linear_hist, format_log2_hist
from bpfkit.errors import MapKeyError


class FakeMap:
    """Byte-level element operations with the kernel's semantics for hash, array, queue maps."""

    def __init__(self, mtype: MapType, key_size: int, value_size: int, max_entries: int, ncpu: int = 1) -> None:
        self.type = mtype
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.stride = (value_size + 7) // 8 * 8 if ncpu > 1 else value_size
        self.ncpu = ncpu
        self.data: dict[bytes, bytes] = {}
        self.queue: list[bytes] = []
        if mtype in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY):
            for i in range(max_entries):
                if mtype != MapType.PROG_ARRAY:
                    self.data[i.to_bytes(4, "little")] = bytes(self.stride * ncpu)

    @property
    def fd(self) -> int:
        return -1

    def lookup_raw(self, key: Any, flags: int = 0) -> bytes:
        if key is None:
            if not self.queue:
                raise MapKeyError(None)
            return self.queue[0]
        try:
            return self.data[key]
        except KeyError:
            raise MapKeyError(key) from None

    def lookup_and_delete(self, key: Any = None, flags: int = 0) -> bytes:
        if not self.queue:
            raise MapKeyError(None)
        return self.queue.pop(0)

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        if key is None:
            self.queue.append(bytes(value))
            return
        assert len(key) == self.key_size, (len(key), self.key_size)
        assert len(value) == self.stride * self.ncpu, (len(value), self.stride * self.ncpu)
        if flags == UpdateFlags.NOEXIST and key in self.data:
            raise FileExistsError(key)
        if flags == UpdateFlags.EXIST and key not in self.data:
            raise MapKeyError(key)
        if self.type == MapType.ARRAY and int.from_bytes(key, "little") >= self.max_entries:
            raise IndexError(key)
        self.data[key] = bytes(value)

    def delete(self, key: Any) -> None:
        if self.type in (MapType.ARRAY, MapType.PERCPU_ARRAY):
            raise OSError(22, "arrays cannot delete")
        try:
            del self.data[key]
        except KeyError:
            raise MapKeyError(key) from None

    def items(self, *, batch: bool | None = None, raw: bool = False) -> Iterator[tuple[Any, Any]]:
        assert raw
        yield from list(self.data.items())


class KeyT(ct.Structure):
    _fields_ = [("pid", ct.c_uint), ("comm", ct.c_char * 8)]


def hash_table(ktype: Any = ct.c_ulonglong, vtype: Any = ct.c_ulonglong) -> T.TableBase:
    return T.Table(None, FakeMap(MapType.HASH, ct.sizeof(ktype), ct.sizeof(vtype), 64), "h", ktype, vtype)


def test_hash_table_is_a_mapping_of_ctypes() -> None:
    t = hash_table()
    assert isinstance(t, T.HashTable)
    t[ct.c_ulonglong(1)] = ct.c_ulonglong(10)
    t[2] = 20
    t[t.Key(3)] = t.Leaf(30)
    assert t[1].value == 10 and t[ct.c_ulonglong(2)].value == 20
    assert sorted((k.value, v.value) for k, v in t.items()) == [(1, 10), (2, 20), (3, 30)]
    assert len(t) == 3 and sorted(k.value for k in t.keys()) == [1, 2, 3]
    assert sorted(v.value for v in t.values()) == [10, 20, 30]
    assert 2 in t and 4 not in t
    assert t.get(4) is None
    del t[2]
    with pytest.raises(KeyError):
        t[2]
    with pytest.raises(KeyError):
        del t[2]
    t.clear()
    assert len(t) == 0


def test_struct_keys_and_conversions() -> None:
    t = hash_table(KeyT, ct.c_uint)
    k = KeyT(7, b"bash")
    t[k] = 5
    assert t[KeyT(7, b"bash")].value == 5
    (key, val), = t.items()
    assert key.pid == 7 and key.comm == b"bash" and val.value == 5
    with pytest.raises(ValueError, match="12 bytes"):
        t[ct.c_uint(1)] = 1
    with pytest.raises(TypeError):
        t["seven"] = 1
    with pytest.raises(TypeError):
        t[1] = 1  # an int cannot be a struct key
    t[bytes(k)] = b"\x06\x00\x00\x00"  # exact-size bytes always work
    assert t[k].value == 6


def test_array_semantics() -> None:
    t = T.Table(None, FakeMap(MapType.ARRAY, 4, 8, 4), "a", ct.c_int, ct.c_ulonglong)
    assert isinstance(t, T.Array)
    assert len(t) == 4 and [k.value for k in t] == [0, 1, 2, 3]
    t[1] = 5
    assert t[1].value == 5 and t[ct.c_int(1)].value == 5
    del t[1]  # deleting from an array zeroes the element
    assert t[1].value == 0
    with pytest.raises(IndexError):
        t[4] = 1
    t[2] = 9
    t.clear()
    assert [v.value for v in t.values()] == [0, 0, 0, 0]


def test_prog_array_takes_fds_as_ctypes_ints_as_document_004() -> None:
    m = FakeMap(MapType.PROG_ARRAY, 4, 4, 300)
    t = T.Table(None, m, "syscall", ct.c_uint, ct.c_uint)
    assert isinstance(t, T.ProgArray)
    t[ct.c_int(59)] = ct.c_int(17)
    t[222] = 18

    class Fn:
        fd = 19

    t[ct.c_int(223)] = Fn()
    assert m.data == {(59).to_bytes(4, "little"): (17).to_bytes(4, "little"),
                      (222).to_bytes(4, "little"): (18).to_bytes(4, "little"),
                      (223).to_bytes(4, "little"): (19).to_bytes(4, "little")}
    del t[ct.c_int(59)]
    assert (59).to_bytes(4, "little") not in m.data


def test_percpu_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(T, "_possible_cpus", lambda: 3)
    m = FakeMap(MapType.PERCPU_HASH, 4, 4, 16, ncpu=3)
    t = T.Table(None, m, "p", ct.c_uint, ct.c_uint)
    assert isinstance(t, T.PerCpuHash)
    t[1] = [1, 2, 3]
    assert m.data[(1).to_bytes(4, "little")] == b"".join(v.to_bytes(4, "little") + bytes(4) for v in (1, 2, 3))
    vals = t[1]
    assert list(vals) == [1, 2, 3] and isinstance(vals, ct.Array)
    assert t.sum(1).value == 6 and t.max(1).value == 3 and t.average(1) == 2.0
    with pytest.raises(ValueError, match="3 values"):
        t[2] = [1, 2]
    r = T.Table(None, m, "p", ct.c_uint, ct.c_uint, reducer=lambda a, b: a + b)
    assert r[1] == 6


def test_queue() -> None:
    t = T.Table(None, FakeMap(MapType.QUEUE, 0, 4, 8), "q", ct.c_uint, ct.c_uint)
    assert isinstance(t, T.QueueStack)
    t.push(1)
    t.push(ct.c_uint(2))
    assert t.peek().value == 1
    assert [v.value for v in t.values()] == [1, 2]
    with pytest.raises(KeyError):
        t.pop()
    with pytest.raises(TypeError):
        t[0]


def test_event_decoding() -> None:
    class Ev(ct.Structure):
        _fields_ = [("pid", ct.c_int), ("comm", ct.c_char * 4)]

    t = T.Table(None, FakeMap(MapType.PERF_EVENT_ARRAY, 4, 4, 2), "events", ct.c_int, ct.c_uint)
    assert isinstance(t, T.PerfEventArray)
    with pytest.raises(TypeError, match="type of its events is unknown"):
        t.event(b"")
    t._event_class = Ev
    raw = (42).to_bytes(4, "little") + b"sh\0\0"
    buf = ct.create_string_buffer(raw, len(raw))
    for data in (raw, memoryview(raw), ct.cast(buf, ct.c_void_p), ct.addressof(buf)):
        e = t.event(data)
        assert e.pid == 42 and e.comm == b"sh"


def hist_table(values: dict[int, int]) -> T.TableBase:
    t = T.Table(None, FakeMap(MapType.ARRAY, 4, 8, 64), "dist", ct.c_int, ct.c_ulonglong)
    for k, v in values.items():
        t[k] = v
    return t


def test_print_log2_hist_is_bccs_format() -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        hist_table({1: 1, 2: 4, 4: 2}).print_log2_hist("usecs")
    assert out.getvalue().splitlines() == [
        "     usecs               : count     distribution",
        "         0 -> 1          : 1        |**********                              |",
        "         2 -> 3          : 4        |****************************************|",
        "         4 -> 7          : 0        |                                        |",
        "         8 -> 15         : 2        |********************                    |",
    ]


def test_log2_hist_wide_and_stripped() -> None:
    vals = [0] * 65
    vals[40] = 3
    vals[3] = 1
    lines = format_log2_hist(vals, "ns")
    assert lines[0] == "               ns                            : count     distribution"
    assert lines[-1] == "        549755813888 -> 1099511627775        : 3        |********************|"
    stripped = format_log2_hist([0, 0, 0, 5, 1], "x", strip_leading_zero=True)
    assert [ln.split(":")[0].strip() for ln in stripped[1:]] == ["4 -> 7", "8 -> 15"]
    assert format_log2_hist([0] * 65) == []


def test_linear_hist() -> None:
    lines = format_linear_hist([0, 2, 0, 1], "slot")
    assert lines == [
        "     slot          : count     distribution",
        "        0          : 0        |                                        |",
        "        1          : 2        |****************************************|",
        "        2          : 0        |                                        |",
        "        3          : 1        |********************                    |",
    ]


def test_sectioned_histogram() -> None:
    class HKey(ct.Structure):
        _fields_ = [("disk", ct.c_char * 4), ("slot", ct.c_ulonglong)]

    t = T.Table(None, FakeMap(MapType.HASH, ct.sizeof(HKey), 8, 64), "dist", HKey, ct.c_ulonglong)
    t[HKey(b"sda", 1)] = 2
    t[HKey(b"sdb", 2)] = 3
    out = io.StringIO()
    with redirect_stdout(out):
        t.print_log2_hist("usecs", "disk", section_print_fn=lambda b: b.decode(), bucket_sort_fn=sorted)
    text = out.getvalue()
    assert "\ndisk = sda\n" in text and "\ndisk = sdb\n" in text
    assert text.index("disk = sda") < text.index("disk = sdb")
    assert "         2 -> 3          : 3        |****************************************|" in text
