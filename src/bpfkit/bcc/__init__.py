"""BCC-compatible front end: run BCC-style Python programs on kernels without headers.

``from bpfkit.bcc import BPF`` gives BCC's Python API; the C text is rewritten
into CO-RE C, compiled with clang against the running kernel's BTF (cached),
and loaded with bpfkit.  See :mod:`bpfkit.bcc.bpf` for how programs attach.
"""

from __future__ import annotations

from ..errors import CompileError as CompileError
from ..errors import CompilerNotFoundError as CompilerNotFoundError
from . import containers as containers
from . import syscall as syscall
from . import table as table
from . import tcp as tcp
from . import utils as utils
from ._consts import BPFAttachType as BPFAttachType
from ._consts import BPFProgType as BPFProgType
from ._consts import PerfEventSampleFormat as PerfEventSampleFormat
from ._consts import PerfHWConfig as PerfHWConfig
from ._consts import PerfSWConfig as PerfSWConfig
from ._consts import PerfType as PerfType
from ._consts import XDPAction as XDPAction
from ._consts import XDPFlags as XDPFlags
from .bpf import BPF as BPF
from .bpf import DEBUG_BPF as DEBUG_BPF
from .bpf import DEBUG_BPF_REGISTER_STATE as DEBUG_BPF_REGISTER_STATE
from .bpf import DEBUG_BTF as DEBUG_BTF
from .bpf import DEBUG_LLVM_IR as DEBUG_LLVM_IR
from .bpf import DEBUG_PREPROCESSOR as DEBUG_PREPROCESSOR
from .bpf import DEBUG_SOURCE as DEBUG_SOURCE
from .bpf import Function as Function
from .table import Table as Table
from .usdt import USDT as USDT
from .usdt import USDTException as USDTException
from .utils import ArgString as ArgString
from .utils import StrcmpRewrite as StrcmpRewrite
from .utils import get_online_cpus as get_online_cpus
from .utils import printb as printb

__all__ = [
    "BPF",
    "ArgString",
    "BPFAttachType",
    "BPFProgType",
    "PerfEventSampleFormat",
    "PerfHWConfig",
    "PerfSWConfig",
    "PerfType",
    "StrcmpRewrite",
    "XDPAction",
    "XDPFlags",
    "containers",
    "get_online_cpus",
    "printb",
    "syscall",
    "table",
    "tcp",
    "utils",
    "DEBUG_BPF",
    "DEBUG_BPF_REGISTER_STATE",
    "DEBUG_BTF",
    "DEBUG_LLVM_IR",
    "DEBUG_PREPROCESSOR",
    "DEBUG_SOURCE",
    "CompileError",
    "CompilerNotFoundError",
    "Function",
    "Table",
    "USDT",
    "USDTException",
]
