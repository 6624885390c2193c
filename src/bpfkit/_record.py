"""Bases for small internal records: fields in ``__slots__``, value equality and a readable repr.

A ``@dataclass`` generates and compiles its methods when its module is imported
(about 0.3 ms a class); the internal records of the load path (ELF headers,
relocations, CO-RE accessors ...) use these bases instead and write their own
``__init__``. Public classes stay dataclasses.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["FrozenRecord", "Record"]


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
