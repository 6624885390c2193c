"""bpfkit.arch: the per-architecture tables, against each other and against the running kernel."""

from __future__ import annotations

import ctypes
import os
import threading

import pytest

from bpfkit import BtfKind, NotSupportedError
from bpfkit.arch import ARCHES, arch, machine, syscall_name, syscall_names, syscall_number
from bpfkit.btf import Btf, Const, Struct, Typedef, Union_, Volatile
from bpfkit.host import vmlinux_btf


def test_machine_names_and_aliases() -> None:
    assert machine("amd64") == machine("x86_64") == "x86_64"
    assert machine("arm64") == machine("AARCH64") == "aarch64"
    assert machine() in ARCHES
    with pytest.raises(NotSupportedError) as ei:
        machine("sparc64")
    assert ei.value.feature == "architecture sparc64"


def test_tables_differ_where_the_abis_do() -> None:
    # arm64 uses the generic table: no access, pipe, open or fork; x86_64 has both generations
    for name in ("access", "pipe", "open", "fork"):
        assert name in syscall_names("x86_64").values()
        with pytest.raises(NotSupportedError):
            syscall_number(name, "aarch64")
    for a in ARCHES:
        names = syscall_names(a)
        assert len(names) > 280 and len(set(names.values())) == len(names)  # a bijection
        for name in ("bpf", "perf_event_open", "execve", "faccessat", "pipe2", "timer_create", "getpid", "clone3"):
            assert syscall_name(syscall_number(name, a), a) == name
    assert syscall_number("execve", "x86_64") != syscall_number("execve", "aarch64")


def test_register_conventions() -> None:
    x86, a64 = arch("x86_64"), arch("arm64")
    assert (x86.target, a64.target) == ("x86", "arm64")
    assert len(x86.func_args) == len(x86.syscall_args) == len(a64.func_args) == len(a64.syscall_args) == 6
    assert x86.syscall_args[3] == "r10" and x86.func_args[3] == "cx"  # the syscall ABI's 4th argument register
    assert a64.syscall_args[0] == "orig_x0" and a64.rc == a64.func_args[0]  # x0 is overwritten by the result


@pytest.mark.kernel
def test_numbers_match_the_running_kernel() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    assert libc.syscall(syscall_number("getpid")) == os.getpid()
    assert libc.syscall(syscall_number("getppid")) == os.getppid()
    assert libc.syscall(syscall_number("getuid")) == os.getuid()
    assert libc.syscall(syscall_number("getgid")) == os.getgid()
    assert libc.syscall(syscall_number("gettid")) == threading.get_native_id()
    assert libc.syscall(syscall_number("getpgid"), 0) == os.getpgid(0)


def _member_offsets(btf: Btf, type_id: int, base: int = 0) -> dict[str, int]:
    """Byte offsets of a struct's members, anonymous unions and structs flattened, as C names them."""
    out: dict[str, int] = {}
    t = btf[type_id]
    for m in getattr(t, "members", []):
        off = base + m.offset // 8
        target = btf[m.type]
        while isinstance(target, (Typedef, Const, Volatile)):
            target = btf[target.type]
        if not m.name and isinstance(target, (Struct, Union_)):
            out.update(_member_offsets(btf, m.type, off))
        elif m.name:
            out[m.name] = off
    return out


@pytest.mark.kernel
def test_pt_regs_table_matches_the_kernel_btf() -> None:
    """This machine's pt_regs members and offsets are those of the running kernel's struct pt_regs."""
    a = arch()
    btf = vmlinux_btf()
    offsets = _member_offsets(btf, btf.find_one("pt_regs", BtfKind.STRUCT))

    def offset(reg: str) -> int:  # 'di', 'orig_x0', 'regs[5]'
        name, _, index = reg.partition("[")
        return offsets[name] + (8 * int(index.rstrip("]")) if index else 0)

    for reg in (*a.func_args, *a.syscall_args, a.rc, a.ip, a.sp, a.fp, a.ret):
        offset(reg)  # every member the BCC front end names exists
    for reg, off in a.pt_regs.items():  # the USDT argument table
        c_name = f"regs[{reg[1:]}]" if a.name == "aarch64" and reg.startswith("x") else reg
        assert offset(c_name) == off, reg
