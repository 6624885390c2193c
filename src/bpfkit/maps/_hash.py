"""Hash maps (BPF_MAP_TYPE_HASH, LRU_HASH): the mapping protocol."""

from __future__ import annotations

import errno as E
from collections.abc import Iterator

from .._uapi import Cmd, MapType, UpdateFlags
from ..errors import KernelError, MapKeyError, NotSupportedError
from ._base import _NO_KEY, Map

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HashMap", "LruHashMap", "RHashMap"]

_MISSING: Any = object()


class HashMap(Map):
    """A hash-like map: ``m[k]``, ``m[k] = v``, ``del m[k]``, ``get``, ``in``, ``len``, ``keys/values/items``,
    ``pop``, ``popitem``, ``setdefault``, ``clear``.

    ``m.update(k, v, flags)`` is the kernel's update (BPF_ANY/NOEXIST/EXIST), not
    ``dict.update``; use :meth:`update_batch` to write many entries at once.
    Iteration survives concurrent deletes; ``len`` counts by iterating.
    """

    map_types = (MapType.HASH,)

    __getitem__ = Map._getitem
    __setitem__ = Map._setitem
    __delitem__ = Map.delete
    __contains__ = Map._has
    get = Map._get_or

    def __iter__(self) -> Iterator[Any]:
        return self.keys()

    def __len__(self) -> int:
        if self.max_entries >= 256 and self._batch_ok(Cmd.MAP_LOOKUP_BATCH):
            total = 0
            for _, _, count in self._batch_chunks(Cmd.MAP_LOOKUP_BATCH, None):
                if count < 0:
                    return sum(1 for _ in self._iter_raw_keys())
                total += count
            return total
        return sum(1 for _ in self._iter_raw_keys())

    def __bool__(self) -> bool:
        return self._next_raw(None) is not None

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove ``key`` and return its value (atomically with lookup-and-delete where the kernel has it)."""
        try:
            return self.lookup_and_delete(key)
        except MapKeyError:
            if default is _MISSING:
                raise
            return default
        except NotSupportedError:
            pass  # kernels before 5.14: lookup, then delete (not atomic)
        except KernelError as exc:
            if exc.errno not in (E.EINVAL, E.EOPNOTSUPP, 524):
                raise
        value = self.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise MapKeyError(key, map_name=self.name)
            return default
        try:
            self.delete(key)
        except MapKeyError:
            if default is _MISSING:
                raise
            return default
        return value

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return some (key, value); MapKeyError when empty."""
        while True:
            raw = self._next_raw(None)
            if raw is None:
                raise MapKeyError(_NO_KEY, map_name=self.name)
            key = self.key_codec.decode(raw)
            try:
                return key, self.pop(raw)
            except MapKeyError:
                continue  # taken by someone else meanwhile

    def setdefault(self, key: Any, default: Any) -> Any:
        """Insert ``default`` unless ``key`` exists (BPF_NOEXIST, so no race); return the value now stored."""
        try:
            self.update(key, default, UpdateFlags.NOEXIST)
        except KernelError as exc:
            if exc.errno != E.EEXIST:
                raise
        return self.lookup(key)

    def clear(self) -> None:
        """Delete every entry (lookup-and-delete batches where the kernel has them)."""
        if self._batch_ok(Cmd.MAP_LOOKUP_AND_DELETE_BATCH):
            self.lookup_and_delete_batch(raw=True)
            return
        for raw in list(self._iter_raw_keys()):
            try:
                self.delete(raw)
            except MapKeyError:
                pass


class LruHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_HASH: a hash map that evicts the least recently used entry when full (Linux 4.10)."""

    map_types = (MapType.LRU_HASH,)


class RHashMap(HashMap):
    """BPF_MAP_TYPE_RHASH: a hash map on the kernel's resizable hash table, which grows and shrinks with its
    elements instead of preallocating max_entries (created with BPF_F_NO_PREALLOC, which the kernel requires;
    checked present in Linux 7.2). Tracing programs cannot use it (the verifier refuses)."""

    map_types = (MapType.RHASH,)
