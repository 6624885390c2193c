"""Constructs of BCC's tools that only the kprobe/fentry paths reach (the 6.12 matrix guest runs them).

Small BCC-style programs written for these tests; text-only tests use the fake kernel.
"""

from __future__ import annotations

from bpfkit.bcc._rewriter import rewrite

from .conftest import FakeKernel
from .test_rewriter import user_part


def test_a_deref_after_a_cast_of_a_field_address_offset_is_a_probe_read(fake_kernel: FakeKernel) -> None:
    """``(u8) *(&p->field - 2)``: the byte before a kernel field, read after a value cast (bitfield neighbours)."""
    text = ("int f(struct pt_regs *ctx, struct sock *sk) {\n"
            "  u8 a = (u8) *(&sk->__sk_common.skc_family - 2) & 0xFF;\n"
            "  u8 b = *(&sk->__sk_common.skc_family - 1) & 0x01;\n"
            "  return a + b; }\n")
    out = user_part(rewrite(text, kernel=fake_kernel).source)
    assert out.count("bpf_probe_read_kernel(&__bcc_kv") == 2
    assert "(u8) ({ __typeof__(*(&sk->__sk_common.skc_family - 2)) __bcc_kv;" in out
