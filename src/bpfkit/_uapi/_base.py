"""Base classes of the generated uapi enums: kernel names without prefix, strings accepted."""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from enum import IntEnum, IntFlag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar
    _E = TypeVar("_E", bound=IntEnum)

_PREFIXES: dict[type, str] = {}


def import_module(name: str) -> Any:
    """The module ``name`` (absolute), imported if needed: ``importlib.import_module`` without importing
    importlib and warnings into every start (issue 18)."""
    module = sys.modules.get(name)
    if module is None:
        __import__(name)
        module = sys.modules[name]
    return module


def register_prefix(cls: type, prefix: str) -> None:
    """Record the kernel prefix of an enum's names (``BPF_MAP_TYPE_`` for MapType)."""
    _PREFIXES[cls] = prefix


def kernel_name(member: IntEnum | IntFlag) -> str:
    """The kernel's full name of a member, e.g. ``BPF_MAP_TYPE_HASH``."""
    return _PREFIXES.get(type(member), "") + str(member.name)


def _lookup(cls: type, value: object) -> object:
    """Find a member by the kernel's name, with or without its prefix, any case."""
    if not isinstance(value, str):
        return None
    key = value.strip().upper().replace("-", "_")
    prefix = _PREFIXES.get(cls, "")
    if prefix and key.startswith(prefix.upper()):
        key = key[len(prefix):]
    for name, member in cls.__members__.items():  # type: ignore[attr-defined]
        if name.upper() == key:
            return member
    return None


class UapiIntEnum(IntEnum):
    """An enum of the kernel uapi; ``MapType("hash")`` and ``MapType("BPF_MAP_TYPE_HASH")`` work."""

    @classmethod
    def _missing_(cls, value: object) -> UapiIntEnum | None:
        found = _lookup(cls, value)
        return found if isinstance(found, cls) else None


class UapiFlag(IntFlag):
    """Flags of the kernel uapi; accept the kernel name as a string too."""

    @classmethod
    def _missing_(cls, value: object) -> UapiFlag | None:
        found = _lookup(cls, value)
        if isinstance(found, cls):
            return found
        if isinstance(value, int):
            return super()._missing_(value)  # type: ignore[no-any-return]
        return None


def make_enum(base: type[_E], name: str, body: dict[str, Any]) -> type[_E]:
    """The enum class ``class <name>(<base>): <body>`` would make, made the fast way where Python has one.

    ``body`` is a class namespace (``__module__``, ``__qualname__``, ``__doc__``, then the members in order).
    A class statement builds a member in ~10 us (enum's checks run for each); ``enum._simple_enum``
    (Python 3.11+, what the standard library's own enums use) builds the same class in less than half of that,
    and the generated modules hold about 300 members (issue 18). Python 3.10: the class statement's way.
    """
    simple = getattr(enum, "_simple_enum", None)
    if simple is None:
        return enum_by_class_statement(base, name, body)
    cls: Any = simple(base)(type(name, (), dict(body)))
    # _simple_enum reaches every member through a descriptor; a class statement stores the member itself
    # in the class (a plain attribute lookup, what the hot paths do with Cmd.MAP_LOOKUP_ELEM) unless a base
    # has that name: do as the class statement does.
    inherited = {attr for b in cls.__mro__[1:] for attr in b.__dict__}
    for member_name, member in cls._member_map_.items():
        if member_name not in inherited:
            type.__setattr__(cls, member_name, member)
    return cls  # type: ignore[no-any-return]


def enum_by_class_statement(base: type[_E], name: str, body: dict[str, Any]) -> type[_E]:
    """What ``class <name>(<base>): <body>`` makes, the ordinary (slower) way: the reference of make_enum."""
    meta: Any = type(base)
    ns = meta.__prepare__(name, (base,))
    for key, value in body.items():
        ns[key] = value
    return meta(name, (base,), ns)  # type: ignore[no-any-return]


class _EnumBody(type):
    """Metaclass of :class:`EnumBodyInt` and :class:`EnumBodyFlag`: a class statement with one of them as
    its base returns the enum :func:`make_enum` builds from its body (an instance of enum's metaclass)."""

    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        target = bases[0].__dict__.get("_enum_base_") if bases else None
        if target is None:
            return super().__new__(mcs, name, bases, ns)
        return make_enum(target, name, ns)


class EnumBodyInt(metaclass=_EnumBody):
    """What the generated modules subclass at run time in place of :class:`UapiIntEnum` (type checkers see
    UapiIntEnum): ``class MapType(EnumBodyInt): HASH = 1`` binds MapType to a UapiIntEnum built by make_enum."""

    _enum_base_ = UapiIntEnum


class EnumBodyFlag(metaclass=_EnumBody):
    """As :class:`EnumBodyInt`, for :class:`UapiFlag`."""

    _enum_base_ = UapiFlag


class EnumBodyPlainInt(metaclass=_EnumBody):
    """As :class:`EnumBodyInt`, for a plain :class:`enum.IntEnum` (the opcode fields of bpfkit.asm)."""

    _enum_base_ = IntEnum


class EnumBodyPlainFlag(metaclass=_EnumBody):
    """As :class:`EnumBodyInt`, for a plain :class:`enum.IntFlag` (BTF's int encoding)."""

    _enum_base_ = IntFlag


def coerce(cls: type[_E], value: _E | int | str) -> _E:
    """``cls(value)`` for a member, its int value, or its kernel name as a string."""
    try:
        return cls(value)  # type: ignore[arg-type]  # _missing_ handles strings
    except ValueError:
        from ..errors import BpfValueError

        raise BpfValueError(f"{value!r} is not a {cls.__name__} (a member, its int value or its name)") from None


def lazy_getattr(namespace: dict[str, Any], module: str, names: frozenset[str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``names`` from ``module`` (relative to the module) on first use.

    Generated modules keep what loading an object does not need in a second module: building
    enum and ctypes classes costs import time.
    """
    package = namespace["__package__"]

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(import_module(package + module if module.startswith(".") else module), name)
        namespace[name] = value
        return value

    return __getattr__
