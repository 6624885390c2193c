"""The bpfkit exception tree.

Every failure raised by bpfkit derives from :class:`BpfError`; each class also
derives from the builtin exception users already catch (``ValueError``,
``KeyError``, ``OSError``, ``PermissionError``), so existing handlers keep
working.
"""

from __future__ import annotations

import errno as _errno
import os
import re

_INSN_LINE = re.compile(r"^(\d+): \([0-9a-f]{2}\)")

__all__ = [
    "AccessError",
    "BpfError",
    "BpfPermissionError",
    "KernelError",
    "MapKeyError",
    "NotSupportedError",
    "ObjectFormatError",
    "RelocationError",
    "VerifierError",
]


class BpfError(Exception):
    """Root of every error bpfkit raises."""


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
        m = _INSN_LINE.match(line)
        if m:
            last = int(m.group(1))
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
