"""Arena maps (BPF_MAP_TYPE_ARENA): memory shared between programs and user space, page by page."""

from __future__ import annotations

import mmap as _mmap

from .. import host
from .._sys.syscall import mmap_fd
from .._uapi import MapType
from ..errors import BpfValueError
from ._base import Map, _CreateArgs

__all__ = ["ArenaMap"]


class ArenaMap(Map):
    """BPF_MAP_TYPE_ARENA (Linux 6.9): ``max_entries`` pages; ``map_extra`` the user address it should live at
    (0 lets the first mmap choose). BPF_F_MMAPABLE, which the kernel requires, is added for you.
    Pages appear on first touch unless BPF_F_SEGV_ON_FAULT.
    """

    map_types = (MapType.ARENA,)

    @classmethod
    def _prepare_create(cls, a: _CreateArgs) -> None:
        super()._prepare_create(a)
        if not a.max_entries:
            raise BpfValueError("an arena needs max_entries= (its size in pages)")
        if a.map_extra % host.page_size():
            raise BpfValueError(f"arena map_extra (user address) must be page-aligned, not {a.map_extra:#x}")

    @property
    def size(self) -> int:
        """The arena's size in bytes."""
        return self.max_entries * host.page_size()

    def mmap(self) -> _mmap.mmap:
        """Map the whole arena read-write (the kernel allows one size: all of it); close the result yourself."""
        with self._fd.borrow() as fd:
            return mmap_fd(fd, self.size, writable=True)
