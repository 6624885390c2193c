"""Constructs of BCC's tools that only the kprobe/fentry paths reach (the 6.12 matrix guest runs them).

Small BCC-style programs written for these tests; text-only tests use the fake kernel.
"""

from __future__ import annotations

import ctypes as ct

import pytest

from bpfkit._uapi import MapType
from bpfkit.bcc import table as T
from bpfkit.bcc._rewriter import rewrite

from .conftest import FakeKernel
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


def test_a_narrower_ctypes_integer_is_widened_into_the_table_type() -> None:
    """``enabled[c_int(0)] = c_int(1)`` on a u64 array (klockstat): the value, widened; narrowing stays an error."""
    t = T.Table(None, FakeMap(MapType.ARRAY, 4, 8, 1), "enabled", ct.c_int, ct.c_ulong)
    t[ct.c_int(0)] = ct.c_int(1)
    assert t[0].value == 1
    t[ct.c_int(0)] = ct.c_int(-1)
    assert t[0].value == 2**64 - 1
    narrow = T.Table(None, FakeMap(MapType.ARRAY, 4, 4, 1), "n", ct.c_int, ct.c_uint)
    with pytest.raises(ValueError):
        narrow[0] = ct.c_uint64(2**40)


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
