"""BTF sanitizing for kernels without newer kinds keeps ids and sizes (pure)."""

from __future__ import annotations

from bpfkit.btf import (
    Btf,
    BtfKind,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Int,
    IntEncoding,
    Ptr,
    TypeTag,
    Var,
    VarLinkage,
    VarSecinfo,
)
from bpfkit.btf._sanitize import BtfFeatures, needs_sanitizing, sanitize


def sample() -> Btf:
    return Btf.from_types([
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Float("double", 8),  # 2
        TypeTag("user", 1),  # 3
        Ptr(3),  # 4
        Enum64("big", 8, [EnumValue("X", 1 << 40)]),  # 5
        Enum("neg", 4, [EnumValue("M", -1)], signed=True),  # 6
        FuncProto(1, []),  # 7
        Func("f", 7, FuncLinkage.GLOBAL),  # 8
        Var("v", 1, VarLinkage.GLOBAL),  # 9
        Datasec(".data", 4, [VarSecinfo(9, 0, 4)]),  # 10
        DeclTag("tag", 8, -1),  # 11
    ])


def test_modern_kernel_needs_nothing() -> None:
    assert not needs_sanitizing(sample(), BtfFeatures.all())


def test_old_kernel_gets_replacements_with_same_ids_and_sizes() -> None:
    old = BtfFeatures(func=True, datasec=True, global_func=False, float=False, decl_tag=False, type_tag=False, enum64=False)
    btf = sample()
    assert needs_sanitizing(btf, old)
    out = Btf.from_bytes(sanitize(btf, old).to_bytes())
    assert out.count == btf.count
    kinds = {i: out.kind_of(i) for i in out.own_ids()}
    assert BtfKind.FLOAT not in kinds.values()
    assert BtfKind.TYPE_TAG not in kinds.values()
    assert BtfKind.ENUM64 not in kinds.values()
    assert BtfKind.DECL_TAG not in kinds.values()
    assert out.size_of(2) == 8 and out.size_of(5) == 8
    f = out[8]
    assert isinstance(f, Func) and f.linkage == FuncLinkage.STATIC
    e = out[6]
    assert isinstance(e, Enum) and not e.signed


def test_no_datasec_kernel() -> None:
    old = BtfFeatures(func=True, datasec=False)
    out = sanitize(sample(), old)
    assert out.kind_of(9) == BtfKind.INT
    assert out.kind_of(10) == BtfKind.STRUCT
    assert out.size_of(10) == 4
