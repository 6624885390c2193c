"""The ring buffer consumer loop on hand-built ring memory (no kernel): BUSY, DISCARD, wrap, alignment;
and the struct-format rewriting behind typed records."""

from __future__ import annotations

import ctypes
import struct
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpfkit import ringbuf as RB
from bpfkit._bufreader import RecordCodec
from bpfkit.maps._codec import explicit_format as _explicit_format
from bpfkit.ringbuf import BUSY_BIT, DISCARD_BIT, Ring


class FakeRing:
    """Ring memory laid out as the kernel does (positions, 8-byte headers, data area mapped twice)."""

    def __init__(self, size: int = 256, rtype: object = None) -> None:
        self.size = size
        self.mem = bytearray(2 * size)
        self.cons = bytearray(8)
        self.prod = bytearray(8)
        self.pos = 0
        ring = Ring.__new__(Ring)
        ring.index, ring.name, ring.map_id, ring.size = 0, "fake", 0, size
        ring.callback, ring.codec, ring.records, ring.discarded = None, RecordCodec(rtype, False), 0, 0
        ring._mask = size - 1
        ring._cons = memoryview(self.cons).cast("Q")
        ring._prod = memoryview(self.prod).cast("Q")
        ring._data = memoryview(self.mem)
        ring._hdr = ring._data.cast("I")
        self.ring = ring

    def _put(self, pos: int, data: bytes) -> None:
        for i, b in enumerate(data):
            off = (pos + i) % self.size
            self.mem[off] = b
            self.mem[off + self.size] = b

    def reserve(self, payload: bytes, flags: int = BUSY_BIT) -> int:
        """Write a record at the producer position with header bits ``flags``; returns its position."""
        at = self.pos
        self._put(at, struct.pack("<II", len(payload) | flags, 0) + payload)
        self.pos += (len(payload) + 8 + 7) & ~7
        struct.pack_into("<Q", self.prod, 0, self.pos)
        return at

    def set_header(self, at: int, length: int, flags: int = 0) -> None:
        self._put(at, struct.pack("<I", length | flags))

    def drain(self) -> list[Any]:
        out: list[Any] = []
        self.ring._drain(out.append, None, 1 << 30)
        return out

    @property
    def consumer_pos(self) -> int:
        return int(struct.unpack("<Q", self.cons)[0])


def test_busy_stops_and_discard_skips() -> None:
    f = FakeRing()
    f.reserve(b"a" * 5, 0)
    busy = f.reserve(b"b" * 9)
    f.reserve(b"c" * 3, 0)
    assert f.drain() == [b"aaaaa"]
    assert f.consumer_pos == 16  # 5 + 8 rounded up to 8
    f.set_header(busy, 9, DISCARD_BIT)
    assert f.drain() == [b"ccc"]
    assert f.ring.discarded == 1 and f.ring.records == 2
    assert f.consumer_pos == f.pos


def test_busy_then_commit_delivers_in_order() -> None:
    f = FakeRing()
    first = f.reserve(b"1" * 8)
    f.reserve(b"2" * 8, 0)
    assert f.drain() == [] and f.consumer_pos == 0
    f.set_header(first, 8)
    assert f.drain() == [b"1" * 8, b"2" * 8]


def test_records_straddling_the_end_are_whole() -> None:
    f = FakeRing(64)
    got: list[bytes] = []
    for i in range(40):
        payload = bytes([i]) * (1 + i % 13)
        f.reserve(payload, 0)
        got += f.drain()
        assert got[-1] == payload
    assert f.consumer_pos == f.pos > 8 * 64


@pytest.mark.parametrize("path", ["drain", "iter", "gather"])
def test_every_path_agrees(path: str) -> None:
    f = FakeRing(512)
    expected = []
    for i in range(30):
        payload = struct.pack("<Q", i) * (1 + i % 3)
        flags = DISCARD_BIT if i % 7 == 3 else 0
        f.reserve(payload, flags)
        if not flags:
            expected.append(payload)
        if f.pos - f.consumer_pos > 400:
            break
    if path == "drain":
        got = f.drain()
    elif path == "iter":
        got = list(f.ring._records_iter())
    else:
        assert RB.numpy_or_none() is not None  # numpy is installed in the test environment
        got = []
        while True:  # raw batches end where the record size changes
            parts: list[Any] = []

            def sink(p: Any) -> bool:
                if parts and p.dtype != parts[0].dtype:
                    return False
                parts.append(p)
                return True

            n, commit = f.ring._gather(sink, 1 << 30)
            commit()
            if not n:
                break
            got += [bytes(x) for p in parts for x in p]
    assert got == expected
    assert f.consumer_pos == f.pos


def test_a_callback_stop_publishes_the_position_after_that_record() -> None:
    f = FakeRing()
    for i in range(6):
        f.reserve(bytes([i]) * 8, 0)
    seen: list[bytes] = []
    n, stopped = f.ring._drain(lambda r: seen.append(r) or len(seen) == 4, None, 100)
    assert (n, stopped) == (4, True)
    assert f.consumer_pos == 4 * 16
    assert f.drain() == [bytes([4]) * 8, bytes([5]) * 8]


FORMATS = ["@bHiq", "<bHiq", ">hd", "=3I2x5s", "@cxl?", "!Qf", "@P", "i5xq", "@4s3i"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_explicit_format_keeps_the_layout(fmt: str) -> None:
    order, body, fields, size = _explicit_format(fmt)
    assert struct.calcsize(order + body) == size == struct.calcsize(fmt)
    data = bytes(range(size))
    assert struct.unpack(order + body, data) == struct.unpack(fmt, data)
    # shifted by an offset that breaks native alignment, the explicit format still reads the same fields
    assert struct.unpack_from(order + "12x" + body, b"\0" * 12 + data) == struct.unpack(fmt, data)


@given(st.lists(st.sampled_from("bBhHiIlLqQfd?"), min_size=1, max_size=8), st.sampled_from("@=<>"))
def test_explicit_format_property(codes: list[str], order: str) -> None:
    fmt = order + "".join(codes)
    o, body, fields, size = _explicit_format(fmt)
    data = bytes((i * 7) & 0xFF for i in range(size))
    assert struct.unpack(o + body, data) == struct.unpack(fmt, data)
    assert len(fields) == len(codes)


def test_numpy_dtype_matches_struct() -> None:
    codec = RecordCodec("@bHiq4s", False)
    dt = codec.payload_dtype(0)
    data = bytes(range(dt.itemsize))
    rec = np.frombuffer(data, dt)[0]
    assert tuple(x.item() if hasattr(x, "item") else x for x in rec) == struct.unpack("@bHiq4s", data)


def test_codec_rejects_unknown_types() -> None:
    with pytest.raises(TypeError):
        RecordCodec(1.5, False)
    with pytest.raises(ValueError):
        RecordCodec("<Qz", False)
    with pytest.raises(ValueError):
        RecordCodec("<", False)
    with pytest.raises(ValueError):
        RecordCodec(ctypes.c_uint64, False, size=4)
