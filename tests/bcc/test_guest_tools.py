"""Constructs of BCC's tools that only the kprobe/fentry paths reach (the 6.12 matrix guest runs them).

Small BCC-style programs written for these tests; text-only tests use the fake kernel.
"""

from __future__ import annotations

import ctypes as ct
import errno
import os
from pathlib import Path
from typing import Any

import pytest

import bpfkit.bcc.bpf as bpfmod
import bpfkit.links as links
from bpfkit import features
from bpfkit._sys import perf_event
from bpfkit._sys.epoll import Epoll
from bpfkit._uapi import MapType
from bpfkit.bcc import table as T
from bpfkit.bcc._compile import compile_c
from bpfkit.bcc._kernel import HostKernel
from bpfkit.bcc._rewriter import rewrite
from bpfkit.errors import KernelError, NotSupportedError

from .conftest import FakeKernel
from .test_fallback import Recorder, make_bpf, rec  # noqa: F401
from .test_rewriter import user_part
from .test_tables import FakeMap


def test_a_deref_after_a_cast_of_a_field_address_offset_is_a_probe_read(fake_kernel: FakeKernel) -> None:
    """``(u8) *(&p->field - 2)``: the byte before a kernel field, read after a value cast (bitfield neighbours)."""
    text = ("int f(struct pt_regs *ctx, struct sock *sk) {\n"
            "  u8 a = (u8) *(&sk->__sk_common.skc_family - 2) & 0xFF;\n"
            "  u8 b = *(&sk->__sk_common.skc_family - 1) & 0x01;\n"
            "  return a + b; }\n")
    out = user_part(rewrite(text, kernel=fake_kernel).source)
    assert out.count("bpf_probe_read_kernel(&__bcc_kv") == 2
    assert "(u8) ({ __typeof__(*(&sk->__sk_common.skc_family - 2)) __bcc_kv;" in out


def test_a_ctypes_integer_of_another_size_is_stored_by_value_when_it_fits() -> None:
    """``enabled[c_int(0)] = c_int(1)`` on a u64 array (klockstat): the value, widened; narrowed when it fits."""
    t = T.Table(None, FakeMap(MapType.ARRAY, 4, 8, 1), "enabled", ct.c_int, ct.c_ulong)
    t[ct.c_int(0)] = ct.c_int(1)
    assert t[0].value == 1
    t[ct.c_int(0)] = ct.c_int(-1)
    assert t[0].value == 2**64 - 1
    narrow = T.Table(None, FakeMap(MapType.ARRAY, 4, 4, 1), "n", ct.c_int, ct.c_uint)
    narrow[ct.c_ulong(0)] = ct.c_uint64(7)  # readahead: a c_ulong key into a u32 array, the value fits
    assert narrow[ct.c_ulong(0)].value == 7
    with pytest.raises(ValueError):
        narrow[0] = ct.c_uint64(2**40)  # it does not fit: an error, never a truncated value


def test_an_index_into_a_parameter_array_of_kernel_pointers_is_a_probe_read(fake_kernel: FakeKernel) -> None:
    """``sgs[i]`` with ``struct sock **sgs`` (virtiostat's scatterlist array): the element is read with a helper."""
    text = ("static u64 total(struct sock **socks, unsigned int n) {\n"
            "  u64 sum = 0;\n"
            "  for (unsigned int i = 0; i < 4 && i < n; i++) {\n"
            "    struct sock *sk = socks[i];\n"
            "    if (sk) sum += sk->__sk_common.skc_family; }\n"
            "  return sum; }\n"
            "int f(struct pt_regs *ctx, struct sock **socks) { return total(socks + 1, 2) + (socks[0] != 0); }\n")
    out = user_part(rewrite(text, kernel=fake_kernel).source)
    assert "bpf_probe_read_kernel(&__bcc_kv, sizeof(__bcc_kv), &socks[i])" in out
    assert "bpf_probe_read_kernel(&__bcc_kv, sizeof(__bcc_kv), &socks[0])" in out
    assert "total(socks + 1, 2)" in out  # pointer arithmetic stays as it is


def _kprobe_enoent(monkeypatch: pytest.MonkeyPatch) -> None:
    """kprobes exist, and the kernel answers ENOENT for the function (perf_event_open of the kprobe PMU)."""
    monkeypatch.setattr(perf_event, "kprobe_support", lambda: "pmu")
    monkeypatch.setattr(bpfmod, "_kprobes", lambda: features.Support("kprobes", True))  # the features probe too

    def enoent(prog: Any, func: str, **kw: Any) -> Any:
        raise KernelError(errno.ENOENT, command="perf_event_open", target=f"kprobe {func}")

    monkeypatch.setattr(links, "attach_kprobe", enoent)


def test_a_kprobe_on_a_function_the_kernel_lacks_is_a_refusal_naming_it(
        rec: Recorder, monkeypatch: pytest.MonkeyPatch, fake_kernel: FakeKernel) -> None:  # noqa: F811
    """mdflush on a kernel without the md module: one line naming the missing function, not an errno."""
    _kprobe_enoent(monkeypatch)
    b = make_bpf("int probe_flush(struct pt_regs *ctx) { return 0; }\n", fake_kernel, rec)
    with pytest.raises(NotSupportedError, match="no function 'bpfkit_no_such_function_xyz'") as info:
        b.attach_kprobe(event="bpfkit_no_such_function_xyz", fn_name="probe_flush")
    assert info.value.feature == "kprobe"
    assert not rec.attached


def test_a_kprobe_error_on_an_existing_function_stays_the_kernels_error(
        rec: Recorder, monkeypatch: pytest.MonkeyPatch, fake_kernel: FakeKernel) -> None:  # noqa: F811
    _kprobe_enoent(monkeypatch)
    with open("/proc/kallsyms") as f:
        existing = next(p[2] for p in (ln.split() for ln in f) if len(p) >= 3 and p[1] in ("t", "T"))
    b = make_bpf("int probe_flush(struct pt_regs *ctx) { return 0; }\n", fake_kernel, rec)
    with pytest.raises(KernelError) as info:
        b.attach_kprobe(event=existing, fn_name="probe_flush")
    assert info.value.errno == errno.ENOENT


def test_a_poll_timeout_beyond_epolls_range_is_a_long_wait_not_an_error() -> None:
    """offcputime polls with 99999999 s x 1000 ms: epoll takes at most INT_MAX ms; the wait is capped."""
    r, w = os.pipe()
    ep = Epoll()
    try:
        ep.register(r, 7)
        os.write(w, b"x")  # ready: the wait returns at once, whatever its timeout
        assert ep.wait(99999999 * 1000.0) == [7]
        assert ep.wait(float(2**63)) == [7]
    finally:
        ep.close()
        os.close(r)
        os.close(w)


@pytest.mark.kernel
def test_a_probe_header_per_branch_of_a_conditional_with_one_body(cache_home: Path) -> None:
    """Two headers, one per ``#if``/``#else`` branch, sharing one body (opensnoop's fexit path): it compiles, the
    syscall-wrapper branch chosen from the kernel's BTF, and the scan stays in step after it."""
    text = ("#if defined(CONFIG_ARCH_HAS_SYSCALL_WRAPPER) && !defined(__s390x__)\n"
            "KRETFUNC_PROBE(__x64_sys_openat, struct pt_regs *regs, int ret)\n{\n"
            "    int dfd = PT_REGS_PARM1(regs);\n"
            "#else\n"
            "KRETFUNC_PROBE(__x64_sys_openat, int dfd, const char *filename, int flags, int ret)\n{\n"
            "#endif\n"
            "    return dfd + ret;\n}\n"
            "int later(struct pt_regs *ctx) { return 1; }\n")
    result = rewrite(text, kernel=HostKernel())
    assert "later" in result.functions and "kretfunc__vmlinux____x64_sys_openat" in result.functions
    compile_c(result.source)


def test_a_deref_of_a_kprobe_scalar_pointer_argument_is_a_probe_read(fake_kernel: FakeKernel) -> None:
    """``*ppos`` with ``loff_t *ppos`` a kprobe argument (zfsslower): kernel memory, read with a helper."""
    text = ("int entry(struct pt_regs *ctx, struct sock *sk, loff_t *ppos) {\n"
            "  u64 off = *ppos;\n  return off > 0 && sk; }\n")
    out = user_part(rewrite(text, kernel=fake_kernel).source)
    assert "bpf_probe_read_kernel(&__bcc_kv, sizeof(__bcc_kv), ppos)" in out
    assert "= *ppos" not in out
