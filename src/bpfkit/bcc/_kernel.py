"""Kernel facts for the rewriter: BTF types (any Btf) and tracefs formats (the running host)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

from .._uapi import BtfKind
from ..btf import Array, Btf, Enum, Enum64, Int, Ptr, Struct, Union_
from ._rewriter import MemberType

__all__ = ["BtfFacts", "HostKernel", "module_defining", "tracefs_root", "uprobe_refusal"]

_TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def tracefs_root(what: str = "reading tracefs") -> str:
    """Where tracefs is (mounted first when missing and this process may mount it).

    When this process cannot use tracefs (unreadable for a non-root user, empty under lockdown=confidentiality,
    not mountable in a container) NotSupportedError says ``what`` needed it, why, and what works without it.
    """
    from .. import features
    from ..errors import NotSupportedError

    s = features.check("tracefs")
    if not s:
        raise NotSupportedError(f"{what} needs tracefs: {s.reason} (in BCC text: RAW_TRACEPOINT_PROBE, "
                                "attach_raw_tracepoint)", feature=s.feature,
                                cause=None if s.cause is None else s.cause.value)
    for root in _TRACEFS:
        if os.path.exists(os.path.join(root, "events")):
            return root
    raise NotSupportedError(f"{what} needs tracefs, which is not mounted at {' or '.join(_TRACEFS)}: mount it "
                            "(mount -t tracefs tracefs /sys/kernel/tracing)", feature=s.feature)


@contextlib.contextmanager
def uprobe_refusal(what: str) -> Iterator[None]:
    """Turn the kernel's refusal of a uprobe inside the block into NotSupportedError naming the capability it needs."""
    from .. import features
    from ..errors import BpfPermissionError, NotSupportedError

    try:
        yield
    except BpfPermissionError as exc:
        s = features.check("uprobes")
        if s:
            raise
        raise NotSupportedError(f"cannot attach {what}: {s.reason}", feature=s.feature,
                                cause=None if s.cause is None else s.cause.value) from exc


@functools.lru_cache(maxsize=64)
def module_defining(kind: str, name: str) -> str | None:
    """The first loaded module (by name) whose BTF defines struct/union ``name``, or None."""
    from ..errors import BpfError
    from ..host import module_btf, module_btf_names

    k = BtfKind.STRUCT if kind == "struct" else BtfKind.UNION if kind == "union" else None
    if k is None:
        return None
    for mod in module_btf_names():
        try:
            btf = module_btf(mod)
            if any(tid >= btf.first_id for tid in btf.find(name, k)):  # the module's own, not vmlinux's
                return mod
        except (OSError, BpfError):  # unloaded meanwhile, or BTF bpfkit cannot read: not this one
            continue
    return None


class BtfFacts:
    """Struct members and type names from a BTF (the kernel's, or any other for tests)."""

    _KINDS = {"struct": BtfKind.STRUCT, "union": BtfKind.UNION, "enum": BtfKind.ENUM, "typedef": BtfKind.TYPEDEF}

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self._members: dict[int, dict[str, tuple[int, int, bool]] | None] = {}

    def has_type(self, kind: str, name: str) -> bool:
        """Whether the BTF has a ``kind`` type called ``name``."""
        k = self._KINDS.get(kind)
        if k is None:
            return False
        if self.btf.find(name, k):
            return True
        return kind == "enum" and bool(self.btf.find(name, BtfKind.ENUM64))

    def record(self, kind: str, name: str) -> object | None:
        """The type id of struct/union ``name`` (the first complete one; a tag the headers #define to another too)."""
        from ._kdefs import TAG_ALIASES

        k = BtfKind.STRUCT if kind == "struct" else BtfKind.UNION
        for tid in self.btf.find(name, k) or self.btf.find(TAG_ALIASES.get(name, ""), k):
            return tid
        return None

    def _member_table(self, tid: int) -> dict[str, tuple[int, int, bool]]:
        """name -> (type id, bit offset, is bitfield), anonymous members flattened."""
        cached = self._members.get(tid)
        if cached is not None:
            return cached
        out: dict[str, tuple[int, int, bool]] = {}
        t = self.btf[self.btf.skip_modifiers(tid)]
        if isinstance(t, (Struct, Union_)):
            for m in t.members:
                if m.name:
                    out.setdefault(m.name, (m.type, m.offset, m.bitfield_size > 0))
                else:
                    for k, v in self._member_table(m.type).items():
                        out.setdefault(k, v)
        self._members[tid] = out
        return out

    def member(self, record: object, name: str) -> MemberType | None:
        """What member ``name`` of the record with id ``record`` is."""
        if not isinstance(record, int):
            return None
        hit = self._member_table(record).get(name)
        if hit is None:
            return None
        return self._describe(hit[0], hit[2])

    def _describe(self, tid: int, bitfield: bool = False) -> MemberType:
        rid = self.btf.skip_modifiers(tid)
        t = self.btf[rid]
        if isinstance(t, Ptr):
            target = self.btf.skip_modifiers(t.type) if t.type else 0
            tt = self.btf[target] if target else None
            return MemberType("pointer", target if isinstance(tt, (Struct, Union_)) else None)
        if isinstance(t, Array):
            return MemberType("array", None, self._describe(t.type))
        if isinstance(t, Struct):
            return MemberType("struct", rid)
        if isinstance(t, Union_):
            return MemberType("union", rid)
        if isinstance(t, (Int, Enum, Enum64)):
            return MemberType("scalar", None, None, bitfield)
        return MemberType("other")


class HostKernel(BtfFacts):
    """The running kernel: vmlinux BTF and tracefs event formats.

    A struct or union that vmlinux lacks is looked up in the loaded modules' BTF (rdmaucma's rdma_cm_id,
    nfsslower's nfs_commit_data): the first module that has one becomes :attr:`module`, and from then on
    the facts are vmlinux's and that module's (its split BTF), as its vmlinux.h is (bpftool's dump of a module).
    """

    def __init__(self, btf: Btf | None = None) -> None:
        self._host = btf is None
        if btf is None:
            from ..host import vmlinux_btf

            btf = vmlinux_btf()
        super().__init__(btf)
        self.module: str | None = None

    def record(self, kind: str, name: str) -> object | None:
        """The type id of struct/union ``name``, in vmlinux or, when it lacks it, in a loaded module."""
        found = super().record(kind, name)
        if found is not None or not self._host or self.module is not None:
            return found
        return self.record(kind, name) if self.use_module_for(kind, name) else None

    def use_module_for(self, kind: str, name: str) -> bool:
        """Take the BTF of the loaded module that defines ``kind name`` (False when none does, or another is in use)."""
        if self.module is not None or not self._host:
            return False
        mod = module_defining(kind, name)
        if mod is None:
            return False
        from ..host import module_btf

        self.btf = module_btf(mod)  # split BTF: vmlinux's ids stay valid
        self._members.clear()
        self.module = mod
        return True

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one instance per process in practice
    def tracepoint_format(self, category: str, event: str) -> str | None:
        """The tracefs format text of ``category:event``, or None when the kernel has no such tracepoint.

        NotSupportedError when tracefs cannot be read here (so that an unreadable tracefs is not taken
        for a missing tracepoint).
        """
        if "/" in category or "/" in event or ".." in category or ".." in event:
            return None
        root = tracefs_root(f"tracepoint {category}:{event} (its format)")
        try:
            with open(os.path.join(root, "events", category, event, "format")) as f:
                return f.read()
        except OSError:
            return None
