"""BCC's table objects (``b["name"]``) over bpfkit maps: ctypes keys and values, as BCC hands them out.

Each table wraps a map and works on raw bytes underneath; ``Key`` and ``Leaf``
are the ctypes types of the map's key and value, and every method accepts
them, other ctypes instances of the same size (``ct.c_int(59)``), plain ints
for integer types, or bytes of the exact size.
"""

from __future__ import annotations

import ctypes
import json
import time
from collections.abc import Callable, Iterator, MutableMapping
from functools import reduce
from typing import Any, Protocol

from .._uapi import MapType
from ..errors import MapKeyError
from ._hist import LINEAR_INDEX_MAX, LOG2_INDEX_MAX, format_linear_hist, format_log2_hist, sections

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .bpf import BPF

__all__ = [
    "Array",
    "ArrayBase",
    "CgroupArray",
    "CpuMap",
    "DevMap",
    "HashTable",
    "LpmTrie",
    "LruHash",
    "LruPerCpuHash",
    "PerCpuArray",
    "PerCpuHash",
    "PerfEventArray",
    "ProgArray",
    "QueueStack",
    "RawMap",
    "RingBuf",
    "StackTrace",
    "Table",
    "TableBase",
    "XskMap",
]


class RawMap(Protocol):
    """What a table needs from a map: its shape and byte-level element operations."""

    type: Any
    key_size: int
    value_size: int
    max_entries: int

    @property
    def fd(self) -> int:
        """The map fd."""

    def lookup_raw(self, key: Any, flags: int = 0) -> bytes:
        """Value bytes of ``key`` (all CPUs for per-CPU maps); KeyError when absent."""

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        """Set ``key`` to ``value`` (bytes of the exact size accepted)."""

    def delete(self, key: Any) -> None:
        """Delete ``key``; KeyError when absent."""

    def items(self, *, batch: bool | None = None, raw: bool = False) -> Iterator[tuple[Any, Any]]:
        """(key, value) pairs; bytes when ``raw``."""


def _possible_cpus() -> int:
    from ..host import possible_cpus

    return possible_cpus()


def _to_bytes(obj: Any, ctype: Any, what: str) -> bytes:
    """Encode a key or value: ctypes instance of the right size, int, bytes, or a list for arrays."""
    size = ctypes.sizeof(ctype)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
        if len(b) != size:
            raise ValueError(f"{what} must be {size} bytes, got {len(b)}")
        return b
    if isinstance(obj, (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array)):
        b = ctypes.string_at(ctypes.addressof(obj), ctypes.sizeof(obj))
        if len(b) != size and isinstance(obj, ctypes._SimpleCData) and isinstance(obj.value, int) \
                and not isinstance(obj.value, bool) and size in (1, 2, 4, 8) \
                and -(1 << (size * 8 - 1)) <= obj.value < (1 << (size * 8)):
            # BCC copies sizeof(table type) bytes from the object (klockstat stores a c_int in a u64 array,
            # readahead looks up a c_ulong key in a u32 array): take the integer's value when it fits
            return _to_bytes(obj.value, ctype, what)
        if len(b) != size:
            raise ValueError(f"{what} is a {type(obj).__name__} of {len(b)} bytes; the table wants {size} bytes "
                             f"({getattr(ctype, '__name__', ctype)})")
        return b
    if isinstance(obj, int):
        if issubclass(ctype, ctypes._SimpleCData):
            try:
                return bytes(ctype(obj))
            except TypeError:
                pass
        if size in (1, 2, 4, 8):
            return int(obj).to_bytes(size, "little", signed=obj < 0)
        raise TypeError(f"{what}: an int cannot be a {size}-byte {getattr(ctype, '__name__', ctype)}")
    if hasattr(obj, "fd") and isinstance(obj.fd, int):  # BPF.Function or Program into a prog array
        return int(obj.fd).to_bytes(size, "little") if size in (4, 8) else _to_bytes(obj.fd, ctype, what)
    if isinstance(obj, (list, tuple)) and issubclass(ctype, ctypes.Array):
        return bytes(ctype(*obj))
    raise TypeError(f"{what} must be a {getattr(ctype, '__name__', ctype)}, an int or bytes, "
                    f"not {type(obj).__name__}")


def _from_bytes(ctype: Any, data: bytes) -> Any:
    return ctype.from_buffer_copy(data[: ctypes.sizeof(ctype)])


class TableBase(MutableMapping[Any, Any]):
    """A map seen as BCC's table: a mutable mapping of ``Key`` -> ``Leaf`` ctypes instances."""

    def __init__(self, bpf: BPF | None, map: RawMap, name: str, keytype: Any, leaftype: Any,
                 reducer: Callable[[Any, Any], Any] | None = None) -> None:
        self.bpf = bpf
        self.map = map
        self.name = name
        self.Key = keytype
        self.Leaf = leaftype
        self.reducer = reducer
        self.max_entries = int(map.max_entries)
        self.flags = int(getattr(map, "flags", 0))
        self._cbs: dict[int, Any] = {}

    @property
    def map_fd(self) -> int:
        """The map fd (BCC's name)."""
        return int(self.map.fd)

    def get_fd(self) -> int:
        """The map fd."""
        return self.map_fd

    @property
    def map_id(self) -> int:
        """The kernel id of the map."""
        return int(getattr(self.map, "id", 0))

    @property
    def ttype(self) -> int:
        """The map type number."""
        return int(self.map.type)

    # ---- conversions ------------------------------------------------------------

    def _key(self, key: Any) -> bytes:
        return _to_bytes(key, self.Key, f"key of table {self.name!r}")

    def _leaf(self, leaf: Any) -> bytes:
        return _to_bytes(leaf, self.Leaf, f"value of table {self.name!r}")

    def _dkey(self, raw: bytes) -> Any:
        return _from_bytes(self.Key, raw)

    def _dleaf(self, raw: bytes) -> Any:
        return _from_bytes(self.Leaf, raw)

    # ---- mapping protocol -----------------------------------------------------------

    def __getitem__(self, key: Any) -> Any:
        try:
            raw = self.map.lookup_raw(self._key(key))
        except MapKeyError:
            raise KeyError(key) from None
        return self._dleaf(raw)

    def __setitem__(self, key: Any, leaf: Any) -> None:
        self.map.update(self._key(key), self._leaf(leaf), 0)

    def __delitem__(self, key: Any) -> None:
        try:
            self.map.delete(self._key(key))
        except MapKeyError:
            raise KeyError(key) from None

    def _raw_items(self) -> Iterator[tuple[bytes, bytes]]:
        for k, v in self.map.items(raw=True):
            yield bytes(k), bytes(v)

    def __iter__(self) -> Iterator[Any]:
        for k, _ in self._raw_items():
            yield self._dkey(k)

    def __len__(self) -> int:
        return sum(1 for _ in self._raw_items())

    def keys(self) -> list[Any]:  # type: ignore[override]
        """All keys (a list, as BCC)."""
        return list(self)

    def values(self) -> list[Any]:  # type: ignore[override]
        """All values."""
        return [self._dleaf(v) for _, v in self._raw_items()]

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        """All (key, value) pairs."""
        return [(self._dkey(k), self._dleaf(v)) for k, v in self._raw_items()]

    def itervalues(self) -> Iterator[Any]:
        """Values one by one."""
        for _, v in self._raw_items():
            yield self._dleaf(v)

    def iteritems(self) -> Iterator[tuple[Any, Any]]:
        """Items one by one."""
        for k, v in self._raw_items():
            yield self._dkey(k), self._dleaf(v)

    def clear(self) -> None:
        """Delete every key."""
        for k in [k for k, _ in self._raw_items()]:
            try:
                self.map.delete(k)
            except MapKeyError:
                pass

    def zero(self) -> None:
        """Set every existing value to zero."""
        zero = bytes(ctypes.sizeof(self.Leaf))
        for k, _ in list(self._raw_items()):
            self.map.update(k, zero, 0)

    def items_lookup_batch(self) -> Iterator[tuple[Any, Any]]:
        """All items (batch syscalls where the kernel has them)."""
        for k, v in self.map.items(batch=True, raw=True):
            yield self._dkey(bytes(k)), self._dleaf(bytes(v))

    def items_delete_batch(self, ct_keys: Any = None) -> None:
        """Delete the given keys (all when None)."""
        keys = [self._key(k) for k in ct_keys] if ct_keys is not None else [k for k, _ in self._raw_items()]
        for k in keys:
            try:
                self.map.delete(k)
            except MapKeyError:
                pass

    def items_lookup_and_delete_batch(self) -> Iterator[tuple[Any, Any]]:
        """All items, each deleted after it is read."""
        for k, v in list(self._raw_items()):
            try:
                self.map.delete(k)
            except MapKeyError:
                continue
            yield self._dkey(k), self._dleaf(v)

    def items_update_batch(self, ct_keys: Any, ct_values: Any) -> None:
        """Set keys to values pairwise."""
        for k, v in zip(ct_keys, ct_values, strict=True):
            self[k] = v

    # ---- histograms --------------------------------------------------------------

    def _int(self, v: Any) -> int:
        return int(v.value) if hasattr(v, "value") else int(v)

    def _hist_data(self, index_max: int, bucket_fn: Callable[[Any], Any] | None,
                   bucket_sort_fn: Callable[[list[Any]], list[Any]] | None) -> tuple[bool, list[tuple[Any, list[int]]]]:
        """(sectioned, [(bucket, slot counts)]): one section per bucket for struct keys, else one."""
        if isinstance(self.Key(), ctypes.Structure):
            names = [f[0] for f in self.Key._fields_ if not f[0].startswith("__pad")]
            if len(names) < 2:
                raise TypeError(f"table {self.name!r}: a sectioned histogram key needs a bucket and a slot field")
            f1, f2 = names[0], names[1]
            triples = []
            for k, v in self.items():
                bucket = getattr(k, f1)
                if isinstance(bucket, ctypes.Array):
                    bucket = bytes(bucket)
                triples.append((bucket, int(getattr(k, f2)), self._int(v)))
            return True, sections(triples, index_max, bucket_fn, bucket_sort_fn)
        vals = [0] * index_max
        for k, v in self.items():
            i = self._int(k)
            if 0 <= i < index_max:
                vals[i] = self._int(v)
        return False, [(None, vals)]

    def print_log2_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                        section_print_fn: Callable[[Any], str] | None = None,
                        bucket_fn: Callable[[Any], Any] | None = None, strip_leading_zero: bool | None = None,
                        bucket_sort_fn: Callable[[list[Any]], list[Any]] | None = None) -> None:
        """Print the table as a power-of-two histogram (keys are log2 slots), BCC's format."""
        data = self._hist_data(LOG2_INDEX_MAX, bucket_fn, bucket_sort_fn)
        self._print_hist(data, val_type, section_header, section_print_fn, strip_leading_zero, format_log2_hist)

    def print_linear_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                          section_print_fn: Callable[[Any], str] | None = None,
                          bucket_fn: Callable[[Any], Any] | None = None, strip_leading_zero: bool | None = None,
                          bucket_sort_fn: Callable[[list[Any]], list[Any]] | None = None) -> None:
        """Print the table as a linear histogram (keys are values), BCC's format."""
        data = self._hist_data(LINEAR_INDEX_MAX, bucket_fn, bucket_sort_fn)
        self._print_hist(data, val_type, section_header, section_print_fn, strip_leading_zero, format_linear_hist)

    @staticmethod
    def _print_hist(data: tuple[bool, list[tuple[Any, list[int]]]], val_type: str, section_header: str,
                    section_print_fn: Callable[[Any], str] | None, strip: bool | None,
                    fmt: Callable[[list[int], str, bool | None], list[str]]) -> None:
        sectioned, groups = data
        for bucket, vals in groups:
            if sectioned:
                shown = section_print_fn(bucket) if section_print_fn else repr(bucket)
                print(f"\n{section_header} = {shown}")
            for line in fmt(vals, val_type, strip):
                print(line)

    def print_json_hist(self, val_type: str = "value", section_header: str = "Bucket ptr",
                        section_print_fn: Callable[[Any], str] | None = None,
                        bucket_fn: Callable[[Any], Any] | None = None,
                        bucket_sort_fn: Callable[[list[Any]], list[Any]] | None = None) -> None:
        """Print the log2 histogram as JSON lines (one per section)."""
        sectioned, groups = self._hist_data(LOG2_INDEX_MAX, bucket_fn, bucket_sort_fn)
        for bucket, vals in groups:
            hist = []
            last = max((i for i, v in enumerate(vals) if v), default=0)
            index, prev = 1, 0
            for i in range(1, last + 1):
                index *= 2
                hist.append({"interval-start": prev, "interval-end": index - 1, "count": int(vals[i])})
                prev = index
            obj: dict[str, Any] = {"ts": time.strftime("%Y-%m-%d %H:%M:%S"), "val_type": val_type, "data": hist}
            if sectioned:
                obj[section_header] = section_print_fn(bucket) if section_print_fn else repr(bucket)
            print(json.dumps(obj))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {getattr(self.Key, '__name__', '?')} -> " \
               f"{getattr(self.Leaf, '__name__', '?')}>"


class HashTable(TableBase):
    """BPF_HASH."""


class LruHash(HashTable):
    """BPF_LRU_HASH."""


class LpmTrie(TableBase):
    """BPF_LPM_TRIE."""


class ArrayBase(TableBase):
    """Arrays: every index exists; deleting zeroes the value."""

    def _key(self, key: Any) -> bytes:
        if isinstance(key, int) and not isinstance(key, bool) and not 0 <= key < self.max_entries:
            raise IndexError(f"index {key} out of range for table {self.name!r} of {self.max_entries} entries")
        return super()._key(key)

    def __len__(self) -> int:
        return self.max_entries

    def __iter__(self) -> Iterator[Any]:
        for i in range(self.max_entries):
            yield self.Key(i)

    def _raw_items(self) -> Iterator[tuple[bytes, bytes]]:
        for i in range(self.max_entries):
            k = self._key(i)
            try:
                yield k, self.map.lookup_raw(k)
            except MapKeyError:
                continue

    def __delitem__(self, key: Any) -> None:
        self.map.update(self._key(key), bytes(self._value_size()), 0)

    def _value_size(self) -> int:
        return ctypes.sizeof(self.Leaf)

    def clear(self) -> None:
        """Zero every element."""
        zero = bytes(self._value_size())
        for i in range(self.max_entries):
            self.map.update(self._key(i), zero, 0)

    def zero(self) -> None:
        """Zero every element."""
        self.clear()


class Array(ArrayBase):
    """BPF_ARRAY (and BPF_HISTOGRAM with int keys)."""


class CgroupArray(ArrayBase):
    """BPF_CGROUP_ARRAY: values are cgroup directory fds (set with a path or an fd)."""

    def __setitem__(self, key: Any, leaf: Any) -> None:
        import os

        if isinstance(leaf, str):
            fd = os.open(leaf, os.O_RDONLY)
            try:
                self.map.update(self._key(key), fd.to_bytes(4, "little"), 0)
            finally:
                os.close(fd)
            return
        super().__setitem__(key, leaf)


class ProgArray(ArrayBase):
    """BPF_PROG_ARRAY: values are program fds (a BPF.Function, an fd int, or a ctypes int)."""

    def __delitem__(self, key: Any) -> None:
        try:
            self.map.delete(self._key(key))
        except MapKeyError:
            raise KeyError(key) from None

    def _raw_items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(())  # the kernel does not read back program fds


class DevMap(ArrayBase):
    """BPF_DEVMAP."""


class CpuMap(ArrayBase):
    """BPF_CPUMAP."""


class XskMap(ArrayBase):
    """BPF_XSKMAP."""


class _PerCpu:
    """Per-CPU values: one ``sLeaf`` per possible CPU, each in an 8-byte aligned slot."""

    sLeaf: Any
    Leaf: Any
    reducer: Any
    name: str

    def _percpu_setup(self) -> None:
        self.sLeaf = self.Leaf
        self.total_cpu = _possible_cpus()
        self._stride = (ctypes.sizeof(self.sLeaf) + 7) // 8 * 8
        self.Leaf = self.sLeaf * self.total_cpu

    def _values(self, raw: bytes) -> Any:
        """The per-CPU values as an ``sLeaf * ncpus`` ctypes array."""
        size = ctypes.sizeof(self.sLeaf)
        arr = self.Leaf()
        for i in range(self.total_cpu):
            arr[i] = self.sLeaf.from_buffer_copy(raw[i * self._stride: i * self._stride + size])
        return arr

    def _dleaf(self, raw: bytes) -> Any:
        arr = self._values(raw)
        return reduce(self.reducer, arr) if self.reducer is not None else arr

    def _leaf(self, leaf: Any) -> bytes:
        if isinstance(leaf, (bytes, bytearray)) and len(leaf) == self._stride * self.total_cpu:
            return bytes(leaf)
        if isinstance(leaf, (list, tuple, ctypes.Array)):
            items = list(leaf)
        else:
            items = [leaf] * self.total_cpu
        if len(items) != self.total_cpu:
            raise ValueError(f"table {self.name!r} is per-CPU: give {self.total_cpu} values, got {len(items)}")
        out = bytearray()
        for v in items:
            b = _to_bytes(v, self.sLeaf, f"value of table {self.name!r}")
            out += b + bytes(self._stride - len(b))
        return bytes(out)

    def _value_size(self) -> int:
        return self._stride * self.total_cpu

    def getvalue(self, key: Any) -> Any:
        """The per-CPU values of ``key`` (an ``sLeaf * ncpus`` array; no reducer)."""
        try:
            raw = self.map.lookup_raw(self._key(key))  # type: ignore[attr-defined]
        except MapKeyError:
            raise KeyError(key) from None
        return self._values(raw)

    def _ints(self, key: Any) -> list[int]:
        if issubclass(self.sLeaf, (ctypes.Structure, ctypes.Union)):
            raise IndexError("Leaf must be an integer type for default sum functions")
        return [int(v) for v in self.getvalue(key)]

    def sum(self, key: Any) -> Any:
        """The sum over CPUs, as an ``sLeaf``."""
        return self.sLeaf(sum(self._ints(key)))

    def max(self, key: Any) -> Any:
        """The maximum over CPUs, as an ``sLeaf``."""
        return self.sLeaf(max(self._ints(key)))

    def average(self, key: Any) -> float:
        """The mean over CPUs."""
        return float(self.sum(key).value) / self.total_cpu

    def _key(self, key: Any) -> bytes:  # provided by the table class
        raise NotImplementedError


class PerCpuHash(_PerCpu, TableBase):
    """BPF_PERCPU_HASH: values are ``sLeaf * ncpus`` arrays (or reduced with ``reducer``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        TableBase.__init__(self, *args, **kwargs)
        self._percpu_setup()

    def _key(self, key: Any) -> bytes:
        return TableBase._key(self, key)


class LruPerCpuHash(PerCpuHash):
    """BPF_LRU_PERCPU_HASH."""


class PerCpuArray(_PerCpu, ArrayBase):
    """BPF_PERCPU_ARRAY."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        ArrayBase.__init__(self, *args, **kwargs)
        self._percpu_setup()

    def _key(self, key: Any) -> bytes:
        return ArrayBase._key(self, key)


class _EventTable(TableBase):
    """Tables that carry events to user space; ``event(data)`` decodes one."""

    _event_class: Any = None

    def event(self, data: Any) -> Any:
        """The event struct (a ctypes instance copied out of ``data``: pointer, bytes or memoryview)."""
        cls = self._event_class
        if cls is None:
            raise TypeError(
                f"table {self.name!r}: the type of its events is unknown; pass the address of a struct "
                "variable (&data) or sizeof(struct ...) to perf_submit/ringbuf_output in the C code")
        size = ctypes.sizeof(cls)
        if isinstance(data, (bytes, bytearray, memoryview)):
            b = bytes(data)
            if len(b) < size:
                b += bytes(size - len(b))
            return cls.from_buffer_copy(b[:size])
        if isinstance(data, ctypes.c_void_p):
            addr = data.value
        elif isinstance(data, int):
            addr = data
        else:
            addr = ctypes.cast(data, ctypes.c_void_p).value
        if not addr:
            raise ValueError("event(): NULL data")
        return cls.from_buffer_copy(ctypes.string_at(addr, size))


class PerfEventArray(_EventTable):
    """BPF_PERF_OUTPUT: ``open_perf_buffer(callback)`` then ``BPF.perf_buffer_poll()``."""

    def open_perf_buffer(self, callback: Callable[..., Any], page_cnt: int = 8,
                         lost_cb: Callable[[int], Any] | None = None, wakeup_events: int = 1) -> None:
        """Read this map's per-CPU buffers; ``callback(cpu, data, size)`` per event, ``lost_cb(count)``."""
        if page_cnt & (page_cnt - 1) or page_cnt <= 0:
            raise ValueError("page_cnt must be a power of two")
        if self.bpf is None:
            raise TypeError(f"table {self.name!r} is not attached to a BPF object")
        self.bpf._open_perf_buffer(self, callback, page_cnt, lost_cb, wakeup_events)

    def __delitem__(self, key: Any) -> None:
        if self.bpf is not None:
            self.bpf._close_perf_buffer(self)

    def _raw_items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(())


class RingBuf(_EventTable):
    """BPF_RINGBUF_OUTPUT: ``open_ring_buffer(callback)`` then ``BPF.ring_buffer_poll()``."""

    def open_ring_buffer(self, callback: Callable[..., Any], ctx: Any = None) -> None:
        """Read this ring buffer; ``callback(ctx, data, size)`` per record."""
        if self.bpf is None:
            raise TypeError(f"table {self.name!r} is not attached to a BPF object")
        self.bpf._open_ring_buffer(self, callback, ctx)

    def _raw_items(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(())

    def __len__(self) -> int:
        return 0


class StackTrace(TableBase):
    """BPF_STACK_TRACE: ``walk(stack_id)`` yields the instruction pointers of a stack."""

    def walk(self, stack_id: int, resolve: Callable[[int], Any] | None = None) -> Iterator[Any]:
        """The addresses of stack ``stack_id`` (resolved with ``resolve`` if given), innermost first."""
        if stack_id < 0:
            return
        try:
            leaf = self[stack_id]
        except KeyError:
            return
        for addr in leaf.ip:
            if not addr:
                break
            yield resolve(addr) if resolve is not None else addr


class QueueStack(TableBase):
    """BPF_QUEUE / BPF_STACK: push, pop and peek values (there are no keys)."""

    def push(self, leaf: Any, flags: int = 0) -> None:
        """Add a value (flags=BPF_EXIST replaces the oldest when full)."""
        self.map.update(None, self._leaf(leaf), flags)

    def pop(self) -> Any:  # type: ignore[override]
        """Remove and return the next value; KeyError when empty."""
        try:
            value = self.map.lookup_and_delete(None)  # type: ignore[attr-defined]
        except MapKeyError:
            raise KeyError("empty") from None
        if isinstance(value, int):  # the map decoded a 1/2/4/8-byte value: back to its bytes
            value = value.to_bytes(int(self.map.value_size), "little", signed=value < 0)
        return self._dleaf(bytes(value))

    def peek(self) -> Any:
        """The next value without removing it; KeyError when empty."""
        try:
            raw = self.map.lookup_raw(None)
        except MapKeyError:
            raise KeyError("empty") from None
        return self._dleaf(raw)

    def itervalues(self) -> Iterator[Any]:
        """Pop values until the queue is empty."""
        while True:
            try:
                yield self.pop()
            except KeyError:
                return

    def values(self) -> list[Any]:  # type: ignore[override]
        """Pop every value."""
        return list(self.itervalues())

    def __getitem__(self, key: Any) -> Any:
        raise TypeError("queues and stacks have no keys: use push/pop/peek")

    def __setitem__(self, key: Any, leaf: Any) -> None:
        raise TypeError("queues and stacks have no keys: use push/pop/peek")

    def __delitem__(self, key: Any) -> None:
        raise TypeError("queues and stacks have no keys: use push/pop/peek")

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("queues and stacks cannot be iterated without popping: use itervalues()")

    def __len__(self) -> int:
        raise TypeError("the kernel does not report how many values a queue or stack holds")


_CLASSES: dict[int, type[TableBase]] = {
    MapType.HASH: HashTable,
    MapType.ARRAY: Array,
    MapType.PROG_ARRAY: ProgArray,
    MapType.PERF_EVENT_ARRAY: PerfEventArray,
    MapType.PERCPU_HASH: PerCpuHash,
    MapType.PERCPU_ARRAY: PerCpuArray,
    MapType.STACK_TRACE: StackTrace,
    MapType.CGROUP_ARRAY: CgroupArray,
    MapType.LRU_HASH: LruHash,
    MapType.LRU_PERCPU_HASH: LruPerCpuHash,
    MapType.LPM_TRIE: LpmTrie,
    MapType.DEVMAP: DevMap,
    MapType.CPUMAP: CpuMap,
    MapType.XSKMAP: XskMap,
    MapType.QUEUE: QueueStack,
    MapType.STACK: QueueStack,
    MapType.RINGBUF: RingBuf,
}


def Table(bpf: BPF | None, map: RawMap, name: str, keytype: Any, leaftype: Any,
          reducer: Callable[[Any, Any], Any] | None = None) -> TableBase:
    """The table class for ``map``'s type, as BCC's ``Table()`` factory."""
    cls = _CLASSES.get(int(map.type), TableBase)
    return cls(bpf, map, name, keytype, leaftype, reducer)
