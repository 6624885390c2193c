"""The bridge from a compiled BCC object to bpfkit's loader, maps and event readers.

Everything the front end needs from the rest of bpfkit goes through this
module: create the object's maps once, load any of its programs later with the
program type Python chose (BCC decides the type per ``attach_*``/``load_func``
call), and open perf and ring buffer readers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._uapi import AttachType, ProgType
from ..btf import Btf
from ..errors import NotSupportedError

__all__ = ["LoadedObject", "Reader", "object_btf", "perf_reader", "ring_reader"]


def object_btf(elf: bytes) -> Btf | None:
    """The .BTF of a BPF ELF object (None when it has none), parsed with bpfkit's BTF parser."""
    import io

    from elftools.elf.elffile import ELFFile

    f = ELFFile(io.BytesIO(elf))
    sec = f.get_section_by_name(".BTF")
    if sec is None:
        return None
    return Btf.from_bytes(sec.data())


def _missing(what: str) -> NotSupportedError:
    return NotSupportedError(
        f"bpfkit.bcc needs {what} from bpfkit, which this installation does not have yet", feature=what)


class LoadedObject:
    """A compiled BCC object in the kernel: its maps created at once, programs loaded on demand."""

    def __init__(self, elf: bytes, *, name: str, log_level: int = 0) -> None:
        try:
            from .. import ObjectSpec, load  # type: ignore[attr-defined,unused-ignore]
        except ImportError:
            raise _missing("the object loader (bpfkit.load)") from None
        self._load = load
        self.spec: Any = ObjectSpec.from_bytes(elf, name=name)
        self.log_level = log_level
        for p in self.spec.programs.values():
            p.autoload = False
        self.collection: Any = load(self.spec, log_level=log_level)
        self.maps: dict[str, Any] = dict(self.collection.maps)
        self.btf: Btf | None = getattr(self.spec, "btf", None)
        self._programs: list[Any] = []

    def program(self, symbol: str, prog_type: ProgType, *, expected_attach_type: AttachType | None = None,
                attach_target: str = "", name: str = "") -> Any:
        """Load program ``symbol`` as ``prog_type`` (sharing this object's maps); the caller closes it."""
        coll = self.collection
        loader: Callable[..., Any] | None = getattr(coll, "load_program", None)
        if loader is None:
            raise _missing("loading one program of a loaded object on demand (Collection.load_program)")
        prog = loader(symbol, prog_type=prog_type, expected_attach_type=expected_attach_type,
                      attach_target=attach_target or None, name=name or None, log_level=self.log_level)
        self._programs.append(prog)
        return prog

    def close(self) -> None:
        """Close programs loaded here and the object's maps."""
        for p in self._programs:
            p.close()
        self._programs.clear()
        self.collection.close()


class Reader:
    """A perf or ring buffer reader as the BPF object polls it."""

    def __init__(self, impl: Any) -> None:
        self.impl = impl

    def poll(self, timeout: float | None) -> int:
        """Wait up to ``timeout`` seconds (None: forever) and run the callbacks; records read."""
        return int(self.impl.poll(timeout) or 0)

    def consume(self) -> int:
        """Run the callbacks for whatever is there without waiting."""
        return int(self.impl.consume() or 0)

    def fileno(self) -> int | None:
        """An fd that polls readable when records are there (epoll), if the reader has one."""
        f = getattr(self.impl, "fileno", None)
        return int(f()) if f is not None else None

    def close(self) -> None:
        """Stop reading and release the buffers."""
        self.impl.close()


def perf_reader(map: Any, on_sample: Callable[[int, Any], None], on_lost: Callable[[int, int], None] | None,
                page_cnt: int, wakeup_events: int) -> Reader:
    """A reader of a PERF_EVENT_ARRAY: ``on_sample(cpu, data)``, ``on_lost(cpu, count)``."""
    try:
        from .. import PerfBuffer  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        raise _missing("perf buffers (bpfkit.PerfBuffer)") from None
    kwargs: dict[str, Any] = {"lost_callback": on_lost, "page_count": page_cnt}
    if wakeup_events != 1:
        kwargs["wakeup_events"] = wakeup_events
    return Reader(PerfBuffer(map, on_sample, **kwargs))


def ring_reader(map: Any, on_record: Callable[[Any], Any]) -> Reader:
    """A reader of a RINGBUF map: ``on_record(data)``."""
    try:
        from .. import RingBuffer  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        raise _missing("ring buffers (bpfkit.RingBuffer)") from None
    return Reader(RingBuffer(map, on_record))
