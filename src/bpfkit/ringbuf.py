"""Ring buffers shared with BPF programs: RingBuffer reads BPF_MAP_TYPE_RINGBUF, UserRingBuffer
writes BPF_MAP_TYPE_USER_RINGBUF.

Layout (kernel/bpf/ringbuf.c): page 0 of the map holds the consumer position,
page 1 the producer position, and the data area follows, mapped twice in a
row so that a record which wraps past the end is contiguous in memory. Each
record starts with an 8-byte header: a u32 length whose bit 31 (BUSY) says the
record is reserved but not committed yet and bit 30 (DISCARD) says it was
dropped, then a u32 page offset; records are padded to 8 bytes. The reader
walks committed records from its consumer position, stops at a BUSY record,
skips DISCARD records (still advancing past them) and publishes the new
consumer position after the records it covers were delivered.

Speed: no syscall per record. Headers are read through a ``u32`` memoryview of
the mapping; runs of committed records of equal length are found with one
strided read and decoded by C-level iterators (``struct.iter_unpack`` over
groups of records, ``map``), so a Python callback costs little more than the
call itself. ``read_batch(out=array)`` copies records into an array the caller
reuses, without a fresh allocation (and its page faults) per call.

Record lifetime: by default a callback receives a ``bytes`` copy (or a decoded
value). With ``zero_copy=True`` it receives a read-only memoryview into the
ring, valid only until the callback returns: the reader then releases it
(using it afterwards raises ValueError) and the kernel may reuse the space.
A view is not free: making and releasing one costs about as much as copying
4 KiB (~0.1 us), where a small record's copy costs ~20 ns; so ``zero_copy``
pays off only for records of several KiB, and halves the rate of 64-byte ones.

Callback results: a callback returning a true value (for instance a non-zero
int, like libbpf's negative return) stops the current :meth:`RingBuffer.poll`
or :meth:`RingBuffer.consume` after that record; an exception stops it and
propagates. Either way that record counts as consumed and is not delivered
again.

One thread at a time may use a reader.
"""

from __future__ import annotations

import errno as E
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from operator import length_hint
from types import TracebackType

from ._bufreader import (
    BLOCK_BYTES,
    RUN_MAX,
    MapLike,
    Reader,
    RecordCodec,
    close_unclosed,
    lazy_host,
    map_name,
    numpy_or_none,
    open_map,
    release_views,
    same_prefix,
)
from ._sys import Fd
from ._sys import attrs as A
from ._sys import ring as R
from ._sys.epoll import EPOLLET, EPOLLIN, EPOLLOUT, Epoll
from ._uapi import MapType, RingbufHeaderBits
from .errors import BpfTypeError, BpfValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import mmap
    from typing import Any

__all__ = ["MapLike", "Ring", "RingBuffer", "UserRingBuffer"]

# the record header's bits (BPF_RINGBUF_*), as plain ints for the record loops
BUSY_BIT = int(RingbufHeaderBits.BUSY_BIT)
DISCARD_BIT = int(RingbufHeaderBits.DISCARD_BIT)
HDR_SZ = int(RingbufHeaderBits.HDR_SZ)
_LEN_MASK = DISCARD_BIT - 1


# ---- RingBuffer -------------------------------------------------------------------------


class Ring:
    """One BPF_MAP_TYPE_RINGBUF map of a :class:`RingBuffer`, with its callback and counters."""

    def __init__(self, index: int, owner: RingBuffer, fd: Fd, info: A.MapInfo, callback: Callable[[Any], object] | None,
                 codec: RecordCodec) -> None:
        self.index = index
        self.name = map_name(info)
        self.map_id = int(info.id)
        self.size = int(info.max_entries)
        self.callback = callback
        self.codec = codec
        self.records = 0
        self.discarded = 0
        self.lost_counter: Any = None  # the map the BPF side counts failed reserves in (RingBuffer docstring)
        self._owner = owner
        self._fd = fd
        self._mask = self.size - 1
        page = lazy_host().page_size()
        self._cons_map: mmap.mmap | None = R.map_pages(fd.fd, page, writable=True, offset=0, what=f"ring {self.name!r}")
        try:
            self._data_map: mmap.mmap | None = R.map_pages(
                fd.fd, page + 2 * self.size, writable=False, offset=page, what=f"ring {self.name!r}"
            )
        except BaseException:
            R.unmap(self._cons_map)
            raise
        whole = memoryview(self._data_map)
        self._cons = memoryview(self._cons_map).cast("Q")
        self._prod = whole[:8].cast("Q")
        self._data = whole[page:]
        self._hdr = self._data.cast("I")
        whole.release()

    @property
    def _emit(self) -> Callable[[Any], object] | None:
        """The callback records go to under poll/consume."""
        return self.callback

    @property
    def lost(self) -> int | None:
        """Records the producer could not reserve, read from its loss counter (summed over CPUs);
        None when the ring has no counter (see :class:`RingBuffer`)."""
        counter = self.lost_counter
        if counter is None:
            return None
        value = counter.lookup(0)
        return int(sum(value)) if isinstance(value, list) else int(value)

    @property
    def consumer_pos(self) -> int:
        """Bytes consumed since the map was created (the kernel's consumer position)."""
        return int(self._cons[0])

    @property
    def producer_pos(self) -> int:
        """Bytes reserved by producers since the map was created."""
        return int(self._prod[0])

    @property
    def pending(self) -> int:
        """Bytes reserved but not yet consumed (committed, busy or discarded records)."""
        return int(self._prod[0]) - int(self._cons[0])

    def __repr__(self) -> str:
        return f"<Ring {self.name!r} {self.size} B records={self.records} discarded={self.discarded}>"

    def __str__(self) -> str:
        return f"ring {self.name!r}"

    # The consumer loop. Positions are u64 counts of bytes; `cons` is ours alone to write.
    def _next_run(self, cons: int, budget: int, np: Any = None, publish: bool = True,
                  max_bytes: int = 1 << 62) -> tuple[int, int, int, int]:
        """(cons, record length, stride, count) of the next run of same-size committed records.

        Skips discarded records (publishing past them); count 0 means nothing is
        ready (empty, or the next record is still BUSY). With ``np`` (NumPy) the
        headers are compared in one vector step and runs are not capped; with
        ``publish`` false the caller publishes (discards included) later.
        """
        hdr = self._hdr
        mask = self._mask
        while True:
            prod = self._prod[0]
            if R.ACQUIRE_FENCE is not None:
                R.ACQUIRE_FENCE()
            if cons >= prod:
                return cons, 0, 0, 0
            off = cons & mask
            ln = hdr[off >> 2]
            if ln & BUSY_BIT:
                return cons, 0, 0, 0
            if ln & DISCARD_BIT:
                cons += ((ln & _LEN_MASK) + HDR_SZ + 7) & ~7
                self.discarded += 1
                if publish:
                    self._publish(cons)
                continue
            stride = (ln + HDR_SZ + 7) & ~7
            k = max(min((prod - cons) // stride, budget, RUN_MAX if np is None else budget, max_bytes // stride), 1)
            if k > 1:
                if np is not None:
                    k = same_prefix(np, self._data, off, stride, k, ln, "=u4")
                else:
                    heads = hdr[off >> 2:(off + k * stride) >> 2:stride >> 2].tolist()
                    if heads.count(ln) != k:
                        k = next(i for i, h in enumerate(heads) if h != ln)
            if R.ACQUIRE_FENCE is not None:
                R.ACQUIRE_FENCE()  # the headers were read before any record byte is
            return cons, ln, stride, max(k, 1)

    def _publish(self, cons: int) -> None:
        if R.RELEASE_FENCE is not None:
            R.RELEASE_FENCE()
        self._cons[0] = cons

    def _bad_length(self, cons: int, ln: int) -> None:
        stride = (ln + HDR_SZ + 7) & ~7
        self._publish(cons + stride)  # skip it, or every later poll would fail on it again
        self.codec.check(ln, str(self))

    def _drain(self, emit: Callable[[Any], object] | None, out: list[Any] | None, budget: int) -> tuple[int, bool]:
        """Deliver up to ``budget`` records to ``emit`` (or append copies to ``out``); (count, stopped)."""
        cons = self._cons[0]
        limit = cons + self.size  # at most one ring's worth per call, so a busy producer cannot pin us here
        codec = self.codec
        data = self._data
        copy = out is not None
        n = 0
        while n < budget and cons < limit:
            cons, ln, stride, k = self._next_run(cons, budget - n)
            if k == 0:
                break
            if ln < codec.size:
                self._bad_length(cons, ln)
            off = cons & self._mask
            if k == 1:
                try:
                    rec = codec.one(data, off + HDR_SZ, ln, copy)
                    if out is not None:
                        out.append(rec)
                        stop = False
                    else:
                        assert emit is not None
                        stop = bool(emit(rec))
                        if codec.zero_copy and codec.kind == "raw":
                            release_views([rec])
                finally:
                    cons += stride
                    n += 1
                    self.records += 1
                    self._publish(cons)
                if stop:
                    return n, True
                continue
            vals, src, views = codec.run(data, off, stride, HDR_SZ, ln, k, copy)
            stop = False
            try:
                if out is not None:
                    out.extend(vals)
                else:
                    assert emit is not None
                    stop = any(map(emit, vals))
            finally:
                done = k - length_hint(src)
                cons += done * stride
                n += done
                self.records += done
                self._publish(cons)
                release_views(views)
            if stop:
                return n, True
        return n, False

    def _records_iter(self) -> Iterator[Any]:
        """Yield copies of the available records, each consumed (position published) as it is yielded.

        Holds no view of the ring while suspended, and stops if someone else
        moved the consumer position meanwhile.
        """
        cons = self._cons[0]
        limit = cons + self.size
        codec = self.codec
        while cons < limit:
            cons, ln, stride, k = self._next_run(cons, 1 << 62)
            if k == 0:
                return
            if ln < codec.size:
                self._bad_length(cons, ln)
            vals, _, _ = codec.run(self._data, cons & self._mask, stride, HDR_SZ, ln, min(k, RUN_MAX), True)
            copies = list(vals)
            del vals
            for v in copies:
                cons += stride
                self.records += 1
                self._publish(cons)
                yield v
                if self._cons[0] != cons:
                    return

    def _gather(self, sink: Callable[[Any], bool], budget: int) -> tuple[int, Callable[[], None]]:
        """Hand NumPy views of up to ``budget`` available records to ``sink``, a cache-sized block at a time.

        ``sink(view)`` copies or keeps the view and returns False to end the batch
        before it. Returns (count, commit): ``commit()`` publishes the consumer
        position once the views were copied out.
        """
        np = numpy_or_none()
        start = cons = self._cons[0]
        limit = cons + self.size
        codec = self.codec
        data = self._data
        n = 0
        while n < budget and cons < limit:
            cons, ln, stride, k = self._next_run(cons, budget - n, np, publish=False, max_bytes=BLOCK_BYTES)
            if k == 0:
                break
            if ln < codec.size:
                if n:
                    break  # deliver what came before; the next read raises
                self._bad_length(cons, ln)
            if not sink(np.ndarray((k,), codec.payload_dtype(ln), data, (cons & self._mask) + HDR_SZ, (stride,))):
                break
            cons += k * stride
            n += k

        def commit() -> None:
            self.records += n
            if cons != start:
                self._publish(cons)

        return n, commit

    def _close(self) -> int:
        """Unmap and close; returns how many mappings could not be unmapped yet."""
        for v in (self._hdr, self._data, self._prod, self._cons):
            try:
                v.release()
            except BufferError:
                pass
        left = 0 if R.unmap(self._data_map) else 1
        left += 0 if R.unmap(self._cons_map) else 1
        self._data_map = self._cons_map = None
        self._fd.close()
        return left

    def read_batch(self, max_records: int | None = None, *, out: Any = None) -> Any:
        """This ring's available records at once (see :meth:`RingBuffer.read_batch`)."""
        return self._owner._read_batch([self], max_records, out)


class RingBuffer(Reader):
    """Reader of one or more BPF_MAP_TYPE_RINGBUF maps (Linux 5.8) through one epoll fd.

    ``callback(record)`` gets each record under :meth:`poll`/:meth:`consume`;
    ``type`` decodes records: any type a map key or value takes
    (:func:`bpfkit.maps.make_codec`: a name like ``"u64"``, ``"u32[4]"`` or
    ``"char[16]"``, a struct format or struct.Struct, a ctypes type,
    ``(Btf, type_id)``, a NumPy dtype), or a callable taking the bytes.

    Losses: the kernel counts nothing when ``bpf_ringbuf_reserve``/``output``
    fails because the ring is full, so records dropped while the reader falls
    behind are invisible here unless the BPF side counts them. The convention
    bpfkit reads: next to ring buffer map ``NAME`` the object declares a map
    ``NAME_lost`` (a ``BPF_MAP_TYPE_PERCPU_ARRAY`` or ``ARRAY`` of one ``__u64``
    at key 0) and adds 1 to it on every failed reserve/output (a per-CPU
    ``(*cnt)++`` or ``__sync_fetch_and_add``). :func:`bpfkit.load` then links it
    to the ring's map (``RingBufMap.lost_counter``) and :attr:`Ring.lost` /
    :attr:`lost` read it; ``lost=`` of :meth:`add` names such a map explicitly.
    :attr:`discarded` counts something else: records the producer discarded.
    """

    def __init__(self, map: MapLike | None = None, callback: Callable[[Any], object] | None = None, *,
                 type: object = None, zero_copy: bool = False, lost: Any = None) -> None:
        R.check_ordering("RingBuffer")
        super().__init__("RingBuffer")
        self._sources: list[Ring] = []
        if map is not None:
            try:
                self.add(map, callback, type=type, zero_copy=zero_copy, lost=lost)
            except BaseException:
                self.close()
                raise

    def add(self, map: MapLike, callback: Callable[[Any], object] | None = None, *, type: object = None,
            zero_copy: bool = False, lost: Any = None) -> Ring:
        """Watch another ring buffer map; returns its :class:`Ring` (counters, callback).

        ``lost`` is the map where the BPF side counts failed reserves (default: the
        map's ``lost_counter``, set by :func:`bpfkit.load` by the ``NAME_lost`` convention).
        """
        self._check_open()
        if lost is None:
            lost = getattr(map, "lost_counter", None)
        if lost is not None and not callable(getattr(lost, "lookup", None)):
            raise BpfTypeError(f"RingBuffer: lost= must be a bpfkit Map (an array of one u64), not {lost.__class__.__name__}")
        codec = RecordCodec(type, zero_copy)
        fd, info = open_map(map, (MapType.RINGBUF,), "RingBuffer")
        try:
            if any(r.map_id == info.id for r in self._sources):
                raise BpfValueError(f"map {map_name(info)!r} is already in this RingBuffer")
            ring = Ring(len(self._sources), self, fd, info, callback, codec)
        except BaseException:
            fd.close()
            raise
        ring.lost_counter = lost
        try:
            self._ep.register(fd.fd, ring.index, EPOLLIN)
        except BaseException:
            ring._close()
            raise
        self._sources.append(ring)
        return ring

    @property
    def rings(self) -> list[Ring]:
        """The rings in the order they were added."""
        return list(self._sources)

    @property
    def records(self) -> int:
        """Records delivered so far (all rings)."""
        return sum(r.records for r in self._sources)

    @property
    def discarded(self) -> int:
        """Discarded records skipped so far (all rings)."""
        return sum(r.discarded for r in self._sources)

    @property
    def lost(self) -> int | None:
        """Records the producers could not reserve, by their loss counters (all rings that have
        one; None when none has: see the class docstring)."""
        counts = [n for n in (r.lost for r in self._sources) if n is not None]
        return sum(counts) if counts else None

    def __enter__(self) -> RingBuffer:
        return self

    def __repr__(self) -> str:
        state = "closed" if self.closed else ", ".join(r.name for r in self._sources)
        return f"<RingBuffer {state}>"


# ---- UserRingBuffer ----------------------------------------------------------------------

_DYNPTR_MAX = (1 << 24) - 1  # the kernel hands samples to BPF as dynptrs, at most this size


class UserRingBuffer:
    """Writer of a BPF_MAP_TYPE_USER_RINGBUF map (Linux 6.1); BPF drains it with bpf_user_ringbuf_drain.

    ``reserve(size)`` returns a writable memoryview of the sample; ``submit`` or
    ``discard`` hands it to the kernel and releases the view. Several samples may
    be reserved at once; the kernel consumes them in reservation order. Not
    thread-safe: one producer at a time.
    """

    def __init__(self, map: MapLike) -> None:
        R.check_ordering("UserRingBuffer")
        fd, info = open_map(map, (MapType.USER_RINGBUF,), "UserRingBuffer")
        self.name = map_name(info)
        self.size = int(info.max_entries)
        self._mask = self.size - 1
        self._fd = fd
        self._ep: Epoll | None = None
        self._cons_map: mmap.mmap | None = None
        self._data_map: mmap.mmap | None = None
        self._pending: OrderedDict[int, tuple[memoryview, int]] = OrderedDict()
        self.submitted = 0
        self.discarded = 0
        page = lazy_host().page_size()
        try:
            self._cons_map = R.map_pages(fd.fd, page, writable=False, offset=0, what=f"user ring {self.name!r}")
            self._data_map = R.map_pages(fd.fd, page + 2 * self.size, writable=True, offset=page,
                                         what=f"user ring {self.name!r}")
            self._ep = Epoll()
            self._ep.register(fd.fd, 0, EPOLLOUT | EPOLLET)
        except BaseException:
            self.close()
            raise
        whole = memoryview(self._data_map)
        self._cons = memoryview(self._cons_map).cast("Q")
        self._prod = whole[:8].cast("Q")
        self._data = whole[page:]
        self._hdr = self._data.cast("I")
        whole.release()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._fd.closed

    def fileno(self) -> int:
        """The epoll fd: readable when the kernel has freed space."""
        if self._ep is None:
            raise BpfValueError(f"user ring {self.name!r} is closed")
        return self._ep.fileno()

    @property
    def available(self) -> int:
        """Free bytes in the ring now (a sample needs its size plus 8, rounded up to 8)."""
        self._check_open()
        return self.size - (int(self._prod[0]) - int(self._cons[0]))

    def _check_open(self) -> None:
        if self._fd.closed:
            raise BpfValueError(f"user ring {self.name!r} is closed")

    def _try_reserve(self, size: int, total: int) -> memoryview | None:
        cons = self._cons[0]
        if R.ACQUIRE_FENCE is not None:
            R.ACQUIRE_FENCE()
        prod = self._prod[0]
        if self.size - (prod - cons) < total:
            return None
        off = prod & self._mask
        self._hdr[off >> 2] = size | BUSY_BIT
        self._hdr[(off >> 2) + 1] = 0
        if R.RELEASE_FENCE is not None:
            R.RELEASE_FENCE()
        self._prod[0] = prod + total
        view = self._data[off + HDR_SZ:off + HDR_SZ + size]
        self._pending[id(view)] = (view, off >> 2)
        return view

    def reserve(self, size: int, *, timeout: float | None = 0.0) -> memoryview:
        """Reserve a ``size``-byte sample and return it as a writable memoryview.

        Waits up to ``timeout`` seconds (None: forever; 0, the default: not at
        all) for the kernel to free space, then raises TimeoutError.
        """
        self._check_open()
        if isinstance(size, bool) or not isinstance(size, int):
            raise BpfTypeError(f"size must be an int, not {type(size).__name__}")
        total = (size + HDR_SZ + 7) & ~7
        if size < 0 or size > _DYNPTR_MAX or total > self.size:
            raise BpfValueError(
                f"a {size}-byte sample does not fit user ring {self.name!r} ({self.size} bytes; samples are at most "
                f"{min(_DYNPTR_MAX, self.size - HDR_SZ)} bytes)"
            )
        view = self._try_reserve(size, total)
        if view is not None:
            return view
        deadline = None if timeout is None else time.monotonic() + timeout
        assert self._ep is not None
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(
                    E.ETIMEDOUT,
                    f"no room for a {size}-byte sample in user ring {self.name!r} "
                    f"({self.available} of {self.size} bytes free) within {timeout} s",
                )
            self._ep.wait(remaining)
            view = self._try_reserve(size, total)
            if view is not None:
                return view

    def _finish(self, sample: memoryview | None, discard: bool) -> None:
        self._check_open()
        if sample is None:
            if not self._pending:
                raise BpfValueError(f"user ring {self.name!r} has no reserved sample")
            _, (view, idx) = self._pending.popitem(last=False)
        else:
            entry = self._pending.pop(id(sample), None)
            if entry is None or entry[0] is not sample:
                raise BpfValueError("not a sample reserved from this user ring (or already submitted)")
            view, idx = entry
        ln = self._hdr[idx] & ~BUSY_BIT
        if discard:
            ln |= DISCARD_BIT
        if R.RELEASE_FENCE is not None:
            R.RELEASE_FENCE()
        self._hdr[idx] = ln
        try:
            view.release()
        except BufferError:
            pass
        if discard:
            self.discarded += 1
        else:
            self.submitted += 1

    def submit(self, sample: memoryview | None = None) -> None:
        """Hand a reserved sample (default: the oldest one) to the kernel."""
        self._finish(sample, False)

    def discard(self, sample: memoryview | None = None) -> None:
        """Drop a reserved sample (default: the oldest one); the kernel skips it."""
        self._finish(sample, True)

    def write(self, data: Any, *, timeout: float | None = 0.0) -> None:
        """Reserve, copy ``data`` (any bytes-like object, ctypes instance included) and submit."""
        src = memoryview(data)
        if src.ndim != 1 or src.format not in ("B", "b", "c"):
            src = src.cast("B") if src.c_contiguous else memoryview(src.tobytes())
        view = self.reserve(src.nbytes, timeout=timeout)
        try:
            view[:] = src
        except BaseException:
            self.discard(view)
            raise
        self.submit(view)

    def close(self) -> None:
        """Discard unsubmitted samples, unmap and close (idempotent)."""
        if self._fd.closed:
            return
        if self._data_map is not None and not self._data_map.closed:
            while self._pending:
                self._finish(None, True)
            for v in (self._hdr, self._data, self._prod, self._cons):
                try:
                    v.release()
                except BufferError:
                    pass
        R.unmap(self._data_map)
        R.unmap(self._cons_map)
        self._data_map = self._cons_map = None
        if self._ep is not None:
            self._ep.close()
            self._ep = None
        self._fd.close()

    def __enter__(self) -> UserRingBuffer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None and not fd.closed:
            close_unclosed(f"UserRingBuffer {self.name!r}", self.close)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.size} B, {self.submitted} submitted"
        return f"<UserRingBuffer {self.name!r} {state}>"

