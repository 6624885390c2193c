"""Run-time stand-ins for the two typing functions bpfkit calls while it runs: ``cast`` and ``overload``.

Importing :mod:`typing` costs a cold start about 5 ms (it pulls re, collections,
contextlib ...), and ``import bpfkit`` and a load do not import it (issue 18):
annotations are strings (``from __future__ import annotations``) and the names
they use are imported under ``if TYPE_CHECKING:``. Type checkers see typing's own
``cast`` and ``overload`` here (ruff too: ``typing-modules`` in pyproject.toml);
at run time they are these two trivial functions.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import cast, overload
else:

    def cast(typ, val):
        """``typing.cast``: returns ``val`` unchanged."""
        return val

    def overload(func):
        """``typing.overload``: the last definition, the implementation, replaces the overloads."""
        return func


__all__ = ["cast", "overload"]
