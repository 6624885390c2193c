"""Queue and stack maps (BPF_MAP_TYPE_QUEUE / STACK): push, pop, peek."""

from __future__ import annotations

from collections.abc import Iterator

from .._uapi import MapType, UpdateFlags
from ..errors import MapKeyError, QueueEmptyError
from ._base import Map

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["QueueEmptyError", "QueueMap", "StackMap"]


class _Fifo(Map):

    def push(self, value: Any, *, overwrite: bool = False) -> None:
        """Add a value; when full, KernelError(E2BIG) unless ``overwrite`` (BPF_EXIST) drops the oldest."""
        self.update(None, value, UpdateFlags.EXIST if overwrite else UpdateFlags.ANY)

    def pop(self) -> Any:
        """Remove and return the next value (oldest for a queue, newest for a stack); QueueEmptyError when empty."""
        try:
            return self.lookup_and_delete(None)
        except MapKeyError:
            raise QueueEmptyError(None, map_name=self.name) from None

    def peek(self) -> Any:
        """The next value without removing it; QueueEmptyError when empty."""
        try:
            return self.lookup(None)
        except MapKeyError:
            raise QueueEmptyError(None, map_name=self.name) from None

    def drain(self) -> Iterator[Any]:
        """Pop until empty."""
        while True:
            try:
                yield self.pop()
            except QueueEmptyError:
                return


class QueueMap(_Fifo):
    """BPF_MAP_TYPE_QUEUE (Linux 4.20): FIFO; key_size 0."""

    map_types = (MapType.QUEUE,)


class StackMap(_Fifo):
    """BPF_MAP_TYPE_STACK (Linux 4.20): LIFO; key_size 0."""

    map_types = (MapType.STACK,)
