"""An owned file descriptor that closes itself and warns when leaked.

An fd number is reused by the next open() of any thread as soon as it is
closed, so a syscall on a number read before a concurrent close() can reach
a different object. Code that makes a syscall on an owned fd therefore
*borrows* it (``with fd.borrow() as n: ...``): :meth:`Fd.close` refuses new
borrows at once and releases the number only after the borrows in flight
ended (it waits for other threads' borrows; a close from inside a borrow of
the same thread, e.g. from a callback, takes effect when that borrow ends).
"""

from __future__ import annotations

import os
from _thread import allocate_lock, get_ident
from collections.abc import Callable
from types import TracebackType

from ..errors import BpfTypeError, BpfValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from threading import Condition

__all__ = ["Fd", "adopt_fd", "check_fd", "dup_fd", "fd_of"]

_ident = get_ident  # _thread's: importing threading costs every start ~0.5 ms (issue 18)


def check_fd(fd: object, what: str = "bpf object") -> int:
    """``fd`` if it is an int that can be a file descriptor (0..2**31-1), else a bpfkit error saying so."""
    if isinstance(fd, bool) or not isinstance(fd, int):
        raise BpfTypeError(f"a file descriptor for {what} is an int, not {type(fd).__name__}")
    if not 0 <= fd < 1 << 31:
        raise BpfValueError(f"invalid file descriptor {fd} for {what}")
    return fd


class Fd:
    """Owns one file descriptor: ``close()`` once, context manager, ResourceWarning if leaked."""

    __slots__ = ("__weakref__", "_cond", "_fd", "_lock", "_pending", "_users", "what")

    def __init__(self, fd: int, what: str = "bpf object") -> None:
        check_fd(fd, what)
        self._fd = fd
        self.what = what
        self._lock = allocate_lock()
        self._users: list[int] = []  # thread ident of each borrow in flight
        self._pending = -1  # the number close() left open for the borrows in flight
        self._cond: Condition | None = None

    def borrow(self) -> _Borrow:
        """``with fd.borrow() as n:`` the raw fd, kept open (against close()) until the block ends."""
        return _Borrow(self)

    def _acquire(self) -> int:
        with self._lock:
            fd = self._fd
            if fd < 0:
                raise BpfValueError(f"{self.what} is closed")
            self._users.append(_ident())
            return fd

    def _unuse(self) -> None:
        with self._lock:
            self._users.remove(_ident())
            if self._users or self._pending < 0:
                return
            fd, self._pending = self._pending, -1
            if self._cond is not None:
                self._cond.notify_all()
        os.close(fd)

    @property
    def closed(self) -> bool:
        """True once closed or released."""
        return self._fd < 0

    def fileno(self) -> int:
        """The raw fd; ValueError if closed."""
        fd = self._fd
        if fd < 0:
            raise BpfValueError(f"{self.what} is closed")
        return fd

    @property
    def fd(self) -> int:
        """The raw fd; ValueError if closed."""
        return self.fileno()

    def close(self) -> None:
        """Close the fd (idempotent); waits for other threads' borrows in flight to end first."""
        with self._lock:
            fd = self._fd
            if fd < 0:
                return
            self._fd = -1
            if self._users:
                self._pending = fd
                if _ident() in self._users:
                    return  # closed when this thread's own borrow ends
                if self._cond is None:
                    from threading import Condition

                    self._cond = Condition(self._lock)
                while self._pending == fd:
                    self._cond.wait()
                return
        os.close(fd)

    def release(self) -> int:
        """Give up ownership and return the raw fd without closing it."""
        with self._lock:
            fd = self._fd
            if fd < 0:
                raise BpfValueError(f"{self.what} is closed")
            if self._users:
                raise BpfValueError(f"{self.what} is in use by another operation and cannot be released")
            self._fd = -1
            return fd

    def dup(self) -> Fd:
        """A new owned fd to the same kernel object (close-on-exec)."""
        with self.borrow() as fd:
            return dup_fd(fd, self.what)

    def __enter__(self) -> Fd:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            self._fd = -1
            try:
                import warnings  # at shutdown too: it is in sys.modules by then, or the warning is skipped

                warnings.warn(f"unclosed {self.what} (fd {fd})", ResourceWarning, stacklevel=2)
            except Exception:
                pass
            try:
                os.close(fd)
            except OSError:
                pass

    def __repr__(self) -> str:
        state = "closed" if self._fd < 0 else f"fd={self._fd}"
        return f"<Fd {self.what} {state}>"

    def __int__(self) -> int:
        return self.fileno()


class _Borrow:
    """The context manager of :meth:`Fd.borrow`."""

    __slots__ = ("_owner",)

    def __init__(self, owner: Fd) -> None:
        self._owner = owner

    def __enter__(self) -> int:
        return self._owner._acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._owner._unuse()


def dup_fd(fd: int, what: str) -> Fd:
    """An owned close-on-exec duplicate (at 3 or above) of a raw fd the caller keeps; OSError if ``fd`` is bad."""
    import fcntl

    return Fd(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3), what)


def fd_of(obj: object) -> int:
    """The raw fd of an int, an object with ``fileno()``, or an object with an int ``.fd`` (Map, Program, socket).

    The one place an object becomes an fd: a bool, a negative int or anything else is a bpfkit error.
    """
    if isinstance(obj, int):
        return check_fd(obj)
    fileno = getattr(obj, "fileno", None)
    if callable(fileno):
        return check_fd(fileno(), f"{type(obj).__name__}.fileno()")
    fd = getattr(obj, "fd", None)
    if isinstance(fd, int) and not isinstance(fd, bool):
        return fd
    raise BpfTypeError(f"expected a file descriptor (int, .fileno() or .fd), not {type(obj).__name__}")


def adopt_fd(obj: object, *, dup: bool, what: str, check: Callable[[int], object] | None = None) -> Fd:
    """The owned Fd of ``from_fd(obj, dup=...)``, the same rule for Map, Program and Link.

    An int fd or an :class:`Fd` is taken over (closed with the new object) unless ``dup``; any other
    object with ``fileno()``/``.fd`` (a Map, a Program) is always duplicated, so its owner keeps its
    own fd. ``check`` runs on a raw fd before it is taken over: when it raises, nothing was taken.
    """
    if isinstance(obj, Fd) and not dup:
        if check is not None:
            check(obj.fileno())
        return Fd(obj.release(), what)
    if isinstance(obj, int) and not isinstance(obj, bool) and not dup:
        if check is not None:
            check(obj)
        return Fd(obj, what)
    theirs = obj if isinstance(obj, Fd) else getattr(obj, "_fd", None)
    if isinstance(theirs, Fd):  # a bpfkit object: dup it borrowed, against a concurrent close of it
        mine = theirs.dup()
        mine.what = what
    else:
        mine = dup_fd(fd_of(obj), what)
    if check is not None:
        try:
            check(mine.fd)
        except BaseException:
            mine.close()
            raise
    return mine
