"""Array maps (BPF_MAP_TYPE_ARRAY) as sequences, and IndexedMap, the base of maps indexed by a slot number."""

from __future__ import annotations

import errno as E
from collections.abc import Iterable, Iterator

from .. import host
from .._sys.syscall import last_errno, mmap_fd
from .._uapi import Cmd, MapFlags, MapType
from ..errors import BpfIndexError, BpfTypeError, BpfValueError, MapKeyError
from ._base import Map
from ._codec import Codec, IntCodec, make_codec, round_up

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ArrayMap", "IndexedMap"]


class _Indexed(Map):
    """Keys are u32 indexes 0..max_entries-1; negative indexes count from the end."""

    default_key_size = 4

    def _make_key_codec(self, spec: Any) -> Codec:
        if self.key_size != 4:
            raise BpfValueError(f"{type(self).__name__} keys are 4-byte indexes, not {self.key_size} bytes")
        if spec is not None:
            codec = make_codec(spec, 4, what="key")
            if not isinstance(codec, IntCodec):
                raise BpfValueError(f"{type(self).__name__} keys are indexes, not {codec.name}")
        return IntCodec(4)

    def _index(self, index: Any) -> int:
        if isinstance(index, int):
            idx = index
        elif hasattr(index, "__index__") and not isinstance(index, (bytes, bytearray, memoryview)):
            idx = int(index.__index__())
        else:
            raise BpfTypeError(f"{self._desc} is indexed by int, not {type(index).__name__}")
        n = self.max_entries
        i = idx + n if idx < 0 else idx
        if not 0 <= i < n:
            raise BpfIndexError(f"index {index} out of range for {self._desc} with {n} entries")
        return i

    def __len__(self) -> int:
        return self.max_entries

    def keys(self) -> Iterator[int]:
        """The indexes, 0..max_entries-1."""
        return iter(range(self.max_entries))


class ArrayMap(_Indexed):
    """BPF_MAP_TYPE_ARRAY as a fixed-length sequence: ``a[i]``, ``a[i] = v``, negative indexes, slices,
    iteration over values, ``len(a) == max_entries``. Elements cannot be deleted (the kernel keeps every
    index); ``del a[i]`` raises TypeError and :meth:`Map.delete` gets the kernel's EINVAL.
    """

    map_types = (MapType.ARRAY,)

    def __getitem__(self, index: Any) -> Any:
        # Map._getitem inlined for plain indexes (one Python frame per a[i], not two); the key's
        # memoryview item refuses what is not a u32 (slices, negative numbers, floats) and the
        # kernel indexes past the end, which then take the general path.
        take, give, call, kv, _, _, vv, vunpack, vbuf = self._ops_get
        if kv is not None:
            try:
                take()
            except IndexError:  # buffers in use: another thread or a re-entrant call
                return self._get_general(index)
            try:
                try:
                    kv[0] = index
                except (TypeError, ValueError):
                    pass
                else:
                    if call() >= 0:
                        return vv[0] if vv is not None else vunpack(vbuf)[0]
                    if last_errno() != E.ENOENT:
                        raise self._fail(Cmd.MAP_LOOKUP_ELEM, index, 0)
            finally:
                give(True)
        return self._get_general(index)

    def _get_general(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self._getitem(i) for i in range(*index.indices(self.max_entries))]
        return self._getitem(self._index(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        # Map._setitem inlined for plain indexes, as in __getitem__
        take, give, call, kv, _, _, vv, vpack, vbuf = self._ops_set
        if kv is not None and type(index) is not slice:
            try:
                take()
            except IndexError:  # buffers in use: another thread or a re-entrant call
                self._setitem(self._index(index), value)
                return
            try:
                try:
                    kv[0] = index
                except (TypeError, ValueError):
                    pass
                else:
                    try:
                        if vv is not None:
                            vv[0] = value
                        else:
                            vpack(vbuf, 0, value)
                    except Exception:
                        self._encode_value(value, vbuf)
                    if call() >= 0:
                        return
                    if last_errno() != E.E2BIG or index < self.max_entries:  # E2BIG: an index past the end
                        raise self._fail(Cmd.MAP_UPDATE_ELEM, index, 0)
            finally:
                give(True)
        if isinstance(index, slice):
            idx = range(*index.indices(self.max_entries))
            vals = list(value)
            if len(vals) != len(idx):
                raise BpfValueError(f"slice of {len(idx)} entries of {self._desc} cannot take {len(vals)} values")
            self.update_batch(zip(idx, vals, strict=True))
            return
        self._setitem(self._index(index), value)

    def __delitem__(self, index: Any) -> None:
        raise BpfTypeError(
            f"{self._desc}: array elements cannot be deleted (every index always exists); assign a zero value instead"
        )

    def __iter__(self) -> Iterator[Any]:
        return self.values()

    def __contains__(self, value: Any) -> bool:
        target = self.value_codec.encode(value)
        return any(v == target for _, v in self.items(raw=True))

    def get(self, index: int, default: Any = None) -> Any:
        """``a[index]``, or ``default`` when the index is out of range."""
        try:
            return self[index]
        except IndexError:
            return default

    def mmap(self, *, writable: bool | None = None) -> Any:
        """An mmap of the array's values (BPF_F_MMAPABLE arrays; element i at i * round_up(value_size, 8)).

        Writable unless the map is read-only to user space (BPF_F_RDONLY) or ``writable=False``.
        """
        if not self.flags & MapFlags.MMAPABLE:
            raise BpfTypeError(f"{self._desc} was not created with BPF_F_MMAPABLE")
        size = round_up(self.max_entries * round_up(self.value_size, 8), host.page_size())
        if writable is None:
            writable = not self.flags & MapFlags.RDONLY
        with self._fd.borrow() as fd:
            return mmap_fd(fd, size, writable=writable)


class IndexedMap(_Indexed):
    """Maps indexed by slot whose slots may be empty (program, perf event, cgroup arrays, map arrays,
    devmap, cpumap, xskmap, sockmap): ``m[i] = obj``, ``m[i]`` (MapKeyError when empty), ``del m[i]``,
    ``i in m``, ``get``; ``len(m)`` is the number of slots, ``items()`` the filled ones.
    """

    def __getitem__(self, index: Any) -> Any:
        return self._getitem(self._index(index))

    def __setitem__(self, index: Any, value: Any) -> None:
        self._setitem(self._index(index), value)

    def __delitem__(self, index: Any) -> None:
        self.delete(self._index(index))

    def __contains__(self, index: Any) -> bool:
        try:
            i = self._index(index)
        except IndexError:
            return False
        return self._has(i)

    def get(self, index: int, default: Any = None) -> Any:
        """``m[index]``, or ``default`` when the slot is empty."""
        return self._get_or(self._index(index), default)

    def __iter__(self) -> Iterator[int]:
        return self.keys()

    def keys(self) -> Iterator[int]:
        """The indexes of the filled slots."""
        return (i for i, _ in self._filled(False))

    def items(self, *, batch: bool | None = None, raw: bool = False) -> Iterator[tuple[Any, Any]]:
        """(index, value) of the filled slots."""
        return self._filled(raw)

    def _filled(self, raw: bool) -> Iterator[tuple[Any, Any]]:
        for i in range(self.max_entries):
            try:
                v = self.lookup_raw(i) if raw else self.lookup(i)
            except MapKeyError:
                continue
            yield (self.key_codec.encode(i), v) if raw else (i, v)

    def clear(self, indexes: Iterable[int] | None = None) -> None:
        """Empty every slot (or the given ones)."""
        for i in range(self.max_entries) if indexes is None else indexes:
            try:
                self.delete(self._index(i))
            except MapKeyError:
                pass
