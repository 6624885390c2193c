"""BTF test helpers shared by tests/btf: a type list of every kind, and finding a tool or skipping."""

from __future__ import annotations

import shutil

import pytest

from bpfkit.btf import (
    Array,
    BtfType,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    EnumValue,
    Float,
    Func,
    FuncLinkage,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Member,
    Param,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union_,
    Var,
    VarLinkage,
    VarSecinfo,
    Volatile,
)


def tool(name: str) -> str:
    """The path of an installed program (also looked for in the sbin folders), or skip the test."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def every_kind() -> list[BtfType]:
    """One or more types of every BTF kind (ids in the comments), shared by the parse and listing tests."""
    return [
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Int("unsigned char", 1, IntEncoding.CHAR),  # 2
        Int("_Bool", 1, IntEncoding.BOOL),  # 3
        Int("unsigned int", 4),  # 4
        Ptr(6),  # 5
        Array(1, 4, 16),  # 6
        Struct("s", 24, [Member("a", 1, 0), Member("b", 5, 64), Member("c", 1, 128, 3), Member("", 4, 131, 5)], True),  # 7
        Struct("plain", 8, [Member("x", 1, 0), Member("y", 1, 32)]),  # 8
        Union_("u", 8, [Member("x", 1, 0), Member("y", 5, 0)]),  # 9
        Enum("e", 4, [EnumValue("A", 0), EnumValue("B", -5)], signed=True),  # 10
        Enum("ue", 4, [EnumValue("BIG", 0xFFFFFFFF)]),  # 11
        Enum64("e64", 8, [EnumValue("HUGE", 1 << 40), EnumValue("U", (1 << 64) - 1)]),  # 12
        Enum64("se64", 8, [EnumValue("NEG", -(1 << 40))], signed=True),  # 13
        Fwd("later"),  # 14
        Fwd("later_u", is_union=True),  # 15
        Typedef("int_t", 1),  # 16
        Volatile(16),  # 17
        Const(17),  # 18
        Restrict(5),  # 19
        TypeTag("user", 5),  # 20
        FuncProto(1, [Param("x", 1), Param("", 0)]),  # 21
        Func("f", 21, FuncLinkage.GLOBAL),  # 22
        Func("g", 21, FuncLinkage.STATIC),  # 23
        Func("h", 21, FuncLinkage.EXTERN),  # 24
        Var("v", 1, VarLinkage.GLOBAL),  # 25
        Var("sv", 8, VarLinkage.STATIC),  # 26
        Datasec(".data", 12, [VarSecinfo(25, 0, 4), VarSecinfo(26, 4, 8)]),  # 27
        Float("double", 8),  # 28
        DeclTag("tag", 7, 1),  # 29
        DeclTag("tag2", 22, -1),  # 30
        FuncProto(0, []),  # 31
    ]
