"""The bridge from a compiled BCC object to bpfkit's loader, maps and event readers.

Everything the front end needs from the rest of bpfkit goes through this
module: create the object's maps once, load any of its programs later with the
program type Python chose (BCC decides the type per ``attach_*``/``load_func``
call), and open perf and ring buffer readers.
"""

from __future__ import annotations

from collections.abc import Callable

from .._uapi import AttachType, ProgType
from ..btf import Btf
from ..errors import NotSupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
    """A compiled BCC object in the kernel: its maps created at once, programs loaded on demand.

    BCC decides a program's type only when Python attaches or loads it, so each
    program is loaded by its own :func:`bpfkit.load` of the object, restricted
    to that program, with the type set in its spec.  Every load reuses the maps
    (global data included) of the first one (``reuse_maps=``), so all programs
    share state as they do under BCC.
    """

    def __init__(self, elf: bytes, *, name: str, log_level: int = 0) -> None:
        from .. import ObjectSpec, load

        self.spec = ObjectSpec.from_bytes(elf, name=name)
        for p in self.spec.programs.values():
            p.autoload = False
        self.log_level = log_level
        self._loads: list[Any] = []
        self.base = load(self.spec, programs=(), log_level=log_level)
        self.maps: dict[str, Any] = dict(self.base.maps)
        self.btf: Btf | None = self.spec.btf

    def program(self, symbol: str, prog_type: ProgType, *, expected_attach_type: AttachType | None = None,
                attach_target: str = "", name: str = "") -> Any:
        """Load program ``symbol`` as ``prog_type`` (sharing this object's maps); closed by :meth:`close`."""
        from .. import load

        spec = self.spec.copy()
        try:
            p = spec.programs[symbol]
        except KeyError:
            raise KeyError(f"the compiled object has no program {symbol!r}") from None
        p.type = ProgType(prog_type)
        p.expected_attach_type = expected_attach_type
        if attach_target:
            p.attach_target = attach_target
        p.flags = type(p.flags)(0)
        if name:
            p.name = name  # the name the kernel shows (bpftool prog, /proc/*/fdinfo)
        coll = load(spec, programs=[p.name], reuse_maps=self.maps, log_level=self.log_level)
        for m in coll.maps.values():
            m.close()  # duplicates of the shared maps; the program holds its own references
        self._loads.append(coll)
        return coll.programs[p.name]

    def close(self) -> None:
        """Close programs loaded here and the object's maps."""
        try:
            for c in self._loads:
                c.close()
            self._loads.clear()
        finally:
            self.base.close()


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
