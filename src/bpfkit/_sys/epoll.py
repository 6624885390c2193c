"""epoll(7) for the buffer readers: one owned epoll fd, level-triggered, timeouts in float seconds."""

from __future__ import annotations

import select

from ..errors import BpfValueError

__all__ = ["EPOLLERR", "EPOLLET", "EPOLLHUP", "EPOLLIN", "EPOLLOUT", "Epoll"]

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLERR = select.EPOLLERR
EPOLLHUP = select.EPOLLHUP
EPOLLET = select.EPOLLET
MAX_WAIT = (2**31 - 1) // 1000  # seconds: epoll_wait takes an int of milliseconds (about 24.8 days)


class Epoll:
    """An epoll instance (close-on-exec) mapping registered fds to small integer tags."""

    __slots__ = ("_ep", "_tags")

    def __init__(self) -> None:
        self._ep: select.epoll | None = select.epoll()
        self._tags: dict[int, int] = {}

    def fileno(self) -> int:
        """The epoll fd (readable when a registered fd is ready); ValueError once closed."""
        if self._ep is None:
            raise BpfValueError("epoll instance is closed")
        return self._ep.fileno()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._ep is None

    def register(self, fd: int, tag: int, events: int = EPOLLIN) -> None:
        """Watch ``fd`` for ``events``; :meth:`wait` reports it as ``tag``."""
        if self._ep is None:
            raise BpfValueError("epoll instance is closed")
        self._ep.register(fd, events)
        self._tags[fd] = tag

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd`` (no error if it was not registered or is already closed)."""
        if self._ep is None or self._tags.pop(fd, None) is None:
            return
        try:
            self._ep.unregister(fd)
        except OSError:
            pass

    def wait(self, timeout: float | None, max_events: int = -1) -> list[int]:
        """Tags of the ready fds, waiting up to ``timeout`` seconds (None: forever, 0: not at all)."""
        if self._ep is None:
            raise BpfValueError("epoll instance is closed")
        # a longer timeout (BCC's tools poll for 'duration' 99999999 s) waits the longest epoll can; callers loop
        t = -1.0 if timeout is None else min(max(timeout, 0.0), MAX_WAIT)
        tags = self._tags
        return [tags[fd] for fd, _ in self._ep.poll(t, max_events) if fd in tags]

    def close(self) -> None:
        """Close the epoll fd (idempotent)."""
        ep = self._ep
        if ep is not None:
            self._ep = None
            self._tags.clear()
            ep.close()

    def __del__(self) -> None:
        ep = getattr(self, "_ep", None)
        if ep is not None:
            self._ep = None
            try:
                import warnings  # here, not at import (issue 18); at shutdown it is in sys.modules or skipped

                warnings.warn("unclosed epoll instance", ResourceWarning, stacklevel=2)
            except Exception:
                pass
            ep.close()
