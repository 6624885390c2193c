"""CO-RE access specs: parse a relocation against local BTF, match it in target BTF.

Private helpers of :mod:`bpfkit.btf.core`.  The rules follow libbpf's
``relo_core.c`` (which the kernel shares): an access string "0:1:2" is a
root index (pointer arithmetic) then member indexes and array subscripts; the
"high-level" spec keeps only named fields and subscripts, which are what a
target type must match by name, skipping anonymous structs/unions.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._record import Record
from .._uapi import CoreReloKind
from ..errors import CoreError
from ._parse import Btf
from ._types import (
    Array,
    BtfKind,
    BtfType,
    Const,
    Datasec,
    DeclTag,
    Enum,
    Enum64,
    Float,
    FuncProto,
    Fwd,
    Int,
    IntEncoding,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union_,
    Var,
    Volatile,
)

SPEC_MAX_LEN = 64  # BPF_CORE_SPEC_MAX_LEN
_MAX_DEPTH = 32  # recursion/loop bound of libbpf's compat checks and size resolution
PTR_SIZE = 8

FIELD_KINDS = frozenset(
    {
        CoreReloKind.FIELD_BYTE_OFFSET,
        CoreReloKind.FIELD_BYTE_SIZE,
        CoreReloKind.FIELD_EXISTS,
        CoreReloKind.FIELD_SIGNED,
        CoreReloKind.FIELD_LSHIFT_U64,
        CoreReloKind.FIELD_RSHIFT_U64,
    }
)
TYPE_KINDS = frozenset(
    {
        CoreReloKind.TYPE_ID_LOCAL,
        CoreReloKind.TYPE_ID_TARGET,
        CoreReloKind.TYPE_EXISTS,
        CoreReloKind.TYPE_MATCHES,
        CoreReloKind.TYPE_SIZE,
    }
)
ENUMVAL_KINDS = frozenset({CoreReloKind.ENUMVAL_EXISTS, CoreReloKind.ENUMVAL_VALUE})

def _is_access_string(access: str) -> bool:
    """Whether ``access`` is indexes of 1 to 10 ASCII digits separated by ':' (``0:1:3``)."""
    return all(0 < len(part) <= 10 and part.isascii() and part.isdigit() for part in access.split(":"))
_MODIFIERS = (Typedef, Const, Volatile, Restrict, TypeTag)


class Poison(Exception):
    """Internal signal: the relocation cannot be satisfied; poison the instruction."""


# ---- BTF access that never raises anything but CoreError -------------------


def get_type(btf: Btf, type_id: int, *, local: bool = False) -> BtfType:
    """``btf[type_id]`` with an out-of-range id turned into a CoreError."""
    try:
        return btf[type_id]
    except (IndexError, ValueError) as e:
        raise CoreError(f"bad BTF type id {type_id}: {e}", malformed=local) from None


def skip_mods(btf: Btf, type_id: int, *, local: bool = False) -> tuple[int, BtfType]:
    """Follow typedefs and qualifiers: (id, type) of the underlying type."""
    t = get_type(btf, type_id, local=local)
    for _ in range(256):
        if not isinstance(t, _MODIFIERS):
            return type_id, t
        type_id = t.type
        t = get_type(btf, type_id, local=local)
    raise CoreError(f"BTF modifier chain too long at type id {type_id}", malformed=local)


def resolve_size(btf: Btf, type_id: int, *, local: bool = False) -> int:
    """Byte size of a type as libbpf's btf__resolve_size computes it (arrays multiply)."""
    nelems = 1
    tid = type_id
    for _ in range(_MAX_DEPTH):
        t = get_type(btf, tid, local=local)
        if isinstance(t, Ptr):
            size = PTR_SIZE
        elif isinstance(t, (Int, Struct, Union_, Enum, Enum64, Float, Datasec)):
            size = t.size
        elif isinstance(t, (*_MODIFIERS, Var, DeclTag)):
            tid = t.type
            continue
        elif isinstance(t, Array):
            if t.nelems and nelems > 0xFFFFFFFF // t.nelems:
                raise CoreError(f"size of BTF type id {type_id} overflows 32 bits", malformed=local)
            nelems *= t.nelems
            tid = t.type
            continue
        else:
            raise CoreError(f"BTF type id {tid} ({t.kind.name}) has no size", malformed=local)
        if nelems * size > 0xFFFFFFFF:
            raise CoreError(f"size of BTF type id {type_id} overflows 32 bits", malformed=local)
        return nelems * size
    raise CoreError(f"BTF type id {type_id} nests too deeply to size", malformed=local)


def essential_name(name: str) -> str:
    """A name without its ``___flavor`` suffix (text after the last ``X___Y``)."""
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1 : i + 4] == "___" and name[i + 4] != "_":
            return name[: i + 1]
    return name


def _is_composite(t: BtfType) -> bool:
    return isinstance(t, (Struct, Union_))


def _is_enum(t: BtfType) -> bool:
    return isinstance(t, (Enum, Enum64))


def kinds_compat(a: BtfType, b: BtfType) -> bool:
    """Same BTF kind, or both enums (ENUM and ENUM64 relocate against each other)."""
    return a.kind == b.kind or (_is_enum(a) and _is_enum(b))


# ---- specs ------------------------------------------------------------------


class Accessor(Record):
    """One high-level step: a named member (``name``) or an array subscript (None)."""

    _fields = ("type_id", "idx", "name")
    __slots__ = _fields

    def __init__(self, type_id: int, idx: int, name: str | None = None) -> None:
        self.type_id = type_id  # the struct/union holding the member, or the element type
        self.idx = idx
        self.name = name


class Spec(Record):
    """A parsed access: high-level accessors, the raw index list and the bit offset."""

    _fields = ("btf", "root_type_id", "kind", "accessors", "raw", "bit_offset")
    __slots__ = _fields

    def __init__(self, btf: Btf, root_type_id: int, kind: CoreReloKind, accessors: list[Accessor] | None = None,
                 raw: list[int] | None = None, bit_offset: int = 0) -> None:
        self.btf = btf
        self.root_type_id = root_type_id
        self.kind = kind
        self.accessors: list[Accessor] = [] if accessors is None else accessors
        self.raw: list[int] = [] if raw is None else raw
        self.bit_offset = bit_offset

    @property
    def raw_str(self) -> str:
        """The low-level spec as an access string ("0:1:2")."""
        return ":".join(str(i) for i in self.raw)


def _is_flex(btf: Btf, acc: Accessor | None, arr: Array, *, local: bool) -> bool:
    """An array of no elements that is the last member of the struct ``acc`` named it in."""
    if acc is None or acc.name is None or arr.nelems > 0:
        return False
    t = get_type(btf, acc.type_id, local=local)
    return _is_composite(t) and acc.idx == len(t.members) - 1  # type: ignore[union-attr]


def parse_spec(btf: Btf, type_id: int, access: str, kind: CoreReloKind) -> Spec:
    """Parse a relocation's access string against its local type; CoreError(malformed) if invalid."""

    def bad(why: str) -> CoreError:
        return CoreError(f"access string {access!r} of type id {type_id}: {why}", malformed=True)

    if not _is_access_string(access):
        raise bad("not a list of indexes separated by ':'")
    spec = Spec(btf, type_id, kind)
    if kind in TYPE_KINDS:
        if access != "0":
            raise bad("a type relocation's access string must be '0'")
        get_type(btf, type_id, local=True)
        return spec
    raw = [int(x) for x in access.split(":")]
    if len(raw) > SPEC_MAX_LEN:
        raise bad(f"more than {SPEC_MAX_LEN} levels")
    spec.raw = raw
    tid, t = skip_mods(btf, type_id, local=True)
    root = Accessor(tid, raw[0])
    spec.accessors.append(root)
    if kind in ENUMVAL_KINDS:
        if not isinstance(t, (Enum, Enum64)):
            raise bad(f"type is {t.kind.name}, not an enum")
        if len(raw) > 1 or raw[0] >= len(t.values):
            raise bad(f"enum {t.name!r} has {len(t.values)} enumerators")
        root.name = t.values[raw[0]].name
        return spec
    if kind not in FIELD_KINDS:
        raise bad(f"unknown relocation kind {kind!r}")
    spec.bit_offset = raw[0] * resolve_size(btf, tid, local=True) * 8
    for i in range(1, len(raw)):
        tid, t = skip_mods(btf, tid, local=True)
        idx = raw[i]
        if isinstance(t, (Struct, Union_)):
            if idx >= len(t.members):
                raise bad(f"{t.kind.name.lower()} {t.name or '<anon>'!r} has {len(t.members)} members, not {idx + 1}")
            m = t.members[idx]
            spec.bit_offset += m.offset
            if m.name:
                spec.accessors.append(Accessor(tid, idx, m.name))
            tid = m.type
        elif isinstance(t, Array):
            elem, _ = skip_mods(btf, t.type, local=True)
            if not _is_flex(btf, spec.accessors[-1], t, local=True) and idx >= t.nelems:
                raise bad(f"index {idx} beyond an array of {t.nelems}")
            spec.accessors.append(Accessor(elem, idx))
            spec.bit_offset += idx * resolve_size(btf, elem, local=True) * 8
            tid = elem
        else:
            raise bad(f"level {i} indexes into a {t.kind.name}")
    return spec


# ---- compatibility (libbpf bpf_core_fields_are_compat / types_are_compat / types_match)


def _names_compat(a: str, b: str) -> bool:
    ea, eb = essential_name(a), essential_name(b)
    return not ea or not eb or ea == eb


def fields_are_compat(lbtf: Btf, lid: int, tbtf: Btf, tid: int) -> bool:
    """May a local field of type ``lid`` be relocated onto a target field of type ``tid``?"""
    for _ in range(_MAX_DEPTH):
        lid, lt = skip_mods(lbtf, lid, local=True)
        tid, tt = skip_mods(tbtf, tid)
        if _is_composite(lt) and _is_composite(tt):
            return True
        if not kinds_compat(lt, tt):
            return False
        if isinstance(lt, (Ptr, Float)):
            return True
        if isinstance(lt, (Fwd, Enum, Enum64)):
            return _names_compat(lt.name, tt.name)
        if isinstance(lt, Int):
            return lt.offset == 0 and tt.offset == 0  # type: ignore[union-attr]
        if isinstance(lt, Array) and isinstance(tt, Array):
            lid, tid = lt.type, tt.type
            continue
        return False
    raise CoreError(f"array nesting too deep comparing local type {lid} with target type {tid}")


_Memo = dict[tuple[int, int, bool], "bool | None"]


def _memoized(memo: _Memo, key: tuple[int, int, bool]) -> bool | None:
    """A result computed earlier in this comparison; CoreError when ``key`` is being computed (a loop)."""
    if key not in memo:
        memo[key] = None
        return None
    hit = memo[key]
    if hit is None:
        raise CoreError(f"BTF type loop through local type {key[0]} and target type {key[1]}")
    return hit


def types_are_compat(lbtf: Btf, lid: int, tbtf: Btf, tid: int, level: int = _MAX_DEPTH, memo: _Memo | None = None) -> bool:
    """libbpf's bpf_core_types_are_compat: the test TYPE_EXISTS/SIZE/ID_TARGET candidates pass."""
    if not kinds_compat(get_type(lbtf, lid, local=True), get_type(tbtf, tid)):
        return False
    memo = {} if memo is None else memo
    key = (lid, tid, False)
    hit = _memoized(memo, key)
    if hit is None:
        hit = memo[key] = _types_are_compat(lbtf, lid, tbtf, tid, level, memo)
    return hit


def _types_are_compat(lbtf: Btf, lid: int, tbtf: Btf, tid: int, level: int, memo: _Memo) -> bool:
    for _ in range(_MAX_DEPTH):
        lid, lt = skip_mods(lbtf, lid, local=True)
        tid, tt = skip_mods(tbtf, tid)
        if not kinds_compat(lt, tt):
            return False
        if lt.kind in (BtfKind.UNKN, BtfKind.STRUCT, BtfKind.UNION, BtfKind.ENUM, BtfKind.ENUM64, BtfKind.FWD):
            return True
        if isinstance(lt, Int) and isinstance(tt, Int):
            return lt.offset == 0 and tt.offset == 0
        if isinstance(lt, Ptr) and isinstance(tt, Ptr):
            lid, tid = lt.type, tt.type
            continue
        if isinstance(lt, Array) and isinstance(tt, Array):
            lid, tid = lt.type, tt.type
            continue
        if isinstance(lt, FuncProto) and isinstance(tt, FuncProto):
            if len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params, strict=True):
                if level <= 0:
                    raise CoreError("function prototypes nest too deeply")
                lpid, _ = skip_mods(lbtf, lp.type, local=True)
                tpid, _ = skip_mods(tbtf, tp.type)
                if not types_are_compat(lbtf, lpid, tbtf, tpid, level - 1, memo):
                    return False
            lid, tid = lt.return_type, tt.return_type
            continue
        return False
    raise CoreError(f"types nest too deeply comparing local type {lid} with target type {tid}")


def _names_match(local: str, targ: str) -> bool:
    if not targ:
        return not local
    return essential_name(local) == essential_name(targ)


def types_match(
    lbtf: Btf, lid: int, tbtf: Btf, tid: int, behind_ptr: bool = False, level: int = _MAX_DEPTH, memo: _Memo | None = None
) -> bool:
    """libbpf's __bpf_core_types_match: the stricter test of TYPE_MATCHES.

    Results are memoized per (local, target, behind pointer) so that types
    reached along many paths are compared once, and a loop is an error.
    """
    if level <= 0:
        raise CoreError("types nest too deeply for TYPE_MATCHES")
    memo = {} if memo is None else memo
    key = (lid, tid, behind_ptr)
    hit = _memoized(memo, key)
    if hit is None:
        hit = memo[key] = _types_match(lbtf, lid, tbtf, tid, behind_ptr, level, memo)
    return hit


def _types_match(lbtf: Btf, lid: int, tbtf: Btf, tid: int, behind_ptr: bool, level: int, memo: _Memo) -> bool:
    for _ in range(_MAX_DEPTH):
        lid, lt = skip_mods(lbtf, lid, local=True)
        tid, tt = skip_mods(tbtf, tid)
        if not _names_match(lt.name, tt.name):
            return False
        if lt.kind == BtfKind.UNKN:
            return tt.kind == BtfKind.UNKN
        if isinstance(lt, Fwd):
            if isinstance(tt, Fwd):
                return lt.is_union == tt.is_union
            if behind_ptr:
                return (isinstance(tt, Struct) and not lt.is_union) or (isinstance(tt, Union_) and lt.is_union)
            return False
        if isinstance(lt, (Enum, Enum64)):
            if not isinstance(tt, (Enum, Enum64)) or lt.size != tt.size or len(lt.values) > len(tt.values):
                return False
            return all(any(_names_match(lv.name, tv.name) for tv in tt.values) for lv in lt.values)
        if isinstance(lt, (Struct, Union_)):
            if behind_ptr:
                if lt.kind == tt.kind:
                    return True
                return isinstance(tt, Fwd) and tt.is_union == isinstance(lt, Union_)
            if lt.kind != tt.kind:
                return False
            assert isinstance(tt, (Struct, Union_))
            if len(lt.members) > len(tt.members):
                return False
            for lm in lt.members:
                if not any(
                    _names_match(lm.name, tm.name) and types_match(lbtf, lm.type, tbtf, tm.type, behind_ptr, level - 1, memo)
                    for tm in tt.members
                ):
                    return False
            return True
        if isinstance(lt, Int):
            return (
                isinstance(tt, Int)
                and lt.size == tt.size
                and bool(lt.encoding & IntEncoding.SIGNED) == bool(tt.encoding & IntEncoding.SIGNED)
            )
        if isinstance(lt, Ptr):
            if not isinstance(tt, Ptr):
                return False
            behind_ptr = True
            lid, tid = lt.type, tt.type
            continue
        if isinstance(lt, Array):
            if not isinstance(tt, Array) or lt.nelems != tt.nelems:
                return False
            lid, tid = lt.type, tt.type
            continue
        if isinstance(lt, FuncProto):
            if not isinstance(tt, FuncProto) or len(lt.params) != len(tt.params):
                return False
            for lp, tp in zip(lt.params, tt.params, strict=True):
                if not types_match(lbtf, lp.type, tbtf, tp.type, behind_ptr, level - 1, memo):
                    return False
            lid, tid = lt.return_type, tt.return_type
            continue
        return False
    raise CoreError(f"types nest too deeply comparing local type {lid} with target type {tid}")


# ---- matching a local spec in a target type --------------------------------


def _match_member(lbtf: Btf, lacc: Accessor, tbtf: Btf, tid: int, ts: Spec, seen: set[int]) -> tuple[bool, int]:
    """Find the local named member in target composite ``tid``, descending into anonymous members.

    ``seen`` holds the anonymous composites already searched (or being searched):
    searching one again cannot succeed, and skipping it keeps malformed BTF
    (an anonymous member of its own type) from recursing without end.
    """
    tid, tt = skip_mods(tbtf, tid)
    if not isinstance(tt, (Struct, Union_)) or tid in seen:
        return False, 0
    seen.add(tid)
    lt = get_type(lbtf, lacc.type_id, local=True)
    assert isinstance(lt, (Struct, Union_))
    lm = lt.members[lacc.idx]
    for i, m in enumerate(tt.members):
        if len(ts.raw) >= SPEC_MAX_LEN:
            raise CoreError(f"target type nests more than {SPEC_MAX_LEN} levels")
        ts.bit_offset += m.offset
        ts.raw.append(i)
        if not m.name:
            mark = len(ts.accessors)
            found, nxt = _match_member(lbtf, lacc, tbtf, m.type, ts, seen)
            if found:
                return True, nxt
            del ts.accessors[mark:]
        elif m.name == lm.name:
            if fields_are_compat(lbtf, lm.type, tbtf, m.type):
                ts.accessors.append(Accessor(tid, i, m.name))
                return True, m.type
            ts.bit_offset -= m.offset
            ts.raw.pop()
            return False, 0
        ts.bit_offset -= m.offset
        ts.raw.pop()
    return False, 0


def match_spec(local: Spec, tbtf: Btf, tid: int) -> Spec | None:
    """The target spec of ``local`` in target type ``tid``, or None when it does not match."""
    ts = Spec(tbtf, tid, local.kind)
    if local.kind in TYPE_KINDS:
        if local.kind == CoreReloKind.TYPE_MATCHES:
            ok = types_match(local.btf, local.root_type_id, tbtf, tid)
        else:
            ok = types_are_compat(local.btf, local.root_type_id, tbtf, tid)
        return ts if ok else None
    if local.kind in ENUMVAL_KINDS:
        tid, tt = skip_mods(tbtf, tid)
        if not isinstance(tt, (Enum, Enum64)):
            return None
        want = essential_name(local.accessors[0].name or "")
        for i, v in enumerate(tt.values):
            if essential_name(v.name) == want:
                ts.accessors.append(Accessor(tid, i, v.name))
                ts.raw.append(i)
                return ts
        return None
    for i, lacc in enumerate(local.accessors):
        tid, tt = skip_mods(tbtf, tid)
        if lacc.name is not None:
            found, tid = _match_member(local.btf, lacc, tbtf, tid, ts, set())
            if not found:
                return None
            continue
        if i > 0:
            if not isinstance(tt, Array):
                return None
            if not _is_flex(tbtf, ts.accessors[-1], tt, local=False) and lacc.idx >= tt.nelems:
                return None
            tid, _ = skip_mods(tbtf, tt.type)
        if len(ts.raw) >= SPEC_MAX_LEN:
            raise CoreError(f"target type nests more than {SPEC_MAX_LEN} levels")
        ts.accessors.append(Accessor(tid, lacc.idx))
        ts.raw.append(lacc.idx)
        ts.bit_offset += lacc.idx * resolve_size(tbtf, tid) * 8
    return ts


# ---- candidate search -------------------------------------------------------


def _kind_class(kind: BtfKind) -> int:
    return int(BtfKind.ENUM if kind == BtfKind.ENUM64 else kind)


class _NameIndex:
    """Per-Btf cache: (essential name, kind class) -> own type ids of that name and kind."""

    __slots__ = ("count", "entries")

    def __init__(self, count: int) -> None:
        self.count = count
        self.entries: dict[tuple[str, int], tuple[int, ...]] = {}


def _string_tables(btf: Btf) -> list[bytes]:
    """The string sections a lazily indexed Btf's own type names may live in (its own and its bases')."""
    out: list[bytes] = []
    b: Btf | None = btf
    while b is not None:
        s = getattr(b, "_strings", None)
        if isinstance(s, bytes):
            out.append(s)
        b = b.base
    return out


def _flavored_names(btf: Btf, ess: str) -> set[str]:
    """Names ``ess___something`` of ``btf``'s own types (or present in its string sections)."""
    indexed = btf._own_names_with_prefix(ess + "___")
    if indexed is not None:
        return {n for n in indexed if essential_name(n) == ess}
    names: set[str] = set()
    needle = b"\0" + ess.encode() + b"___"
    for strings in _string_tables(btf):
        hay = strings if strings[:1] == b"\0" else b"\0" + strings
        pos = hay.find(needle)
        while pos >= 0:
            end = hay.find(b"\0", pos + 1)
            full = hay[pos + 1 : end if end >= 0 else len(hay)].decode("utf-8", "replace")
            if essential_name(full) == ess:
                names.add(full)
            pos = hay.find(needle, pos + 1)
    return names


def own_candidates(btf: Btf, ess: str, kind: BtfKind) -> tuple[int, ...]:
    """Ids of this Btf's own types whose essential name is ``ess`` and whose kind is compatible."""
    cache = btf._cache("core_names")
    idx = cache.get(None)
    if idx is None or idx.count != btf.count:
        idx = cache[None] = _NameIndex(btf.count)
    key = (ess, _kind_class(kind))
    hit = idx.entries.get(key)
    if hit is not None:
        return hit
    first = btf.first_id
    want = key[1]
    found: set[int] = set()
    if getattr(btf, "_offsets", None) is None:
        # built or edited in memory: every own type is already decoded, so a scan is cheap
        for tid in btf.own_ids():
            t = btf[tid]
            if t.name and _kind_class(t.kind) == want and essential_name(t.name) == ess:
                found.add(tid)
    else:
        for name in {ess} | _flavored_names(btf, ess):
            for tid in btf.find(name):
                if tid >= first and _kind_class(btf.kind_of(tid)) == want:
                    found.add(tid)
    result = tuple(sorted(found))
    idx.entries[key] = result
    return result


def find_candidates(local_type: BtfType, targets: Sequence[Btf]) -> list[tuple[int, int]]:
    """(target index, type id) candidates for a named local type, libbpf's order and rules.

    The first target (vmlinux) is searched first; only when it has no candidate
    are the others (module BTFs) searched, each for its own types and for those
    of any base that is not itself one of the targets.
    """
    ess = essential_name(local_type.name)
    in_targets: set[int] | None = None
    out: list[tuple[int, int]] = []
    for i in range(len(targets)):  # by index: a lazy target list loads module BTF only when reached
        if i == 1 and out:
            break
        target = targets[i]
        b: Btf | None = target
        while b is not None:
            if b is not target:
                if in_targets is None:
                    in_targets = {id(t) for t in targets}
                if id(b) in in_targets:
                    break
            out.extend((i, tid) for tid in own_candidates(b, ess, local_type.kind))
            b = b.base
    return out
