"""make_enum (the fast construction of the generated uapi enums, issue 18) builds the class a class statement builds.

Every enum of _generated and _generated_lazy is rebuilt both ways from its members and the two
are compared on what users and bpfkit observe: members and aliases, iteration, values, names,
str/repr/format, lookups by value and by kernel name, flag arithmetic and how members pickle.
"""

from __future__ import annotations

import enum
import pickle
from typing import Any

import pytest

import bpfkit._uapi as uapi
from bpfkit._uapi import _base, _generated, _generated_lazy
from bpfkit._uapi._base import (
    EnumBodyFlag,
    EnumBodyInt,
    EnumBodyPlainFlag,
    EnumBodyPlainInt,
    UapiFlag,
    UapiIntEnum,
    enum_by_class_statement,
    make_enum,
    register_prefix,
)

NAMES = sorted(
    name for module in (_generated, _generated_lazy) for name, obj in vars(module).items()
    if isinstance(obj, type) and issubclass(obj, (UapiIntEnum, UapiFlag)) and obj.__module__ == module.__name__
)


def _body(cls: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"__module__": "tests.fake", "__qualname__": cls.__name__, "__doc__": cls.__doc__}
    body.update({name: member.value for name, member in cls.__members__.items()})
    return body


def _observe(cls: Any) -> dict[str, Any]:
    members = list(cls)
    values = sorted({m.value for m in cls.__members__.values()})
    seen: dict[str, Any] = {
        "members": [(m.name, m.value) for m in members],
        "all": [(n, m.name, m.value) for n, m in cls.__members__.items()],
        "names": list(cls._member_names_),
        "doc": cls.__doc__,
        "class_dict": {n: type(cls.__dict__.get(n)).__name__ for n in cls.__members__},
        "text": [(str(m), repr(m), format(m), f"{m:>6}", int(m), hash(m)) for m in members],
        "by_value": [repr(cls(v)) for v in values],
        "by_name": [repr(cls(n.lower())) for n in cls.__members__] if issubclass(cls, (UapiIntEnum, UapiFlag)) else None,
        "mro": [c.__name__ for c in cls.__mro__],
        "reduce": [(r[0].__name__, r[1]) for r in (m.__reduce_ex__(4) for m in members)],
    }
    if issubclass(cls, enum.Flag):
        top = max(values, default=0)
        seen["masks"] = [getattr(cls, a, None) for a in ("_boundary_", "_flag_mask_", "_all_bits_", "_singles_mask_")]
        seen["combos"] = [repr(cls(v)) for v in range(min(top * 2 + 2, 70))]
        seen["ops"] = [repr(a | b) + repr(a & b) + repr(a ^ b) + repr(~a) for a in members for b in members[:3]]
        seen["unknown"] = repr(cls(1 << 40))
    else:
        with pytest.raises(ValueError):
            cls(max(values) + 1000)
        seen["missing"] = cls._missing_("not a member") if issubclass(cls, UapiIntEnum) else None
    return seen


@pytest.mark.parametrize("name", NAMES)
def test_make_enum_builds_what_a_class_statement_builds(name: str) -> None:
    cls = getattr(uapi, name)
    base = UapiFlag if issubclass(cls, UapiFlag) else UapiIntEnum
    prefix = _base._PREFIXES[cls]
    fast = make_enum(base, name, _body(cls))
    slow = enum_by_class_statement(base, name, _body(cls))
    register_prefix(fast, prefix)
    register_prefix(slow, prefix)
    assert type(fast) is type(slow)
    assert _observe(fast) == _observe(slow)
    assert [uapi.kernel_name(m) for m in fast.__members__.values()] == [uapi.kernel_name(m) for m in cls.__members__.values()]


def test_the_generated_classes_are_real_enums() -> None:
    """What the generated modules bind is the enum, not the stand-in base of its class statement."""
    for name in NAMES:
        cls = getattr(uapi, name)
        assert issubclass(cls, (UapiIntEnum, UapiFlag)), name
        assert not issubclass(cls, (EnumBodyInt, EnumBodyFlag)), name
        assert cls.__module__ in (_generated.__name__, _generated_lazy.__name__)
    assert uapi.MapType("hash") is uapi.MapType.HASH is uapi.MapType(1)
    assert uapi.Cmd.PROG_RUN is uapi.Cmd.PROG_TEST_RUN  # an alias
    assert pickle.loads(pickle.dumps(uapi.MapFlags.RDONLY_PROG | uapi.MapFlags.NO_PREALLOC)) == 0x81


_PLAIN = [("bpfkit.asm", name) for name in ("AluOp", "AtomicOp", "InsnClass", "JmpOp", "Mode", "PseudoCall", "PseudoLd",
                                             "Reg", "Size", "Source")]
_PLAIN += [("bpfkit.btf", "IntEncoding"), ("bpfkit.btf", "FuncLinkage"), ("bpfkit.btf", "VarLinkage"),
           ("bpfkit.obj", "Pinning")]


@pytest.mark.parametrize(("module", "name"), _PLAIN)
def test_the_plain_enums_are_what_class_statements_make(module: str, name: str) -> None:
    """bpfkit.asm's opcode fields, BTF's int encoding and linkages and a map's pinning are built by make_enum
    too (stand-in bases EnumBodyPlainInt, EnumBodyPlainFlag)."""
    import importlib

    cls = getattr(importlib.import_module(module), name)
    base = enum.IntFlag if issubclass(cls, enum.Flag) else enum.IntEnum
    assert issubclass(cls, base)
    assert not issubclass(cls, (EnumBodyPlainInt, EnumBodyPlainFlag))
    slow = enum_by_class_statement(base, name, _body(cls))
    fast = make_enum(base, name, _body(cls))
    assert _observe(slow) == _observe(fast)
    assert [(m.name, m.value) for m in cls] == _observe(slow)["members"]
