"""Base classes of the generated uapi enums: kernel names without prefix, strings accepted."""

from __future__ import annotations

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
