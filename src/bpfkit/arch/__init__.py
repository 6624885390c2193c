"""What differs between the CPU architectures bpfkit runs on: system call numbers, names and conventions.

One place for them, so no other module (or test) carries x86-64 constants. The
system call tables are generated from the Linux uapi headers (scripts/gen_syscalls.py,
checked against this machine's headers by ``--check`` and against the running
kernel by the tests). Architectures are named as ``uname -m`` names them on Linux:
``x86_64`` and ``aarch64`` (``amd64`` and ``arm64`` are accepted as aliases).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from ..errors import NotSupportedError
from ._syscalls import SYSCALLS

__all__ = ["ARCHES", "Arch", "arch", "by_elf_machine", "machine", "syscall_name", "syscall_names", "syscall_number"]

_ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class Arch(NamedTuple):
    """The facts of one architecture that BPF programs and their loaders depend on (a NamedTuple: loading
    bpfkit must not import dataclasses, and with it inspect and ast)."""

    name: str  # uname -m: x86_64, aarch64
    target: str  # the kernel's arch directory, as in -D__TARGET_ARCH_<target> and BCC's arch names: x86, arm64
    syscall_prefix: str  # the kernel's syscall wrappers: __x64_sys_openat, __arm64_sys_openat
    elf_machine: int  # e_machine of its ELF files: EM_X86_64, EM_AARCH64
    # struct pt_regs members (as C spells them) holding a function's first six arguments
    func_args: tuple[str, ...]
    # ... and a system call's, in the pt_regs the syscall wrapper receives (x86-64 passes the 4th in r10;
    # arm64's first argument register is overwritten by the return value, orig_x0 keeps it)
    syscall_args: tuple[str, ...]
    rc: str  # the return value
    ip: str  # the instruction pointer
    sp: str  # the stack pointer
    fp: str  # the frame pointer
    ret: str  # where the return address is found (x86-64: on the stack; arm64: the link register)
    # byte offsets in struct pt_regs of the registers USDT arguments name (the kernel's ABI: x86's
    # arch/x86/include/uapi/asm/ptrace.h, arm64's struct user_pt_regs at the start of its pt_regs)
    pt_regs: Mapping[str, int] = {}


ARCHES: Mapping[str, Arch] = {
    "x86_64": Arch("x86_64", "x86", "__x64_sys_", 62,
                   ("di", "si", "dx", "cx", "r8", "r9"), ("di", "si", "dx", "r10", "r8", "r9"),
                   "ax", "ip", "sp", "bp", "sp",
                   {"r15": 0, "r14": 8, "r13": 16, "r12": 24, "bp": 32, "bx": 40, "r11": 48, "r10": 56, "r9": 64,
                    "r8": 72, "ax": 80, "cx": 88, "dx": 96, "si": 104, "di": 112, "orig_ax": 120, "ip": 128,
                    "cs": 136, "flags": 144, "sp": 152, "ss": 160}),
    "aarch64": Arch("aarch64", "arm64", "__arm64_sys_", 183,
                    tuple(f"regs[{i}]" for i in range(6)), ("orig_x0", *(f"regs[{i}]" for i in range(1, 6))),
                    "regs[0]", "pc", "sp", "regs[29]", "regs[30]",
                    {**{f"x{i}": 8 * i for i in range(31)}, "sp": 248, "pc": 256, "pstate": 264}),
}


def by_elf_machine(e_machine: int) -> Arch | None:
    """The architecture of ELF files with this ``e_machine``, None when bpfkit has no tables of it."""
    return next((a for a in ARCHES.values() if a.elf_machine == e_machine), None)


def machine(name: str | None = None) -> str:
    """The architecture ``name`` (default: this machine's, ``uname -m``) as bpfkit names it; NotSupportedError
    for one bpfkit has no tables of."""
    raw = os.uname().machine if name is None else name
    try:
        return _ALIASES[raw.lower()]
    except KeyError:
        raise NotSupportedError(f"bpfkit has no system call or register tables of the {raw} architecture "
                                f"(it knows {', '.join(ARCHES)})", feature=f"architecture {raw}") from None


def arch(name: str | None = None) -> Arch:
    """The facts of architecture ``name`` (default: this machine's)."""
    return ARCHES[machine(name)]


def syscall_number(name: str, arch_name: str | None = None) -> int:
    """The number of system call ``name`` on ``arch_name`` (default: this machine); NotSupportedError when that
    architecture has no such call (arm64 has no ``access`` or ``pipe``, only ``faccessat`` and ``pipe2``)."""
    m = machine(arch_name)
    try:
        return SYSCALLS[m][name]
    except KeyError:
        raise NotSupportedError(f"{m} has no system call {name!r}", feature=f"system call {name}") from None


def syscall_names(arch_name: str | None = None) -> dict[int, str]:
    """number -> name of every system call of ``arch_name`` (default: this machine)."""
    return {nr: n for n, nr in SYSCALLS[machine(arch_name)].items()}


def syscall_name(nr: int, arch_name: str | None = None) -> str | None:
    """The name of system call number ``nr`` on ``arch_name`` (default: this machine), None if unknown."""
    return syscall_names(arch_name).get(nr)
