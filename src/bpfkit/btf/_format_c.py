"""BTF -> C declarations: the engine behind :func:`bpfkit.btf.format.write_c`.

The output follows the rules of libbpf's btf_dump (as bpftool uses it for
vmlinux.h), so a header made here and one made by bpftool agree:

- types are emitted in dependency order found by a depth-first walk that tells
  *strong* links (a type embedded by value, or reached through an anonymous
  type, must be complete first) from *weak* ones (reached through a pointer:
  a forward declaration suffices); named structs, unions, enums and typedefs
  are top-level definitions, anonymous ones are written inline;
- a name used by several types of the same C namespace gets ``___N``
  suffixes in the order the definitions are written;
- struct layouts are reproduced exactly: natural alignment is assumed, and
  where it cannot yield the BTF offsets and size the struct is marked packed;
  gaps become anonymous bitfield padding (``long: 64;``);
- declarators follow C's inside-out syntax for pointers, arrays and function
  prototypes, with qualifiers placed after ``*`` for pointers.

Both graph walks (ordering and emission) use explicit stacks, so deep type
chains cannot exhaust Python's recursion limit; cycles that C cannot express
raise :class:`~bpfkit.errors.ObjectFormatError`.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

from ..errors import ObjectFormatError
from ._format_table import FlatBtf

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["CDumper", "HEADER_PROLOGUE", "HEADER_EPILOGUE"]

# BTF kinds as plain ints (enum attribute lookups are slow in the hot loops)
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC = 9, 10, 11, 12, 13, 14, 15
FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = 16, 17, 18, 19

_NOT_ORDERED, _ORDERING, _ORDERED = 0, 1, 2
_NOT_EMITTED, _EMITTING, _EMITTED = 0, 1, 2

_MODS = frozenset({VOLATILE, CONST, RESTRICT, TYPE_TAG})
_QUALIFIER_WORD = {VOLATILE: "volatile ", CONST: "const ", RESTRICT: "restrict "}
_TERMINAL = frozenset({INT, ENUM, ENUM64, FWD, STRUCT, UNION, TYPEDEF, FLOAT})
_NEXT_IN_TYPE_WORD = frozenset({PTR, VOLATILE, CONST, RESTRICT, FUNC_PROTO, TYPE_TAG})

_PREFIXES = "\t" * 13
_MAX_NESTING = 200  # nested inline definitions / declarators before we call the BTF broken
_MAX_PAD_BITS = 8 << 20  # padding bits emitted as bitfields before a gap becomes a byte array (1 MiB)

# GCC's internal ARM SIMD base types that clang does not know
_MISSING_ALIASES = {
    "__Poly8_t": "unsigned char",
    "__Poly16_t": "unsigned short",
    "__Poly64_t": "unsigned long long",
    "__Poly128_t": "unsigned __int128",
}

HEADER_PROLOGUE = """\
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif

#ifndef __weak
#define __weak __attribute__((weak))
#endif

#ifndef __bpf_fastcall
#if __has_attribute(bpf_fastcall)
#define __bpf_fastcall __attribute__((bpf_fastcall))
#else
#define __bpf_fastcall
#endif
#endif

"""

HEADER_EPILOGUE = """\
#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
"""


def _pfx(lvl: int) -> str:
    return _PREFIXES if lvl >= 13 else _PREFIXES[:lvl]


def _roundup(x: int, y: int) -> int:
    return (x + y - 1) // y * y


class CDumper:
    """Writes C declarations of the types of one BTF; keeps naming state across calls."""

    def __init__(self, flat: FlatBtf, sink: Callable[[str], object] | None = None) -> None:
        self.flat = flat
        self.W = flat.words
        self.at = flat.offs
        self.K = flat.kinds
        n = flat.count
        self.n = n
        self.ptr_sz = flat.pointer_size()
        self.order_state = bytearray(n)
        self.emit_state = bytearray(n)
        self.fwd_emitted = bytearray(n)
        self.order_state[0] = _ORDERED
        self.emit_state[0] = _EMITTED
        self.names: list[str | None] = [None] * n
        self.type_names: dict[str, int] = {}
        self.ident_names: dict[str, int] = {}
        self.aligns = array("i", [-1]) * n
        self.sizes = array("q", [-2]) * n
        # declarators of types written without inline definitions: the text
        # before and after a name, and the text without a name
        self.decl_cache: dict[int, tuple[str, str]] = {}
        self.decl_cache_unnamed: dict[int, str] = {}
        self.inline_defs = 0
        self.out: list[str] = []
        self.sink = sink
        self.nesting = 0
        self.referenced: bytearray | None = None  # by the first order(): it also checks every id

    # ---- output -------------------------------------------------------

    def flush(self) -> None:
        """Hand buffered text to the sink."""
        if self.out and self.sink is not None:
            self.sink("".join(self.out))
            self.out.clear()

    def take(self) -> str:
        """Return and clear the buffered text."""
        s = "".join(self.out)
        self.out.clear()
        return s

    # ---- references ---------------------------------------------------

    def _mark_referenced(self) -> bytearray:
        """Which ids some other type refers to (tells top-level anonymous enums); checks ids."""
        W, at, K = self.W, self.at, self.K
        ref = bytearray(self.n)
        single = (PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, VAR, DECL_TAG, TYPE_TAG)
        tid = 0
        try:
            for tid in range(1, self.n):
                k = K[tid]
                if k in single:
                    ref[W[at[tid] + 2]] = 1
                elif k in (STRUCT, UNION):
                    o = at[tid]
                    for j in range(o + 4, o + 4 + 3 * (W[o + 1] & 0xFFFF), 3):
                        ref[W[j]] = 1
                elif k == FUNC_PROTO:
                    o = at[tid]
                    ref[W[o + 2]] = 1
                    for j in range(o + 4, o + 4 + 2 * (W[o + 1] & 0xFFFF), 2):
                        ref[W[j]] = 1
                elif k == ARRAY:
                    o = at[tid]
                    ref[W[o + 3]] = 1
                    ref[W[o + 4]] = 1
                elif k == DATASEC:
                    o = at[tid]
                    for j in range(o + 3, o + 3 + 3 * (W[o + 1] & 0xFFFF), 3):
                        ref[W[j]] = 1
        except IndexError:
            raise ObjectFormatError(f"BTF type id {tid} refers to a type id past the last one ({self.n - 1})", section=".BTF") from None
        return ref

    # ---- names --------------------------------------------------------

    def raw_name(self, tid: int) -> str:
        """A type's own name, as written in BTF."""
        off = self.W[self.at[tid]]
        return self.flat.string(off) if off else ""

    def _resolve(self, tid: int, names: dict[str, int]) -> str:
        got = self.names[tid]
        if got is not None:
            return got
        o = self.at[tid]
        W = self.W
        if W[o] == 0:
            return ""
        orig = self.flat.string(W[o])
        k = self.K[tid]
        if k == FWD or (k == ENUM and W[o + 1] & 0xFFFF == 0):
            self.names[tid] = orig
            return orig
        dup = names.get(orig, 0) + 1
        names[orig] = dup
        name = orig if dup == 1 else f"{orig}___{dup}"
        self.names[tid] = name
        return name

    def type_name(self, tid: int) -> str:
        """Unique name of a struct/union/enum in the tag namespace."""
        return self._resolve(tid, self.type_names)

    def ident_name(self, tid: int) -> str:
        """Unique name of a typedef in the ordinary identifier namespace."""
        return self._resolve(tid, self.ident_names)

    # ---- sizes and alignment -------------------------------------------

    def align_of(self, root: int) -> int:
        """Natural alignment in bytes as libbpf computes it (1 for packed layouts, 0 unknown)."""
        aligns = self.aligns
        a = aligns[root]
        if a >= 0:
            return a
        W, at, K = self.W, self.at, self.K
        ptr_sz = self.ptr_sz
        stack: list[list[int]] = [[root, 0, 1]]
        limit = self.n + 1
        while stack:
            frame = stack[-1]
            tid = frame[0]
            if aligns[tid] >= 0:
                stack.pop()
                continue
            k = K[tid] if tid else 0
            o = at[tid]
            if k in (INT, ENUM, ENUM64, FLOAT):
                aligns[tid] = min(ptr_sz, W[o + 2])
            elif k == PTR:
                aligns[tid] = ptr_sz
            elif k in (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, ARRAY):
                child = W[o + 3] if k == ARRAY else W[o + 2]
                ca = aligns[child]
                if ca < 0:
                    stack.append([child, 0, 1])
                    if len(stack) > limit:
                        raise ObjectFormatError(f"BTF type loop through type id {tid}", section=".BTF")
                    continue
                aligns[tid] = ca
            elif k in (STRUCT, UNION):
                # members in order, stopping where libbpf's loop returns early;
                # the frame keeps [id, next member, max alignment so far]
                info = W[o + 1]
                end = o + 3 + 3 * (info & 0xFFFF)
                kflag = info >> 31
                j = o + 3 + 3 * frame[1]
                max_align = frame[2]
                result = -1
                pending = False
                while j < end:
                    al = aligns[W[j + 1]]
                    if al < 0:
                        frame[1] = (j - o - 3) // 3
                        frame[2] = max_align
                        stack.append([W[j + 1], 0, 1])
                        if len(stack) > limit:
                            raise ObjectFormatError(f"BTF type loop through type id {tid}", section=".BTF")
                        pending = True
                        break
                    if al == 0:
                        result = 0
                        break
                    max_align = max(max_align, al)
                    off = W[j + 2]
                    if off % (8 * al) and not (kflag and off >> 24):
                        result = 1
                        break
                    j += 3
                if pending:
                    continue
                if result < 0:
                    result = 1 if W[o + 2] % max_align else max_align
                aligns[tid] = result
            else:
                aligns[tid] = 0
            stack.pop()
        return aligns[root]

    def resolve_size(self, tid: int) -> int:
        """Byte size of a type through typedefs, qualifiers and arrays; -1 when it has none."""
        size = self.sizes[tid]
        if size == -2:
            size = self.sizes[tid] = self._resolve_size(tid)
        return size

    def _resolve_size(self, tid: int) -> int:
        W, at, K = self.W, self.at, self.K
        nelems = 1
        for _ in range(32):
            if tid == 0:
                return -1
            k = K[tid]
            o = at[tid]
            if k in (INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT):
                size = W[o + 2]
                break
            if k == PTR:
                size = self.ptr_sz
                break
            if k in (TYPEDEF, VOLATILE, CONST, RESTRICT, VAR, DECL_TAG, TYPE_TAG):
                tid = W[o + 2]
            elif k == ARRAY:
                ne = W[o + 5]
                if nelems and ne > 0xFFFFFFFF // nelems:
                    return -1
                nelems *= ne
                tid = W[o + 3]
            else:
                return -1
        else:
            return -1
        if nelems and size > 0xFFFFFFFF // nelems:
            return -1
        return nelems * size

    def is_packed(self, tid: int) -> bool:
        """True when natural alignment cannot reproduce the struct's member offsets or size."""
        W = self.W
        o = self.at[tid]
        vlen = W[o + 1] & 0xFFFF
        kflag = W[o + 1] >> 31
        max_align = 1
        aligns = self.aligns
        for j in range(vlen):
            base = o + 3 + 3 * j
            al = aligns[W[base + 1]]
            if al < 0:
                al = self.align_of(W[base + 1])
            off = W[base + 2]
            if al and off % (8 * al) and not (kflag and off >> 24):
                return True
            max_align = max(max_align, al)
        return bool(W[o + 2] % max_align)

    # ---- ordering -----------------------------------------------------

    def order(self, root: int, queue: list[int]) -> None:
        """Append to ``queue`` the named definitions ``root`` needs, dependencies first."""
        W, at, K = self.W, self.at, self.K
        state = self.order_state
        referenced = self.referenced
        if referenced is None:
            referenced = self.referenced = self._mark_referenced()
        # frame: [kind, id, through_ptr, next_index, strong]
        stack: list[list[int]] = []
        limit = self.n + 1
        tid = root
        tp = 0
        tail = 0
        ret = 0
        while True:
            # -- "call" order(tid, tp): either a result in ret, or a frame to descend from
            descend = False
            st = state[tid]
            if st == _ORDERED:
                ret = 1
            elif st == _ORDERING:
                k = K[tid]
                if (k in (STRUCT, UNION)) and tp and W[at[tid]]:
                    ret = 0
                else:
                    raise ObjectFormatError(f"unsatisfiable BTF type cycle at type id {tid}", section=".BTF")
            else:
                k = K[tid]
                o = at[tid]
                if k in (INT, FLOAT):
                    state[tid] = _ORDERED
                    ret = 0
                elif k in (VOLATILE, CONST, RESTRICT, TYPE_TAG, ARRAY):
                    tid = W[o + 3] if k == ARRAY else W[o + 2]
                    if k == ARRAY:
                        tp = 0
                    tail += 1
                    if tail > limit:
                        raise ObjectFormatError(f"BTF type loop through type id {tid}", section=".BTF")
                    continue
                elif k == PTR:
                    stack.append([PTR, tid, tp, 0, 0])
                    tid = W[o + 2]
                    tp = 1
                    descend = True
                elif k in (STRUCT, UNION):
                    if tp and W[o]:
                        ret = 0
                    else:
                        state[tid] = _ORDERING
                        stack.append([STRUCT, tid, tp, 0, 0])
                        if W[o + 1] & 0xFFFF:
                            tid = W[o + 4]
                            tp = 0
                            descend = True
                        else:
                            ret = 0  # consumed by the frame below as "no more members"
                elif k in (ENUM, ENUM64, FWD):
                    if W[o] or not referenced[tid]:
                        queue.append(tid)
                    state[tid] = _ORDERED
                    ret = 1
                elif k == TYPEDEF:
                    stack.append([TYPEDEF, tid, tp, 0, 0])
                    tid = W[o + 2]
                    descend = True
                elif k == FUNC_PROTO:
                    stack.append([FUNC_PROTO, tid, tp, 0, 0])
                    tid = W[o + 2]
                    descend = True
                elif k in (FUNC, VAR, DATASEC, DECL_TAG):
                    state[tid] = _ORDERED
                    ret = 0
                else:
                    raise ObjectFormatError(f"unexpected BTF kind {k} at type id {tid}", section=".BTF")
            tail = 0
            if descend:
                if len(stack) > limit:
                    raise ObjectFormatError(f"BTF type loop through type id {tid}", section=".BTF")
                continue
            # -- "return" ret into the frames above
            while stack:
                f = stack[-1]
                fk = f[0]
                if fk == PTR:
                    state[f[1]] = _ORDERED
                    stack.pop()
                elif fk == STRUCT:
                    sid = f[1]
                    o = at[sid]
                    vlen = W[o + 1] & 0xFFFF
                    j = f[3] + 1 if vlen else 0
                    # members already ordered would only answer "strong", which a struct ignores
                    while j < vlen and state[W[o + 4 + 3 * j]] == _ORDERED:
                        j += 1
                    if j < vlen:
                        f[3] = j
                        tid = W[o + 4 + 3 * j]
                        tp = 0
                        break
                    if W[o]:
                        queue.append(sid)
                    state[sid] = _ORDERED
                    ret = 1
                    stack.pop()
                elif fk == TYPEDEF:
                    stack.pop()
                    if f[2] and not ret:
                        ret = 0
                    else:
                        queue.append(f[1])
                        state[f[1]] = _ORDERED
                        ret = 1
                else:  # FUNC_PROTO: index 0 is the return type, then the params
                    if ret > 0:
                        f[4] = 1
                    o = at[f[1]]
                    j = f[3]
                    if j < (W[o + 1] & 0xFFFF):
                        f[3] = j + 1
                        tid = W[o + 4 + 2 * j]
                        tp = f[2]
                        break
                    ret = f[4]
                    stack.pop()
            else:
                return

    # ---- emission -----------------------------------------------------

    def emit(self, root: int) -> None:
        """Write the top-level definition of ``root`` and the forward declarations it needs."""
        W, at, K = self.W, self.at, self.K
        es = self.emit_state
        fwd = self.fwd_emitted
        w = self.out.append
        # frame: [kind, id, cont_id (of the caller), next_index, cont_id for members]
        stack: list[list[int]] = []
        limit = self.n + 1
        tid = root
        cont = 0
        tail = 0
        while True:
            descend = False
            st = es[tid]
            if st == _EMITTED:
                pass
            elif st == _EMITTING:
                if not fwd[tid]:
                    k = K[tid]
                    if k in (STRUCT, UNION):
                        if tid != cont and W[at[tid]]:
                            w(self._struct_fwd(tid) + ";\n\n")
                            fwd[tid] = 1
                    elif k == TYPEDEF:
                        if not self._blacklisted(tid):
                            self._typedef_def(tid, 0)
                            w(";\n\n")
                        fwd[tid] = 1
            else:
                k = K[tid]
                o = at[tid]
                if k == INT:
                    alias = _MISSING_ALIASES.get(self.type_name(tid))
                    if alias is not None:
                        w(f"typedef {alias} {self.type_name(tid)};\n\n")
                    es[tid] = _EMITTED
                elif k in (ENUM, ENUM64):
                    if cont == 0:
                        self._enum_def(tid, 0)
                        w(";\n\n")
                    es[tid] = _EMITTED
                elif k in (PTR, VOLATILE, CONST, RESTRICT, TYPE_TAG, ARRAY):
                    tid = W[o + 3] if k == ARRAY else W[o + 2]
                    tail += 1
                    if tail > limit:
                        raise ObjectFormatError(f"BTF type loop through type id {tid}", section=".BTF")
                    continue
                elif k == FWD:
                    w(self._fwd_def(tid) + ";\n\n")
                    es[tid] = _EMITTED
                elif k == TYPEDEF:
                    es[tid] = _EMITTING
                    stack.append([TYPEDEF, tid, cont, 0, 0])
                    cont = tid
                    tid = W[o + 2]
                    descend = True
                elif k in (STRUCT, UNION):
                    es[tid] = _EMITTING
                    named = W[o]
                    if cont == 0 or not named:
                        new_cont = tid if named else cont
                        stack.append([STRUCT, tid, cont, 0, new_cont])
                        if W[o + 1] & 0xFFFF:
                            tid = W[o + 4]
                            cont = new_cont
                            descend = True
                        else:
                            stack[-1][3] = -1
                    else:
                        if not fwd[tid] and tid != cont:
                            w(self._struct_fwd(tid) + ";\n\n")
                            fwd[tid] = 1
                        es[tid] = _NOT_EMITTED
                elif k == FUNC_PROTO:
                    stack.append([FUNC_PROTO, tid, cont, 0, 0])
                    tid = W[o + 2]
                    descend = True
            tail = 0
            if descend:
                if len(stack) > limit:
                    raise ObjectFormatError(f"BTF type loop through type id {tid}", section=".BTF")
                continue
            while stack:
                f = stack[-1]
                fk = f[0]
                if fk == TYPEDEF:
                    stack.pop()
                    td = f[1]
                    cont = f[2]
                    if not fwd[td] and not self._blacklisted(td):
                        self._typedef_def(td, 0)
                        w(";\n\n")
                    es[td] = _EMITTED
                elif fk == STRUCT:
                    sid = f[1]
                    o = at[sid]
                    vlen = W[o + 1] & 0xFFFF
                    j = f[3] + 1 if f[3] >= 0 else vlen
                    while j < vlen and es[W[o + 4 + 3 * j]] == _EMITTED:  # nothing to do for those
                        j += 1
                    if j < vlen:
                        f[3] = j
                        tid = W[o + 4 + 3 * j]
                        cont = f[4]
                        break
                    stack.pop()
                    cont = f[2]
                    if cont == 0:
                        self._struct_def(sid, 0)
                        w(";\n\n")
                        es[sid] = _EMITTED
                    else:
                        es[sid] = _NOT_EMITTED
                else:  # FUNC_PROTO
                    o = at[f[1]]
                    j = f[3]
                    if j < (W[o + 1] & 0xFFFF):
                        f[3] = j + 1
                        tid = W[o + 4 + 2 * j]
                        cont = f[2]
                        break
                    stack.pop()
                    cont = f[2]
            else:
                return

    def _blacklisted(self, tid: int) -> bool:
        # __builtin_va_list is the compiler's own; redefining it breaks compilation
        return self.W[self.at[tid]] != 0 and self.raw_name(tid) == "__builtin_va_list"

    # ---- definitions --------------------------------------------------

    def _struct_fwd(self, tid: int) -> str:
        kw = "struct" if self.K[tid] == STRUCT else "union"
        return f"{kw} {self.type_name(tid)}" if self.W[self.at[tid]] else kw

    def _fwd_def(self, tid: int) -> str:
        kw = "union" if self.W[self.at[tid] + 1] >> 31 else "struct"
        return f"{kw} {self.type_name(tid)}"

    def _typedef_def(self, tid: int, lvl: int) -> None:
        name = self.ident_name(tid)
        target = self.W[self.at[tid] + 2]
        if target == 0 and name == "__gnuc_va_list":
            # old GCC describes __gnuc_va_list as a typedef of void
            self.out.append("typedef __builtin_va_list __gnuc_va_list")
            return
        self.out.append("typedef ")
        self.decl(target, name, lvl)

    def _enum_def(self, tid: int, lvl: int) -> None:
        W = self.W
        o = self.at[tid]
        w = self.out.append
        info = W[o + 1]
        vlen = info & 0xFFFF
        signed = info >> 31
        size = W[o + 2]
        w(f"enum {self.type_name(tid)}" if W[o] else "enum")
        if not vlen:
            return
        w(" {")
        ind = "\n" + _pfx(lvl + 1)
        idents = self.ident_names
        string = self.flat.string
        parts = []
        is64 = self.K[tid] == ENUM64
        needs_word_mode = True
        for j in range(vlen):
            if is64:
                base = o + 3 + 3 * j
                hi = W[base + 2]
                val = (hi << 32) | W[base + 1]
                if hi:
                    needs_word_mode = False
                if signed and val >> 63:
                    val -= 1 << 64
                sval = f"{val}LL" if signed else f"{val}ULL"
            else:
                base = o + 3 + 2 * j
                val = W[base + 1]
                if signed and val >> 31:
                    val -= 1 << 32
                sval = str(val)
            name = string(W[base])
            dup = idents.get(name, 0) + 1
            idents[name] = dup
            if dup > 1:
                parts.append(f"{ind}{name}___{dup} = {sval},")
            else:
                parts.append(f"{ind}{name} = {sval},")
        w("".join(parts))
        w("\n" + _pfx(lvl) + "}")
        if size == 1:
            w(" __attribute__((mode(byte)))")
        elif size == 8 and self.ptr_sz == 8 and needs_word_mode:
            w(" __attribute__((mode(word)))")

    def _struct_def(self, tid: int, lvl: int) -> None:
        W = self.W
        o = self.at[tid]
        out = self.out
        w = out.append
        info = W[o + 1]
        vlen = info & 0xFFFF
        kflag = info >> 31
        size = W[o + 2]
        is_struct = self.K[tid] == STRUCT
        align = self.align_of(tid)
        # an alignment above 1 already says every member sits naturally (see align_of)
        packed = is_struct and align <= 1 and self.is_packed(tid)
        kw = "struct" if is_struct else "union"
        w(f"{kw} {self.type_name(tid)} {{" if W[o] else f"{kw} {{")
        ind = "\n" + _pfx(lvl + 1)
        S = self.flat.strings
        cache = self.decl_cache
        sizes = self.sizes
        decl = self.decl
        off = 0
        prev_bitfield = False
        for j in range(o + 3, o + 3 + 3 * vlen, 3):
            noff = W[j]
            fname = ""
            if noff:
                try:
                    fname = S[noff : S.index(0, noff)].decode("utf-8", "replace")
                except ValueError:  # no NUL after it: past the string section
                    fname = self.flat.string(noff)  # raises the ObjectFormatError naming the offset
            mt = W[j + 1]
            moff = W[j + 2]
            if kflag:
                m_sz = moff >> 24
                moff &= 0xFFFFFF
            else:
                m_sz = 0
            if off < moff:
                self._bit_padding(off, moff, 1 if packed else self.align_of(mt), prev_bitfield and m_sz != 0, lvl + 1)
            c = cache.get(mt) if fname else None
            if c is not None:
                w(ind + c[0] + fname + c[1])  # the common case, inlined
            else:
                w(ind)
                decl(mt, fname, lvl + 1)
            if m_sz:
                w(f": {m_sz};")
                off = moff + m_sz
                prev_bitfield = True
            else:
                msize = sizes[mt]
                if msize == -2:
                    msize = self.resolve_size(mt)
                off = moff + (msize * 8 if msize > 0 else 0)
                prev_bitfield = False
                w(";")
        if is_struct and off < size * 8:
            self._bit_padding(off, size * 8, align, False, lvl + 1)
        if vlen or size:
            w("\n" + _pfx(lvl) + "}")
        else:
            w("}")
        if packed:
            w(" __attribute__((packed))")

    def _bit_padding(self, cur: int, nxt: int, next_align: int, in_bitfield: bool, lvl: int) -> None:
        """Fill the gap [cur, nxt) bits with anonymous bitfields, trusting natural alignment."""
        if cur >= nxt:
            return
        if nxt - cur > _MAX_PAD_BITS:
            # a gap no compiler leaves (a corrupt or made-up size): its whole bytes as one array, not
            # a bitfield per 64 bits (a struct of 4 GiB would be half a billion lines)
            start, end = _roundup(cur, 8), nxt - nxt % 8
            self._bit_padding(cur, start, 1, in_bitfield, lvl)
            self.out.append(f"\n{_pfx(lvl)}char __pad_{start // 8}[{(end - start) // 8}];")
            self._bit_padding(end, nxt, next_align, False, lvl)
            return
        pads = (("long", self.ptr_sz * 8), ("int", 32), ("short", 16), ("char", 8))
        w = self.out.append
        ind = "\n" + _pfx(lvl)
        # the widest pad type whose alignment boundary falls inside the gap
        i = 0
        while True:
            pad_type, pad_bits = pads[i]
            new_off = _roundup(cur, pad_bits)
            if new_off <= nxt or i == len(pads) - 1:
                break
            i += 1
        if cur < new_off <= nxt:
            # an explicit `type: 0` when the compiler would not align there by itself
            if (
                in_bitfield
                or (new_off == nxt and _roundup(cur, max(next_align, 1) * 8) != new_off)
                or (new_off != nxt and nxt - new_off <= new_off - cur)
            ):
                w(f"{ind}{pad_type}: {new_off - cur if in_bitfield else 0};")
            cur = new_off
        while cur != nxt:
            bits = min(nxt - cur, pad_bits)
            if bits == pad_bits:
                w(f"{ind}{pad_type}: {pad_bits};")
                cur += bits
                continue
            # the remainder: the narrowest type that holds it (and it stays the pad type)
            i = len(pads) - 1
            while pads[i][1] < bits:
                i -= 1
            pad_type, pad_bits = pads[i]
            w(f"{ind}{pad_type}: {bits};")
            cur += bits

    # ---- declarators ----------------------------------------------------

    def decl(self, tid: int, fname: str, lvl: int) -> None:
        """Write the declaration of ``fname`` of type ``tid`` (``int (*fname)[4]`` and the like)."""
        out = self.out
        if fname:
            c = self.decl_cache.get(tid)
            if c is not None:
                out.append(c[0] + fname + c[1])
                return
        else:
            text = self.decl_cache_unnamed.get(tid)
            if text is not None:
                out.append(text)
                return
        W, at, K = self.W, self.at, self.K
        head = tid
        stack = [tid]
        steps = 0
        while tid:
            k = K[tid]
            if k in _NEXT_IN_TYPE_WORD:
                tid = W[at[tid] + 2]
            elif k == ARRAY:
                tid = W[at[tid] + 3]
            elif k in _TERMINAL:
                break
            else:
                raise ObjectFormatError(f"BTF kind {k} (type id {tid}) cannot appear in a C declaration", section=".BTF")
            stack.append(tid)
            steps += 1
            if steps > 4096:
                raise ObjectFormatError(f"BTF type loop through type id {tid}", section=".BTF")
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise ObjectFormatError("BTF declarations nest too deeply to write as C", section=".BTF")
        start = len(out)
        inline_defs = self.inline_defs
        try:
            # the name is written exactly once, so a marker finds where it goes
            self._chain(stack, "\0" if fname else "", lvl)
        finally:
            self.nesting -= 1
        text = "".join(out[start:])
        if self.inline_defs == inline_defs:
            # no inline definition (those depend on indentation and count enumerators):
            # the same type always declares the same way
            if fname:
                before, _, after = text.partition("\0")
                self.decl_cache[head] = (before, after)
                text = before + fname + after
            else:
                self.decl_cache_unnamed[head] = text
        elif fname:
            text = text.replace("\0", fname)
        out[start:] = [text]

    def _mods(self, decls: list[int]) -> None:
        K = self.K
        w = self.out.append
        while decls:
            word = _QUALIFIER_WORD.get(K[decls[-1]]) if decls[-1] else None
            if word is None:
                return
            w(word)
            decls.pop()

    def _drop_mods(self, decls: list[int]) -> None:
        K = self.K
        while decls and decls[-1] and K[decls[-1]] in _MODS:
            decls.pop()

    def _chain(self, decls: list[int], fname: str, lvl: int) -> None:
        W, at, K = self.W, self.at, self.K
        w = self.out.append
        last_was_ptr = True
        while decls:
            tid = decls.pop()
            if tid == 0:
                self._mods(decls)
                w("void")
                last_was_ptr = False
                continue
            k = K[tid]
            if k == PTR:
                w("*" if last_was_ptr else " *")
                last_was_ptr = True
                continue
            if k in (INT, FLOAT):
                if decls:
                    self._mods(decls)
                w(self.raw_name(tid))
            elif k == TYPEDEF:
                if decls:
                    self._mods(decls)
                w(self.ident_name(tid))
            elif k in (STRUCT, UNION):
                if decls:
                    self._mods(decls)
                if W[at[tid]]:
                    w(self._struct_fwd(tid))
                else:
                    self.inline_defs += 1
                    self._nested(self._struct_def, tid, lvl)
            elif k in (ENUM, ENUM64):
                if decls:
                    self._mods(decls)
                if W[at[tid]]:
                    w(f"enum {self.type_name(tid)}")
                else:
                    self.inline_defs += 1
                    self._nested(self._enum_def, tid, lvl)
            elif k == FWD:
                if decls:
                    self._mods(decls)
                w(self._fwd_def(tid))
            elif k == VOLATILE:
                w(" volatile")
            elif k == CONST:
                w(" const")
            elif k == RESTRICT:
                w(" restrict")
            elif k == TYPE_TAG:
                self._mods(decls)
                tag = self.raw_name(tid)
                if W[at[tid] + 1] >> 31:
                    w(f" __attribute__(({tag}))")
                else:
                    w(f' __attribute__((btf_type_tag("{tag}")))')
            elif k == ARRAY:
                self._drop_mods(decls)
                nelems = W[at[tid] + 5]
                if not decls:
                    if fname:
                        w(fname if last_was_ptr else " " + fname)
                    w(f"[{nelems}]")
                    return
                multidim = decls[-1] != 0 and K[decls[-1]] == ARRAY
                if fname and not last_was_ptr:
                    w(" ")
                if not multidim:
                    w("(")
                self._nested(lambda _t, _l: self._chain(decls, fname, lvl), tid, lvl)
                if not multidim:
                    w(")")
                w(f"[{nelems}]")
                return
            elif k == FUNC_PROTO:
                self._drop_mods(decls)
                if decls:
                    w(" (")
                    self._nested(lambda _t, _l: self._chain(decls, fname, lvl), tid, lvl)
                    w(")")
                elif fname:
                    w(fname if last_was_ptr else " " + fname)
                w("(")
                o = at[tid]
                vlen = W[o + 1] & 0xFFFF
                if vlen == 0 or (vlen == 1 and W[o + 4] == 0):
                    w("void)")
                    return
                string = self.flat.string
                for j in range(vlen):
                    if j:
                        w(", ")
                    pt = W[o + 4 + 2 * j]
                    if j == vlen - 1 and pt == 0:
                        w("...")
                        break
                    pn = W[o + 3 + 2 * j]
                    self.decl(pt, string(pn) if pn else "", lvl)
                w(")")
                return
            else:
                raise ObjectFormatError(f"BTF kind {k} (type id {tid}) cannot appear in a C declaration", section=".BTF")
            last_was_ptr = False
        if fname:
            w(fname if last_was_ptr else " " + fname)

    def _nested(self, fn: Callable[[int, int], None], tid: int, lvl: int) -> None:
        self.nesting += 1
        if self.nesting > _MAX_NESTING:
            raise ObjectFormatError("BTF declarations nest too deeply to write as C", section=".BTF")
        try:
            fn(tid, lvl)
        finally:
            self.nesting -= 1

    # ---- whole headers ----------------------------------------------------

    def dump_all(self, fp: TextIO | None = None, *, kfuncs: bool = True, flush_every: int = 2048) -> None:
        """Write every type of the BTF (base types included) as a vmlinux.h-style header."""
        if fp is not None:
            self.sink = fp.write
        if self.referenced is None:
            self.referenced = self._mark_referenced()
        out = self.out
        out.append(HEADER_PROLOGUE)
        K = self.K
        state = self.order_state
        order = self.order
        emit = self.emit
        W, at = self.W, self.at
        skip = (FUNC, VAR, DATASEC, DECL_TAG)
        through = (VOLATILE, CONST, RESTRICT, TYPE_TAG)
        queue: list[int] = []
        for tid in range(1, self.n):
            if state[tid] == _ORDERED:
                continue
            k = K[tid]
            # shortcuts for what order() would find to do nothing
            if k in skip:
                state[tid] = _ORDERED
                continue
            if k == PTR and state[W[at[tid] + 2]] == _ORDERED:
                state[tid] = _ORDERED
                continue
            if k in through and state[W[at[tid] + 2]] == _ORDERED:
                continue
            if k == ARRAY and state[W[at[tid] + 3]] == _ORDERED:
                continue
            if k == FUNC_PROTO:
                o = at[tid]
                if state[W[o + 2]] == _ORDERED:
                    for j in range(o + 4, o + 4 + 2 * (W[o + 1] & 0xFFFF), 2):
                        if state[W[j]] != _ORDERED:
                            break
                    else:
                        continue
            order(tid, queue)
            if queue:
                for q in queue:
                    emit(q)
                queue.clear()
                if len(out) > flush_every and self.sink is not None:
                    self.flush()
        if kfuncs:
            self.dump_kfuncs()
        out.append(HEADER_EPILOGUE)
        self.flush()

    def dump_kfuncs(self) -> None:
        """Declare the kernel's kfuncs (FUNCs tagged ``bpf_kfunc``) as ``extern ... __weak __ksym``."""
        W, at, K = self.W, self.at, self.K
        kfuncs: list[tuple[bytes, int]] = []
        fastcall: set[int] = set()
        for tid in range(1, self.n):
            if K[tid] != DECL_TAG:
                continue
            o = at[tid]
            if W[o + 3] != 0xFFFFFFFF:
                continue
            fid = W[o + 2]
            if K[fid] != FUNC:
                continue
            tag = self.raw_name(tid)
            if tag == "bpf_kfunc":
                kfuncs.append((self.flat.string(W[at[fid]]).encode(), fid))
            elif tag == "bpf_fastcall":
                fastcall.add(fid)
        w = self.out.append
        w("\n/* BPF kfuncs */\n#ifndef BPF_NO_KFUNC_PROTOTYPES\n")
        kfuncs.sort()
        for _, fid in kfuncs:
            proto = W[at[fid] + 2]
            if K[proto] != FUNC_PROTO:
                raise ObjectFormatError(f"BTF func {self.raw_name(fid)!r} has no prototype", section=".BTF")
            w("extern __bpf_fastcall " if fid in fastcall else "extern ")
            self.decl(proto, self.raw_name(fid), 0)
            w(" __weak __ksym;\n")
        w("#endif\n\n")
