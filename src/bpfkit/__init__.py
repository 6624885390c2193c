"""bpfkit: a pure-Python eBPF toolkit over the bpf(2) syscall.

Load clang-built CO-RE objects, use every map type from Python, read ring and
perf buffers and attach programs, with no libbpf, no BCC and no kernel headers.
"""

from __future__ import annotations

from ._uapi import AttachType as AttachType
from ._uapi import BtfKind as BtfKind
from ._uapi import LinkType as LinkType
from ._uapi import MapFlags as MapFlags
from ._uapi import MapType as MapType
from ._uapi import ProgType as ProgType
from ._uapi import UpdateFlags as UpdateFlags
from ._uapi._base import import_module as _import_module
from .errors import AccessError as AccessError
from .errors import BpfError as BpfError
from .errors import BpfIndexError as BpfIndexError
from .errors import BpfKeyError as BpfKeyError
from .errors import BpfOverflowError as BpfOverflowError
from .errors import BpfPermissionError as BpfPermissionError
from .errors import BpfTypeError as BpfTypeError
from .errors import BpfValueError as BpfValueError
from .errors import KernelError as KernelError
from .errors import MapKeyError as MapKeyError
from .errors import NotSupportedError as NotSupportedError
from .errors import ObjectFormatError as ObjectFormatError
from .errors import RelocationError as RelocationError
from .errors import VerifierError as VerifierError
from .maps import _exports as _map_exports

__version__ = "0.1.0"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._uapi import HelperId as HelperId
    from .collection import Collection as Collection
    from .collection import Variables as Variables
    from .collection import load as load
    from .links import Link as Link
    from .links import LinkInfo as LinkInfo
    from .maps import LpmKey as LpmKey
    from .maps import Map as Map
    from .maps import MapInfo as MapInfo
    from .maps import MapIterationError as MapIterationError
    from .maps import QueueEmptyError as QueueEmptyError
    from .maps._exports import *  # noqa: F403  (the map class of each row of the registry, bpfkit._registry)
    from .obj import MapSpec as MapSpec
    from .obj import ObjectSpec as ObjectSpec
    from .obj import ProgramSpec as ProgramSpec
    from .obj import VariableSpec as VariableSpec
    from .perf import PerfBuffer as PerfBuffer
    from .programs import Program as Program
    from .programs import ProgramInfo as ProgramInfo
    from .programs import TestRunResult as TestRunResult
    from .ringbuf import RingBuffer as RingBuffer
    from .ringbuf import UserRingBuffer as UserRingBuffer
    from .token import Token as Token
    from .trace_pipe import TraceEvent as TraceEvent
    from .trace_pipe import TracePipe as TracePipe

# Names whose modules reach the kernel (bpfkit._sys) are imported on first use, so that
# importing the pure core (bpfkit.btf, bpfkit._uapi, ...) never loads the syscall layer.
_LAZY: dict[str, str] = dict.fromkeys(
    ("LpmKey", "Map", "MapInfo", "MapIterationError", "QueueEmptyError", *_map_exports.__all__),
    "bpfkit.maps",
)


_LAZY.update({name: module for module, names in {
    "bpfkit.collection": ("load", "Collection", "Variables"),
    "bpfkit.obj": ("ObjectSpec", "MapSpec", "ProgramSpec", "VariableSpec"),
    "bpfkit.programs": ("Program", "ProgramInfo", "TestRunResult"),
    "bpfkit.links": ("Link", "LinkInfo"),
    "bpfkit._uapi": ("HelperId",),
    "bpfkit.perf": ("PerfBuffer",),
    "bpfkit.ringbuf": ("RingBuffer", "UserRingBuffer"),
    "bpfkit.trace_pipe": ("TraceEvent", "TracePipe"),
    "bpfkit.token": ("Token",),
}.items() for name in names})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bpfkit' has no attribute {name!r}")
    value = getattr(_import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


ANY = UpdateFlags.ANY
NOEXIST = UpdateFlags.NOEXIST
EXIST = UpdateFlags.EXIST
F_LOCK = UpdateFlags.F_LOCK

__all__ = [
    "ANY",
    "AccessError",
    "AttachType",
    "BpfError",
    "BpfIndexError",
    "BpfKeyError",
    "BpfOverflowError",
    "BpfPermissionError",
    "BpfTypeError",
    "BpfValueError",
    "BtfKind",
    "Collection",
    "EXIST",
    "F_LOCK",
    "HelperId",
    "KernelError",
    "Link",
    "LinkInfo",
    "LinkType",
    "LpmKey",
    "Map",
    "MapFlags",
    "MapInfo",
    "MapIterationError",
    "MapKeyError",
    "MapSpec",
    "MapType",
    "NOEXIST",
    "NotSupportedError",
    "ObjectFormatError",
    "ObjectSpec",
    "PerfBuffer",
    "ProgType",
    "Program",
    "ProgramInfo",
    "ProgramSpec",
    "QueueEmptyError",
    "RelocationError",
    "RingBuffer",
    "TestRunResult",
    "Token",
    "TraceEvent",
    "TracePipe",
    "UpdateFlags",
    "UserRingBuffer",
    "VariableSpec",
    "Variables",
    "VerifierError",
    "__version__",
    "load",
]
__all__ += _map_exports.__all__
