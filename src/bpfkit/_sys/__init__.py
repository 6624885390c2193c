"""The only package that calls syscalls: bpf(2), perf_event_open, ioctl, mmap, mount."""

from __future__ import annotations

from .fd import Fd as Fd
from .syscall import bpf as bpf
from .syscall import bpf_raw as bpf_raw
from .syscall import error_for as error_for

__all__ = ["Fd", "bpf", "bpf_raw", "error_for"]
