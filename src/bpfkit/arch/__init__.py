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

from ..errors import NotSupportedError
from ._syscalls import SYSCALLS

__all__ = ["ARCHES", "Arch", "arch", "by_elf_machine", "machine", "syscall_name", "syscall_names", "syscall_number"]

_ALIASES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


class Arch:
    """The facts of one architecture that BPF programs and their loaders depend on (a plain class: loading
    bpfkit imports neither typing nor dataclasses).

    ``name``: uname -m (x86_64, aarch64); ``target``: the kernel's arch directory, as in
    ``-D__TARGET_ARCH_<target>`` and BCC's arch names (x86, arm64); ``syscall_prefix``: the kernel's
    syscall wrappers (``__x64_sys_``, ``__arm64_sys_``); ``elf_machine``: e_machine of its ELF files;
    ``func_args``: the struct pt_regs members (as C spells them) holding a function's first six
    arguments; ``syscall_args``: a system call's, in the pt_regs the syscall wrapper receives (x86-64
    passes the 4th in r10; arm64's x0 is overwritten by the result, orig_x0 keeps it); ``rc``, ``ip``,
    ``sp``, ``fp``: return value, instruction, stack and frame pointer; ``ret``: where the return
    address is (x86-64: on the stack; arm64: the link register); ``pt_regs``: byte offsets in struct
    pt_regs of the registers USDT arguments name (x86's uapi ptrace.h, arm64's user_pt_regs).
    """

    __slots__ = (
        "elf_machine",
        "fp",
        "func_args",
        "ip",
        "name",
        "pt_regs",
        "rc",
        "ret",
        "sp",
        "syscall_args",
        "syscall_prefix",
        "target",
    )

    def __init__(self, name: str, target: str, syscall_prefix: str, elf_machine: int, func_args: tuple[str, ...],
                 syscall_args: tuple[str, ...], rc: str, ip: str, sp: str, fp: str, ret: str,
                 pt_regs: Mapping[str, int]) -> None:
        self.name, self.target, self.syscall_prefix, self.elf_machine = name, target, syscall_prefix, elf_machine
        self.func_args, self.syscall_args = func_args, syscall_args
        self.rc, self.ip, self.sp, self.fp, self.ret = rc, ip, sp, fp, ret
        self.pt_regs = pt_regs

    def __repr__(self) -> str:
        return f"Arch({self.name!r}, target={self.target!r})"


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
