"""Maps: the Map base class, one class per map family, and the key/value codecs.

``Map.create(type, ...)``, ``Map.from_fd``, ``Map.from_pin`` and ``Map.from_id``
return the class registered for the map's type. Each name is imported from its
module on first use, and a family's module when a map of its type is first met
(the module the registry of per-type facts, :mod:`bpfkit._registry`, names), so
that loading an object imports only the families it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _exports
from ._exports import MAP_CLASSES

if TYPE_CHECKING:
    from ._exports import *  # noqa: F403  (the map class of each registry row)
    from .array import IndexedMap as IndexedMap
    from .base import Map as Map
    from .base import MapInfo as MapInfo
    from .base import MapIterationError as MapIterationError
    from .base import fd_of as fd_of
    from .base import map_ids as map_ids
    from .btfinfo import kernel_btf as kernel_btf
    from .btfinfo import load_btf as load_btf
    from .codec import Codec as Codec
    from .codec import CodecSpec as CodecSpec
    from .codec import as_plain as as_plain
    from .codec import btf_ctype as btf_ctype
    from .codec import btf_dtype as btf_dtype
    from .codec import make_codec as make_codec
    from .lpm import LpmKey as LpmKey
    from .net import CpumapValue as CpumapValue
    from .net import DevmapValue as DevmapValue
    from .queue import QueueEmptyError as QueueEmptyError
    from .storage import LocalStorageMap as LocalStorageMap

_WHERE: dict[str, str] = {
    **MAP_CLASSES,
    "IndexedMap": "array",
    "Map": "base",
    "MapInfo": "base",
    "MapIterationError": "base",
    "fd_of": "base",
    "map_ids": "base",
    "kernel_btf": "btfinfo",
    "load_btf": "btfinfo",
    "Codec": "codec",
    "CodecSpec": "codec",
    "as_plain": "codec",
    "btf_ctype": "codec",
    "btf_dtype": "codec",
    "make_codec": "codec",
    "LpmKey": "lpm",
    "CpumapValue": "net",
    "DevmapValue": "net",
    "QueueEmptyError": "queue",
    "LocalStorageMap": "storage",
}


_SUBMODULES = frozenset({"base", "btfgen", "btfinfo", "codec", *MAP_CLASSES.values()})


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        if name in _SUBMODULES:  # ``bpfkit.maps.hash`` as an attribute, as when the package imported them all
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
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
