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

import ctypes
import errno as E
import os
import re
import struct
import sys
import threading
import time
import warnings
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from itertools import chain, repeat
from operator import length_hint
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from ._sys import Fd
from ._sys import attrs as A
from ._sys import commands as C
from ._sys import ring as R
from ._sys.epoll import EPOLLET, EPOLLIN, EPOLLOUT, Epoll
from ._sys.fd import dup_fd, fd_of
from ._uapi import MapType
from .errors import BpfTypeError, BpfValueError, KernelError

if TYPE_CHECKING:
    import mmap

__all__ = ["MapLike", "Ring", "RingBuffer", "UserRingBuffer"]


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


class _HasFd(Protocol):
    @property
    def fd(self) -> int: ...


# A map: a bpfkit Map, anything with fileno() or .fd, or a raw fd.
MapLike = int | _HasFileno | _HasFd

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
HDR_SZ = 8
_LEN_MASK = DISCARD_BIT - 1
_RUN_MAX = 1024  # records per run: the consumer position is published at least this often
_BACKOFF = 0.001  # seconds to pause after a wakeup that brought nothing (e.g. a BUSY record at the head)
_BLOCK_BYTES = 2 << 20  # read_batch works through the rings in blocks of about this size (fit in the cache)
_UNPACK_GROUP = 32  # records decoded per struct call in runs of one-value records
_MV_RELEASE = memoryview.release


# ---- maps -----------------------------------------------------------------------------


def _host() -> Any:
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
        raise BpfTypeError(f"{what} needs a {names} map, but map {_map_name(info)!r} (fd {fd}) is {got}")
    owned.what = f"{what} map {_map_name(info)!r}"
    return owned, info


def _map_name(info: A.MapInfo) -> str:
    return bytes(info.name).split(b"\0", 1)[0].decode(errors="replace") or f"id {info.id}"


# ---- record types -------------------------------------------------------------------

_FMT_TOKEN = re.compile(r"\s*(\d*)\s*([xcbB?hHiIlLqQnNefdspP])\s*")
_NP_CODE = {
    "b": "i1", "B": "u1", "?": "b1", "h": "i2", "H": "u2", "i": "i4", "I": "u4", "l": "i4", "L": "u4",
    "q": "i8", "Q": "u8", "e": "f2", "f": "f4", "d": "f8",
}
_NATIVE_WIDE = {"n": "q", "N": "Q", "P": "Q"}
_NAMED = {
    "u8": "B", "u16": "H", "u32": "I", "u64": "Q", "s8": "b", "s16": "h", "s32": "i", "s64": "q",
    "i8": "b", "i16": "h", "i32": "i", "i64": "q", "f32": "f", "f64": "d",
}


def _explicit_format(fmt: str) -> tuple[str, str, list[tuple[int, str, int]], int]:
    """A struct format rewritten with an explicit byte order, standard sizes and explicit padding.

    Returns (order, body, fields, size): ``order + body`` has the layout of
    ``fmt`` (native alignment included) wherever it starts; fields are
    (offset, code, count) of the non-pad items.
    """
    order = fmt[:1] if fmt[:1] in "@=<>!" else "@"
    body = fmt[1:] if fmt[:1] in "@=<>!" else fmt
    try:
        size = struct.calcsize(fmt)
    except struct.error as exc:
        raise BpfValueError(f"bad struct format {fmt!r}: {exc}") from None
    little = sys.byteorder == "little"
    out_order = {"@": "<" if little else ">", "=": "<" if little else ">", "<": "<", ">": ">", "!": ">"}[order]
    pos = 0
    done = ""
    out: list[str] = []
    fields: list[tuple[int, str, int]] = []
    while pos < len(body):
        m = _FMT_TOKEN.match(body, pos)
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


def _np() -> Any:
    """NumPy, or None when it is not installed (an optional dependency)."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is in the dev environment
        return None
    return numpy


class _Codec:
    """How one ring's records become Python values (raw bytes, memoryviews or decoded values)."""

    __slots__ = ("_body", "_cls", "_decoder", "_dtype", "_fields", "_order", "_runs", "kind", "size", "zero_copy")

    def __init__(self, rtype: object, zero_copy: bool, size: int | None = None) -> None:
        self.zero_copy = zero_copy
        self._decoder: Callable[[Any], Any] | None = None
        self._cls: Any = None
        self._dtype: Any = None
        self._order = "<"
        self._body = ""
        self._fields: list[tuple[int, str, int]] = []
        self._runs: dict[tuple[int, int, int], tuple[struct.Struct, struct.Struct]] = {}
        self.size = 0  # bytes a record must hold (0: any)
        np = sys.modules.get("numpy")  # a dtype can only come from an already imported NumPy
        if rtype is None:
            self.kind = "raw"
        elif isinstance(rtype, type) and issubclass(rtype, ctypes._SimpleCData):
            code = getattr(rtype, "_type_", "")
            if not isinstance(code, str) or (code not in _NP_CODE and code not in "lLc"):
                raise BpfTypeError(f"ctypes type {rtype.__name__} cannot decode ring records")
            self._set_format("@" + code, scalar=True)
        elif isinstance(rtype, type) and issubclass(rtype, (ctypes.Structure, ctypes.Union, ctypes.Array)):
            self.kind = "ctypes"
            self._cls = rtype
            self.size = ctypes.sizeof(rtype)
        elif isinstance(rtype, struct.Struct):
            self._set_format(rtype.format, scalar=False)
        elif isinstance(rtype, (str, bytes)):
            text = rtype.decode() if isinstance(rtype, bytes) else rtype
            named = _NAMED.get(text.strip().lower())
            if named is not None:
                self._set_format("<" + named, scalar=True)
            else:
                self._set_format(text, scalar=False)
        elif np is not None and isinstance(rtype, np.dtype):
            self.kind = "dtype"
            self._dtype = rtype
            self.size = rtype.itemsize
        elif callable(rtype):
            self.kind = "call"
            self._decoder = rtype
        else:
            raise BpfTypeError(
                "type= takes a ctypes type, a struct format (str or struct.Struct), a name such as 'u32', "
                f"a numpy dtype or a callable decoder; not {type(rtype).__name__}"
            )
        if size is not None:
            if size < self.size:
                raise BpfValueError(f"size={size} is smaller than the record type ({self.size} bytes)")
            self.size = size

    def _set_format(self, fmt: str, *, scalar: bool) -> None:
        self._order, self._body, self._fields, self.size = _explicit_format(fmt)
        if not self._fields:
            raise BpfValueError(f"struct format {fmt!r} has no fields")
        self.kind = "scalar" if scalar else "struct"

    @property
    def vectorizable(self) -> bool:
        """True when NumPy can decode a run of records in one step."""
        return self.kind in ("raw", "ctypes", "scalar", "struct", "dtype")

    def payload_dtype(self, length: int) -> Any:
        """NumPy dtype of one record payload of ``length`` bytes."""
        np = _np()
        if self.kind == "raw":
            return np.dtype((np.void, self.size or length))
        if self.kind == "ctypes":
            return np.dtype(self._cls)
        if self.kind == "dtype":
            return self._dtype
        fields = self._fields
        if self.kind == "scalar":
            code = fields[0][1]
            return np.dtype(self._order + _NP_CODE[code]) if code in _NP_CODE else np.dtype("S1")
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
                base = self._order + _NP_CODE[code]
                formats.append(base if count == 1 else (base, (count,)))
        return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": self.size})

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
        if kind == "ctypes":
            return self._cls.from_buffer_copy(buf, off)
        if kind == "scalar":
            return struct.unpack_from(self._order + self._body, buf, off)[0]
        if kind == "struct":
            return struct.unpack_from(self._order + self._body, buf, off)
        if kind == "dtype":
            np = _np()
            return np.frombuffer(bytes(buf[off:off + self.size]), self._dtype, count=1)[0]
        assert self._decoder is not None
        if copy or not self.zero_copy:
            return self._decoder(bytes(buf[off:off + length]))
        view = buf[off:off + length]
        try:
            return self._decoder(view)
        finally:
            _release([view])

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
        if kind == "ctypes":
            src: Iterator[Any] = iter(range(start + po, start + k * stride, stride))
            return map(self._cls.from_buffer_copy, repeat(view), src), src, None
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
            np = _np()
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


def _same_prefix(np: Any, buf: memoryview, off: int, stride: int, k: int, value: int, code: str) -> int:
    """How many of ``k`` headers (NumPy type ``code``) ``stride`` bytes apart from ``buf[off]`` equal ``value``."""
    eq = np.ndarray((k,), code, buf, off, (stride,)) == value
    return k if eq.all() else max(int(eq.argmin()), 1)


def _nothing() -> None:
    pass


def _release(views: list[memoryview] | None) -> None:
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


class _Source(Protocol):
    """One ring of a reader (a ring buffer map, or one CPU's perf ring): what _Reader relies on."""

    callback: Any
    codec: _Codec

    @property
    def pending(self) -> int: ...

    @property
    def _emit(self) -> Callable[..., object] | None: ...

    def _drain(self, emit: Callable[..., object] | None, out: list[Any] | None, budget: int) -> tuple[int, bool]: ...

    def _records_iter(self) -> Iterator[Any]: ...

    def _gather(self, sink: Callable[[Any], bool], budget: int) -> tuple[int, Callable[[], None]]: ...

    def _close(self) -> int: ...


def _close_unclosed(what: str, close: Callable[[], None]) -> None:
    """The __del__ of a reader or writer left open: a ResourceWarning, then ``close``; errors are
    swallowed (interpreter shutdown)."""
    try:
        warnings.warn(f"unclosed {what}", ResourceWarning, stacklevel=3)
    except Exception:
        pass
    try:
        close()
    except Exception:
        pass


_WAKE = -1  # the epoll tag of the eventfd close() writes to wake a waiting poll


class _Reader:
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
            self._release()

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
        np = _np()
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
        self._release()

    def _release(self) -> None:
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
            _close_unclosed(self._what, self.close)


# ---- RingBuffer -------------------------------------------------------------------------


class Ring:
    """One BPF_MAP_TYPE_RINGBUF map of a :class:`RingBuffer`, with its callback and counters."""

    def __init__(self, index: int, owner: RingBuffer, fd: Fd, info: A.MapInfo, callback: Callable[[Any], object] | None,
                 codec: _Codec) -> None:
        self.index = index
        self.name = _map_name(info)
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
        page = _host().page_size()
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
            k = max(min((prod - cons) // stride, budget, _RUN_MAX if np is None else budget, max_bytes // stride), 1)
            if k > 1:
                if np is not None:
                    k = _same_prefix(np, self._data, off, stride, k, ln, "=u4")
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
                            _release([rec])
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
                _release(views)
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
            vals, _, _ = codec.run(self._data, cons & self._mask, stride, HDR_SZ, ln, min(k, _RUN_MAX), True)
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
        np = _np()
        start = cons = self._cons[0]
        limit = cons + self.size
        codec = self.codec
        data = self._data
        n = 0
        while n < budget and cons < limit:
            cons, ln, stride, k = self._next_run(cons, budget - n, np, publish=False, max_bytes=_BLOCK_BYTES)
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


class RingBuffer(_Reader):
    """Reader of one or more BPF_MAP_TYPE_RINGBUF maps (Linux 5.8) through one epoll fd.

    ``callback(record)`` gets each record under :meth:`poll`/:meth:`consume`;
    ``type`` decodes records (ctypes type, struct format or struct.Struct, a
    name like ``"u64"``, a NumPy dtype, or a callable taking the bytes).

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
        codec = _Codec(type, zero_copy)
        fd, info = open_map(map, (MapType.RINGBUF,), "RingBuffer")
        try:
            if any(r.map_id == info.id for r in self._sources):
                raise BpfValueError(f"map {_map_name(info)!r} is already in this RingBuffer")
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
        self.name = _map_name(info)
        self.size = int(info.max_entries)
        self._mask = self.size - 1
        self._fd = fd
        self._ep: Epoll | None = None
        self._cons_map: mmap.mmap | None = None
        self._data_map: mmap.mmap | None = None
        self._pending: OrderedDict[int, tuple[memoryview, int]] = OrderedDict()
        self.submitted = 0
        self.discarded = 0
        page = _host().page_size()
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
            _close_unclosed(f"UserRingBuffer {self.name!r}", self.close)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.size} B, {self.submitted} submitted"
        return f"<UserRingBuffer {self.name!r} {state}>"

