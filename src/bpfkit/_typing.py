"""Run-time stand-ins for what of typing bpfkit runs: ``cast``, ``overload``, ``TypeVar`` and ``Generic``.

Importing :mod:`typing` costs a cold start about 5 ms (it pulls re, collections,
contextlib ...), and ``import bpfkit`` and a load do not import it (issue 18):
annotations are strings (``from __future__ import annotations``) and the names
they use are imported under ``if TYPE_CHECKING:``. Type checkers see typing's own
names here (ruff too: ``typing-modules`` in pyproject.toml); at run time they are
these trivial stand-ins: enough for ``class C(Generic[K, V])`` and ``K = TypeVar("K")``
in a module whose annotations are never evaluated.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Generic, TypeVar, cast, overload
else:

    def cast(typ, val):
        """``typing.cast``: returns ``val`` unchanged."""
        return val

    def overload(func):
        """``typing.overload``: the last definition, the implementation, replaces the overloads."""
        return func

    def TypeVar(name, *constraints, **options):
        """``typing.TypeVar``: its name, which only annotations (never evaluated) refer to."""
        return name

    class Generic:
        """``typing.Generic``: a base whose subscript is itself (``class C(Generic[K, V])``)."""

        __slots__ = ()

        def __class_getitem__(cls, params):
            return cls


__all__ = ["Generic", "TypeVar", "cast", "overload"]
