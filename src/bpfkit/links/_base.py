"""Link: one attachment of a program; closing it detaches (unless pinned)."""

from __future__ import annotations

import ctypes
import functools
import os
from _thread import LockType, allocate_lock, start_new_thread
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType

from .._record import record
from .._sys import Fd
from .._sys import attrs as A
from .._sys import commands as C
from .._sys.fd import adopt_fd
from .._uapi import AttachType, LinkType
from ..errors import BpfTypeError, BpfValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from ..programs import Program
    _F = TypeVar("_F", bound=Callable[..., Any])


def holds_program(attach: _F) -> _F:
    """Decorate an ``attach_*(prog, ...)``: the program's fd stays open (borrowed against a concurrent
    ``prog.close()``) for the whole attach, so the number it passes to the kernel is the program's."""

    @functools.wraps(attach)
    def wrapper(prog: Any, *args: Any, **kwargs: Any) -> Any:
        owned = getattr(prog, "_fd", None)
        if not isinstance(owned, Fd):
            return attach(prog, *args, **kwargs)
        with owned.borrow():
            return attach(prog, *args, **kwargs)

    return wrapper  # type: ignore[return-value]

__all__ = ["Link", "LinkInfo", "close_links", "link_ids"]


@record(frozen=True)
class LinkInfo:
    """What the kernel reports about a bpf_link (BPF_OBJ_GET_INFO_BY_FD)."""

    type: LinkType | int
    id: int
    prog_id: int
    raw: bytes
    name: str = ""  # a raw tracepoint's tracepoint, an iterator's target

    def details(self) -> dict[str, int]:
        """The integer fields the kernel reports for this link type (its member of bpf_link_info's union),
        by their kernel names: ``{"attach_type": 2, "cgroup_id": 1}``; nested ones dotted (``"map.map_id"``).

        Where the member holds a union itself (a perf_event link's uprobe/kprobe/tracepoint/event, an
        iterator's map/cgroup/task), every alternative is listed; the link's own fields say which applies
        (perf_event's ``type``, the iterator's :attr:`name`). A field the kernel does not fill reads 0.
        """
        member = self.type.name.lower() if isinstance(self.type, LinkType) else ""
        if not member or not hasattr(A.LinkInfo, member):
            return {}
        info = A.LinkInfo()
        at = _variants_at()
        raw = self.raw[: ctypes.sizeof(info) - at]
        ctypes.memmove(ctypes.addressof(info) + at, raw, len(raw))
        return _int_fields(getattr(info, member))

    def attach_type(self) -> AttachType | int | None:
        """The attach type, for the link kinds whose info carries one."""
        v = self.details().get("attach_type")
        if v is None:
            return None
        try:
            return AttachType(v)
        except ValueError:
            return v


def _variants_at() -> int:
    """Where the per-link-type union starts in struct bpf_link_info (LinkInfo.raw holds the bytes from there)."""
    return int(A.LinkInfo.raw_tracepoint.offset)


def _int_fields(obj: ctypes.Structure | ctypes.Union, prefix: str = "") -> dict[str, int]:
    """The integer fields of a generated ctypes struct by name; anonymous unions flattened, named members dotted."""
    out: dict[str, int] = {}
    anonymous = getattr(obj, "_anonymous_", ())
    for f in obj._fields_:
        name = f[0]
        value = getattr(obj, name)
        if isinstance(value, (ctypes.Structure, ctypes.Union)):
            out.update(_int_fields(value, prefix if name in anonymous else f"{prefix}{name}."))
        elif isinstance(value, int):
            out[prefix + name] = value
    return out


class Link:
    """An attachment of a program.

    A link owns either a bpf_link fd (detached when the last reference closes,
    pinnable) or the objects and the detach action of an older attach method
    (perf event ioctl, PROG_ATTACH, netlink).  ``close()`` detaches either way.
    """

    def __init__(
        self,
        fd: Fd | None,
        *,
        program: Program | None,
        kind: str,
        target: str,
        owned: Sequence[Fd] = (),
        on_close: Callable[[], None] | None = None,
        after_close: Callable[[], None] | None = None,
    ) -> None:
        self._fd = fd
        self.program = program
        self.kind = kind
        self.target = target
        self._owned = list(owned)
        self._on_close = on_close
        self._after_close = after_close
        self._pinned: str | None = None
        self._closed = False

    # ---- identity ------------------------------------------------------

    @property
    def is_bpf_link(self) -> bool:
        """True when the kernel represents this attachment as a bpf_link (pinnable, queryable)."""
        return self._fd is not None

    @property
    def fd(self) -> int:
        """The bpf_link fd; ValueError when closed or when the attach method has none."""
        if self._fd is None:
            raise BpfValueError(f"{self} is not a bpf_link (attached by an older method)")
        return self._fd.fileno()

    def fileno(self) -> int:
        """The bpf_link fd."""
        return self.fd

    def _borrow(self) -> Any:
        """The link's fd, borrowed against a concurrent close() (see :meth:`Fd.borrow`)."""
        if self._fd is None:
            raise BpfValueError(f"{self} is not a bpf_link (attached by an older method)")
        return self._fd.borrow()

    @property
    def closed(self) -> bool:
        """True once detached/closed."""
        return self._closed

    def info(self) -> LinkInfo:
        """Kernel facts about the bpf_link."""
        info = A.LinkInfo()
        with self._borrow() as fd:
            C.obj_get_info_by_fd(fd, info, target=str(self))
            name = ""
            if info.type in (LinkType.RAW_TRACEPOINT, LinkType.ITER):
                # the tracepoint / iterator target name: asked for again with a buffer
                buf = ctypes.create_string_buffer(256)
                iterator = info.type == LinkType.ITER
                info = A.LinkInfo()
                if iterator:
                    info.iter.target_name, info.iter.target_name_len = ctypes.addressof(buf), len(buf)
                else:
                    info.raw_tracepoint.tp_name, info.raw_tracepoint.tp_name_len = ctypes.addressof(buf), len(buf)
                C.obj_get_info_by_fd(fd, info, target=str(self))
                name = buf.value.decode(errors="replace")
        try:
            lt: LinkType | int = LinkType(info.type)
        except ValueError:
            lt = info.type
        at = _variants_at()
        raw = ctypes.string_at(ctypes.addressof(info) + at, ctypes.sizeof(info) - at)
        return LinkInfo(type=lt, id=info.id, prog_id=info.prog_id, raw=raw, name=name)

    # ---- lifetime ------------------------------------------------------

    def pin(self, path: str) -> None:
        """Pin the link on bpffs so the attachment outlives this process."""
        with self._borrow() as fd:
            C.obj_pin(fd, path, target=str(self))
        self._pinned = path

    def unpin(self, path: str | os.PathLike[str] | None = None) -> None:
        """Remove the pin at ``path`` (default: where :meth:`pin` put it or :meth:`from_pin` opened it);
        no-op when there is none, as for Map and Program. The attachment ends when nothing else holds it."""
        self._pinned = C.obj_unpin(path, self._pinned, str(self))

    @property
    def pinned_path(self) -> str | None:
        """Where this link was pinned or opened from (None when neither)."""
        return self._pinned

    def update(self, program: Program) -> None:
        """Atomically replace the attached program (BPF_LINK_UPDATE)."""
        if not isinstance(getattr(program, "_fd", None), Fd):  # a Program (links sit below programs: no import)
            raise BpfTypeError(f"update of {self}: expected a bpfkit Program, not {type(program).__name__}")
        with self._borrow() as fd, program._fd.borrow() as pfd:
            C.link_update(fd, pfd)
        self.program = program

    def detach(self) -> None:
        """Detach now (BPF_LINK_DETACH), even if the link is pinned or shared; then close."""
        if self._fd is not None and not self._fd.closed:
            with self._fd.borrow() as fd:
                C.link_detach(fd)
        self.close()

    def close(self) -> None:
        """Close: detaches unless the link is pinned or another fd refers to it."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._on_close is not None:
                self._on_close()
        finally:
            try:
                if self._fd is not None:
                    self._fd.close()
                for fd in self._owned:
                    fd.close()
            finally:
                if self._after_close is not None:
                    self._after_close()

    def __enter__(self) -> Link:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        name = self.program.name if self.program is not None else "?"
        state = " closed" if self._closed else ""
        return f"<Link {self.kind} {name!r} -> {self.target}{state}>"

    def __str__(self) -> str:
        name = self.program.name if self.program is not None else "?"
        return f"{self.kind} link of program {name!r} to {self.target}"

    @classmethod
    def from_fd(cls, fd: int | Fd | Any, *, dup: bool = False) -> Link:
        """Wrap an existing bpf_link fd, with the ownership rule of :meth:`Map.from_fd`.

        An int fd or an :class:`~bpfkit._sys.Fd` is taken over unless ``dup=True``; any
        other object with ``fileno()``/``.fd`` is always duplicated. If the fd is not a
        bpf_link, nothing is taken.
        """
        owned = adopt_fd(fd, dup=dup, what="link", check=_check_link_fd)
        return cls(owned, program=None, kind="link", target=f"fd {owned.fd}")

    @classmethod
    def from_pin(cls, path: str) -> Link:
        """Open a pinned bpf_link (:meth:`unpin` then removes that pin)."""
        fd = Fd(C.obj_get(path, target=f"pinned link {path!r}"), f"link {path}")
        link = cls(fd, program=None, kind="pinned", target=path)
        link._pinned = path
        return link

    @classmethod
    def from_id(cls, link_id: int) -> Link:
        """Open a bpf_link by its kernel id."""
        fd = Fd(C.link_get_fd_by_id(link_id), f"link id {link_id}")
        return cls(fd, program=None, kind="link", target=f"id {link_id}")


def close_links(links: Iterable[Link], *, max_workers: int = 16) -> None:
    """Close many links at once, concurrently: each detach waits for the kernel (RCU grace periods), and
    those waits overlap across threads. Raises the first error after all are closed.

    The helpers are bare ``_thread`` threads: ``threading.Thread.start`` waits until its thread runs, which
    on a busy host kept this thread from closing its own share until every helper had started (issue 18).
    """
    todo = [link for link in links if not link.closed]
    errors: list[BaseException] = []
    queue = list(reversed(todo))  # pop() takes them in the given order
    lock = allocate_lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                link = queue.pop()
            try:
                link.close()
            except Exception as exc:
                errors.append(exc)

    def helper(done: LockType) -> None:
        try:
            worker()
        finally:
            done.release()

    helpers: list[LockType] = []
    for _ in range(min(max_workers, len(todo)) - 1):  # this thread is one of the workers
        done = allocate_lock()
        done.acquire()
        try:
            start_new_thread(helper, (done,))
        except RuntimeError:  # interpreter shutdown, or no thread to be had: this thread closes the rest
            break
        helpers.append(done)
    worker()
    for done in helpers:
        done.acquire()  # the helper's last link is closed
    if errors:
        raise errors[0]


def link_ids() -> list[int]:
    """Ids of every bpf_link of the system (BPF_LINK_GET_NEXT_ID)."""
    from .._uapi import Cmd

    return list(C.ids_of(Cmd.LINK_GET_NEXT_ID))


def new_link_fd(
    prog_fd: int, target_fd: int, attach_type: AttachType | int, *, flags: int = 0, what: str,
    extra: Callable[[A.LinkCreateAttr], Any] | None = None,
) -> Fd:
    """BPF_LINK_CREATE for ``prog_fd`` on ``target_fd``; ``extra`` fills the per-type union."""
    a = A.LinkCreateAttr(prog_fd=prog_fd, target_fd=target_fd, attach_type=int(attach_type), flags=flags)
    keep = extra(a) if extra is not None else None
    fd = C.link_create(a, target=what)
    del keep
    return Fd(fd, what)


def _check_link_fd(fd: int) -> None:
    """Refuse an fd that is not a bpf_link before Link.from_fd takes it over."""
    kind = C.obj_kind(fd)
    if kind != "bpf_link":
        raise BpfValueError(f"fd {fd} is {'a ' + kind if kind else 'not a BPF object'}, not a bpf_link")
