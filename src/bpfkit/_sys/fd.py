"""An owned file descriptor that closes itself and warns when leaked."""

from __future__ import annotations

import os
import warnings
from types import TracebackType

__all__ = ["Fd"]


class Fd:
    """Owns one file descriptor: ``close()`` once, context manager, ResourceWarning if leaked."""

    __slots__ = ("__weakref__", "_fd", "what")

    def __init__(self, fd: int, what: str = "bpf object") -> None:
        if fd < 0:
            raise ValueError(f"invalid file descriptor {fd} for {what}")
        self._fd = fd
        self.what = what

    @property
    def closed(self) -> bool:
        """True once closed or released."""
        return self._fd < 0

    def fileno(self) -> int:
        """The raw fd; ValueError if closed."""
        fd = self._fd
        if fd < 0:
            raise ValueError(f"{self.what} is closed")
        return fd

    @property
    def fd(self) -> int:
        """The raw fd; ValueError if closed."""
        return self.fileno()

    def close(self) -> None:
        """Close the fd (idempotent)."""
        fd = self._fd
        if fd >= 0:
            self._fd = -1
            os.close(fd)

    def release(self) -> int:
        """Give up ownership and return the raw fd without closing it."""
        fd = self.fileno()
        self._fd = -1
        return fd

    def dup(self) -> Fd:
        """A new owned fd to the same kernel object (close-on-exec)."""
        import fcntl

        return Fd(fcntl.fcntl(self.fileno(), fcntl.F_DUPFD_CLOEXEC, 3), self.what)

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
