"""Maps: the Map base class, one class per map family, and the key/value codecs.

``Map.create(type, ...)``, ``Map.from_fd``, ``Map.from_pin`` and ``Map.from_id``
return the class registered for the map's type. Each name is imported from its
module on first use, and a family's module when a map of its type is first met
(the module the registry of per-type facts, :mod:`bpfkit._registry`, names), so
that loading an object imports only the families it uses.
"""

from __future__ import annotations

from .._uapi._base import import_module
from . import _exports
from ._exports import MAP_CLASSES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .._kbtf import kernel_btf as kernel_btf
    from .._kbtf import load_btf as load_btf
    from ._array import IndexedMap as IndexedMap
    from ._base import Map as Map
    from ._base import MapInfo as MapInfo
    from ._base import MapIterationError as MapIterationError
    from ._base import fd_of as fd_of
    from ._base import map_ids as map_ids
    from ._codec import Codec as Codec
    from ._codec import CodecSpec as CodecSpec
    from ._codec import as_plain as as_plain
    from ._codec import btf_ctype as btf_ctype
    from ._codec import btf_dtype as btf_dtype
    from ._codec import make_codec as make_codec
    from ._exports import *  # noqa: F403  (the map class of each registry row)
    from ._lpm import LpmKey as LpmKey
    from ._net import CpumapValue as CpumapValue
    from ._net import DevmapValue as DevmapValue
    from ._queue import QueueEmptyError as QueueEmptyError
    from ._storage import LocalStorageMap as LocalStorageMap

_WHERE: dict[str, str] = {
    **MAP_CLASSES,
    "IndexedMap": "_array",
    "Map": "_base",
    "MapInfo": "_base",
    "MapIterationError": "_base",
    "fd_of": "_base",
    "map_ids": "_base",
    "kernel_btf": "bpfkit._kbtf",
    "load_btf": "bpfkit._kbtf",
    "Codec": "_codec",
    "CodecSpec": "_codec",
    "as_plain": "_codec",
    "btf_ctype": "_codec",
    "btf_dtype": "_codec",
    "make_codec": "_codec",
    "LpmKey": "_lpm",
    "CpumapValue": "_net",
    "DevmapValue": "_net",
    "QueueEmptyError": "_queue",
    "LocalStorageMap": "_storage",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module if module.startswith("bpfkit.") else f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "Codec",
    "CodecSpec",
    "CpumapValue",
    "DevmapValue",
    "IndexedMap",
    "LocalStorageMap",
    "LpmKey",
    "Map",
    "MapInfo",
    "MapIterationError",
    "QueueEmptyError",
    "as_plain",
    "btf_ctype",
    "btf_dtype",
    "fd_of",
    "kernel_btf",
    "load_btf",
    "make_codec",
    "map_ids",
]
__all__ += _exports.__all__
