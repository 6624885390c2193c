"""Rewrite BTF for kernels that lack newer kinds, as libbpf does (pure).

Each kind a kernel does not know is replaced by one it does, keeping type ids
and sizes so that map and program references stay valid:
FUNC/FUNC_PROTO (5.0): FUNC -> TYPEDEF, FUNC_PROTO -> ENUM without values;
VAR/DATASEC (5.2): VAR -> INT of the same size (1 byte if unknown), DATASEC -> STRUCT;
global FUNC linkage (5.6): -> static; FLOAT (5.13): -> STRUCT of the same size;
DECL_TAG (5.16): -> INT; TYPE_TAG (5.17): -> CONST; ENUM64 (6.0): -> UNION of the same size;
signed ENUM kind flag (6.0): cleared.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._parse import Btf
from ._types import (
    BtfKind,
    BtfType,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Int,
    Member,
    Struct,
    Typedef,
    TypeTag,
    Union_,
    Var,
)

__all__ = ["BtfFeatures", "needs_sanitizing", "sanitize"]


@dataclass(frozen=True)
class BtfFeatures:
    """What the target kernel's BTF loader accepts (from feature probes)."""

    func: bool = True
    datasec: bool = True
    global_func: bool = True
    float: bool = True
    decl_tag: bool = True
    type_tag: bool = True
    enum64: bool = True

    @classmethod
    def all(cls) -> BtfFeatures:
        """A kernel that knows every kind."""
        return cls()


def needs_sanitizing(btf: Btf, feats: BtfFeatures) -> bool:
    """True if ``btf`` uses a kind or flag the kernel lacks."""
    if feats == BtfFeatures.all():
        return False
    for tid in btf.own_ids():
        k = btf.kind_of(tid)
        if _unsupported(btf, tid, k, feats):
            return True
    return False


def _unsupported(btf: Btf, tid: int, k: BtfKind, f: BtfFeatures) -> bool:
    if k in (BtfKind.FUNC, BtfKind.FUNC_PROTO) and not f.func:
        return True
    if k == BtfKind.FUNC and not f.global_func:
        t = btf[tid]
        return isinstance(t, Func) and t.linkage != FuncLinkage.STATIC
    if k in (BtfKind.VAR, BtfKind.DATASEC) and not f.datasec:
        return True
    if k == BtfKind.FLOAT and not f.float:
        return True
    if k == BtfKind.DECL_TAG and not f.decl_tag:
        return True
    if k == BtfKind.TYPE_TAG and not f.type_tag:
        return True
    if k == BtfKind.ENUM64 and not f.enum64:
        return True
    if k == BtfKind.ENUM and not f.enum64:
        t = btf[tid]
        return isinstance(t, Enum) and t.signed
    return False


def sanitize(btf: Btf, feats: BtfFeatures) -> Btf:
    """A copy of ``btf`` (same ids) with kinds the kernel lacks replaced."""
    out: list[BtfType] = []
    for tid in btf.own_ids():
        t = btf[tid]
        k = t.kind
        if not _unsupported(btf, tid, k, feats):
            out.append(t)
            continue
        if isinstance(t, Func):
            if not feats.func:
                out.append(Typedef(t.name, t.type))
            else:
                out.append(Func(t.name, t.type, FuncLinkage.STATIC))
        elif isinstance(t, FuncProto):
            out.append(Enum("", 4, []))
        elif isinstance(t, Var):
            out.append(Int(t.name, 1))
        elif isinstance(t, Datasec):
            name = t.name.replace(".", "_")
            members = [Member(btf[v.type].name, v.type, v.offset * 8) for v in t.vars]
            out.append(Struct(name, t.size, members))
        elif isinstance(t, Float):
            out.append(Struct(t.name, t.size, []))
        elif isinstance(t, DeclTag):
            out.append(Int(t.name, 1))
        elif isinstance(t, TypeTag):
            out.append(Const(t.type))
        elif isinstance(t, Enum64):
            out.append(Union_(t.name, t.size, []))
        elif isinstance(t, Enum):
            out.append(Enum(t.name, t.size, t.values, False))
        else:  # pragma: no cover - _unsupported covers only the kinds above
            out.append(t)
    return Btf.from_types(out, base=btf.base)
