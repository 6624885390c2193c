"""Public helpers for testing BPF programs with bpfkit: compile BPF C, leak checks, probe skips.

bpfkit.testing.fuzz (the mutation fuzzer) and bpfkit.testing.soak (the soak run) are run as modules.
"""

from __future__ import annotations

from ._leaks import LeakReport as LeakReport
from ._leaks import attached_program_ids as attached_program_ids
from ._leaks import bpf_fds as bpf_fds
from ._leaks import bpf_pins as bpf_pins
from ._leaks import check_leaks as check_leaks
from ._leaks import kernel_ids as kernel_ids
from ._leaks import orphan_ids as orphan_ids
from ._patience import patience as patience
from ._patience import slowdown as slowdown
from ._probes import PROBE_PREFIX as PROBE_PREFIX
from ._probes import require as require
from ._probes import require_capability as require_capability
from ._probes import require_libbpf as require_libbpf
from .compile import clang_path as clang_path
from .compile import compile_bpf as compile_bpf
from .compile import vmlinux_header as vmlinux_header

__all__ = [
    "PROBE_PREFIX",
    "LeakReport",
    "attached_program_ids",
    "bpf_fds",
    "bpf_pins",
    "check_leaks",
    "clang_path",
    "compile_bpf",
    "kernel_ids",
    "orphan_ids",
    "patience",
    "require",
    "require_capability",
    "require_libbpf",
    "slowdown",
    "vmlinux_header",
]
