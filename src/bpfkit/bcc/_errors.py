"""Errors of the BCC front end: C text it cannot accept, and a missing compiler."""

from __future__ import annotations

from ..errors import BpfError

__all__ = ["CompileError", "CompilerNotFoundError"]


class CompileError(BpfError, ValueError):
    """The BCC C text cannot be rewritten or compiled; ``line`` is the line of the user's text."""

    def __init__(self, message: str, *, line: int | None = None, filename: str = "<text>", log: str = "") -> None:
        where = f"{filename}:{line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.line = line
        self.filename = filename
        self.log = log


class CompilerNotFoundError(BpfError, FileNotFoundError):
    """clang (or another tool the front end runs) is not installed."""

    def __init__(self, tool: str, hint: str) -> None:
        FileNotFoundError.__init__(self, f"{tool} is needed to compile BCC programs but was not found; {hint}")
        self.tool = tool
        self.hint = hint

    def __str__(self) -> str:
        return str(self.args[0])
