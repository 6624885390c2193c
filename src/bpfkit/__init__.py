"""bpfkit: a pure-Python eBPF toolkit over the bpf(2) syscall.

Load clang-built CO-RE objects, use every map type from Python, read ring and
perf buffers and attach programs, with no libbpf, no BCC and no kernel headers.
"""

from __future__ import annotations

from ._uapi import AttachType as AttachType
from ._uapi import BtfKind as BtfKind
from ._uapi import HelperId as HelperId
from ._uapi import LinkType as LinkType
from ._uapi import MapFlags as MapFlags
from ._uapi import MapType as MapType
from ._uapi import ProgType as ProgType
from ._uapi import UpdateFlags as UpdateFlags
from .errors import BpfError as BpfError
from .errors import BpfPermissionError as BpfPermissionError
from .errors import KernelError as KernelError
from .errors import MapKeyError as MapKeyError
from .errors import NotSupportedError as NotSupportedError
from .errors import ObjectFormatError as ObjectFormatError
from .errors import RelocationError as RelocationError
from .errors import VerifierError as VerifierError
from .perf import PerfBuffer as PerfBuffer
from .ringbuf import RingBuffer as RingBuffer
from .ringbuf import UserRingBuffer as UserRingBuffer
from .trace_pipe import TraceEvent as TraceEvent
from .trace_pipe import TracePipe as TracePipe

__version__ = "0.1.0"

ANY = UpdateFlags.ANY
NOEXIST = UpdateFlags.NOEXIST
EXIST = UpdateFlags.EXIST
F_LOCK = UpdateFlags.F_LOCK

__all__ = [
    "ANY",
    "EXIST",
    "F_LOCK",
    "NOEXIST",
    "AttachType",
    "BpfError",
    "BpfPermissionError",
    "BtfKind",
    "HelperId",
    "KernelError",
    "LinkType",
    "MapFlags",
    "MapKeyError",
    "MapType",
    "NotSupportedError",
    "ObjectFormatError",
    "PerfBuffer",
    "ProgType",
    "RelocationError",
    "RingBuffer",
    "TraceEvent",
    "TracePipe",
    "UpdateFlags",
    "UserRingBuffer",
    "VerifierError",
    "__version__",
]
