"""Dump BTF as text: a C header (vmlinux.h) or bpftool's raw listing.

``write_c`` writes what ``bpftool btf dump file F format c`` writes: every
type in dependency order, so that clang compiles BPF programs against it.
``write_raw`` writes the ``bpftool btf dump file F`` listing.  Both read the
BTF's raw records directly (no decoded dataclasses), which keeps dumping the
whole of vmlinux fast and small.
"""

from __future__ import annotations

import io

from ..errors import BpfError, BpfIndexError, ObjectFormatError
from ._format_c import CDumper
from ._format_table import FlatBtf, flatten
from ._parse import Btf

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["format_c", "format_raw", "type_decl", "write_c", "write_raw"]


def write_c(btf: Btf, fp: TextIO, *, kfuncs: bool = True) -> None:
    """Write ``btf`` (base types included) as a C header to ``fp``.

    ``kfuncs`` adds ``extern`` prototypes of the FUNCs tagged ``bpf_kfunc``
    (guarded by ``BPF_NO_KFUNC_PROTOTYPES``), as current bpftool does.
    """
    flat = flatten(btf)
    try:
        CDumper(flat).dump_all(fp, kfuncs=kfuncs)
    except (ValueError, IndexError, KeyError) as exc:
        if isinstance(exc, BpfError):
            raise
        # the dumper indexes the raw words and strings directly (it is the fast path): a name offset
        # or type id that points nowhere surfaces here
        raise ObjectFormatError(
            f"malformed BTF: a name offset or type id points outside the blob ({type(exc).__name__}: {exc})",
            section=".BTF",
        ) from None


def format_c(btf: Btf, *, kfuncs: bool = True) -> str:
    """The C header of ``btf`` as a string (see :func:`write_c`)."""
    buf = io.StringIO()
    write_c(btf, buf, kfuncs=kfuncs)
    return buf.getvalue()


def type_decl(btf: Btf, type_id: int, name: str = "") -> str:
    """The C declaration of ``name`` with BTF type ``type_id``, e.g. ``struct task_struct *p``."""
    flat = flatten(btf)
    if not 0 <= type_id < flat.count:
        raise BpfIndexError(f"BTF type id {type_id} out of range (count {flat.count})")
    d = CDumper(flat)
    try:
        d.decl(type_id, name, 0)
    except IndexError:
        raise ObjectFormatError(f"BTF type id {type_id} refers to a type id past the last one", section=".BTF") from None
    return d.take()


# ---- raw listing (bpftool btf dump file F) ----------------------------------

_KIND_NAMES = (
    "UNKNOWN",
    "INT",
    "PTR",
    "ARRAY",
    "STRUCT",
    "UNION",
    "ENUM",
    "FWD",
    "TYPEDEF",
    "VOLATILE",
    "CONST",
    "RESTRICT",
    "FUNC",
    "FUNC_PROTO",
    "VAR",
    "DATASEC",
    "FLOAT",
    "DECL_TAG",
    "TYPE_TAG",
    "ENUM64",
)
_INT_ENCODINGS = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}
_LINKAGES = ("static", "global", "extern")


def _kind_name(k: int) -> str:
    return _KIND_NAMES[k] if k < len(_KIND_NAMES) else "UNKNOWN"


def write_raw(btf: Btf, fp: TextIO, *, flush_every: int = 4096) -> None:
    """Write the types ``btf`` itself holds (not its base's), one bpftool raw record each."""
    flat = flatten(btf)
    _RawWriter(flat).write(fp, flush_every)


def format_raw(btf: Btf) -> str:
    """The raw listing of ``btf`` as a string (see :func:`write_raw`)."""
    buf = io.StringIO()
    write_raw(btf, buf)
    return buf.getvalue()


class _RawWriter:
    def __init__(self, flat: FlatBtf) -> None:
        self.flat = flat
        self.cache: dict[int, str] = {}

    def name(self, off: int) -> str:
        if not off:
            return "(anon)"
        s = self.cache.get(off)
        if s is None:
            s = self.flat.string(off)
            if len(self.cache) < 65536:
                self.cache[off] = s
        return s

    def write(self, fp: TextIO, flush_every: int) -> None:
        flat = self.flat
        W, at, K = flat.words, flat.offs, flat.kinds
        count = flat.count
        name = self.name
        out: list[str] = []
        w = out.append
        for tid in range(flat.first_own_id, count):
            o = at[tid]
            k = K[tid]
            info = W[o + 1]
            vlen = info & 0xFFFF
            kflag = info >> 31
            st = W[o + 2]
            head = f"[{tid}] {_kind_name(k)} '{name(W[o])}'"
            if k == 1:  # INT
                v = W[o + 3]
                enc = _INT_ENCODINGS.get((v >> 24) & 0x0F, "UNKN")
                w(f"{head} size={st} bits_offset={(v >> 16) & 0xFF} nr_bits={v & 0xFF} encoding={enc}\n")
            elif k in (2, 8, 9, 10, 11, 18):  # PTR TYPEDEF VOLATILE CONST RESTRICT TYPE_TAG
                w(f"{head} type_id={st}\n")
            elif k == 3:  # ARRAY
                w(f"{head} type_id={W[o + 3]} index_type_id={W[o + 4]} nr_elems={W[o + 5]}\n")
            elif k in (4, 5):  # STRUCT UNION
                parts = [f"{head} size={st} vlen={vlen}"]
                for j in range(o + 3, o + 3 + 3 * vlen, 3):
                    off = W[j + 2]
                    if kflag and off >> 24:
                        parts.append(f"\n\t'{name(W[j])}' type_id={W[j + 1]} bits_offset={off & 0xFFFFFF} bitfield_size={off >> 24}")
                    else:
                        parts.append(f"\n\t'{name(W[j])}' type_id={W[j + 1]} bits_offset={off & 0xFFFFFF if kflag else off}")
                parts.append("\n")
                w("".join(parts))
            elif k == 6:  # ENUM
                parts = [f"{head} encoding={'SIGNED' if kflag else 'UNSIGNED'} size={st} vlen={vlen}"]
                for j in range(o + 3, o + 3 + 2 * vlen, 2):
                    val = W[j + 1]
                    if kflag and val >> 31:
                        val -= 1 << 32
                    parts.append(f"\n\t'{name(W[j])}' val={val}")
                parts.append("\n")
                w("".join(parts))
            elif k == 19:  # ENUM64
                parts = [f"{head} encoding={'SIGNED' if kflag else 'UNSIGNED'} size={st} vlen={vlen}"]
                for j in range(o + 3, o + 3 + 3 * vlen, 3):
                    val = (W[j + 2] << 32) | W[j + 1]
                    if kflag:
                        if val >> 63:
                            val -= 1 << 64
                        parts.append(f"\n\t'{name(W[j])}' val={val}LL")
                    else:
                        parts.append(f"\n\t'{name(W[j])}' val={val}ULL")
                parts.append("\n")
                w("".join(parts))
            elif k == 7:  # FWD
                w(f"{head} fwd_kind={'union' if kflag else 'struct'}\n")
            elif k == 12:  # FUNC
                linkage = _LINKAGES[vlen] if vlen < 3 else "(unknown)"
                w(f"{head} type_id={st} linkage={linkage}\n")
            elif k == 13:  # FUNC_PROTO
                parts = [f"{head} ret_type_id={st} vlen={vlen}"]
                for j in range(o + 3, o + 3 + 2 * vlen, 2):
                    parts.append(f"\n\t'{name(W[j])}' type_id={W[j + 1]}")
                parts.append("\n")
                w("".join(parts))
            elif k == 14:  # VAR
                lk = W[o + 3]
                linkage = _LINKAGES[lk] if lk < 3 else "(unknown)"
                w(f"{head} type_id={st}, linkage={linkage}\n")
            elif k == 15:  # DATASEC
                parts = [f"{head} size={st} vlen={vlen}"]
                for j in range(o + 3, o + 3 + 3 * vlen, 3):
                    vt = W[j]
                    line = f"\n\ttype_id={vt} offset={W[j + 1]} size={W[j + 2]}"
                    if vt < count:
                        line += f" ({_kind_name(K[vt]) if vt else 'UNKNOWN'} '{name(W[at[vt]]) if vt else '(anon)'}')"
                    parts.append(line)
                parts.append("\n")
                w("".join(parts))
            elif k == 16:  # FLOAT
                w(f"{head} size={st}\n")
            elif k == 17:  # DECL_TAG
                idx = W[o + 3]
                if idx >> 31:
                    idx -= 1 << 32
                w(f"{head} type_id={st} component_idx={idx}\n")
            else:  # pragma: no cover - the parser rejects unknown kinds
                raise ObjectFormatError(f"unknown BTF kind {k} at type id {tid}", section=".BTF")
            if len(out) >= flush_every:
                fp.write("".join(out))
                out.clear()
        fp.write("".join(out))
