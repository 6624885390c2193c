"""What the ring buffer and perf buffer readers share: opening a map, record types (codecs), the reader base.

bpfkit.ringbuf and bpfkit.perf build their readers on :class:`Reader`; both take a map as a
:data:`MapLike` and decode records with the type grammar of map keys and values (:class:`RecordCodec`
over :func:`bpfkit.maps.make_codec`). The module is internal; its names without ``_`` (``__all__``)
are what the two readers use, the ``_`` ones are its own.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import struct
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from itertools import chain, repeat
from types import TracebackType

from ._sys import Fd
from ._sys import attrs as A
from ._sys import commands as C
from ._sys.epoll import EPOLLIN, Epoll
from ._sys.fd import dup_fd, fd_of
from ._uapi import MapType
from .errors import BpfTypeError, BpfValueError, KernelError

__all__ = [
    "BLOCK_BYTES",
    "RUN_MAX",
    "MapLike",
    "Reader",
    "RecordCodec",
    "close_unclosed",
    "lazy_host",
    "map_name",
    "numpy_or_none",
    "open_map",
    "release_views",
    "same_prefix",
]


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class _HasFileno(Protocol):
        def fileno(self) -> int: ...

    class _HasFd(Protocol):
        @property
        def fd(self) -> int: ...

    # A map: a bpfkit Map, anything with fileno() or .fd, or a raw fd.
    MapLike = int | _HasFileno | _HasFd

    class _Source(Protocol):
        """One ring of a reader (a ring buffer map, or one CPU's perf ring): what Reader relies on."""

        callback: Any
        codec: RecordCodec

        @property
        def pending(self) -> int: ...

        @property
        def _emit(self) -> Callable[..., object] | None: ...

        def _drain(self, emit: Callable[..., object] | None, out: list[Any] | None, budget: int) -> tuple[int, bool]: ...

        def _records_iter(self) -> Iterator[Any]: ...

        def _gather(self, sink: Callable[[Any], bool], budget: int) -> tuple[int, Callable[[], None]]: ...

        def _close(self) -> int: ...
else:
    MapLike = "int | _HasFileno | _HasFd"  # type checkers read the alias above; typing stays unimported (issue 18)

RUN_MAX = 1024  # records per run: the consumer position is published at least this often
_BACKOFF = 0.001  # seconds to pause after a wakeup that brought nothing (e.g. a BUSY record at the head)
BLOCK_BYTES = 2 << 20  # read_batch works through the rings in blocks of about this size (fit in the cache)
_UNPACK_GROUP = 32  # records decoded per struct call in runs of one-value records
_MV_RELEASE = memoryview.release


# ---- maps -----------------------------------------------------------------------------


def lazy_host() -> Any:
    """bpfkit.host, imported on first use (it pulls in the BTF parser)."""
    from . import host

    return host


def open_map(m: MapLike, expected: Iterable[MapType], what: str) -> tuple[Fd, A.MapInfo]:
    """A private dup of the map's fd and its kernel info; TypeError if the map type is wrong."""
    theirs = getattr(m, "_fd", None)
    if isinstance(theirs, Fd):  # a bpfkit Map: dup it borrowed, against a concurrent close of it
        fd = -1 if theirs.closed else theirs.fd
        owned = theirs.dup()
    else:
        fd = fd_of(m)
        try:
            owned = dup_fd(fd, "map")  # our own reference: the caller may close theirs first
        except OSError as exc:
            raise KernelError(exc.errno or E.EBADF, command="dup", target=f"map fd {fd}") from None
    try:
        info = A.MapInfo()
        C.obj_get_info_by_fd(owned.fd, info, target=f"map fd {fd}")
    except BaseException:
        owned.close()
        raise
    want = tuple(expected)
    if info.type not in [int(t) for t in want]:
        owned.close()
        try:
            got = MapType(info.type).name.lower()
        except ValueError:
            got = f"type {info.type}"
        names = " or ".join(t.name.lower() for t in want)
        raise BpfTypeError(f"{what} needs a {names} map, but map {map_name(info)!r} (fd {fd}) is {got}")
    owned.what = f"{what} map {map_name(info)!r}"
    return owned, info


def map_name(info: A.MapInfo) -> str:
    return bytes(info.name).split(b"\0", 1)[0].decode(errors="replace") or f"id {info.id}"


# ---- record types -------------------------------------------------------------------


def numpy_or_none() -> Any:
    """NumPy, or None when it is not installed (an optional dependency)."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is in the dev environment
        return None
    return numpy


_CTYPES = (ctypes._SimpleCData, ctypes.Structure, ctypes.Union, ctypes.Array)


class RecordCodec:
    """How one ring's records become Python values: raw bytes or memoryviews, a callable decoder's
    result, or a value decoded by the codec grammar of maps (:func:`bpfkit.maps.make_codec`), with
    fast paths (struct runs, NumPy) for the codecs that have them."""

    __slots__ = ("_at", "_body", "_codec", "_decoder", "_dtype", "_order", "_runs", "kind", "size", "zero_copy")

    def __init__(self, rtype: object, zero_copy: bool, size: int | None = None) -> None:
        self.zero_copy = zero_copy
        self._decoder: Callable[[Any], Any] | None = None
        self._codec: Any = None
        self._at: Callable[[Any, int], Any] | None = None  # decodes the record at (buffer, offset)
        self._dtype: Any = None
        self._order = "<"
        self._body = ""
        self._runs: dict[tuple[int, int, int], tuple[struct.Struct, struct.Struct]] = {}
        self.size = 0  # bytes a record must hold (0: any)
        if rtype is None:
            self.kind = "raw"
        elif callable(rtype) and not (isinstance(rtype, type) and issubclass(rtype, _CTYPES)):
            self.kind = "call"  # a decoder: a function or a class that is not a ctypes type
            self._decoder = rtype
        else:
            self._use(rtype)
        if size is not None:
            if size < self.size:
                raise BpfValueError(f"size={size} is smaller than the record type ({self.size} bytes)")
            self.size = size

    def _use(self, rtype: object) -> None:
        """Decode records as the codec grammar says ``rtype`` is; choose the fastest way to run it."""
        from .maps import _codec as K  # imported when a type is given: it pulls in the BTF types

        codec = K.make_codec(rtype, what="record type")
        if codec.size == 0:
            raise BpfValueError(f"record type {codec.name} has no bytes to decode")
        self._codec = codec
        self.size = codec.size
        if isinstance(codec, (K.IntCodec, K.FloatCodec)):
            self._set_format(codec._st.format, scalar=True)
        elif isinstance(codec, K.StructFormatCodec) and codec.nfields:
            self._set_format(codec._st.format, scalar=codec.nfields == 1)
        elif isinstance(codec, K.DtypeCodec):
            self.kind = "dtype"
            self._dtype = codec.dtype
        else:
            self.kind = "codec"
            self._at = codec.ctype.from_buffer_copy if isinstance(codec, K.CtypesCodec) else codec.decode

    def _set_format(self, fmt: str, *, scalar: bool) -> None:
        from .maps._codec import explicit_format

        self._order, self._body, _, self.size = explicit_format(fmt)
        self.kind = "scalar" if scalar else "struct"

    @property
    def vectorizable(self) -> bool:
        """True when NumPy can decode a run of records in one step."""
        return self.kind != "call"

    def payload_dtype(self, length: int) -> Any:
        """NumPy dtype of one record payload of ``length`` bytes."""
        np = numpy_or_none()
        if self.kind == "raw":
            return np.dtype((np.void, self.size or length))
        dt = self._codec.numpy_dtype()
        if dt.subdtype is not None:  # an array type: one field f0, so that a record stays one item
            return np.dtype({"names": ["f0"], "formats": [dt], "offsets": [0], "itemsize": dt.itemsize})
        return dt

    def check(self, length: int, where: str) -> None:
        """ValueError if a record of ``length`` bytes is too short for the type."""
        if length < self.size:
            raise BpfValueError(f"{where}: a {length}-byte record is shorter than the {self.size}-byte record type")

    def one(self, buf: Any, off: int, length: int, copy: bool) -> Any:
        """Decode one record at ``buf[off:off+length]`` (``buf``: mmap, memoryview or bytes)."""
        kind = self.kind
        if self.size and kind in ("raw", "call"):
            length = self.size
        if kind == "raw":
            if copy or not self.zero_copy:
                return bytes(buf[off:off + length])
            return buf[off:off + length]
        if kind == "codec":
            assert self._at is not None
            return self._at(buf, off)
        if kind == "scalar":
            return struct.unpack_from(self._order + self._body, buf, off)[0]
        if kind == "struct":
            return struct.unpack_from(self._order + self._body, buf, off)
        if kind == "dtype":
            np = numpy_or_none()
            return np.frombuffer(bytes(buf[off:off + self.size]), self._dtype, count=1)[0]
        assert self._decoder is not None
        if copy or not self.zero_copy:
            return self._decoder(bytes(buf[off:off + length]))
        view = buf[off:off + length]
        try:
            return self._decoder(view)
        finally:
            release_views([view])

    def run(self, view: memoryview, start: int, stride: int, po: int, length: int, k: int,
            copy: bool) -> tuple[Iterator[Any], Iterator[Any], list[memoryview] | None]:
        """Decode ``k`` records spaced ``stride`` bytes apart from ``view[start:]``, payload at ``po``.

        Returns (values, source, views): ``source`` is the iterator the values
        are drawn from one by one (its length hint tells how many were taken),
        ``views`` the zero-copy views to release afterwards.
        """
        kind = self.kind
        if self.size and kind in ("raw", "call"):
            length = self.size
        if kind == "codec":
            assert self._at is not None
            src: Iterator[Any] = iter(range(start + po, start + k * stride, stride))
            return map(self._at, repeat(view), src), src, None
        if self.zero_copy and not copy and kind in ("raw", "call"):
            first = start + po
            end = start + k * stride
            views = list(map(view.__getitem__, map(slice, range(first, end, stride),
                                                    range(first + length, end + length, stride))))
            src = iter(views)
            if kind == "call":
                assert self._decoder is not None
                return map(self._decoder, src), src, views
            return src, src, views
        if kind == "dtype":
            np = numpy_or_none()
            arr = np.ndarray((k,), self._dtype, view, start + po, (stride,)).copy()
            src = iter(arr)
            return src, src, None
        single, multi = self._structs(stride, po, length)
        if kind == "struct":
            src = single.iter_unpack(view[start:start + k * stride])
            return src, src, None
        # One value per record: unpack _UNPACK_GROUP records per struct call and flatten the
        # tuples into a list at C speed; the list's iterator tells how many were taken.
        split = k - k % _UNPACK_GROUP
        groups = []
        if split:
            groups.append(multi.iter_unpack(view[start:start + split * stride]))
        if split < k:
            groups.append(single.iter_unpack(view[start + split * stride:start + k * stride]))
        src = iter(list(chain.from_iterable(chain.from_iterable(groups))))
        if kind == "call":
            assert self._decoder is not None
            return map(self._decoder, src), src, None
        return src, src, None

    def _structs(self, stride: int, po: int, length: int) -> tuple[struct.Struct, struct.Struct]:
        """The struct of one record of a run and of _UNPACK_GROUP records (cached per layout)."""
        key = (stride, po, length)
        pair = self._runs.get(key)
        if pair is None:
            if self.kind in ("raw", "call"):
                order, one = "", f"{po}x{length}s{stride - po - length}x"
            else:
                order, one = self._order, f"{po}x{self._body}{stride - po - self.size}x"
            pair = (struct.Struct(order + one), struct.Struct(order + one * _UNPACK_GROUP))
            if len(self._runs) > 64:
                self._runs.clear()
            self._runs[key] = pair
        return pair


def same_prefix(np: Any, buf: memoryview, off: int, stride: int, k: int, value: int, code: str) -> int:
    """How many of ``k`` headers (NumPy type ``code``) ``stride`` bytes apart from ``buf[off]`` equal ``value``."""
    eq = np.ndarray((k,), code, buf, off, (stride,)) == value
    return k if eq.all() else max(int(eq.argmin()), 1)


def _nothing() -> None:
    pass


def release_views(views: list[memoryview] | None) -> None:
    if views:
        try:
            deque(map(_MV_RELEASE, views), 0)  # at C speed
        except BufferError:  # a callback exported one further; it stays valid memory, not ours to kill
            for v in views:
                try:
                    v.release()  # a no-op on those already released
                except BufferError:
                    pass


# ---- the reader base ------------------------------------------------------------------------


def close_unclosed(what: str, close: Callable[[], None]) -> None:
    """The __del__ of a reader or writer left open: a ResourceWarning, then ``close``; errors are
    swallowed (interpreter shutdown)."""
    try:
        import warnings  # here, not at import (issue 18); at shutdown it is in sys.modules or skipped

        warnings.warn(f"unclosed {what}", ResourceWarning, stacklevel=3)
    except Exception:
        pass
    try:
        close()
    except Exception:
        pass


_WAKE = -1  # the epoll tag of the eventfd close() writes to wake a waiting poll


class Reader:
    """poll/consume/iteration/asyncio/batch over a set of rings (:class:`_Source`) watched by one epoll fd.

    close() from another thread is safe: it wakes a poll or iteration waiting
    on the epoll fd (through an eventfd in the epoll set), waits for the reads
    in flight to end, and only then closes the fds and unmaps the rings. Called
    from a callback (inside this reader's own poll), it takes effect when that
    poll returns.
    """

    _sources: list[Any]

    def __init__(self, what: str) -> None:
        self._what = what
        self._cond = threading.Condition()  # guards _users, _closing and _close_pending
        self._users: list[int] = []  # thread ident of each read in flight
        self._closing = False
        self._close_pending = False
        self._ep = Epoll()
        self._sources = []
        try:
            self._wake = Fd(os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK), "wakeup eventfd")
            self._ep.register(self._wake.fd, _WAKE, EPOLLIN)
        except BaseException:
            self._ep.close()
            raise

    # -- plumbing subclasses use --
    def _check_open(self) -> None:
        if self.closed:
            raise BpfValueError(f"{self._what} is closed")

    def _enter(self) -> None:
        """Start a read (the rings and the epoll fd stay open until :meth:`_leave`)."""
        with self._cond:
            if self._closing or self._ep.closed:
                raise BpfValueError(f"{self._what} is closed")
            self._users.append(threading.get_ident())

    def _leave(self) -> None:
        with self._cond:
            self._users.remove(threading.get_ident())
            release = self._close_pending and not self._users
            if release:
                self._close_pending = False
            self._cond.notify_all()
        if release:
            self.release_views()

    def _wait(self, timeout: float | None) -> list[int] | None:
        """The tags of the rings that are ready (waiting up to ``timeout``); None once closing."""
        self._enter()
        try:
            ready = self._ep.wait(timeout)
        finally:
            self._leave()
        if _WAKE in ready or self._closing:
            return None
        return ready

    def _check_callbacks(self) -> None:
        for s in self._sources:
            if s.callback is None:
                raise BpfValueError(
                    f"{self._what}: {s} has no callback; pass callback= or read with iteration or read_batch()"
                )

    # -- public interface --
    def fileno(self) -> int:
        """The epoll fd, readable when a ring has data (for select, selectors, event loops).

        Polling it may consume a perf ring's wakeup, so call :meth:`consume`
        once after registering it and whenever it is readable.
        """
        return self._ep.fileno()

    @property
    def closed(self) -> bool:
        """True once closed (or closing)."""
        return self._closing or self._ep.closed

    def consume(self) -> int:
        """Deliver every record available now to the callbacks, without waiting; returns the count."""
        self._enter()
        try:
            self._check_callbacks()
            return self._consume(self._sources)[0]
        finally:
            self._leave()

    def _consume(self, sources: Iterable[Any]) -> tuple[int, bool]:
        total = 0
        for s in sources:
            n, stop = s._drain(s._emit, None, 1 << 62)
            total += n
            if stop:
                return total, True
        return total, False

    def poll(self, timeout: float | None = None) -> int:
        """Wait up to ``timeout`` seconds (None: forever) for records, deliver them; returns the count.

        Returns as soon as at least one record was delivered (or a callback asked
        to stop), or 0 when the time is up (or the reader was closed meanwhile).
        """
        self._enter()
        try:
            return self._poll(timeout)
        finally:
            self._leave()

    def _poll(self, timeout: float | None) -> int:
        self._check_callbacks()
        n, stop = self._consume(self._sources)
        if n or stop:
            return n
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return 0
            if self._closing:  # closed by a callback, or by another thread that woke us
                return 0
            ready = self._ep.wait(remaining)
            if _WAKE in ready:
                return 0
            if not ready:
                continue
            n, stop = self._consume(self._sources[i] for i in sorted(set(ready)))
            if n or stop:
                return n
            n, stop = self._consume(self._sources)  # a ring may have data without a fresh wakeup
            if n or stop:
                return n
            # Readable yet nothing to deliver: the next record is still reserved (BUSY), and the ring
            # reports readable until it is committed. Pause instead of spinning on epoll.
            time.sleep(_BACKOFF if remaining is None else min(_BACKOFF, max(remaining, 0.0)))

    def _iter_once(self) -> Iterator[Any]:
        for s in list(self._sources):
            yield from s._records_iter()

    def __iter__(self) -> Iterator[Any]:
        """Yield records (copies or decoded values) forever, waiting when there are none.

        Iteration does not call the record callbacks. The consumer position moves
        past a record once it has been yielded, so breaking out loses nothing.
        """
        self._check_open()
        woke = False
        while True:
            got = False
            for rec in self._iter_once():
                got = True
                yield rec
                if self.closed:
                    return
            if got:
                woke = False
                continue
            if self.closed:
                return
            if woke:  # woken, yet nothing to deliver (a BUSY record at the head): pause
                time.sleep(_BACKOFF)
            try:
                ready = self._wait(None)
            except BpfValueError:  # closed meanwhile
                return
            if ready is None:
                return
            woke = bool(ready)

    async def _readable(self) -> None:
        import asyncio  # only asyncio users pay for importing it

        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        fd = self._ep.fileno()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        loop.add_reader(fd, ready)
        try:
            # Registering polls the rings, and a perf ring's poll consumes its wakeup: look at the
            # positions once more so that records which arrived just before are not left waiting.
            if any(src.pending for src in self._sources):
                return
            await fut
        finally:
            loop.remove_reader(fd)

    async def aiter(self) -> AsyncIterator[Any]:
        """``async for rec in reader.aiter()``: like iteration, waiting through the running event loop."""
        import asyncio

        self._check_open()
        woke = False
        while True:
            got = False
            for rec in self._iter_once():
                got = True
                yield rec
                if self.closed:
                    return
            if got:
                woke = False
                continue
            if self.closed:
                return
            if woke:
                await asyncio.sleep(_BACKOFF)
            await self._readable()
            woke = True

    def __aiter__(self) -> AsyncIterator[Any]:
        return self.aiter()

    def read_batch(self, max_records: int | None = None, *, out: Any = None) -> Any:
        """Every available record (at most ``max_records``) at once, without waiting.

        With NumPy installed and a fixed-layout type (or none) this is a NumPy
        record array (``numpy.recarray`` for structured types, else a plain
        array; raw records are ``V<n>`` items of one size: a batch ends before a
        record of another size). Without NumPy, or with a callable decoder, it is
        a list of the values a callback would get.

        ``out``, a writable contiguous 1-D NumPy array whose items are the
        record's size, receives the records instead of a new array (at most
        ``len(out)``); the result is then ``out[:count]``. Reusing one ``out``
        spares a big allocation, and its page faults, per call.
        """
        return self._read_batch(list(self._sources), max_records, out)

    def _read_batch(self, sources: list[Any], max_records: int | None, out: Any = None) -> Any:
        return self._read_batch_counted(sources, max_records, out)[0]

    def _read_batch_counted(self, sources: list[Any], max_records: int | None,
                            out: Any = None) -> tuple[Any, list[int]]:
        """(batch, records taken from each source)."""
        self._enter()
        try:
            return self._read_batch_guarded(sources, max_records, out)
        finally:
            self._leave()

    def _read_batch_guarded(self, sources: list[Any], max_records: int | None,
                            out: Any = None) -> tuple[Any, list[int]]:
        budget = (1 << 62) if max_records is None else int(max_records)
        if budget < 0:
            raise BpfValueError(f"max_records must be >= 0, got {max_records}")
        np = numpy_or_none()
        counts: list[int] = []
        vectorizable = all(s.codec.vectorizable for s in sources)
        if out is not None:
            if np is None:
                raise ModuleNotFoundError(f"{self._what}.read_batch(out=) needs NumPy", name="numpy")
            if not vectorizable:
                raise BpfTypeError(f"{self._what}.read_batch(out=) needs a fixed-layout record type, not a decoder")
            if not isinstance(out, np.ndarray) or out.ndim != 1 or not out.flags.c_contiguous \
                    or not out.flags.writeable:
                raise BpfTypeError("out= must be a writable, contiguous, 1-dimensional NumPy array")
            budget = min(budget, len(out))
        if np is None or not vectorizable:
            lst: list[Any] = []
            for s in sources:
                n = s._drain(None, lst, budget)[0] if budget > 0 else 0
                counts.append(n)
                budget -= n
            return lst, counts
        # Views of the rings first, copied into one output array, then publish the new positions:
        # nothing is consumed unless it was copied out. With out= each block of records is copied
        # while its lines are still in the cache from checking their headers.
        first: list[Any] = []  # the dtype of the batch, from its first block
        parts: list[Any] = []
        flat = None if out is None else out.view(np.dtype((np.void, out.dtype.itemsize)))
        pos = 0

        def sink(p: Any) -> bool:
            nonlocal pos
            if not first:
                if out is not None and p.dtype.itemsize != out.dtype.itemsize:
                    raise BpfValueError(f"{self._what}: out= holds {out.dtype.itemsize}-byte items, "
                                     f"the records are {p.dtype.itemsize} bytes")
                first.append(p.dtype)
            elif p.dtype != first[0]:
                if p.dtype.names is None and first[0].names is None and p.dtype.kind == first[0].kind == "V":
                    return False  # raw records of another size start the next batch
                raise BpfValueError(
                    f"{self._what}: records of different types in one batch; read each ring with its own read_batch()"
                )
            if flat is None:
                parts.append(p)
            else:
                flat[pos:pos + len(p)] = p.view(flat.dtype)
                pos += len(p)
            return True

        commits: list[Callable[[], None]] = []
        for s in sources:
            n, commit = s._gather(sink, budget) if budget > 0 else (0, _nothing)
            counts.append(n)
            commits.append(commit)
            budget -= n
        total = sum(counts)
        if out is not None:
            for commit in commits:
                commit()
            return out[:total], counts
        dtype = first[0] if first else (sources[0].codec.payload_dtype(0) if sources else np.dtype("V0"))
        # Copy as opaque bytes (one memcpy per record, where a structured dtype would go field by field).
        raw = np.dtype((np.void, dtype.itemsize)) if dtype.itemsize else dtype
        flat = np.empty(total, raw)
        for p in parts:
            flat[pos:pos + len(p)] = p.view(raw)
            pos += len(p)
        parts.clear()  # no view of the rings left when the positions move on
        for commit in commits:
            commit()
        arr = flat.view(dtype)
        if arr.dtype.names is not None:
            arr = arr.view(np.recarray)
        return arr, counts

    def close(self) -> None:
        """Close the epoll fd, unmap the rings and close the fds (idempotent; safe from other threads
        and from callbacks, see the class docstring)."""
        with self._cond:
            if self._closing or self._ep.closed:
                return
            self._closing = True
            if self._users:
                os.eventfd_write(self._wake.fd, 1)  # wake the reads waiting on the epoll fd
                if threading.get_ident() in self._users:
                    self._close_pending = True  # from a callback: released when the outer read ends
                    return
                while self._users:
                    self._cond.wait()
        self.release_views()

    def release_views(self) -> None:
        """What close() does once no read is in flight."""
        if self._ep.closed:
            return
        leftovers = 0
        for s in self._sources:
            leftovers += s._close()
        self._sources = []
        self._ep.close()
        self._wake.close()
        if leftovers:
            import warnings

            warnings.warn(
                f"{self._what}: {leftovers} ring mapping(s) still have exported views (a zero-copy record kept?); "
                "they are unmapped when those views are freed",
                ResourceWarning,
                stacklevel=2,
            )

    def __enter__(self) -> Any:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        ep = getattr(self, "_ep", None)
        if ep is not None and not ep.closed:
            close_unclosed(self._what, self.close)
