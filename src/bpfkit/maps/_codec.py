"""Key and value codecs: Python values <-> the exact bytes a map (or a ring buffer record) holds.

``make_codec(spec, size)`` turns a type description into a :class:`Codec`:

- ``None``: sizes only; 1, 2, 4 and 8 bytes are unsigned ints (range-checked,
  never truncated), other sizes are ``bytes``;
- a ctypes type (``c_uint32``, a ``Structure``/``Union`` or array class);
- a struct format (``"<IQ"``, also as bytes or a :class:`struct.Struct`): one
  field decodes to a scalar, several to a tuple;
- a name: ``"u32"``, ``"s64"``, ``"int"``, ``"char[16]"``, ``"u8[6]"``, ``"u32[2][3]"``;
- a BTF type as ``(Btf, type_id)``: structs become ctypes classes built from
  the BTF (members, nested structs/unions, arrays, bitfields; enums as ints),
  cached per (btf, id), with a readable repr and ``_asdict()``;
- a NumPy dtype (values decode to NumPy scalars);
- a :class:`Codec` (used as is).

This is the one type grammar of bpfkit: map keys and values, ring buffer and
perf buffer records (``RingBuffer(type=...)``, ``PerfBuffer(type=...)``, which
also take a callable decoder) all go through :func:`make_codec`.

Every codec accepts ``bytes``/``bytearray``/``memoryview`` of exactly its size,
so callers can always bypass decoding. Wrong sizes raise ValueError, wrong
Python types TypeError, out-of-range ints OverflowError. This module is pure:
it never touches the kernel.
"""

from __future__ import annotations

import abc
import ctypes
import functools
import struct
import sys
from collections.abc import Callable, Mapping, Sequence

from .._sys.fd import fd_of
from ..btf import Btf
from ..btf._types import (
    Array,
    BtfType,
    Const,
    Datasec,
    Enum,
    Enum64,
    Float,
    Int,
    IntEncoding,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union_,
    Var,
    Volatile,
)
from ..errors import BpfOverflowError, BpfTypeError, BpfValueError, ObjectFormatError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = [
    "ArrayCodec",
    "BigIntCodec",
    "BtfStruct",
    "BtfUnion",
    "BytesCodec",
    "CharArrayCodec",
    "Codec",
    "CodecSpec",
    "CtypesCodec",
    "DtypeCodec",
    "FdCodec",
    "FloatCodec",
    "IntCodec",
    "PerCpuCodec",
    "StructFormatCodec",
    "VoidCodec",
    "as_plain",
    "btf_ctype",
    "btf_dtype",
    "make_codec",
    "raw_bytes",
    "require_numpy",
    "round_up",
]

_BYTES_LIKE = (bytes, bytearray, memoryview)
_ORDER = "<" if sys.byteorder == "little" else ">"


def round_up(n: int, to: int) -> int:
    """``n`` rounded up to a multiple of ``to``."""
    return (n + to - 1) // to * to


def raw_bytes(value: object, size: int, what: str = "value") -> bytes | None:
    """``value`` as bytes if it is bytes-like of exactly ``size`` bytes; None if not bytes-like.

    Bytes-like of another size raise ValueError: exact-size bytes are the one
    way to bypass decoding, so a wrong length is always a mistake.
    """
    if isinstance(value, (bytes, bytearray)):
        if len(value) != size:
            raise BpfValueError(f"{what} must be {size} bytes, got {len(value)}")
        return bytes(value)
    if isinstance(value, memoryview):
        if value.nbytes != size:
            raise BpfValueError(f"{what} must be {size} bytes, got {value.nbytes}")
        return value.tobytes()
    return None


class Codec(abc.ABC):
    """Encodes Python values to exactly ``size`` bytes and decodes them back.

    ``encode``/``encode_into``/``decode`` are the checked API. ``pack_into`` and
    ``unpack_from`` mirror :class:`struct.Struct` for hot paths: ``pack_into`` may
    raise :class:`struct.error` on unusual input (then call ``encode_into`` for
    the real error or the slow path), ``unpack_from`` returns a 1-tuple.
    """

    size: int
    name: str
    pack_into: Callable[[Any, int, Any], None]
    """Fast encode ``(buf, offset, value)``; may raise struct.error where ``encode_into`` would explain."""
    unpack_from: Callable[..., tuple[Any, ...]]
    """Fast decode ``(data, offset=0)`` returning a 1-tuple (like struct.Struct.unpack_from)."""

    btf_type: tuple[Btf, int] | None = None
    """The BTF type (btf, type id) this codec was made from, when it came from BTF."""

    def __init__(self, size: int, name: str) -> None:
        if size < 0:
            raise BpfValueError(f"negative size {size} for {name}")
        self.size = size
        self.name = name
        self.pack_into = self.encode_into
        self.unpack_from = self._unpack_one

    def numpy_dtype(self) -> Any:
        """The NumPy dtype of one encoded value (the bulk paths' arrays); ImportError without NumPy.

        Ints and floats map to their NumPy types, char arrays to ``S<n>``, arrays
        to subarray dtypes, structs (from BTF, ctypes or a struct format) to
        structured dtypes; anything else is ``V<size>`` (opaque bytes).
        """
        np = require_numpy("a NumPy dtype")
        if self.btf_type is not None:
            return btf_dtype(*self.btf_type)
        dt = self._numpy_dtype(np)
        return np.dtype((np.void, self.size)) if dt is None else dt

    def _numpy_dtype(self, np: Any) -> Any:
        """The dtype of this codec's values, or None for opaque ``V<size>`` (subclasses)."""
        return None

    # -- checked API ----------------------------------------------------
    def encode(self, value: Any) -> bytes:
        """``value`` as exactly ``size`` bytes."""
        raw = raw_bytes(value, self.size, self.name)
        if raw is not None:
            return raw
        buf = bytearray(self.size)
        self.encode_into(buf, 0, value)
        return bytes(buf)

    def encode_into(self, buf: bytearray | memoryview | Any, offset: int, value: Any) -> None:
        """Write ``value`` as ``size`` bytes at ``buf[offset:]``."""
        raw = raw_bytes(value, self.size, self.name)
        if raw is None:
            raw = self._encode(value)
        buf[offset : offset + self.size] = raw

    @abc.abstractmethod
    def decode(self, data: bytes | bytearray | memoryview | Any, offset: int = 0) -> Any:
        """The Python value of ``data[offset:offset+size]``."""

    def _encode(self, value: Any) -> bytes:
        """Encode a non-bytes value (subclasses)."""
        raise BpfTypeError(f"cannot encode {type(value).__name__} as {self.name}")

    def _unpack_one(self, data: Any, offset: int = 0) -> tuple[Any]:
        return (self.decode(data, offset),)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.size} B)>"


# ---- scalars ----------------------------------------------------------------


class VoidCodec(Codec):
    """The empty key (or value) of maps with key_size 0 (queue, stack, bloom filter, ring buffers): None."""

    def __init__(self) -> None:
        super().__init__(0, "void")

    def encode_into(self, buf: Any, offset: int, value: Any) -> None:
        """Accept None (or empty bytes); write nothing."""
        if value is not None and raw_bytes(value, 0, "key of a map without keys") is None:
            raise BpfTypeError(f"this map has no keys (key_size 0): pass None, not {type(value).__name__}")

    def decode(self, data: Any, offset: int = 0) -> None:
        """Always None."""
        return None


_INT_FMT = {1: "B", 2: "H", 4: "I", 8: "Q"}


class IntCodec(Codec):
    """An integer of 1, 2, 4 or 8 bytes in host byte order; range-checked, never truncated."""

    def __init__(self, size: int, signed: bool = False, name: str | None = None) -> None:
        if size not in _INT_FMT:
            raise BpfValueError(f"integers are 1, 2, 4 or 8 bytes, not {size}")
        super().__init__(size, name or f"{'s' if signed else 'u'}{size * 8}")
        self.signed = signed
        fmt = _INT_FMT[size]
        self._st = struct.Struct(_ORDER + (fmt.lower() if signed else fmt))
        self.pack_into = self._st.pack_into
        self.unpack_from = self._st.unpack_from
        bits = size * 8
        self.min = -(1 << (bits - 1)) if signed else 0
        self.max = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1

    def _encode(self, value: Any) -> bytes:
        v = _int_of(value, self.name)
        if not self.min <= v <= self.max:
            raise BpfOverflowError(f"{v} is out of range for {self.name} ({self.min}..{self.max})")
        return self._st.pack(v)

    def decode(self, data: Any, offset: int = 0) -> int:
        """The int at ``offset``."""
        v: int = self._st.unpack_from(data, offset)[0]
        return v

    def _numpy_dtype(self, np: Any) -> Any:
        return np.dtype(f"{_ORDER}{'i' if self.signed else 'u'}{self.size}")


def _int_of(value: Any, name: str) -> int:
    """``value`` as an int (by ``__index__``) for an integer codec; TypeError for floats and non-integers."""
    if isinstance(value, float) or not hasattr(value, "__index__"):
        raise BpfTypeError(f"{name} needs an int, not {type(value).__name__}")
    return int(value.__index__())


class BigIntCodec(Codec):
    """An integer of any other size (``__int128``), host byte order."""

    def __init__(self, size: int, signed: bool = False, name: str | None = None) -> None:
        super().__init__(size, name or f"{'s' if signed else 'u'}{size * 8}")
        self.signed = signed

    def _encode(self, value: Any) -> bytes:
        v = _int_of(value, self.name)
        try:
            return v.to_bytes(self.size, sys.byteorder, signed=self.signed)
        except OverflowError:
            raise BpfOverflowError(f"{value} is out of range for {self.name}") from None

    def decode(self, data: Any, offset: int = 0) -> int:
        """The int at ``offset``."""
        return int.from_bytes(bytes(data[offset : offset + self.size]), sys.byteorder, signed=self.signed)


class FloatCodec(Codec):
    """A C float (4 bytes) or double (8 bytes)."""

    def __init__(self, size: int, name: str | None = None) -> None:
        if size not in (4, 8):
            raise BpfValueError(f"floats are 4 or 8 bytes, not {size}")
        super().__init__(size, name or ("float" if size == 4 else "double"))
        self._st = struct.Struct(_ORDER + ("f" if size == 4 else "d"))
        self.pack_into = self._st.pack_into
        self.unpack_from = self._st.unpack_from

    def _encode(self, value: Any) -> bytes:
        if not isinstance(value, (int, float)):
            raise BpfTypeError(f"{self.name} needs a float, not {type(value).__name__}")
        try:
            return self._st.pack(value)
        except (struct.error, OverflowError) as exc:
            raise BpfOverflowError(f"{value!r} does not fit a {self.name}: {exc}") from None

    def decode(self, data: Any, offset: int = 0) -> float:
        """The float at ``offset``."""
        v: float = self._st.unpack_from(data, offset)[0]
        return v

    def _numpy_dtype(self, np: Any) -> Any:
        return np.dtype(f"{_ORDER}f{self.size}")


class BytesCodec(Codec):
    """Opaque bytes of a fixed size (decoded as ``bytes``)."""

    def __init__(self, size: int, name: str | None = None) -> None:
        super().__init__(size, name or f"bytes[{size}]")

    def _encode(self, value: Any) -> bytes:
        if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
            if len(value) != self.size:
                raise BpfValueError(f"{self.name} needs {self.size} bytes, got {len(value)}")
            try:
                return bytes(value)
            except ValueError:
                raise BpfOverflowError(f"{self.name} items must be 0..255") from None
        raise BpfTypeError(f"{self.name} needs bytes of length {self.size}, not {type(value).__name__}")

    def decode(self, data: Any, offset: int = 0) -> bytes:
        """The bytes at ``offset``."""
        return bytes(data[offset : offset + self.size])


class CharArrayCodec(Codec):
    """A C ``char[N]``: decodes to bytes with trailing NULs stripped; encodes str (UTF-8) or shorter bytes."""

    def __init__(self, size: int, name: str | None = None) -> None:
        super().__init__(size, name or f"char[{size}]")

    def encode_into(self, buf: Any, offset: int, value: Any) -> None:
        """Write ``value`` NUL-padded to ``size`` bytes."""
        buf[offset : offset + self.size] = self._encode(value)

    def _encode(self, value: Any) -> bytes:
        if isinstance(value, str):
            value = value.encode()
        elif isinstance(value, memoryview):
            value = value.tobytes()
        elif not isinstance(value, (bytes, bytearray)):
            raise BpfTypeError(f"{self.name} needs str or bytes, not {type(value).__name__}")
        if len(value) > self.size:
            raise BpfValueError(f"{len(value)} bytes do not fit {self.name}")
        return bytes(value).ljust(self.size, b"\0")

    def decode(self, data: Any, offset: int = 0) -> bytes:
        """The bytes at ``offset`` without trailing NULs."""
        return bytes(data[offset : offset + self.size]).rstrip(b"\0")

    def _numpy_dtype(self, np: Any) -> Any:
        return np.dtype(f"S{self.size}") if self.size else None


class ArrayCodec(Codec):
    """``n`` elements of another codec; decodes to a list, encodes any sequence of exactly ``n`` items."""

    def __init__(self, elem: Codec, n: int, name: str | None = None) -> None:
        super().__init__(elem.size * n, name or f"{elem.name}[{n}]")
        self.elem = elem
        self.n = n

    def _encode(self, value: Any) -> bytes:
        if isinstance(value, (str, Mapping)) or not isinstance(value, (Sequence, ctypes.Array)):
            raise BpfTypeError(f"{self.name} needs a sequence of {self.n} items, not {type(value).__name__}")
        if len(value) != self.n:
            raise BpfValueError(f"{self.name} needs {self.n} items, got {len(value)}")
        buf = bytearray(self.size)
        es = self.elem.size
        for i, item in enumerate(value):
            self.elem.encode_into(buf, i * es, item)
        return bytes(buf)

    def decode(self, data: Any, offset: int = 0) -> list[Any]:
        """The list of elements at ``offset``."""
        es = self.elem.size
        dec = self.elem.decode
        return [dec(data, offset + i * es) for i in range(self.n)]

    def _numpy_dtype(self, np: Any) -> Any:
        return _subarray(np, self.elem.numpy_dtype(), self.n)


_FMT_TOKEN = r"\s*(\d*)\s*([xcbB?hHiIlLqQnNefdspP])\s*"
_NP_CODE = {
    "b": "i1", "B": "u1", "?": "b1", "h": "i2", "H": "u2", "i": "i4", "I": "u4", "l": "i4", "L": "u4",
    "q": "i8", "Q": "u8", "e": "f2", "f": "f4", "d": "f8",
}
_NATIVE_WIDE = {"n": "q", "N": "Q", "P": "Q"}


def explicit_format(fmt: str) -> tuple[str, str, list[tuple[int, str, int]], int]:
    """A struct format rewritten with an explicit byte order, standard sizes and explicit padding.

    Returns (order, body, fields, size): ``order + body`` has the layout of
    ``fmt`` (native alignment included) wherever it starts, so the ring readers
    can repeat it per record; fields are (offset, code, count) of the non-pad items.
    """
    import re  # not at import: a load needs no regex (issue 18)

    order = fmt[:1] if fmt[:1] in "@=<>!" else "@"
    body = fmt[1:] if fmt[:1] in "@=<>!" else fmt
    try:
        size = struct.calcsize(fmt)
    except struct.error as exc:
        raise BpfValueError(f"bad struct format {fmt!r}: {exc}") from None
    out_order = {"@": _ORDER, "=": _ORDER, "<": "<", ">": ">", "!": ">"}[order]
    pos = 0
    done = ""
    out: list[str] = []
    fields: list[tuple[int, str, int]] = []
    while pos < len(body):
        m = re.compile(_FMT_TOKEN).match(body, pos)
        if m is None:
            raise BpfValueError(f"bad struct format {fmt!r} at {body[pos:]!r}")
        pos = m.end()
        count_text, code = m.group(1), m.group(2)
        count = int(count_text) if count_text else 1
        token = count_text + code
        before = struct.calcsize(order + done)
        start = struct.calcsize(order + done + token) - struct.calcsize(order + token)
        done += token
        if start > before:
            out.append(f"{start - before}x")
        if code == "x":
            out.append(token)
            continue
        std = code
        if order == "@":
            if code in _NATIVE_WIDE:
                std = _NATIVE_WIDE[code]
            elif code in "lL" and struct.calcsize("@l") == 8:
                std = "q" if code == "l" else "Q"
        elif code in "nNP":
            raise BpfValueError(f"struct format {fmt!r}: {code!r} is only valid in native mode")
        out.append(count_text + std)
        fields.append((start, std, count))
    tail = size - struct.calcsize(out_order + "".join(out))
    if tail > 0:
        out.append(f"{tail}x")
    return out_order, "".join(out), fields, size


def format_dtype(np: Any, fmt: str) -> Any:
    """The NumPy dtype of a struct format: fields ``f0``, ``f1``... at the format's offsets."""
    order, _, fields, size = explicit_format(fmt)
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    for i, (off, code, count) in enumerate(fields):
        names.append(f"f{i}")
        offsets.append(off)
        if code == "s":
            formats.append(f"S{count}")
        elif code == "p":
            formats.append(f"V{count}")
        elif code == "c":
            formats.append("S1" if count == 1 else ("S1", (count,)))
        else:
            base = order + _NP_CODE[code]
            formats.append(base if count == 1 else (base, (count,)))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": size})


class StructFormatCodec(Codec):
    """A :mod:`struct` format: one field decodes to a scalar, several to a tuple."""

    def __init__(self, fmt: str) -> None:
        try:
            st = struct.Struct(fmt)
        except struct.error as exc:
            raise BpfValueError(f"bad struct format {fmt!r}: {exc}") from None
        super().__init__(st.size, fmt)
        self._st = st
        self.nfields = len(st.unpack(bytes(st.size)))
        if self.nfields == 1:
            self.pack_into = st.pack_into
            self.unpack_from = st.unpack_from

    def _encode(self, value: Any) -> bytes:
        items = (value,) if self.nfields == 1 else value
        if self.nfields != 1 and (isinstance(items, (str, bytes)) or not isinstance(items, Sequence)):
            raise BpfTypeError(f"format {self.name!r} needs a sequence of {self.nfields} items, not {type(value).__name__}")
        if len(items) != self.nfields:
            raise BpfValueError(f"format {self.name!r} needs {self.nfields} items, got {len(items)}")
        try:
            return self._st.pack(*items)
        except struct.error as exc:
            msg = str(exc)
            if "range" in msg or "format requires" in msg:
                raise BpfOverflowError(f"{value!r} does not fit format {self.name!r}: {msg}") from None
            raise BpfTypeError(f"{value!r} does not fit format {self.name!r}: {msg}") from None

    def decode(self, data: Any, offset: int = 0) -> Any:
        """A scalar (one field) or a tuple."""
        t = self._st.unpack_from(data, offset)
        return t[0] if self.nfields == 1 else t

    def _numpy_dtype(self, np: Any) -> Any:
        try:
            dt = format_dtype(np, self._st.format)
        except (ValueError, KeyError):
            return None
        if self.nfields == 1 and dt.names is not None and len(dt.names) == 1:
            sub, off = dt.fields[dt.names[0]][:2]
            if off == 0 and sub.itemsize == self.size:
                return sub  # one field decodes to a scalar: so does the array
        return dt if dt.itemsize == self.size else None


class DtypeCodec(Codec):
    """A NumPy dtype: decodes to a NumPy scalar (a structured record for structured dtypes), encodes
    anything ``numpy.array(value, dtype)`` takes."""

    def __init__(self, dtype: Any) -> None:
        super().__init__(int(dtype.itemsize), f"dtype {dtype}")
        self.dtype = dtype

    def _encode(self, value: Any) -> bytes:
        np = require_numpy("a NumPy dtype codec")
        try:
            arr = np.array(value, dtype=self.dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise BpfTypeError(f"cannot encode {type(value).__name__} as {self.name}: {exc}") from None
        if arr.shape != ():
            raise BpfValueError(f"{self.name} needs one value, got an array of shape {arr.shape}")
        out: bytes = arr.tobytes()
        return out

    def decode(self, data: Any, offset: int = 0) -> Any:
        """The NumPy scalar at ``offset`` (a copy)."""
        np = require_numpy("a NumPy dtype codec")
        return np.frombuffer(bytes(data[offset : offset + self.size]), self.dtype, count=1)[0]

    def _numpy_dtype(self, np: Any) -> Any:
        return self.dtype


class CtypesCodec(Codec):
    """A ctypes Structure, Union or Array class: decodes to a copy, encodes an instance, a dict or a tuple."""

    def __init__(self, ctype: type[Any], name: str | None = None) -> None:
        super().__init__(ctypes.sizeof(ctype), name or _ctype_name(ctype))
        self.ctype = ctype
        cls = ctype

        def unpack_from(data: Any, offset: int = 0) -> tuple[Any]:
            return (cls.from_buffer_copy(data, offset),)

        self.unpack_from = unpack_from

    def _encode(self, value: Any) -> bytes:
        cls = self.ctype
        if isinstance(value, cls):
            return _cbytes(value)
        try:
            if isinstance(value, Mapping):
                names = _settable_names(cls)  # type: ignore[arg-type]  # classes are hashable
                unknown = [k for k in value if k not in names]
                if unknown:
                    raise BpfTypeError(f"{self.name} has no field {unknown[0]!r}")
                obj = cls(**value)
                given = list(value.items())
            elif isinstance(value, (tuple, list)) and not issubclass(cls, ctypes.Array):
                obj = cls(*value)
                given = [(f[0], v) for f, v in zip(cls._fields_, value, strict=False)]
            elif isinstance(value, (tuple, list)):
                if len(value) != cls._length_:
                    raise BpfValueError(f"{self.name} needs {cls._length_} items, got {len(value)}")
                obj = cls(*value)
                given = []
            else:
                raise BpfTypeError(f"{self.name} needs a {cls.__name__}, a dict or bytes, not {type(value).__name__}")
        except AttributeError as exc:
            raise BpfTypeError(f"cannot build {self.name}: {exc}") from None
        for fname, v in given:  # ctypes truncates ints silently: refuse instead
            if isinstance(v, int) and not isinstance(v, bool) and getattr(obj, fname) != v:
                raise BpfOverflowError(f"{v} is out of range for {self.name}.{fname}")
        return _cbytes(obj)

    def decode(self, data: Any, offset: int = 0) -> Any:
        """A new instance holding a copy of the bytes."""
        return self.ctype.from_buffer_copy(data, offset)

    def _numpy_dtype(self, np: Any) -> Any:
        try:
            dt = np.dtype(self.ctype)
        except (TypeError, ValueError, NotImplementedError):  # bitfields, pointers ...
            return None
        return dt if dt.itemsize == self.size else None


class FdCodec(IntCodec):
    """A u32 (or u64) slot that takes a file descriptor on write: an int, or any object with ``fileno()`` or ``.fd``.

    Reads return what the kernel reports for that slot (a program or map id, a socket cookie).
    """

    def __init__(self, size: int = 4, name: str = "fd") -> None:
        super().__init__(size, False, name)

    def _encode(self, value: Any) -> bytes:
        if not isinstance(value, int):
            value = fd_of(value)
        return super()._encode(value)


class PerCpuCodec(Codec):
    """A per-CPU value: one inner value per possible CPU, each padded to 8 bytes.

    Decodes to a list. Encodes a ``list`` of exactly ``ncpus`` values, or any
    single value (or bytes of the inner size), which then goes to every CPU.
    """

    def __init__(self, inner: Codec, ncpus: int) -> None:
        self.stride = round_up(inner.size, 8)
        super().__init__(self.stride * ncpus, f"{inner.name} x {ncpus} CPUs")
        self.inner = inner
        self.ncpus = ncpus

    def encode_into(self, buf: Any, offset: int, value: Any) -> None:
        """Write all CPUs' values."""
        if isinstance(value, _BYTES_LIKE):
            n = value.nbytes if isinstance(value, memoryview) else len(value)
            if n == self.size:
                buf[offset : offset + self.size] = bytes(value)
                return
            if n != self.inner.size:
                raise BpfValueError(
                    f"per-CPU value must be {self.inner.size} bytes (one value for all CPUs) "
                    f"or {self.size} bytes (all CPUs), got {n}"
                )
        if isinstance(value, list):
            if len(value) != self.ncpus:
                raise BpfValueError(f"per-CPU value list has {len(value)} items, the host has {self.ncpus} possible CPUs")
            items = value
        else:
            items = [value] * self.ncpus
        tmp = bytearray(self.size)
        for i, item in enumerate(items):
            self.inner.encode_into(tmp, i * self.stride, item)
        buf[offset : offset + self.size] = tmp

    def encode(self, value: Any) -> bytes:
        """All CPUs' values as bytes."""
        buf = bytearray(self.size)
        self.encode_into(buf, 0, value)
        return bytes(buf)

    def decode(self, data: Any, offset: int = 0) -> list[Any]:
        """One value per possible CPU."""
        dec = self.inner.decode
        s = self.stride
        return [dec(data, offset + i * s) for i in range(self.ncpus)]

    def split(self, data: bytes) -> list[bytes]:
        """The raw bytes of each CPU's value."""
        s, n = self.stride, self.inner.size
        return [bytes(data[i * s : i * s + n]) for i in range(self.ncpus)]

    def numpy_dtype(self) -> Any:
        """The dtype of one CPU's value (bulk reads give per-CPU values as (entries, CPUs) arrays)."""
        return self.inner.numpy_dtype()


# ---- names ------------------------------------------------------------------

_NAMED_INTS: dict[str, tuple[int, bool]] = {}
for _bits in (8, 16, 32, 64):
    _b = _bits // 8
    for _n in (f"u{_bits}", f"__u{_bits}", f"uint{_bits}_t", f"u_int{_bits}_t"):
        _NAMED_INTS[_n] = (_b, False)
    for _n in (f"s{_bits}", f"i{_bits}", f"__s{_bits}", f"int{_bits}_t"):
        _NAMED_INTS[_n] = (_b, True)
_NAMED_INTS.update(
    {
        "char": (1, True),
        "signed char": (1, True),
        "unsigned char": (1, False),
        "bool": (1, False),
        "_Bool": (1, False),
        "short": (2, True),
        "unsigned short": (2, False),
        "int": (4, True),
        "signed int": (4, True),
        "unsigned": (4, False),
        "unsigned int": (4, False),
        "long": (8, True),
        "unsigned long": (8, False),
        "long long": (8, True),
        "unsigned long long": (8, False),
        "size_t": (8, False),
        "pid_t": (4, True),
        "uid_t": (4, False),
        "gid_t": (4, False),
    }
)
_NAMED_FLOATS = {"float": 4, "f32": 4, "double": 8, "f64": 8}
_BYTE_ELEMS = {"u8", "__u8", "uint8_t", "unsigned char", "byte"}
_NAME_RE = r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*((?:\[\s*\d+\s*\]\s*)*)$"


def _named_codec(spec: str) -> Codec:
    import re

    m = re.match(_NAME_RE, spec)
    if not m:
        raise BpfValueError(f"unknown type name {spec!r}")
    base = " ".join(m.group(1).split())
    dims = [int(d) for d in re.findall(r"\d+", m.group(2))]
    if dims:
        inner_n = dims[-1]
        if base == "char":
            codec: Codec = CharArrayCodec(inner_n)
        elif base in _BYTE_ELEMS:
            codec = BytesCodec(inner_n, f"{base}[{inner_n}]")
        else:
            codec = ArrayCodec(_named_codec(base), inner_n)
        for d in reversed(dims[:-1]):
            codec = ArrayCodec(codec, d)
        return codec
    if base in _NAMED_INTS:
        size, signed = _NAMED_INTS[base]
        return IntCodec(size, signed, base)
    if base in _NAMED_FLOATS:
        return FloatCodec(_NAMED_FLOATS[base], base)
    if base == "bytes":
        raise BpfValueError("'bytes' needs a size: use 'u8[N]' or pass size=")
    raise BpfValueError(f"unknown type name {spec!r}")


# ---- ctypes -----------------------------------------------------------------

_CTYPE_INTS: dict[type[Any], tuple[int, bool]] = {}
_ct: type[Any]
for _ct in (ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_ushort,
            ctypes.c_uint, ctypes.c_ulong, ctypes.c_ulonglong, ctypes.c_size_t, ctypes.c_bool):
    _CTYPE_INTS[_ct] = (ctypes.sizeof(_ct), False)
for _ct in (ctypes.c_int8, ctypes.c_int16, ctypes.c_int32, ctypes.c_int64, ctypes.c_byte, ctypes.c_short,
            ctypes.c_int, ctypes.c_long, ctypes.c_longlong, ctypes.c_ssize_t):
    _CTYPE_INTS[_ct] = (ctypes.sizeof(_ct), True)


def _ctype_name(ct: type[Any]) -> str:
    if issubclass(ct, ctypes.Union):
        return f"union {ct.__name__}"
    if issubclass(ct, ctypes.Structure):
        return f"struct {ct.__name__}"
    return ct.__name__


def _ctypes_codec(ct: type[Any]) -> Codec:
    if ct in _CTYPE_INTS:
        size, signed = _CTYPE_INTS[ct]
        return IntCodec(size, signed, ct.__name__)
    if ct in (ctypes.c_float, ctypes.c_double):
        return FloatCodec(ctypes.sizeof(ct), ct.__name__)
    if ct is ctypes.c_char:
        return BytesCodec(1, "c_char")
    if issubclass(ct, ctypes.Array):
        arr: Any = ct
        elem, n = arr._type_, int(arr._length_)
        if elem is ctypes.c_char:
            return CharArrayCodec(n)
        if elem in (ctypes.c_uint8, ctypes.c_ubyte):
            return BytesCodec(n, f"u8[{n}]")
        if elem in _CTYPE_INTS or elem in (ctypes.c_float, ctypes.c_double) or issubclass(elem, ctypes.Array):
            return ArrayCodec(_ctypes_codec(elem), n)
        return CtypesCodec(ct)
    if issubclass(ct, (ctypes.Structure, ctypes.Union)):
        return CtypesCodec(ct)
    raise BpfTypeError(f"unsupported ctypes type {ct!r}")


# ---- BTF -> ctypes ------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _settable_names(cls: Any) -> frozenset[str]:
    """Field names a dict may set on a ctypes record: its fields, anonymous members' fields, properties."""
    names: set[str] = set(getattr(cls, "_field_order", ()))
    anon = set(getattr(cls, "_anonymous_", ()))
    for f in getattr(cls, "_fields_", ()):
        names.add(f[0])
        if f[0] in anon:
            names |= _settable_names(f[1])
    for klass in cls.__mro__:
        names.update(k for k, v in vars(klass).items() if isinstance(v, property))
    return frozenset(names)


def _cbytes(obj: Any) -> bytes:
    """The raw bytes of a ctypes instance."""
    return ctypes.string_at(ctypes.addressof(obj), ctypes.sizeof(obj))


def _plain(value: Any) -> Any:
    """A ctypes value as plain Python (arrays to lists, u8 arrays to bytes, structs to dicts)."""
    if isinstance(value, (ctypes.Structure, ctypes.Union)):
        return as_plain(value)
    if isinstance(value, ctypes.Array):
        if value._type_ in (ctypes.c_uint8, ctypes.c_ubyte):
            return bytes(value)
        if value._type_ is ctypes.c_char:
            return bytes(value).rstrip(b"\0")
        return [_plain(v) for v in value]
    return value


def as_plain(value: Any) -> Any:
    """Any decoded value as plain Python data: ctypes structs become dicts (declaration order,
    padding left out), arrays lists, u8 arrays bytes, ``ipaddress`` objects stay as they are."""
    if isinstance(value, (BtfStruct, BtfUnion)):
        return value._asdict()
    if isinstance(value, (ctypes.Structure, ctypes.Union)):
        out: dict[str, Any] = {}
        for f in type(value)._fields_:
            name = f[0]
            if name.startswith("_"):
                continue
            out[name] = _plain(getattr(value, name))
        return out
    if isinstance(value, ctypes.Array):
        return _plain(value)
    if isinstance(value, list):
        return [as_plain(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(as_plain(v) for v in value)
    return value


class _BtfMixin:
    """Behaviour shared by structs and unions built from BTF: repr, _asdict, value equality, checked writes."""

    _field_order: ClassVar[tuple[str, ...]] = ()
    _int_ranges: ClassVar[dict[str, tuple[int, int]]] = {}
    _array_fields: ClassVar[dict[str, tuple[type[Any], Codec]]] = {}
    _struct_fields: ClassVar[dict[str, type[Any]]] = {}
    _btf_name: ClassVar[str] = ""

    def __setattr__(self, name: str, value: Any) -> None:
        r = self._int_ranges.get(name)
        if r is not None:
            if isinstance(value, float) or not hasattr(value, "__index__"):
                raise BpfTypeError(f"{type(self).__name__}.{name} needs an int, not {type(value).__name__}")
            v = value.__index__()
            if not r[0] <= v <= r[1]:
                raise BpfOverflowError(f"{v} is out of range for {type(self).__name__}.{name} ({r[0]}..{r[1]})")
            value = v
        elif name in self._array_fields and not isinstance(value, ctypes.Array):
            arr_t, codec = self._array_fields[name]
            value = arr_t.from_buffer_copy(codec.encode(value))
        elif name in self._struct_fields and isinstance(value, Mapping):
            value = self._struct_fields[name](**value)
        elif name in self._struct_fields and isinstance(value, _BYTES_LIKE):
            value = self._struct_fields[name].from_buffer_copy(value)
        super().__setattr__(name, value)

    def _asdict(self) -> dict[str, Any]:
        """Fields in declaration order as plain Python (nested structs as dicts, arrays as lists)."""
        return {n: _plain(getattr(self, n)) for n in self._field_order}

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={getattr(self, n)!r}" if not isinstance(getattr(self, n), ctypes.Array)
                          else f"{n}={_plain(getattr(self, n))!r}" for n in self._field_order)
        return f"{type(self).__name__}({parts})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return _cbytes(self) == _cbytes(other)

    def __hash__(self) -> int:
        return hash(_cbytes(self))


class BtfStruct(_BtfMixin, ctypes.Structure):
    """Base of the ctypes structures :func:`btf_ctype` builds (exact BTF layout, packed)."""

    _pack_ = 1
    _layout_ = "ms"
    _fields_: ClassVar[list[tuple[str, Any]]] = []


class BtfUnion(_BtfMixin, ctypes.Union):
    """Base of the ctypes unions :func:`btf_ctype` builds."""

    _pack_ = 1
    _layout_ = "ms"
    _fields_: ClassVar[list[tuple[str, Any]]] = []


_UINTS: dict[int, type[Any]] = {1: ctypes.c_uint8, 2: ctypes.c_uint16, 4: ctypes.c_uint32, 8: ctypes.c_uint64}
_SINTS: dict[int, type[Any]] = {1: ctypes.c_int8, 2: ctypes.c_int16, 4: ctypes.c_int32, 8: ctypes.c_int64}
_MODIFIERS = (Typedef, Const, Volatile, Restrict, TypeTag)


def _resolve(btf: Btf, type_id: int) -> tuple[int, BtfType]:
    tid = btf.skip_modifiers(type_id)
    return tid, btf[tid]


def _is_char(t: BtfType) -> bool:
    return isinstance(t, Int) and t.size == 1 and (t.name in ("char", "signed char") or bool(t.encoding & IntEncoding.CHAR))


def _is_byte(t: BtfType) -> bool:
    return isinstance(t, Int) and t.size == 1 and not t.signed


def btf_ctype(btf: Btf, type_id: int) -> type[Any]:
    """The ctypes type of a sized BTF type (cached per (btf, id)).

    Ints and enums become ctypes ints of their size and signedness, pointers
    ``c_uint64``, arrays ctypes arrays, structs/unions/datasecs subclasses of
    :class:`BtfStruct`/:class:`BtfUnion` laid out exactly as the BTF says
    (bitfields and odd-sized ints as properties, char arrays as bytes).
    """
    per: dict[int, type[Any]] = btf._cache("ctypes")
    ct = per.get(type_id)
    if ct is None:
        ct = _build_ctype(btf, type_id, per, 0)
        per[type_id] = ct
    return ct


def _build_ctype(btf: Btf, type_id: int, cache: dict[int, type[Any]], depth: int) -> type[Any]:
    if depth > 64:
        raise ObjectFormatError(f"BTF type {type_id} nests too deeply", section=".BTF")
    if type_id in cache:
        return cache[type_id]
    tid, t = _resolve(btf, type_id)
    if tid != type_id and tid in cache:
        return cache[tid]
    ct: type[Any]
    if isinstance(t, Int):
        if t.encoding & IntEncoding.BOOL and t.size == 1:
            ct = ctypes.c_bool
        elif t.size in _UINTS:
            ct = (_SINTS if t.signed else _UINTS)[t.size]
        else:
            ct = ctypes.c_uint8 * t.size
    elif isinstance(t, (Enum, Enum64)):
        if t.size not in _UINTS:
            raise ObjectFormatError(f"BTF enum {t.name!r} has size {t.size}", section=".BTF")
        ct = (_SINTS if t.signed else _UINTS)[t.size]
    elif isinstance(t, Ptr):
        ct = ctypes.c_uint64
    elif isinstance(t, Float):
        ct = {4: ctypes.c_float, 8: ctypes.c_double}.get(t.size) or (ctypes.c_uint8 * t.size)
    elif isinstance(t, Array):
        _, et = _resolve(btf, t.type)
        elem = ctypes.c_char if _is_char(et) else _build_ctype(btf, t.type, cache, depth + 1)
        ct = elem * t.nelems
    elif isinstance(t, (Struct, Union_, Datasec)):
        ct = _build_record(btf, tid, t, cache, depth)
    elif isinstance(t, Var):
        ct = _build_ctype(btf, t.type, cache, depth + 1)
    else:
        raise BpfValueError(f"BTF type {type_id} ({t.kind.name.lower()} {t.name!r}) has no size to encode")
    cache[tid] = ct
    return ct


def _bitfield_property(off_bits: int, nbits: int, signed: bool) -> property:
    start = off_bits // 8
    shift = off_bits % 8
    nbytes = (shift + nbits + 7) // 8
    mask = (1 << nbits) - 1
    lo, hi = (-(1 << (nbits - 1)), (1 << (nbits - 1)) - 1) if signed else (0, mask)
    little = sys.byteorder == "little"

    def get(self: Any) -> int:
        raw = int.from_bytes(ctypes.string_at(ctypes.addressof(self) + start, nbytes), sys.byteorder)
        v = (raw >> shift) & mask if little else (raw >> (nbytes * 8 - shift - nbits)) & mask
        if signed and v & (1 << (nbits - 1)):
            v -= 1 << nbits
        return v

    def put(self: Any, value: Any) -> None:
        if isinstance(value, float) or not hasattr(value, "__index__"):
            raise BpfTypeError(f"bitfield needs an int, not {type(value).__name__}")
        v = value.__index__()
        if not lo <= v <= hi:
            raise BpfOverflowError(f"{v} does not fit a {nbits}-bit {'signed ' if signed else ''}bitfield ({lo}..{hi})")
        addr = ctypes.addressof(self) + start
        raw = int.from_bytes(ctypes.string_at(addr, nbytes), sys.byteorder)
        sh = shift if little else nbytes * 8 - shift - nbits
        raw = (raw & ~(mask << sh)) | ((v & mask) << sh)
        ctypes.memmove(addr, raw.to_bytes(nbytes, sys.byteorder), nbytes)

    return property(get, put)


def _bytes_property(off: int, n: int, strip: bool) -> property:
    def get(self: Any) -> bytes:
        b = ctypes.string_at(ctypes.addressof(self) + off, n)
        return b.rstrip(b"\0") if strip else b

    def put(self: Any, value: Any) -> None:
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, memoryview):
            value = value.tobytes()
        if not isinstance(value, (bytes, bytearray)):
            raise BpfTypeError(f"needs bytes or str, not {type(value).__name__}")
        if len(value) > n or (not strip and len(value) != n):
            raise BpfValueError(f"{len(value)} bytes do not fit a {n}-byte field")
        ctypes.memmove(ctypes.addressof(self) + off, bytes(value).ljust(n, b"\0"), n)

    return property(get, put)


def _bigint_property(off: int, n: int, signed: bool) -> property:
    def get(self: Any) -> int:
        return int.from_bytes(ctypes.string_at(ctypes.addressof(self) + off, n), sys.byteorder, signed=signed)

    def put(self: Any, value: Any) -> None:
        if isinstance(value, float) or not hasattr(value, "__index__"):
            raise BpfTypeError(f"needs an int, not {type(value).__name__}")
        try:
            raw = value.__index__().to_bytes(n, sys.byteorder, signed=signed)
        except OverflowError:
            raise BpfOverflowError(f"{value} does not fit a {n}-byte int") from None
        ctypes.memmove(ctypes.addressof(self) + off, raw, n)

    return property(get, put)


def _record_members(btf: Btf, t: Struct | Union_ | Datasec) -> list[tuple[str, int, int, int]]:
    """(name, type id, bit offset, bitfield size) of each member."""
    if isinstance(t, Datasec):
        out = []
        for v in sorted(t.vars, key=lambda v: v.offset):
            var = btf[v.type]
            if isinstance(var, Var):
                out.append((var.name, var.type, v.offset * 8, 0))
            else:  # a function in a datasec (ksyms): no storage to decode
                continue
        return out
    return [(m.name, m.type, m.offset, m.bitfield_size) for m in t.members]


def _build_record(btf: Btf, tid: int, t: Struct | Union_ | Datasec, cache: dict[int, type[Any]], depth: int) -> type[Any]:
    is_union = isinstance(t, Union_)
    fields: list[tuple[str, Any]] = []
    props: dict[str, property] = {}
    order: list[str] = []
    anon: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    arrays: dict[str, tuple[type[Any], Codec]] = {}
    structs: dict[str, type[Any]] = {}
    pos = 0
    used: set[str] = set()
    for k, (mname, mtype, bit_off, bits) in enumerate(_record_members(btf, t)):
        mtid, mt = _resolve(btf, mtype)
        name = mname or f"_anon{k}"
        if name in used:
            name = f"{name}_{k}"
        used.add(name)
        if isinstance(mt, Int) and not bits and (mt.bits != mt.size * 8 or mt.offset):
            bits = mt.bits
            bit_off += mt.offset
        if bits or bit_off % 8:
            signed = isinstance(mt, (Int, Enum, Enum64)) and mt.signed
            props[name] = _bitfield_property(bit_off, bits or btf.size_of(mtid) * 8, signed)
            order.append(name)
            continue
        off = bit_off // 8
        size = btf.size_of(mtid)
        special: property | None = None
        if isinstance(mt, Array) and _is_char(_resolve(btf, mt.type)[1]):
            special = _bytes_property(off, size, strip=True)
        elif isinstance(mt, Int) and mt.size not in _UINTS:
            special = _bigint_property(off, size, mt.signed)
        if special is not None or (not is_union and off < pos) or (is_union and off != 0):
            # a property over raw bytes: char arrays, 128-bit ints, or members ctypes cannot place
            if special is None:
                sub = _build_ctype(btf, mtid, cache, depth + 1)
                special = _view_property(sub, off)
            props[name] = special
            order.append(name)
            continue
        ct = _build_ctype(btf, mtid, cache, depth + 1)
        if not is_union and off > pos:
            fields.append((f"_pad{pos}", ctypes.c_uint8 * (off - pos)))
        fields.append((name, ct))
        pos = max(pos, off + ctypes.sizeof(ct))
        if mname:
            order.append(name)
        elif isinstance(mt, (Struct, Union_)):
            anon.append(name)
            order.extend(getattr(ct, "_field_order", ()))
        else:
            order.append(name)
        if isinstance(mt, (Int, Enum, Enum64)) and mt.size in _UINTS and not (isinstance(mt, Int) and mt.encoding & IntEncoding.BOOL):
            nb = mt.size * 8
            ranges[name] = (-(1 << (nb - 1)), (1 << (nb - 1)) - 1) if mt.signed else (0, (1 << nb) - 1)
        elif isinstance(mt, Ptr):
            ranges[name] = (0, (1 << 64) - 1)
        elif isinstance(mt, Array):
            arrays[name] = (ct, _btf_codec(btf, mtid))
        elif isinstance(mt, (Struct, Union_)):
            structs[name] = ct
    total = t.size
    if is_union:
        biggest = max((ctypes.sizeof(f[1]) for f in fields), default=0)
        if biggest < total or not fields:
            fields.append(("_pad_end", ctypes.c_uint8 * total))
    elif pos < total:
        fields.append((f"_pad{pos}", ctypes.c_uint8 * (total - pos)))
    base = BtfUnion if is_union else BtfStruct
    kind = "union" if is_union else ("datasec" if isinstance(t, Datasec) else "struct")
    pyname = "".join(c if c.isalnum() or c == "_" else "_" for c in t.name) if t.name else f"anon_{kind}_{tid}"
    ns: dict[str, Any] = {
        "_fields_": fields,
        "_field_order": tuple(order),
        "_int_ranges": ranges,
        "_array_fields": arrays,
        "_struct_fields": structs,
        "_btf_name": f"{kind} {t.name}" if t.name else f"anonymous {kind}",
        "__module__": __name__,
    }
    if anon:
        ns["_anonymous_"] = anon
    cls = type(pyname, (base,), ns)
    for pname, prop in props.items():
        setattr(cls, pname, prop)
    if ctypes.sizeof(cls) != total:
        raise ObjectFormatError(
            f"BTF {kind} {t.name!r} (id {tid}) laid out as {ctypes.sizeof(cls)} bytes, BTF says {total}", section=".BTF"
        )
    return cls


def _view_property(sub: type[Any], off: int) -> property:
    """A member ctypes cannot place (overlapping, or off zero in a union): read and write it in place."""
    codec = _ctypes_codec(sub)

    def get(self: Any) -> Any:
        return codec.decode(ctypes.string_at(ctypes.addressof(self) + off, codec.size))

    def put(self: Any, value: Any) -> None:
        raw = codec.encode(value)
        ctypes.memmove(ctypes.addressof(self) + off, raw, len(raw))

    return property(get, put)


def _btf_codec(btf: Btf, type_id: int) -> Codec:
    tid, t = _resolve(btf, type_id)
    if isinstance(t, Int):
        if t.size in _INT_FMT:
            return IntCodec(t.size, t.signed, t.name or None)
        return BigIntCodec(t.size, t.signed, t.name or None)
    if isinstance(t, (Enum, Enum64)):
        return IntCodec(t.size, t.signed, f"enum {t.name}" if t.name else "enum")
    if isinstance(t, Ptr):
        return IntCodec(8, False, "pointer")
    if isinstance(t, Float):
        if t.size in (4, 8):
            return FloatCodec(t.size, t.name or None)
        return BytesCodec(t.size, t.name or None)
    if isinstance(t, Array):
        _, et = _resolve(btf, t.type)
        if _is_char(et):
            return CharArrayCodec(t.nelems)
        if _is_byte(et):
            return BytesCodec(t.nelems, f"{et.name}[{t.nelems}]")
        return ArrayCodec(_btf_codec(btf, t.type), t.nelems)
    if isinstance(t, (Struct, Union_, Datasec)):
        ct = btf_ctype(btf, tid)
        return CtypesCodec(ct, ct._btf_name)
    if isinstance(t, Var):
        return _btf_codec(btf, t.type)
    raise BpfValueError(f"BTF type {type_id} ({t.kind.name.lower()} {t.name!r}) has no size to encode")


# ---- NumPy dtypes ----------------------------------------------------------------


def require_numpy(what: str) -> Any:
    """The numpy module; a ModuleNotFoundError saying ``what`` needs it when it is not installed."""
    try:
        import numpy
    except ImportError:
        raise ModuleNotFoundError(
            f"{what} needs NumPy, an optional dependency of bpfkit: pip install numpy (or 'bpfkit[numpy]')",
            name="numpy",
        ) from None
    return numpy




def btf_dtype(btf: Btf, type_id: int) -> Any:
    """The NumPy dtype of a sized BTF type (cached per (btf, id)); ImportError without NumPy.

    Ints, enums and pointers become NumPy ints (bool as ``?``), floats floats,
    char arrays ``S<n>``, other arrays subarray dtypes, structs, unions and
    datasecs structured dtypes with the BTF's member names and offsets
    (anonymous members' fields lifted into the parent when their names are
    free). Members NumPy cannot express (bitfields, odd-sized ints and floats)
    are left out; their bytes stay in the itemsize. Ints of odd sizes are ``V<n>``.
    """
    np = require_numpy("a NumPy dtype")
    per: dict[int, Any] = btf._cache("dtypes")
    dt = per.get(type_id)
    if dt is None:
        dt = _build_dtype(np, btf, type_id, 0)
        per[type_id] = dt
    return dt


def _build_dtype(np: Any, btf: Btf, type_id: int, depth: int) -> Any:
    if depth > 64:
        raise ObjectFormatError(f"BTF type {type_id} nests too deeply", section=".BTF")
    _, t = _resolve(btf, type_id)
    if isinstance(t, Int):
        if t.encoding & IntEncoding.BOOL and t.size == 1:
            return np.dtype("?")
        if t.size in _INT_FMT:
            return np.dtype(f"{_ORDER}{'i' if t.signed else 'u'}{t.size}")
        return np.dtype((np.void, t.size))
    if isinstance(t, (Enum, Enum64)):
        if t.size not in _INT_FMT:
            raise ObjectFormatError(f"BTF enum {t.name!r} has size {t.size}", section=".BTF")
        return np.dtype(f"{_ORDER}{'i' if t.signed else 'u'}{t.size}")
    if isinstance(t, Ptr):
        return np.dtype(f"{_ORDER}u8")
    if isinstance(t, Float):
        return np.dtype(f"{_ORDER}f{t.size}") if t.size in (2, 4, 8) else np.dtype((np.void, t.size))
    if isinstance(t, Array):
        _, et = _resolve(btf, t.type)
        if _is_char(et):
            return np.dtype(f"S{t.nelems}") if t.nelems else np.dtype((np.void, 0))
        return _subarray(np, _build_dtype(np, btf, t.type, depth + 1), t.nelems)
    if isinstance(t, (Struct, Union_, Datasec)):
        return _record_dtype(np, btf, t, depth)
    if isinstance(t, Var):
        return _build_dtype(np, btf, t.type, depth + 1)
    raise BpfValueError(f"BTF type {type_id} ({t.kind.name.lower()} {t.name!r}) has no size to encode")


def _subarray(np: Any, elem: Any, n: int) -> Any:
    """``n`` of ``elem`` as one subarray dtype (an array of arrays is one multi-dimensional subarray)."""
    if elem.subdtype is not None:
        base, shape = elem.subdtype
        return np.dtype((base, (n, *shape)))
    return np.dtype((elem, (n,)))


def _record_dtype(np: Any, btf: Btf, t: Struct | Union_ | Datasec, depth: int) -> Any:
    members: list[tuple[str, Any, int, bool]] = []  # (name, dtype, offset, anonymous record)
    for k, (mname, mtype, bit_off, bits) in enumerate(_record_members(btf, t)):
        mtid, mt = _resolve(btf, mtype)
        if bits or bit_off % 8 or (isinstance(mt, Int) and (mt.bits != mt.size * 8 or mt.offset)):
            continue  # a bitfield: NumPy has no such thing
        sub = _build_dtype(np, btf, mtid, depth + 1)
        lift = not mname and isinstance(mt, (Struct, Union_)) and bool(sub.names)
        members.append((mname or f"_anon{k}", sub, bit_off // 8, lift))
    taken = [n for n, _, _, lift in members if not lift]
    names: list[str] = []
    formats: list[Any] = []
    offsets: list[int] = []
    for name, sub, off, lift in members:
        if lift:  # lift an anonymous member's fields, as C code names them, unless a name is taken
            inner = list(sub.names)
            if not any(n in taken for n in inner):
                for n in inner:
                    names.append(n)
                    formats.append(sub.fields[n][0])
                    offsets.append(off + sub.fields[n][1])
                taken.extend(inner)
                continue
        names.append(name)
        formats.append(sub)
        offsets.append(off)
    seen: set[str] = set()
    for i, n in enumerate(names):  # BTF allows repeated member names (datasecs, hand-made BTF)
        if n in seen:
            names[i] = f"{n}_{i}"
        seen.add(names[i])
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": t.size})


# ---- the entry point ----------------------------------------------------------

CodecSpec = None | str | bytes | struct.Struct | type | Codec | tuple[Btf, int]
"""What :func:`make_codec` accepts: None, a type name or struct format (str, bytes or struct.Struct), a ctypes
type, ``(Btf, type_id)``, a NumPy dtype or a Codec."""

_STRUCT_FMT_RE = r"^[@=<>!]?[\sxcbB?hHiIlLqQnNefdspP0-9]+$"  # compiled on first use: a load needs no regex


def _is_dtype(spec: object) -> bool:
    """True for a NumPy dtype (only an already imported NumPy can have made one)."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(spec, np.dtype)


def make_codec(spec: CodecSpec | Any, size: int | None = None, *, what: str = "value") -> Codec:
    """The codec for ``spec``; when ``size`` is given the codec must be exactly that size.

    See the module docstring for the accepted specs. A size mismatch raises
    ValueError naming both sizes.
    """
    codec: Codec
    if spec is None:
        if size is None:
            raise BpfValueError(f"{what}: give a type or a size")
        codec = IntCodec(size) if size in _INT_FMT else VoidCodec() if size == 0 else BytesCodec(size)
    elif isinstance(spec, Codec):
        codec = spec
    elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], Btf):
        try:
            codec = _btf_codec(spec[0], int(spec[1]))
        except IndexError:
            raise BpfValueError(f"{what}: the BTF has no type id {spec[1]}") from None
        codec.btf_type = (spec[0], int(spec[1]))
    elif isinstance(spec, (str, bytes)):
        try:
            s = (spec.decode("ascii") if isinstance(spec, bytes) else spec).strip()
        except UnicodeDecodeError:
            raise BpfValueError(f"{what}: {spec!r} is neither a type name nor a struct format") from None
        import re

        if s in _NAMED_INTS or s in _NAMED_FLOATS or "[" in s or not re.match(_STRUCT_FMT_RE, s):
            codec = _named_codec(s)
        else:
            codec = StructFormatCodec(s)
    elif isinstance(spec, struct.Struct):
        codec = StructFormatCodec(spec.format)
    elif isinstance(spec, type) and issubclass(spec, (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array)):
        codec = _ctypes_codec(spec)
    elif _is_dtype(spec):
        codec = DtypeCodec(spec)
    else:
        raise BpfTypeError(
            f"{what}: cannot make a codec from {type(spec).__name__} {spec!r}; a type is a name such as 'u32' or "
            "'char[16]', a struct format (str, bytes or struct.Struct), a ctypes type, (Btf, type_id), "
            "a NumPy dtype or a Codec"
        )
    if size is not None and codec.size != size:
        raise BpfValueError(f"{what} type {codec.name} is {codec.size} bytes but the map's {what} is {size} bytes")
    return codec

