"""Bases for small internal records: fields in ``__slots__``, value equality and a readable repr.

A ``@dataclass`` generates and compiles its methods when its module is imported
(about 0.3 ms a class); the internal records of the load path (ELF headers,
relocations, CO-RE accessors ...) use these bases instead and write their own
``__init__``. Public classes stay dataclasses; :func:`value_methods` spares them the
code generation of ``__repr__``/``__eq__``/``__hash__``, which is most of the rest.
"""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any, ClassVar, TypeVar

__all__ = ["FrozenRecord", "Record", "value_methods"]


class Record:
    """Equality and repr over the fields named in ``_fields`` (in order; also the subclass's ``__slots__``).

    Unhashable, like a dataclass with ``eq=True``.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields)

    __hash__ = None  # type: ignore[assignment]


class FrozenRecord(Record):
    """A :class:`Record` whose fields cannot change after ``__init__`` (which sets them with ``_set``); hashable."""

    __slots__ = ()

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {type(self).__qualname__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__qualname__}")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(getattr(self, n) for n in self._fields))


_C = TypeVar("_C", bound=type)


def value_methods(cls: _C) -> _C:
    """Add to a ``@dataclass(repr=False, eq=False)`` the ``__repr__``, ``__eq__`` and ``__hash__`` that
    ``@dataclass`` would have generated (same output, same rules), without compiling code for each class.

    Apply it on top of the ``@dataclass`` decorator. Methods the class defines itself are kept;
    ``__hash__`` follows dataclass's rule for ``eq=True``: from the compared fields when frozen,
    else None (unhashable), unless the class defines its own.
    """
    fields = dataclasses.fields(cls)
    shown = tuple(f.name for f in fields if f.repr)
    compared = tuple(f.name for f in fields if f.compare)
    hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            return tuple(getattr(self, n) for n in compared) == tuple(getattr(other, n) for n in compared)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, n) for n in hashed))

    for fn in (__repr__, __eq__, __hash__):
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
        fn.__module__ = cls.__module__
    own = cls.__dict__
    # as @dataclass: a method the class defines itself stays; __hash__ by the rule for eq=True
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    methods: dict[str, Any] = {"__repr__": __repr__, "__eq__": __eq__}
    if not explicit_hash:
        methods["__hash__"] = __hash__ if cls.__dataclass_params__.frozen else None  # type: ignore[attr-defined]
    for name, value in methods.items():
        if name == "__hash__" or name not in own:
            setattr(cls, name, value)
    return cls
