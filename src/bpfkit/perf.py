"""PerfBuffer: read BPF_MAP_TYPE_PERF_EVENT_ARRAY output (bpf_perf_event_output) from every CPU.

One software event (PERF_COUNT_SW_BPF_OUTPUT, sample_type PERF_SAMPLE_RAW) is
opened per CPU, its ring (one metadata page and ``page_count`` data pages) is
mapped, and its fd is stored in the map at the CPU's index, which is where
``bpf_perf_event_output(ctx, &map, BPF_F_CURRENT_CPU, data, size)`` sends
data. Records between the ring's ``data_tail`` (ours) and ``data_head`` (the
kernel's) are PERF_RECORD_SAMPLE (a u32 size, then the data padded so that
size + 4 is a multiple of 8) or PERF_RECORD_LOST (how many samples did not
fit). A record may wrap past the end of the ring; it is then copied out in
two parts. ``data_tail`` is written after the records it covers were read.

Samples are delivered as ``callback(cpu, data)`` (BCC and libbpf order);
``data`` holds the raw sample bytes including the padding, unless ``size`` or
``type`` says how many bytes the program submitted. Lost counts go to
``lost_callback(cpu, count)`` and the ``lost`` counters. Record lifetime,
callback results and speed are as for :class:`bpfkit.RingBuffer`.
"""

from __future__ import annotations

import ctypes
import errno as E
import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat
from operator import length_hint

from ._bufreader import BLOCK_BYTES, MapLike, Reader, RecordCodec, lazy_host, map_name, numpy_or_none, open_map, release_views, same_prefix
from ._sys import Fd
from ._sys import commands as C
from ._sys import perf_event as P
from ._sys import ring as R
from ._sys.attrs import PerfEventHeader, PerfEventMmapPage
from ._sys.epoll import EPOLLIN
from ._uapi import MapType, PerfRecordType, PerfSampleFormat, PerfSwId, PerfType
from .errors import BpfValueError, KernelError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import mmap
    from typing import Any

__all__ = ["PerfBuffer", "PerfRing"]

_SAMPLE = int(PerfRecordType.SAMPLE)
_LOST = int(PerfRecordType.LOST)
_HEAD = PerfEventMmapPage.data_head.offset // 8  # u64 index of data_head in the ring's first page
_TAIL = PerfEventMmapPage.data_tail.offset // 8
_HDR = ctypes.sizeof(PerfEventHeader)  # 8: u32 type, u16 misc, u16 size, read as one u64
_SIZE_SHIFT = PerfEventHeader.size.offset * 8  # the record size: the header's top 16 bits
_TYPE_MASK = (1 << PerfEventHeader.type.size * 8) - 1  # the record type: its low 32 bits
_RAW_OFF = _HDR + 4  # a PERF_SAMPLE_RAW sample's payload: after the header and a u32 size
RUN_MAX = 1024


class PerfRing:
    """One CPU's perf ring of a :class:`PerfBuffer`, with its counters."""

    def __init__(self, index: int, owner: PerfBuffer, cpu: int, fd: Fd, page_count: int, codec: RecordCodec) -> None:
        self.index = index
        self.cpu = cpu
        self.records = 0
        self.lost = 0
        self.codec = codec
        self._owner = owner
        self._fd = fd
        page = lazy_host().page_size()
        self.size = page * page_count
        self._mask = self.size - 1
        self._map: mmap.mmap | None = R.map_pages(fd.fd, page * (1 + page_count), writable=True,
                                                  what=f"perf ring of cpu {cpu}")
        whole = memoryview(self._map)
        self._meta = whole[:page].cast("Q")
        self._data = whole[page:]
        self._h64 = self._data.cast("Q")
        self._h32 = self._data.cast("I")
        whole.release()

    @property
    def callback(self) -> Callable[[int, Any], object] | None:
        """The PerfBuffer's sample callback."""
        return self._owner.callback

    @property
    def _emit(self) -> Callable[[int, Any], object] | None:
        return self._owner.callback

    @property
    def fd(self) -> int:
        """The perf event fd stored in the map."""
        return self._fd.fd

    @property
    def pending(self) -> int:
        """Bytes written by the kernel and not read yet."""
        return int(self._meta[_HEAD]) - int(self._meta[_TAIL])

    def __repr__(self) -> str:
        return f"<PerfRing cpu={self.cpu} {self.size} B records={self.records} lost={self.lost}>"

    def __str__(self) -> str:
        return f"perf ring of cpu {self.cpu}"

    def _publish(self, tail: int) -> None:
        if R.RELEASE_FENCE is not None:
            R.RELEASE_FENCE()
        self._meta[_TAIL] = tail

    def _wrapped(self, off: int, rsize: int) -> bytes:
        """A record that runs past the end of the ring, copied out in two parts."""
        first = self.size - off
        return bytes(self._data[off:]) + bytes(self._data[:rsize - first])

    def _report_lost(self, lost: int) -> None:
        self.lost += lost
        cb = self._owner.lost_callback
        if cb is not None:
            cb(self.cpu, lost)

    def _scan(self, tail: int, head: int, budget: int, np: Any = None, hold: bool = False,
              max_bytes: int = 1 << 62) -> tuple[int, int, int, int, bytes | None]:
        """Skip non-sample records at ``tail``; then (tail, record size, payload length, count, wrapped bytes).

        count 0: nothing (more) to deliver now. A sample that wraps comes back
        as bytes with count 1. Skipped records are published past and lost
        counts reported, unless ``hold`` (a batch holds samples not copied
        yet): then nothing is published and the scan stops at a LOST record.
        """
        h64 = self._h64
        size = self.size
        while tail < head:
            off = tail & self._mask
            h = h64[off >> 3]
            rsize = h >> _SIZE_SHIFT
            if rsize < _HDR or rsize & 7:
                raise KernelError(E.EIO, command="perf ring read", target=str(self),
                                  detail=f"corrupt record header {h:#x} at offset {off}")
            kind = h & _TYPE_MASK
            rec = None
            if off + rsize > size:
                rec = self._wrapped(off, rsize)
                if kind == _SAMPLE:
                    return tail, rsize, int.from_bytes(rec[_HDR:_RAW_OFF], sys.byteorder), 1, rec
            elif kind == _SAMPLE:
                k = min((head - tail) // rsize, (size - off) // rsize, budget, RUN_MAX if np is None else budget,
                        max(max_bytes // rsize, 1))
                if k > 1:
                    if np is not None:
                        k = same_prefix(np, self._data, off, rsize, k, h, "=u8")
                    else:
                        heads = h64[off >> 3:(off + k * rsize) >> 3:rsize >> 3].tolist()
                        if heads.count(h) != k:
                            k = next(i for i, x in enumerate(heads) if x != h)
                return tail, rsize, self._h32[(off + _HDR) >> 2], max(k, 1), None
            if hold:
                if kind == _LOST:
                    break
                tail += rsize
                continue
            tail += rsize
            self._publish(tail)
            if kind == _LOST:
                lost = int.from_bytes(self._data[off + 16:off + 24] if rec is None else rec[16:24], sys.byteorder)
                self._report_lost(lost)
        return tail, 0, 0, 0, None

    def _bounds(self) -> tuple[int, int, int]:
        tail = self._meta[_TAIL]
        head = self._meta[_HEAD]
        if R.ACQUIRE_FENCE is not None:
            R.ACQUIRE_FENCE()
        return tail, head, tail + self.size

    def _drain(self, emit: Callable[[int, Any], object] | None, out: list[Any] | None, budget: int) -> tuple[int, bool]:
        """Deliver up to ``budget`` samples to ``emit(cpu, data)`` (or append (cpu, data) to ``out``)."""
        tail, head, limit = self._bounds()
        codec = self.codec
        cpu = self.cpu
        copy = out is not None
        n = 0
        while n < budget and tail < limit:
            if tail >= head:
                head = self._meta[_HEAD]
                if R.ACQUIRE_FENCE is not None:
                    R.ACQUIRE_FENCE()
                if tail >= head:
                    break
            tail, rsize, raw, k, rec = self._scan(tail, head, budget - n)
            if k == 0:
                continue
            if raw < codec.size:
                self._publish(tail + rsize)
                codec.check(raw, str(self))
            if rec is not None or k == 1:
                try:
                    if rec is not None:
                        val = codec.one(rec, _RAW_OFF, raw, True)
                    else:
                        val = codec.one(self._data, (tail & self._mask) + _RAW_OFF, raw, copy)
                    if out is not None:
                        out.append((cpu, val))
                        stop = False
                    else:
                        assert emit is not None
                        stop = bool(emit(cpu, val))
                        if codec.zero_copy and codec.kind == "raw" and rec is None:
                            release_views([val])
                finally:
                    tail += rsize
                    n += 1
                    self.records += 1
                    self._publish(tail)
                if stop:
                    return n, True
                continue
            vals, src, views = codec.run(self._data, tail & self._mask, rsize, _RAW_OFF, raw, k, copy)
            stop = False
            try:
                if out is not None:
                    out.extend(zip(repeat(cpu), vals))
                else:
                    assert emit is not None
                    stop = any(map(emit, repeat(cpu), vals))
            finally:
                done = k - length_hint(src)
                tail += done * rsize
                n += done
                self.records += done
                self._publish(tail)
                release_views(views)
            if stop:
                return n, True
        return n, False

    def _records_iter(self) -> Iterator[tuple[int, Any]]:
        """Yield (cpu, data) copies of the available samples, each consumed as it is yielded."""
        tail, head, limit = self._bounds()
        codec = self.codec
        cpu = self.cpu
        while tail < limit and tail < head:
            tail, rsize, raw, k, rec = self._scan(tail, head, 1 << 62)
            if k == 0:
                return
            if raw < codec.size:
                self._publish(tail + rsize)
                codec.check(raw, str(self))
            if rec is not None:
                copies = [codec.one(rec, _RAW_OFF, raw, True)]
            else:
                vals, _, _ = codec.run(self._data, tail & self._mask, rsize, _RAW_OFF, raw, k, True)
                copies = list(vals)
                del vals
            for v in copies:
                tail += rsize
                self.records += 1
                self._publish(tail)
                yield cpu, v
                if self._meta[_TAIL] != tail:
                    return

    def _gather(self, sink: Callable[[Any], bool], budget: int) -> tuple[int, Callable[[], None]]:
        """Hand NumPy views of up to ``budget`` available samples to ``sink`` (see Ring._gather); (count, commit)."""
        np = numpy_or_none()
        start = tail = self._meta[_TAIL]
        head = self._meta[_HEAD]
        if R.ACQUIRE_FENCE is not None:
            R.ACQUIRE_FENCE()
        codec = self.codec
        n = 0
        while n < budget and tail < head:
            tail, rsize, raw, k, rec = self._scan(tail, head, budget - n, np, hold=n > 0, max_bytes=BLOCK_BYTES)
            if k == 0:
                break
            if raw < codec.size:
                if n:
                    break
                self._publish(tail + rsize)
                codec.check(raw, str(self))
            pdt = codec.payload_dtype(raw)
            if rec is not None:
                view = np.frombuffer(rec, pdt, count=1, offset=_RAW_OFF)
            else:
                view = np.ndarray((k,), pdt, self._data, (tail & self._mask) + _RAW_OFF, (rsize,))
            if not sink(view):
                break
            tail += k * rsize
            n += k

        def commit() -> None:
            self.records += n
            if tail != start:
                self._publish(tail)

        return n, commit

    def _close(self) -> int:
        """Unmap the ring and close the event fd; returns 1 if the mapping is still exported."""
        for v in (self._h32, self._h64, self._data, self._meta):
            try:
                v.release()
            except BufferError:
                pass
        left = 0 if R.unmap(self._map) else 1
        self._map = None
        self._fd.close()
        return left


class PerfBuffer(Reader):
    """Reader of a BPF_MAP_TYPE_PERF_EVENT_ARRAY map (Linux 4.3): one perf ring per online CPU.

    ``page_count`` data pages per CPU (a power of two); a wakeup after every
    ``wakeup_events`` samples, or after ``watermark`` bytes when given. Closing
    removes the CPUs' entries from the map and closes the events. ``type``
    decodes samples exactly as for :class:`bpfkit.RingBuffer` (the type grammar
    of map keys and values, or a callable taking the bytes).
    """

    def __init__(
        self,
        map: MapLike,
        callback: Callable[[int, Any], object] | None = None,
        lost_callback: Callable[[int, int], object] | None = None,
        *,
        page_count: int = 8,
        type: object = None,
        size: int | None = None,
        zero_copy: bool = False,
        wakeup_events: int = 1,
        watermark: int | None = None,
        cpus: Iterable[int] | None = None,
    ) -> None:
        R.check_ordering("PerfBuffer")
        if isinstance(page_count, bool) or not isinstance(page_count, int) or page_count < 1 \
                or page_count & (page_count - 1):
            raise BpfValueError(f"page_count must be a power of two >= 1, got {page_count!r}")
        page = lazy_host().page_size()
        if watermark is not None and not 0 < watermark < page * page_count:
            raise BpfValueError(f"watermark must be between 1 and {page * page_count - 1} bytes, got {watermark}")
        if wakeup_events < 1:
            raise BpfValueError(f"wakeup_events must be >= 1, got {wakeup_events}")
        if size is not None and size < 0:
            raise BpfValueError(f"size must be >= 0, got {size}")
        codec = RecordCodec(type, zero_copy, size)
        super().__init__("PerfBuffer")
        self.callback = callback
        self.lost_callback = lost_callback
        self.page_count = page_count
        self._sources: list[PerfRing] = []
        self._set: list[int] = []
        self._map_fd, info = open_map(map, (MapType.PERF_EVENT_ARRAY,), "PerfBuffer")
        self.name = map_name(info)
        try:
            if cpus is None:
                chosen = [c for c in lazy_host().online_cpus() if c < info.max_entries]
            else:
                chosen = sorted(set(cpus))
                bad = [c for c in chosen if not 0 <= c < info.max_entries]
                if bad:
                    raise BpfValueError(f"cpus {bad} are outside map {self.name!r} ({info.max_entries} entries)")
            if not chosen:
                raise BpfValueError(f"map {self.name!r} ({info.max_entries} entries) has no slot for an online CPU")
            for cpu in chosen:
                self._open_cpu(cpu, page_count, codec, wakeup_events, watermark)
        except BaseException:
            self.close()
            raise

    def _open_cpu(self, cpu: int, page_count: int, codec: RecordCodec, wakeup_events: int, watermark: int | None) -> None:
        attr = P.PerfEventAttr(type=PerfType.SOFTWARE, config=PerfSwId.BPF_OUTPUT, sample_period=1,
                               sample_type=PerfSampleFormat.RAW)
        if watermark is not None:
            attr.watermark = 1
            attr.wakeup_events = watermark
        else:
            attr.wakeup_events = wakeup_events
        fd = Fd(P.perf_event_open(attr, -1, cpu, target=f"BPF output event on cpu {cpu}"), f"perf event cpu {cpu}")
        try:
            ring = PerfRing(len(self._sources), self, cpu, fd, page_count, codec)
        except BaseException:
            fd.close()
            raise
        self._sources.append(ring)
        key = ctypes.c_uint32(cpu)
        value = ctypes.c_uint32(fd.fd)
        C.map_update_elem(self._map_fd.fd, ctypes.addressof(key), ctypes.addressof(value),
                          target=f"perf event array {self.name!r}")
        self._set.append(cpu)
        P.enable(fd.fd)
        self._ep.register(fd.fd, ring.index, EPOLLIN)

    @property
    def rings(self) -> list[PerfRing]:
        """The per-CPU rings."""
        return list(self._sources)

    @property
    def cpus(self) -> list[int]:
        """The CPUs read."""
        return [r.cpu for r in self._sources]

    @property
    def records(self) -> int:
        """Samples delivered so far (all CPUs)."""
        return sum(r.records for r in self._sources)

    @property
    def lost(self) -> int:
        """Samples the kernel reported lost so far (all CPUs)."""
        return sum(r.lost for r in self._sources)

    def read_batch(self, max_records: int | None = None, *, with_cpu: bool = False, out: Any = None) -> Any:
        """Every available sample at once (see :meth:`RingBuffer.read_batch`, ``out`` too); per CPU in order.

        With ``with_cpu`` the result is (cpus, records): a parallel array (or
        list) of the CPU of each record.
        """
        sources = list(self._sources)
        result, counts = self._read_batch_counted(sources, max_records, out)
        if isinstance(result, list):
            if with_cpu:
                return [c for c, _ in result], [r for _, r in result]
            return [r for _, r in result]
        if not with_cpu:
            return result
        np = numpy_or_none()
        parts = [np.full(n, s.cpu, dtype=np.int32) for s, n in zip(sources, counts, strict=True)]
        cpus = np.concatenate(parts) if parts else np.empty(0, np.int32)
        return cpus, result

    def close(self) -> None:
        """Remove the CPUs' entries from the map, close the events, unmap the rings (idempotent)."""
        mfd = getattr(self, "_map_fd", None)
        if mfd is not None and not mfd.closed:
            for cpu in self._set:
                key = ctypes.c_uint32(cpu)
                try:
                    C.map_delete_elem(mfd.fd, ctypes.addressof(key))
                except KernelError as exc:
                    if exc.errno not in (E.ENOENT, E.EINVAL):
                        raise
            self._set = []
        super().close()
        if mfd is not None:
            mfd.close()

    def __enter__(self) -> PerfBuffer:
        return self

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"cpus {self.cpus}"
        return f"<PerfBuffer {getattr(self, 'name', '?')!r} {state}>"
