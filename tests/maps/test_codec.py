"""Key/value codecs on bytes (pure: no kernel)."""

from __future__ import annotations

import ctypes
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bpfkit.btf import (
    Array,
    Btf,
    Datasec,
    Enum,
    EnumValue,
    Int,
    IntEncoding,
    Member,
    Ptr,
    Struct,
    Typedef,
    Union_,
    Var,
    VarSecinfo,
)
from bpfkit.maps._codec import (
    ArrayCodec,
    BytesCodec,
    CharArrayCodec,
    CtypesCodec,
    FdCodec,
    IntCodec,
    PerCpuCodec,
    StructFormatCodec,
    VoidCodec,
    as_plain,
    btf_ctype,
    make_codec,
)
from bpfkit.maps._lpm import LpmKey, LpmKeyCodec


@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_sizes_only_ints_are_unsigned_and_range_checked(size: int) -> None:
    c = make_codec(None, size)
    assert isinstance(c, IntCodec) and c.size == size
    top = (1 << (8 * size)) - 1
    assert c.decode(c.encode(top)) == top
    with pytest.raises(OverflowError):
        c.encode(top + 1)
    with pytest.raises(OverflowError):
        c.encode(-1)
    with pytest.raises(TypeError):
        c.encode(1.0)
    with pytest.raises(TypeError):
        c.encode("1")


@pytest.mark.parametrize("size", [3, 5, 16])
def test_sizes_only_other_sizes_are_bytes(size: int) -> None:
    c = make_codec(None, size)
    assert isinstance(c, BytesCodec)
    raw = bytes(range(size))
    assert c.decode(c.encode(raw)) == raw
    with pytest.raises(ValueError):
        c.encode(raw[:-1])
    assert isinstance(make_codec(None, 0), VoidCodec)


@pytest.mark.parametrize("spec,size", [
    (None, 4), ("u64", 8), ("s16", 2), ("char[16]", 16), ("u8[6]", 6), ("u32[2][3]", 24), ("<IQ", 12),
    (ctypes.c_int32, 4), (ctypes.c_char * 5, 5), (ctypes.c_uint16 * 3, 6), ("double", 8),
])
def test_exact_size_bytes_always_accepted(spec: object, size: int) -> None:
    c = make_codec(spec, size)
    for raw in (bytes(range(size)), bytearray(range(size)), memoryview(bytes(range(size)))):
        assert c.encode(raw) == bytes(range(size))
    with pytest.raises(ValueError):
        c.encode(b"\x00" * (size + 1))


def test_size_mismatch_is_value_error() -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        make_codec("u32", 8)
    with pytest.raises(ValueError):
        make_codec("no such type")
    with pytest.raises(TypeError):
        make_codec(object())


def test_names() -> None:
    assert make_codec("s32").decode(b"\xff\xff\xff\xff") == -1
    assert make_codec("int").size == 4 and make_codec("unsigned long long").size == 8
    assert make_codec("__u16").decode(b"\x01\x02") == 0x0201
    c = make_codec("char[8]")
    assert isinstance(c, CharArrayCodec)
    assert c.encode("hi") == b"hi\0\0\0\0\0\0" and c.decode(b"hi\0\0\0\0\0\0") == b"hi"
    with pytest.raises(ValueError):
        c.encode("toolongvalue")
    mac = make_codec("u8[6]")
    assert mac.decode(b"\x01\x02\x03\x04\x05\x06") == b"\x01\x02\x03\x04\x05\x06"
    assert mac.encode([1, 2, 3, 4, 5, 6]) == bytes([1, 2, 3, 4, 5, 6])
    grid = make_codec("u16[2][2]")
    assert grid.decode(grid.encode([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    with pytest.raises(ValueError):
        grid.encode([[1, 2]])
    with pytest.raises(OverflowError):
        grid.encode([[1, 2], [3, 70000]])
    assert make_codec("float").decode(make_codec("float").encode(1.5)) == 1.5


def test_struct_formats() -> None:
    c = make_codec("<IQ")
    assert isinstance(c, StructFormatCodec) and c.size == 12
    assert c.decode(c.encode((1, 2))) == (1, 2)
    one = make_codec("<h")
    assert one.decode(one.encode(-2)) == -2
    with pytest.raises(OverflowError):
        c.encode((2**32, 0))
    with pytest.raises(ValueError):
        c.encode((1,))
    with pytest.raises(TypeError):
        c.encode(5)


def test_ctypes_structures() -> None:
    class Pt(ctypes.Structure):
        _fields_ = [("x", ctypes.c_int16), ("y", ctypes.c_uint32)]

    c = make_codec(Pt)
    assert isinstance(c, CtypesCodec) and c.size == 8
    p = c.decode(c.encode({"x": -1, "y": 5}))
    assert (p.x, p.y) == (-1, 5)
    assert c.decode(c.encode((3, 4))).y == 4
    assert c.decode(c.encode(Pt(7, 8))).x == 7
    with pytest.raises(OverflowError):
        c.encode({"x": 40000})
    with pytest.raises(TypeError):
        c.encode({"nope": 1})
    with pytest.raises(TypeError):
        c.encode(3)
    assert as_plain(p) == {"x": -1, "y": 5}
    ints = make_codec(ctypes.c_uint8)
    assert ints.encode(255) == b"\xff"
    arr = make_codec(ctypes.c_uint32 * 2)
    assert isinstance(arr, ArrayCodec) and arr.decode(arr.encode([1, 2])) == [1, 2]


def _btf() -> Btf:
    return Btf.from_types([
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Int("char", 1, IntEncoding.SIGNED),  # 2
        Array(2, 1, 8),  # 3: char[8]
        Int("unsigned char", 1),  # 4
        Array(4, 1, 6),  # 5: u8[6]
        Union_("", 4, [Member("u", 1, 0), Member("b", 4, 0)]),  # 6: anonymous union
        Struct("inner", 8, [Member("a", 1, 0), Member("b", 1, 32)]),  # 7
        Enum("color", 4, [EnumValue("RED", 0), EnumValue("BLUE", 1)]),  # 8
        Ptr(7),  # 9
        Int("__int128 unsigned", 16),  # 10
        Typedef("inner_t", 7),  # 11
        Array(11, 1, 2),  # 12: inner_t[2]
        Struct("outer", 80, [
            Member("id", 1, 0),
            Member("name", 3, 32),
            Member("mac", 5, 96),
            Member("", 6, 160),  # anonymous union at 20
            Member("low", 1, 192, 4),
            Member("high", 1, 196, 12),
            Member("color", 8, 224),
            Member("ptr", 9, 256),
            Member("big", 10, 320),
            Member("pair", 12, 448),
        ], True),  # 13
        Var("counter", 1),  # 14
        Var("label", 3),  # 15
        Datasec(".data", 16, [VarSecinfo(15, 8, 8), VarSecinfo(14, 0, 4)]),  # 16
    ])


def test_btf_struct_layout_and_values() -> None:
    btf = _btf()
    cls = btf_ctype(btf, 13)
    assert ctypes.sizeof(cls) == 80
    assert btf_ctype(btf, 13) is cls  # cached per (btf, id)
    c = make_codec((btf, 13), 80)
    v = c.decode(c.encode({
        "id": -7, "name": "tool", "mac": b"\x01\x02\x03\x04\x05\x06", "u": 0x01020304, "low": 5, "high": -100,
        "color": 1, "ptr": 2**64 - 1, "big": 2**100, "pair": [{"a": 1, "b": 2}, {"a": 3, "b": 4}],
    }))
    assert v.id == -7 and v.name == b"tool" and v.low == 5 and v.high == -100
    assert v.u == 0x01020304 and v.b == 0x04  # the anonymous union's members, reachable from the parent
    assert v.color == 1 and v.ptr == 2**64 - 1 and v.big == 2**100
    assert [(p.a, p.b) for p in v.pair] == [(1, 2), (3, 4)]
    d = v._asdict()
    assert d["mac"] == b"\x01\x02\x03\x04\x05\x06" and d["pair"] == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert list(d) == ["id", "name", "mac", "u", "b", "low", "high", "color", "ptr", "big", "pair"]
    assert repr(v).startswith("outer(id=-7, name=b'tool', mac=")
    w = cls(id=1)
    with pytest.raises(OverflowError):
        w.low = 16  # 4-bit unsigned... of a signed int: -8..7
    with pytest.raises(OverflowError):
        w.id = 2**31
    with pytest.raises(ValueError):
        w.name = "123456789"
    w.name = b"ab"
    assert w.name == b"ab"
    assert v == c.decode(c.encode(v)) and hash(v) == hash(c.decode(c.encode(v)))


def test_btf_scalars_arrays_and_datasec() -> None:
    btf = _btf()
    assert make_codec((btf, 1)).decode(b"\xfe\xff\xff\xff") == -2
    assert isinstance(make_codec((btf, 3)), CharArrayCodec)
    assert isinstance(make_codec((btf, 5)), BytesCodec)
    assert make_codec((btf, 8)).size == 4
    big = make_codec((btf, 10))
    assert big.decode(big.encode(2**127)) == 2**127
    sec = make_codec((btf, 16), 16)
    d = sec.decode(sec.encode({"counter": 9, "label": "x"}))
    assert d._asdict() == {"counter": 9, "label": b"x"}
    with pytest.raises(ValueError):
        make_codec((btf, 114))  # no such type id


def test_percpu_codec() -> None:
    c = PerCpuCodec(IntCodec(4), 3)
    assert c.size == 24 and c.stride == 8
    assert c.decode(c.encode(7)) == [7, 7, 7]
    assert c.decode(c.encode([1, 2, 3])) == [1, 2, 3]
    assert c.decode(c.encode(b"\x05\x00\x00\x00")) == [5, 5, 5]
    assert c.split(c.encode([1, 2, 3]))[1] == b"\x02\x00\x00\x00"
    with pytest.raises(ValueError):
        c.encode([1, 2])
    with pytest.raises(ValueError):
        c.encode(b"\x00" * 7)


def test_fd_codec_takes_fd_likes() -> None:
    class HasFd:
        fd = 5

    class HasFileno:
        def fileno(self) -> int:
            return 6

    c = FdCodec(4)
    assert c.encode(HasFd()) == (5).to_bytes(4, "little")
    assert c.encode(HasFileno()) == (6).to_bytes(4, "little")
    with pytest.raises(TypeError):
        c.encode("x")


def test_lpm_key_codec() -> None:
    c = LpmKeyCodec(8)
    assert c.decode(c.encode("10.1.0.0/16")) == ipaddress.ip_network("10.1.0.0/16")
    assert c.decode(c.encode(ipaddress.ip_address("1.2.3.4"))) == ipaddress.ip_network("1.2.3.4/32")
    assert c.encode((8, b"\x0a\x00\x00\x00")) == c.encode("10.0.0.0/8") == c.encode((b"\x0a\x00\x00\x00", 8))
    with pytest.raises(ValueError):
        c.encode("::1")
    with pytest.raises(ValueError):
        c.encode((33, b"\x00" * 4))
    with pytest.raises(TypeError):
        c.encode(3.5)
    other = LpmKeyCodec(7)
    assert other.decode(other.encode((9, b"\xff\x80\x00"))) == LpmKey(9, b"\xff\x80\x00")


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_u64_round_trip(v: int) -> None:
    c = make_codec("u64")
    assert c.decode(c.encode(v)) == v


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1), st.binary(min_size=0, max_size=12))
def test_btf_struct_round_trip(i: int, name: bytes) -> None:
    name = name.rstrip(b"\0")
    if b"\0" in name:
        return
    btf = Btf.from_types([Int("int", 4, IntEncoding.SIGNED), Int("char", 1, IntEncoding.SIGNED), Array(2, 1, 12),
                          Struct("s", 16, [Member("i", 1, 0), Member("name", 3, 32)])])
    c = make_codec((btf, 4), 16)
    v = c.decode(c.encode({"i": i, "name": name}))
    assert (v.i, v.name) == (i, name)
    assert c.decode(c.encode(v)) == v


def test_struct_objects_bytes_formats_and_dtypes_are_types() -> None:
    """The grammar ring and perf buffers share: struct.Struct, a format as bytes, a NumPy dtype."""
    import struct

    import numpy as np

    for spec in (struct.Struct("<IQ"), b"<IQ", "<IQ"):
        c = make_codec(spec)
        assert c.size == 12 and c.decode(c.encode((1, 2))) == (1, 2)
    one = make_codec(struct.Struct("<Q"))
    assert one.decode(one.encode(7)) == 7  # one field: a scalar
    dt = np.dtype([("a", "<u4"), ("b", "<i8")], align=True)
    c = make_codec(dt, 16)
    v = c.decode(c.encode((3, -4)))
    assert isinstance(v, np.void) and (int(v["a"]), int(v["b"])) == (3, -4)
    assert c.numpy_dtype() == dt
    with pytest.raises(ValueError):
        c.encode([(1, 2), (3, 4)])  # one value, not an array
    with pytest.raises(ValueError):
        make_codec(b"\xff\xfe")
    with pytest.raises(TypeError):
        make_codec(3.5)
