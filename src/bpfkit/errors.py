r"""The bpfkit exception tree, and the error contract of the public API.

Every failure raised by bpfkit derives from :class:`BpfError`; each class also
derives from the builtin exception users already catch (``ValueError``,
``TypeError``, ``KeyError``, ``IndexError``, ``OverflowError``, ``OSError``,
``PermissionError``), so existing handlers keep working.

The contract (enforced by tests/test_error_contract.py, which calls the public
API with wrong arguments): an exception leaving bpfkit's public API (``bpfkit``
and its documented subpackages, except the BCC front end ``bpfkit.bcc``, which
raises what BCC raises, and the test helpers of ``bpfkit.testing``) is one of

- a :class:`BpfError` subclass: a kernel refusal (:class:`KernelError` and
  below), malformed input (:class:`ObjectFormatError`), an unsatisfiable
  relocation, a missing kernel feature, an absent key (:class:`MapKeyError`),
  a map that changed too fast to iterate (``MapIterationError``),
  or a bad argument: a wrong value (:class:`BpfValueError`, also for an
  operation on a closed object), an unknown name (:class:`BpfKeyError`), an
  index or integer out of range (:class:`BpfIndexError`,
  :class:`BpfOverflowError`), a wrong type that bpfkit checked
  (:class:`BpfTypeError`);
- a plain ``TypeError`` that Python itself raises for a call that does not
  match the signature (a missing or unknown argument, an unhashable key);
- ``AttributeError`` for an attribute that does not exist or cannot be set
  (frozen records), as Python's attribute protocol requires;
- ``FileNotFoundError``, ``IsADirectoryError``, ``NotADirectoryError`` from
  opening a file the caller named (an object file, a BTF file, a binary);
- ``ModuleNotFoundError`` from the NumPy paths when NumPy is not installed;
- ``KeyboardInterrupt`` and other ``BaseException``\ s that are not errors.

Messages say what was attempted, on which object, and why.

Every exception class bpfkit defines lives in this module and derives from
:class:`BpfError` (re-exported where users import it: ``bpfkit.maps.QueueEmptyError``,
``bpfkit.bcc.CompileError``, ``bpfkit.export.ConfigError``); the only others are
signals caught inside the function that raises them. Inside bpfkit a bad argument
is a :class:`BpfValueError` or :class:`BpfTypeError`, never a bare ``ValueError``
or ``TypeError``, except in the BCC front end, whose ``BPF``/table API raises what
BCC raises. tests/test_exports.py enforces both.
"""

from __future__ import annotations

import errno as _errno
import os

from ._verifier_log import insn_line

__all__ = [
    "AccessError",
    "BpfError",
    "BpfIndexError",
    "BpfKeyError",
    "BpfOverflowError",
    "BpfPermissionError",
    "BpfTypeError",
    "BpfValueError",
    "CliError",
    "CompileError",
    "CompilerNotFoundError",
    "ConfigError",
    "CoreError",
    "DecoderError",
    "ExportError",
    "FieldError",
    "KernelError",
    "LexError",
    "MapIterationError",
    "MapKeyError",
    "MapMacroError",
    "NotSupportedError",
    "ObjectFormatError",
    "QueueEmptyError",
    "RelocationError",
    "retyped",
    "ToolError",
    "USDTException",
    "VerifierError",
]


class BpfError(Exception):
    """Root of every error bpfkit raises."""


class BpfValueError(BpfError, ValueError):
    """A bad argument value (or an operation on a closed object), refused before any syscall."""


class BpfTypeError(BpfError, TypeError):
    """An argument of the wrong type (a str where an int is needed, say), refused before any syscall."""


class BpfKeyError(BpfError, KeyError):
    """An unknown name: a program, map, variable or symbol the object or file does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class BpfIndexError(BpfError, IndexError):
    """An index or type id out of range."""


class BpfOverflowError(BpfError, OverflowError):
    """An integer that does not fit the field, flag word or value it is meant for."""


def retyped(exc: BaseException, message: str) -> BpfError:
    """A bpfkit error of ``exc``'s kind (type, overflow, key, index, else value) saying ``message``."""
    kinds: tuple[tuple[type[BaseException], type[BpfError]], ...] = (
        (TypeError, BpfTypeError), (AttributeError, BpfTypeError), (OverflowError, BpfOverflowError), (KeyError, BpfKeyError),
        (IndexError, BpfIndexError),
    )
    for base, cls in kinds:
        if isinstance(exc, base):
            return cls(message)
    return BpfValueError(message)


class ObjectFormatError(BpfError, ValueError):
    """Malformed ELF, BTF or .BTF.ext input; names the section and offset when known."""

    def __init__(
        self, message: str, *, section: str | None = None, offset: int | None = None
    ) -> None:
        where = []
        if section is not None:
            where.append(f"section {section!r}")
        if offset is not None:
            where.append(f"offset {offset:#x}")
        full = f"{message} ({', '.join(where)})" if where else message
        super().__init__(full)
        self.section = section
        self.offset = offset


class RelocationError(BpfError):
    """A CO-RE, map or ksym relocation cannot be satisfied."""

    def __init__(
        self,
        message: str,
        *,
        program: str | None = None,
        insn: int | None = None,
        source_line: str | None = None,
    ) -> None:
        parts = [message]
        if program is not None:
            where = f"program {program!r}"
            if insn is not None:
                where += f" insn #{insn}"
            parts.append(f"in {where}")
        if source_line:
            parts.append(f"at {source_line}")
        super().__init__(" ".join(parts))
        self.program = program
        self.insn = insn
        self.source_line = source_line


class NotSupportedError(BpfError):
    """The running kernel lacks a feature; says which and since when Linux has it."""

    def __init__(
        self,
        message: str,
        *,
        feature: str | None = None,
        min_kernel: str | None = None,
        cause: str | None = None,
    ) -> None:
        full = message
        if min_kernel is not None and "Linux" not in message and cause in (None, "version"):
            full = f"{message} (needs Linux {min_kernel} or newer)"
        super().__init__(full)
        self.feature = feature
        self.min_kernel = min_kernel
        self.cause = cause
        """Why it is missing when a probe knows (a ``bpfkit.features.Cause`` value: "version", "lockdown" ...)."""


class AccessError(BpfError, PermissionError):
    """This process may not open or mount a file bpfkit needs (tracefs, bpffs ...); says which, why, and the fix."""

    def __init__(self, message: str, *, path: str | None = None, fix: str | None = None) -> None:
        full = f"{message}; {fix}" if fix else message
        OSError.__init__(self, _errno.EACCES, full)
        self.filename = path
        self.fix = fix

    def __str__(self) -> str:
        return str(self.strerror)


class MapKeyError(BpfError, KeyError):
    """A key is absent from a map; ``except KeyError`` catches it."""

    def __init__(self, key: object, *, map_name: str | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.map_name = map_name

    def __str__(self) -> str:
        where = f" in map {self.map_name!r}" if self.map_name else ""
        return f"key {self.key!r} not found{where}"


class KernelError(BpfError, OSError):
    """A syscall failed: records the command, errno and target object."""

    def __init__(
        self,
        err: int,
        *,
        command: str,
        target: str | None = None,
        detail: str | None = None,
    ) -> None:
        name = _errno.errorcode.get(err, f"errno {err}")
        if err == 524:
            name = "ENOTSUPP"
        what = command if target is None else f"{command} of {target}"
        text = f"{what}: {name} ({os.strerror(err)})"
        if detail:
            text = f"{text}: {detail}"
        OSError.__init__(self, err, text)
        self.command = command
        self.target = target
        self.detail = detail
        self.errno_name = name

    def __str__(self) -> str:
        return str(self.strerror)


class VerifierError(KernelError):
    """The verifier rejected a program; ``log`` holds the full verifier log.

    ``source_line`` ("file.c:33: the source") is where the rejected instruction
    comes from, when the object's line info tells (older kernels' logs do not).
    """

    def __init__(
        self,
        err: int,
        *,
        command: str,
        target: str | None = None,
        log: str = "",
        tail_lines: int = 20,
        source_line: str | None = None,
    ) -> None:
        self.log = log
        self.source_line = source_line
        self.cause = _verifier_cause(log)
        tail = _useful_tail(log, tail_lines)
        if self.cause and tail.endswith(self.cause):
            tail = tail[: -len(self.cause)].rstrip()
        detail = self.cause
        if source_line:
            detail = f"{detail} (at {source_line})" if detail else f"at {source_line}"
        if tail and tail.strip() != self.cause:
            detail = f"{detail}\n{tail}" if detail else tail
        super().__init__(err, command=command, target=target, detail=detail or None)


def _failing_insn(log: str) -> int | None:
    """Index of the last instruction the verifier printed before it gave up (None if the log shows none)."""
    last = None
    for line in log.splitlines():
        insn = insn_line(line)  # an instruction line: ``N: (op) ...``, op in two lowercase hex digits
        if insn is not None and insn[1][:1] == "(" and insn[1][3:4] == ")" and \
                all(c in "0123456789abcdef" for c in insn[1][1:3]) and len(insn[1]) >= 4:
            last = insn[0]
    return last


class BpfPermissionError(KernelError, PermissionError):
    """The kernel refused for lack of privilege; the message hints at the fix."""

    HINT = (
        "run as root, or grant CAP_BPF (and CAP_PERFMON/CAP_NET_ADMIN for tracing and "
        "networking); kernel lockdown or kernel.unprivileged_bpf_disabled can also refuse"
    )

    def __init__(
        self,
        err: int,
        *,
        command: str,
        target: str | None = None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        hint = hint or self.HINT
        super().__init__(err, command=command, target=target, detail=hint if detail is None else f"{detail}; {hint}")


def _verifier_cause(log: str) -> str:
    """Pick the verifier's own statement of why it refused (the last non-stat line)."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        s = ln.strip()
        if s.startswith(("processed ", "verification time", "stack depth", "max_states")):
            continue
        if s.startswith(";"):
            continue
        return s
    return ""


def _useful_tail(log: str, n: int) -> str:
    """The last ``n`` meaningful log lines, source lines (``; ...``) kept."""
    lines = [ln.rstrip() for ln in log.splitlines() if ln.strip()]
    keep = [
        ln
        for ln in lines
        if not ln.startswith(("processed ", "verification time", "stack depth"))
    ]
    return "\n".join(keep[-n:])


# ---- errors of particular parts ---------------------------------------------------------
# Every exception class of bpfkit lives here (tests/test_exports.py checks); the modules that
# raise them re-export them where users found them before (bpfkit.maps.QueueEmptyError, ...).


class MapIterationError(BpfError, RuntimeError):
    """Iterating a map could not make progress: keys vanished faster than the walk advanced."""


class QueueEmptyError(MapKeyError, IndexError):
    """pop/peek on an empty queue or stack; both ``except KeyError`` and ``except IndexError`` catch it."""

    def __str__(self) -> str:
        return f"{self.map_name or 'queue'!r} is empty" if self.map_name else "the queue is empty"


class CoreError(BpfError):
    """A CO-RE relocation failed inside btf.core (turned into :class:`RelocationError` or a poisoned
    instruction before it leaves bpfkit); ``malformed`` means the object's own records are wrong."""

    def __init__(self, message: str, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.malformed = malformed


class CompileError(BpfError, ValueError):
    """The BCC C text cannot be rewritten or compiled; ``line`` is the line of the user's text."""

    def __init__(self, message: str, *, line: int | None = None, filename: str = "<text>", log: str = "") -> None:
        where = f"{filename}:{line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
        self.line = line
        self.filename = filename
        self.log = log


class CompilerNotFoundError(BpfError, FileNotFoundError):
    """clang (or another tool the BCC front end runs) is not installed."""

    def __init__(self, tool: str, hint: str) -> None:
        FileNotFoundError.__init__(self, f"{tool} is needed to compile BCC programs but was not found; {hint}")
        self.tool = tool
        self.hint = hint

    def __str__(self) -> str:
        return str(self.args[0])


class LexError(BpfValueError):
    """BCC C text that is not C at the token level (an unterminated string or comment)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class MapMacroError(BpfValueError):
    """A BCC map macro with arguments BCC would not accept either."""


class USDTException(BpfError):
    """A USDT probe could not be found, enabled or described (BCC's ``USDTException``)."""


class ConfigError(BpfValueError):
    """A ``bpfkit export`` configuration is malformed or does not match its object: the message says
    where and why."""


class DecoderError(BpfValueError):
    """An export label decoder could not turn its input into a label."""


class FieldError(BpfValueError):
    """A configured export field does not exist in the type, or has a shape the metric cannot use."""


class ToolError(BpfError):
    """A problem with what the user asked a tool, found when it starts: ``bpfkit: ...`` and exit status 1."""


class CliError(BpfError):
    """A usage problem on the command line: printed as ``bpfkit: ...`` with exit status 1."""


class ExportError(BpfError):
    """A configuration or set-up problem of ``bpfkit export``: printed as ``bpfkit: ...``, exit status 1."""
