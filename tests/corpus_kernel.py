"""What a tests/bpf corpus object needs from the kernel, checked by feature probes.

An entry's program and map types come from its manifest entry; its ``kernel``
key lists the rest: ``helpers``, ``kfuncs`` (callable from the entry's program
type), ``btf_members`` (``struct.member`` in the kernel's BTF: the source needs
them in vmlinux.h), ``sleepable_maps`` (map types its sleepable programs use) and
``sleepable_spin_lock``.
"""

from __future__ import annotations

from typing import Any

from bpfkit import features, host
from bpfkit.btf import BtfKind, Struct, Union_
from bpfkit.errors import NotSupportedError

PREFIX = "probe:"


def _has_member(struct: str, member: str) -> bool:
    """Whether struct ``struct`` of the kernel's BTF has ``member`` (also inside anonymous members)."""
    btf = host.vmlinux_btf()

    def walk(tid: int) -> bool:
        t = btf[btf.skip_modifiers(tid)]
        if not isinstance(t, (Struct, Union_)):
            return False
        return any(m.name == member or (not m.name and walk(m.type)) for m in t.members)

    return any(walk(tid) for tid in btf.find(struct, BtfKind.STRUCT))


def type_gaps(entry: dict[str, Any]) -> list[NotSupportedError]:
    """Program and map types of the entry the kernel lacks (bpfkit.load must refuse them)."""
    gaps = []
    for t in sorted({p["type"] for p in entry.get("programs", {}).values()}):
        try:
            features.require(f"prog:{t}")
        except NotSupportedError as exc:
            gaps.append(exc)
    for t in sorted({m["type"] for m in entry.get("maps", {}).values()}):
        try:
            features.require(f"map:{t}")
        except NotSupportedError as exc:
            gaps.append(exc)
    return gaps


def other_gaps(entry: dict[str, Any]) -> list[str]:
    """The entry's other kernel needs that probes report missing, as skip reasons."""
    need = entry.get("kernel", {})
    ptypes = sorted({p["type"] for p in entry.get("programs", {}).values()}) or ["raw_tracepoint"]
    release = ".".join(map(str, host.kernel_version()))
    out = []
    for helper in need.get("helpers", []):
        for pt in ptypes:
            if not features.have_helper(pt, helper):  # too old, or refused here (lockdown): the probe says which
                out.append(f"{PREFIX} {features.check(f'helper:{helper}@{pt}').reason}")
    for kfunc in need.get("kfuncs", []):
        for pt in ptypes:
            if not features.have_kfunc(kfunc, pt):
                out.append(f"{PREFIX} this kernel ({release}) has no kfunc {kfunc} for {pt} programs")
    for path in need.get("btf_members", []):
        struct, _, member = path.partition(".")
        if not _has_member(struct, member):
            out.append(f"{PREFIX} this kernel's BTF has no member {member} in struct {struct}")
    for mt in need.get("sleepable_maps", []):
        if not features.have_sleepable_map(mt):
            out.append(f"{PREFIX} sleepable programs cannot use {mt} maps on this kernel ({release})")
    if need.get("sleepable_spin_lock") and not features.have_sleepable_spin_lock():
        out.append(f"{PREFIX} sleepable programs cannot use bpf_spin_lock on this kernel ({release})")
    return out


def source_gaps(entry: dict[str, Any]) -> list[str]:
    """Needs without which the source does not even compile against this kernel's vmlinux.h."""
    return [g for g in other_gaps({"kernel": {"btf_members": entry.get("kernel", {}).get("btf_members", [])}})]
