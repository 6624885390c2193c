"""Typed views of a loaded object's maps, for the modules ``bpfkit gen python`` writes.

``TypedMap[K, V]`` reads and writes a map through ctypes types: an int-like
ctypes type (``c_uint32``) shows as a Python ``int``, a ``c_char`` array as
``bytes``, a ``ctypes.Structure`` as itself. Only ctypes is imported here, so
a generated module stays cheap to import; the map is any bpfkit Map.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator

from ._typing import Generic, TypeVar
from .errors import BpfValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    S = TypeVar("S", bound="Skeleton")

__all__ = ["Skeleton", "TypedMap", "from_bytes", "to_bytes"]

K = TypeVar("K")
V = TypeVar("V")


class Skeleton:
    """Base of the skeleton classes ``bpfkit gen python`` writes: attach, close and ``with`` on the loaded object."""

    collection: Any  # the bpfkit Collection (not imported here: a generated module stays cheap to import)

    def attach(self) -> None:
        """Attach every program that attaches by its section name."""
        self.collection.attach()

    def close(self) -> None:
        """Detach and close everything."""
        self.collection.close()

    def __enter__(self: S) -> S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def from_bytes(ctype: Any, data: bytes) -> Any:
    """``data`` as a value of ctypes type ``ctype``: int/float/bool for scalars, bytes for char arrays."""
    obj = ctype.from_buffer_copy(bytes(data)[: ctypes.sizeof(ctype)].ljust(ctypes.sizeof(ctype), b"\0"))
    if isinstance(obj, ctypes.Array) and getattr(ctype, "_type_", None) is ctypes.c_char:
        return bytes(obj).split(b"\0", 1)[0]
    if isinstance(obj, ctypes._SimpleCData):
        return obj.value
    return obj


def to_bytes(ctype: Any, value: Any) -> bytes:
    """``value`` (an int, bytes, or an instance of ``ctype``) as the bytes of ctypes type ``ctype``."""
    size = ctypes.sizeof(ctype)
    if isinstance(value, (bytes, bytearray)):
        if len(value) > size:
            raise BpfValueError(f"{len(value)} bytes do not fit in {ctype.__name__} ({size} bytes)")
        return bytes(value).ljust(size, b"\0")
    if isinstance(value, ctype):
        return bytes(memoryview(value).cast("B"))
    return bytes(memoryview(ctype(value)).cast("B"))


class TypedMap(Generic[K, V]):
    """A map whose keys and values are read and written as the ctypes types of a generated module."""

    def __init__(self, map: Any, key_type: Any, value_type: Any) -> None:
        self.map = map
        self.key_type = key_type
        self.value_type = value_type

    def __getitem__(self, key: K) -> V:
        raw = self.map.lookup_raw(to_bytes(self.key_type, key))
        return from_bytes(self.value_type, raw)  # type: ignore[no-any-return]

    def __setitem__(self, key: K, value: V) -> None:
        self.map.update(to_bytes(self.key_type, key), to_bytes(self.value_type, value))

    def __delitem__(self, key: K) -> None:
        self.map.delete(to_bytes(self.key_type, key))

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value of ``key``, or ``default`` when the map has no such key."""
        try:
            return self[key]
        except KeyError:
            return default

    def items(self) -> Iterator[tuple[K, V]]:
        """(key, value) pairs, decoded."""
        for k, v in self.map.items(raw=True):
            yield from_bytes(self.key_type, k), from_bytes(self.value_type, v)

    def keys(self) -> Iterator[K]:
        """The keys, decoded."""
        for k, _ in self.items():
            yield k

    def __iter__(self) -> Iterator[K]:
        return self.keys()

    def __len__(self) -> int:
        return sum(1 for _ in self.map.items(raw=True))

    def __repr__(self) -> str:
        return f"TypedMap({self.map!r}, {self.key_type.__name__}, {self.value_type.__name__})"
