"""The BCC C dialect -> libbpf-style CO-RE C (pure text; kernel facts come in as arguments).

What it does to a BCC program:

* map macros (``BPF_HASH(counts, u32)``...) become BTF-defined maps in ``.maps``
  with BCC's defaults, plus typedefs naming their key and value types;
* table methods (``counts.lookup(&k)``, ``events.perf_submit(ctx, &d, sizeof(d))``,
  ``progs.call(ctx, i)``...) become helper calls; the struct passed to
  ``perf_submit``/``ringbuf_*`` is recorded in BTF under ``__bcc_event_t__<map>``
  so that Python can decode events;
* ``bpf_trace_printk("fmt", ...)`` with a literal format gets its size argument;
* ``TRACEPOINT_PROBE``/``RAW_TRACEPOINT_PROBE``/``KFUNC_PROBE``... and functions named
  ``tracepoint__<cat>__<ev>``/``raw_tracepoint__<ev>`` get their sections; the
  tracepoint argument structs are generated from tracefs formats;
* every other non-static function is a *program* whose attach type Python decides
  later: its body becomes ``static __always_inline __bcc_fn_<name>`` and entry
  points are generated for each way it can run: as written (kprobe, tracepoint,
  raw tracepoint, socket filter... chosen at load), and, when it reads registers
  (``PT_REGS_*`` or BCC's extra kprobe arguments), one copy per fallback of a
  kprobe: ``syscalls:sys_enter_*``/``sys_exit_*`` tracepoints and fentry/fexit,
  where the ``PT_REGS_*`` macros read the arguments from that context instead;
* dereferences of kernel pointers (``task->real_parent->tgid``) in tracing code
  become ``BPF_CORE_READ(task, real_parent, tgid)`` when the kernel's BTF types
  the whole chain; writes through kernel pointers are refused with the line;
* ``#include <...>`` of kernel headers are dropped (vmlinux.h and the compat header
  provide what BTF can and cannot carry).

Line numbers are kept: the user's text is emitted with ``#line`` markers so
clang's diagnostics point at the user's lines.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from ..errors import CompileError, LexError, MapMacroError
from ._lexer import Kind, Token, tokenize
from ._maps import ARRAY_LIKE, HASH_LIKE, MAP_MACROS, MapDecl, map_decl, map_definition
from ._tracepoints import tracepoint_struct, tracepoint_struct_name

__all__ = [
    "FuncKind",
    "FunctionDecl",
    "KernelFacts",
    "MemberType",
    "Mode",
    "Param",
    "RewriteResult",
    "rewrite",
]


class Mode(str, Enum):
    """The contexts a BCC kprobe function can run in; the value suffixes its entry point."""

    KPROBE = ""
    SYSCALL_ENTER = "tpe"
    SYSCALL_EXIT = "tpx"
    FENTRY = "fe"
    FEXIT = "fx"


@dataclass(frozen=True)
class MemberType:
    """What the kernel's BTF says a struct member is (for rewriting dereference chains)."""

    kind: str  # "scalar" | "pointer" | "array" | "struct" | "union" | "other"
    ref: object = None  # for pointer-to-record, struct, union: opaque handle for member()
    elem: MemberType | None = None  # for arrays
    bitfield: bool = False


class KernelFacts(Protocol):
    """What the rewriter needs to know about the running kernel (tracefs formats, BTF types)."""

    def tracepoint_format(self, category: str, event: str) -> str | None:
        """Text of tracefs events/<category>/<event>/format, or None if absent."""

    def has_type(self, kind: str, name: str) -> bool:
        """Whether the kernel BTF has a ``kind`` ("struct", "union", "enum", "typedef") named ``name``."""

    def record(self, kind: str, name: str) -> object | None:
        """An opaque handle of struct/union ``name`` for :meth:`member`, or None."""

    def member(self, record: object, name: str) -> MemberType | None:
        """The type of member ``name`` of a record (anonymous members searched), or None."""


class FuncKind(str, Enum):
    """How a function of the BCC text is used."""

    PROGRAM = "program"  # attach type decided from Python (attach_*, load_func)
    FIXED = "fixed"  # section fixed by its macro, name or SEC()
    HELPER = "helper"  # called by other functions; always inlined


@dataclass(frozen=True)
class Param:
    """One parameter as written."""

    text: str
    name: str
    type: str


@dataclass
class FunctionDecl:
    """A function of the BCC text that can be loaded as a program."""

    name: str
    kind: FuncKind
    line: int
    params: list[Param]
    section: str  # section of the plain entry point (without the '?' no-autoload mark)
    symbols: dict[Mode, str] = field(default_factory=dict)  # entry points by mode (KPROBE = as written)
    syscall_convention: bool = False  # syscall__/kprobe____x64_sys_: extra args are the syscall's

    @property
    def extra_args(self) -> int:
        """BCC's extra kprobe arguments (after the context)."""
        return max(0, len(self.params) - 1)


@dataclass
class RewriteResult:
    """The generated C file and what Python needs to know about its maps and programs."""

    source: str
    maps: dict[str, MapDecl]
    functions: dict[str, FunctionDecl]
    event_types: dict[str, str]  # map name -> BTF typedef naming the struct it carries
    tracepoints: list[tuple[str, str]]
    warnings: list[str] = field(default_factory=list)


# ---- vocabulary -----------------------------------------------------------------

PROBE_MACROS = {"TRACEPOINT_PROBE", "RAW_TRACEPOINT_PROBE", "KFUNC_PROBE", "KRETFUNC_PROBE", "MODULE_KFUNC_PROBE",
                "MODULE_KRETFUNC_PROBE", "KMOD_RET", "LSM_PROBE", "BPF_ITER"}
_NOT_FUNCTIONS = {"__attribute__", "SEC", "sizeof", "typeof", "__typeof__", "if", "while", "for", "switch", "return",
                  "__section", "_Static_assert", "asm", "__asm__"} | MAP_MACROS
_INLINE_WORDS = {"inline", "__inline", "__inline__", "__always_inline"}
_ASSIGN_OPS = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>=", "++", "--"}
_NETWORK_CTX = {"__sk_buff", "xdp_md", "sk_msg_md", "bpf_sock_ops", "bpf_sock_addr", "bpf_sock", "sk_reuseport_md",
                "bpf_sk_lookup", "bpf_sockopt", "bpf_sysctl", "bpf_cgroup_dev_ctx", "bpf_flow_keys"}
_CTX_RECORDS = _NETWORK_CTX | {"pt_regs", "bpf_raw_tracepoint_args", "bpf_perf_event_data", "trace_event_raw_sys_enter",
                               "trace_event_raw_sys_exit"}
_SECTION_BY_CTX = {
    "bpf_raw_tracepoint_args": "raw_tracepoint",
    "__sk_buff": "socket",
    "xdp_md": "xdp",
    "bpf_perf_event_data": "perf_event",
    "bpf_sock_ops": "sockops",
    "sk_msg_md": "sk_msg",
}
# struct sock members the kernel reaches through macros of include/net/sock.h (not in BTF)
SOCK_ALIASES = {
    "sk_node": "__sk_common.skc_node", "sk_nulls_node": "__sk_common.skc_nulls_node",
    "sk_refcnt": "__sk_common.skc_refcnt", "sk_tx_queue_mapping": "__sk_common.skc_tx_queue_mapping",
    "sk_dontcopy_begin": "__sk_common.skc_dontcopy_begin", "sk_dontcopy_end": "__sk_common.skc_dontcopy_end",
    "sk_hash": "__sk_common.skc_hash", "sk_portpair": "__sk_common.skc_portpair", "sk_num": "__sk_common.skc_num",
    "sk_dport": "__sk_common.skc_dport", "sk_addrpair": "__sk_common.skc_addrpair",
    "sk_daddr": "__sk_common.skc_daddr", "sk_rcv_saddr": "__sk_common.skc_rcv_saddr",
    "sk_family": "__sk_common.skc_family", "sk_state": "__sk_common.skc_state",
    "sk_reuse": "__sk_common.skc_reuse", "sk_reuseport": "__sk_common.skc_reuseport",
    "sk_ipv6only": "__sk_common.skc_ipv6only", "sk_net_refcnt": "__sk_common.skc_net_refcnt",
    "sk_bound_dev_if": "__sk_common.skc_bound_dev_if", "sk_bind_node": "__sk_common.skc_bind_node",
    "sk_prot": "__sk_common.skc_prot", "sk_net": "__sk_common.skc_net",
    "sk_v6_daddr": "__sk_common.skc_v6_daddr", "sk_v6_rcv_saddr": "__sk_common.skc_v6_rcv_saddr",
    "sk_cookie": "__sk_common.skc_cookie", "sk_incoming_cpu": "__sk_common.skc_incoming_cpu",
    "sk_flags": "__sk_common.skc_flags", "sk_rxhash": "__sk_common.skc_rxhash",
    # struct inet_sock (include/net/inet_sock.h)
    "inet_daddr": "sk.__sk_common.skc_daddr", "inet_rcv_saddr": "sk.__sk_common.skc_rcv_saddr",
    "inet_dport": "sk.__sk_common.skc_dport", "inet_num": "sk.__sk_common.skc_num",
}

# methods: name -> (min args, max args, map types allowed (None: any with key and value))
_METHODS: dict[str, tuple[int, int, frozenset[str] | None]] = {
    "lookup": (1, 1, None),
    "update": (2, 2, None),
    "insert": (2, 2, None),
    "delete": (1, 1, None),
    "lookup_or_init": (2, 2, None),
    "lookup_or_try_init": (2, 2, None),
    "increment": (1, 2, frozenset(HASH_LIKE | ARRAY_LIKE)),
    "atomic_increment": (1, 2, frozenset(HASH_LIKE | ARRAY_LIKE)),
    "perf_submit": (3, 3, frozenset({"PERF_EVENT_ARRAY"})),
    "perf_submit_skb": (4, 4, frozenset({"PERF_EVENT_ARRAY"})),
    "perf_read": (1, 1, frozenset({"PERF_EVENT_ARRAY"})),
    "perf_counter_value": (3, 3, frozenset({"PERF_EVENT_ARRAY"})),
    "ringbuf_output": (3, 3, frozenset({"RINGBUF"})),
    "ringbuf_reserve": (1, 1, frozenset({"RINGBUF"})),
    "ringbuf_submit": (2, 2, frozenset({"RINGBUF"})),
    "ringbuf_discard": (2, 2, frozenset({"RINGBUF"})),
    "ringbuf_query": (1, 1, frozenset({"RINGBUF"})),
    "call": (2, 2, frozenset({"PROG_ARRAY"})),
    "get_stackid": (2, 2, frozenset({"STACK_TRACE"})),
    "push": (2, 2, frozenset({"QUEUE", "STACK"})),
    "pop": (1, 1, frozenset({"QUEUE", "STACK"})),
    "peek": (1, 1, frozenset({"QUEUE", "STACK"})),
    "redirect_map": (2, 2, frozenset({"DEVMAP", "CPUMAP", "XSKMAP"})),
    "check_current_task": (1, 1, frozenset({"CGROUP_ARRAY"})),
    "sock_map_update": (3, 3, frozenset({"SOCKMAP"})),
    "sock_hash_update": (3, 3, frozenset({"SOCKHASH"})),
    "msg_redirect_map": (3, 3, frozenset({"SOCKMAP"})),
    "sk_redirect_map": (3, 3, frozenset({"SOCKMAP"})),
    "msg_redirect_hash": (3, 3, frozenset({"SOCKHASH"})),
    "sk_redirect_hash": (3, 3, frozenset({"SOCKHASH"})),
    "sk_storage_get": (3, 3, frozenset({"SK_STORAGE"})),
    "sk_storage_delete": (1, 1, frozenset({"SK_STORAGE"})),
    "inode_storage_get": (3, 3, frozenset({"INODE_STORAGE"})),
    "inode_storage_delete": (1, 1, frozenset({"INODE_STORAGE"})),
    "task_storage_get": (3, 3, frozenset({"TASK_STORAGE"})),
    "task_storage_delete": (1, 1, frozenset({"TASK_STORAGE"})),
}
_KV_TYPES = frozenset(HASH_LIKE | ARRAY_LIKE | {"LPM_TRIE"})
_CAST_RE = re.compile(r"^(?:(?:const|volatile)\s+)*(?:(?:struct|union|enum)\s+\w+|(?:unsigned|signed)(?:\s+(?:char|short|int|"
                      r"long))*|void|char|short|int|long(?:\s+long)?(?:\s+int)?|bool|_Bool|[us](?:8|16|32|64)|"
                      r"__[us](?:8|16|32|64)|__be(?:16|32|64)|__le(?:16|32|64)|\w+_t)(?:\s*(?:const|volatile))?"
                      r"(?:\s*\*\s*(?:const\s*)?)*$")

_ARCH_REGS = {
    # arch: (parm regs, syscall parm regs, rc, ip, sp, fp, ret)
    "x86": (("di", "si", "dx", "cx", "r8", "r9"), ("di", "si", "dx", "r10", "r8", "r9"), "ax", "ip", "sp", "bp", "sp"),
    "arm64": (("regs[0]", "regs[1]", "regs[2]", "regs[3]", "regs[4]", "regs[5]"),
              ("orig_x0", "regs[1]", "regs[2]", "regs[3]", "regs[4]", "regs[5]"),
              "regs[0]", "pc", "sp", "regs[29]", "regs[30]"),
}
# BPF versions of kernel inline functions and function-like macros that BCC programs call (the kernel's own
# cannot be called from BPF); added when the program calls them without defining them
KERNEL_INLINES: dict[str, str] = {
    "folio_page": "static __always_inline struct page *folio_page(struct folio *folio, unsigned long n) "
                  "{ return (struct page *)folio + n; }",
    "sg_is_last": "static __always_inline bool sg_is_last(struct scatterlist *sg) "
                  "{ return (BPF_CORE_READ(sg, page_link) & 0x02UL) != 0; }",
    "sg_is_chain": "static __always_inline bool sg_is_chain(struct scatterlist *sg) "
                   "{ return (BPF_CORE_READ(sg, page_link) & 0x01UL) != 0; }",
    "sg_chain_ptr": "static __always_inline struct scatterlist *sg_chain_ptr(struct scatterlist *sg) "
                    "{ return (struct scatterlist *)(BPF_CORE_READ(sg, page_link) & ~0x03UL); }",
    "div_u64": "static __always_inline u64 div_u64(u64 dividend, u32 divisor) { return dividend / divisor; }",
    "div64_u64": "static __always_inline u64 div64_u64(u64 dividend, u64 divisor) { return dividend / divisor; }",
    "skb_rx_queue_recorded": "static __always_inline bool skb_rx_queue_recorded(const struct sk_buff *skb) "
                             "{ return BPF_CORE_READ(skb, queue_mapping) != 0; }",
    "skb_get_rx_queue": "static __always_inline u16 skb_get_rx_queue(const struct sk_buff *skb) "
                        "{ return BPF_CORE_READ(skb, queue_mapping) - 1; }",
    "skb_get_queue_mapping": "static __always_inline u16 skb_get_queue_mapping(const struct sk_buff *skb) "
                             "{ return BPF_CORE_READ(skb, queue_mapping); }",
}

_REG_MACROS = ["PT_REGS_RC", "PT_REGS_IP", "PT_REGS_SP", "PT_REGS_FP", "PT_REGS_RET"]


# ---- helpers over token lists ---------------------------------------------------


def _significant(t: Token) -> bool:
    return t.kind not in (Kind.WS, Kind.COMMENT)


class _Toks:
    """A token list with the navigation the rewriter needs."""

    def __init__(self, toks: list[Token], filename: str) -> None:
        self.t = toks
        self.n = len(toks)
        self.filename = filename

    def sig(self, i: int) -> int:
        """Index of the first significant token at or after ``i`` (n when none)."""
        while i < self.n and not _significant(self.t[i]):
            i += 1
        return i

    def prev_sig(self, i: int) -> int:
        """Index of the last significant token before ``i`` (-1 when none)."""
        i -= 1
        while i >= 0 and not _significant(self.t[i]):
            i -= 1
        return i

    def text(self, i: int) -> str:
        """Text of token ``i`` ('' past the end)."""
        return self.t[i].text if 0 <= i < self.n else ""

    def line(self, i: int) -> int:
        """Line of token ``i``."""
        return self.t[min(max(i, 0), self.n - 1)].line if self.n else 1

    def match(self, i: int) -> int:
        """Index of the bracket closing the one at ``i``."""
        pairs = {"(": ")", "[": "]", "{": "}"}
        opening = self.t[i].text
        stack = [pairs[opening]]
        j = i + 1
        while j < self.n:
            tx = self.t[j].text
            k = self.t[j].kind
            if k == Kind.DIRECTIVE and re.match(r"#\s*(elif|else)", tx):
                # only a conditional's first branch counts: both branches may open the same block
                # (opensnoop: '#if ... KRETFUNC_PROBE(a) { ... #else KRETFUNC_PROBE(b) { #endif body }')
                j = self._endif(j)
                continue
            if k == Kind.PUNCT:
                if tx in pairs:
                    stack.append(pairs[tx])
                elif tx in (")", "]", "}"):
                    if tx != stack[-1]:
                        raise CompileError(f"unbalanced {tx!r} (expected {stack[-1]!r})", line=self.t[j].line,
                                           filename=self.filename)
                    stack.pop()
                    if not stack:
                        return j
            j += 1
        raise CompileError(f"{opening!r} is never closed", line=self.t[i].line, filename=self.filename)

    def _endif(self, j: int) -> int:
        """Index of the ``#endif`` closing the conditional whose ``#elif``/``#else`` is at ``j`` (or the end)."""
        depth = 0
        j += 1
        while j < self.n:
            if self.t[j].kind == Kind.DIRECTIVE:
                word = re.match(r"#\s*(\w*)", self.t[j].text)
                w = word.group(1) if word else ""
                if w in ("if", "ifdef", "ifndef"):
                    depth += 1
                elif w == "endif":
                    if depth == 0:
                        return j
                    depth -= 1
            j += 1
        return j

    def split_args(self, lp: int, rp: int) -> list[tuple[int, int]]:
        """Ranges [lo, hi) of the comma-separated arguments between brackets ``lp`` and ``rp``."""
        out: list[tuple[int, int]] = []
        lo = lp + 1
        j = lp + 1
        while j < rp:
            tx = self.t[j].text
            if self.t[j].kind == Kind.PUNCT and tx in ("(", "[", "{"):
                j = self.match(j) + 1
                continue
            if self.t[j].kind == Kind.PUNCT and tx == ",":
                out.append((lo, j))
                lo = j + 1
            j += 1
        if lo < rp or out:
            out.append((lo, rp))
        if len(out) == 1 and self.sig(out[0][0]) >= rp:
            return []  # f() has no arguments
        return out

    def raw(self, lo: int, hi: int) -> str:
        """The exact text of tokens [lo, hi)."""
        return "".join(t.text for t in self.t[lo:hi])


def _exclusive(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> bool:
    """Whether two positions are in different branches of the same #if group (never both compiled)."""
    for (ga, ba), (gb, bb) in zip(a, b, strict=False):
        if ga != gb:
            return False
        if ba != bb:
            return True
    return False


def _strip_text(s: str) -> str:
    return " ".join(s.split())


def _pad_lines(original: str, replacement: str) -> str:
    """``replacement`` followed by the newlines it lacks compared to ``original`` (keeps line numbers)."""
    missing = original.count("\n") - replacement.count("\n")
    return replacement + "\n" * missing if missing > 0 else replacement


def _parse_param(text: str) -> Param | None:
    s = _strip_text(text)
    if not s or s == "void":
        return None
    if s == "...":
        return Param(text, "...", "...")
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*((?:\[[^\]]*\]\s*)*)$", s)
    if m is None or m.group(1) in ("int", "long", "char", "short", "unsigned", "signed", "void"):
        return Param(text, "", s)
    name = m.group(1)
    ptype = (s[: m.start()] + m.group(2)).strip()
    return Param(text, name, ptype)


_RECORD_PTR_RE = re.compile(r"^(?:(?:const|volatile)\s+)*(struct|union)\s+([A-Za-z_][A-Za-z0-9_]*)\s*"
                            r"(?:(?:const|volatile|__user|__rcu|__kernel)\s*)*\*\s*(?:(?:const|volatile)\s*)*$")


_SCALAR_PTR_RE = re.compile(r"^(?:(?:const|volatile)\s+)*(?:unsigned\s+|signed\s+)?(?:long\s+long|long|int|short|char|"
                            r"loff_t|size_t|ssize_t|u8|u16|u32|u64|s8|s16|s32|s64|__u8|__u16|__u32|__u64|__s32|"
                            r"__s64|umode_t|dev_t|pid_t|uid_t|gid_t)(?:\s+int)?\s*\*$")


def _record_ptr(ptype: str) -> tuple[str, str] | None:
    """('struct', 'task_struct') for 'struct task_struct *' (one level of pointer), else None."""
    m = _RECORD_PTR_RE.match(_strip_text(ptype))
    return (m.group(1), m.group(2)) if m else None


# ---- parsed top-level items -----------------------------------------------------


@dataclass
class _Func:
    header_lo: int  # first significant token of the declaration
    name_idx: int
    lp: int
    rp: int
    body_lo: int
    body_hi: int
    name: str = ""
    macro: str = ""
    macro_args: list[str] = field(default_factory=list)
    spec_text: str = ""  # specifiers + return type as written (rewritten for renames)
    params: list[Param] = field(default_factory=list)
    is_static: bool = False
    has_inline: bool = False
    noinline: bool = False
    user_section: str | None = None
    kind: FuncKind = FuncKind.HELPER
    calls: set[str] = field(default_factory=set)
    tracing: bool = True
    kptrs: dict[str, object] = field(default_factory=dict)
    raw_ptrs: set[str] = field(default_factory=set)  # pointers to kernel memory typed with the program's own structs
    kptr_arrays: set[str] = field(default_factory=set)  # params 'struct <kernel type> **': arrays of kernel pointers
    scalar_ptrs: set[str] = field(default_factory=set)  # probe params pointing to kernel scalars ('loff_t *ppos')
    mode_sensitive: bool = False
    decl: FunctionDecl | None = None
    cond: list[list[str]] = field(default_factory=list)  # the #if/#elif/#else lines the function is under


@dataclass
class _FnCtx:
    func: _Func
    renames: dict[str, str]


class _Rewriter:
    def __init__(self, text: str, filename: str, kernel: KernelFacts | None, arch: str) -> None:
        self.filename = filename
        self.kernel = kernel
        self.arch = arch
        try:
            toks = tokenize(text)
        except LexError as exc:
            raise CompileError(str(exc).split(": ", 1)[1], line=exc.line, filename=filename) from None
        self.tk = _Toks(toks, filename)
        self.maps: dict[str, MapDecl] = {}
        self.map_items: dict[int, tuple[int, MapDecl]] = {}  # start idx -> (end idx, decl)
        self.funcs: list[_Func] = []
        self.func_at: dict[int, _Func] = {}
        self.directives: list[int] = []
        self.user_tags: set[str] = set()
        self.user_members: dict[str, list[str]] = {}  # members of the user's struct/union definitions
        self.user_typedefs: set[str] = set()
        self.tag_renames: dict[str, str] = {}
        self.typedef_renames: dict[str, str] = {}
        self.event_types: dict[str, str] = {}
        self.tracepoints: list[tuple[str, str]] = []
        self.warnings: list[str] = []
        self.defines_text = ""
        self.cond_stack: list[tuple[int, int]] = []  # (#if group, branch) of the current position
        self.cond_text: list[list[str]] = []  # directives of each open #if group, up to the current branch
        self._groups = 0
        self.map_where: dict[str, tuple[tuple[int, int], ...]] = {}

    def error(self, message: str, idx: int) -> CompileError:
        return CompileError(message, line=self.tk.line(idx), filename=self.filename)

    # ---- pass 1: top-level structure ---------------------------------------------

    def scan(self) -> None:
        tk = self.tk
        t = tk.t
        i = 0
        stmt_lo = 0
        while i < tk.n:
            tok = t[i]
            if tok.kind == Kind.DIRECTIVE:
                self.directives.append(i)
                if re.match(r"#\s*define\b", tok.text):
                    self.defines_text += tok.text + "\n"
                self._conditional(tok.text)
                i += 1
                stmt_lo = i
                continue
            if tok.kind == Kind.IDENT:
                j = tk.sig(i + 1)
                if tok.text in ("struct", "union", "enum"):
                    k = tk.sig(j + 1)
                    if j < tk.n and t[j].kind == Kind.IDENT and tk.text(k) == "{":
                        self.user_tags.add(t[j].text)
                        if tok.text in ("struct", "union"):
                            self.user_members[t[j].text] = self._member_names(k, tk.match(k))
                if tok.text == "typedef":
                    self._note_typedef(i)
                if j < tk.n and t[j].text == "(" and tok.text not in _NOT_FUNCTIONS - MAP_MACROS:
                    rp = tk.match(j)
                    if tok.text in MAP_MACROS:
                        self._map_item(i, j, rp)
                        i = rp + 1
                        stmt_lo = i
                        continue
                    k = tk.sig(rp + 1)
                    while tk.text(k) == "__attribute__":
                        k = tk.sig(tk.match(tk.sig(k + 1)) + 1)
                    if tk.text(k) == "{" and tok.text not in _NOT_FUNCTIONS:
                        body_hi = tk.match(k)
                        f = _Func(header_lo=tk.sig(stmt_lo), name_idx=i, lp=j, rp=rp, body_lo=k, body_hi=body_hi,
                                  cond=[list(g) for g in self.cond_text])
                        self._describe_func(f)
                        self.funcs.append(f)
                        self.func_at[f.header_lo] = f
                        for d in range(k, body_hi):  # conditionals that close inside the body
                            if t[d].kind == Kind.DIRECTIVE:
                                self._conditional(t[d].text)
                        i = body_hi + 1
                        stmt_lo = i
                        continue
                    i = rp + 1
                    continue
            if tok.kind == Kind.PUNCT:
                if tok.text in ("(", "[", "{"):
                    i = tk.match(i) + 1
                    continue
                if tok.text == ";":
                    stmt_lo = i + 1
                elif tok.text in (")", "]", "}"):
                    raise self.error(f"unbalanced {tok.text!r}", i)
            i += 1

    def _member_names(self, lb: int, rb: int) -> list[str]:
        """Names of the members declared between braces ``lb`` and ``rb`` (the last identifier of each)."""
        tk = self.tk
        names: list[str] = []
        last = ""
        cond = 0  # members under #if may be absent: not counted
        j = lb + 1
        while j < rb:
            tx = tk.text(j)
            if tk.t[j].kind == Kind.DIRECTIVE:
                word = re.match(r"#\s*(\w+)", tx)
                w = word.group(1) if word else ""
                cond += 1 if w in ("if", "ifdef", "ifndef") else -1 if w == "endif" else 0
                j += 1
                continue
            if tk.t[j].kind == Kind.PUNCT and tx in ("(", "[", "{"):
                j = tk.match(j) + 1
                continue
            if tk.t[j].kind == Kind.PUNCT and tx == ":":  # bit field width
                while j < rb and tk.text(j) not in (";", ","):
                    j += 1
                continue
            if tk.t[j].kind == Kind.IDENT:
                last = tx
            elif tx in (";", ","):
                if last and cond == 0:
                    names.append(last)
                last = ""
            j += 1
        return names

    def _note_typedef(self, i: int) -> None:
        """Record the name a top-level typedef introduces (the last identifier before its ';')."""
        tk = self.tk
        j = i + 1
        last = ""
        while j < tk.n and tk.text(j) != ";":
            if tk.t[j].kind == Kind.PUNCT and tk.text(j) in ("(", "[", "{"):
                if tk.text(j) == "(":
                    # function pointer typedef: the name is inside the first parentheses
                    inner = [tk.text(x) for x in range(j, tk.match(j)) if tk.t[x].kind == Kind.IDENT]
                    if inner and not last:
                        last = inner[-1]
                j = tk.match(j) + 1
                continue
            if tk.t[j].kind == Kind.IDENT:
                last = tk.text(j)
            j += 1
        if last:
            self.user_typedefs.add(last)

    def _map_item(self, i: int, lp: int, rp: int) -> None:
        tk = self.tk
        macro = tk.text(i)
        args = [tk.raw(lo, hi) for lo, hi in tk.split_args(lp, rp)]
        try:
            decl = map_decl(macro, args, tk.line(i))
        except MapMacroError as exc:
            raise self.error(str(exc), i) from None
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", decl.name):
            raise self.error(f"{macro}: {decl.name!r} is not a valid map name", i)
        where = tuple(self.cond_stack)
        first = self.maps.get(decl.name)
        if first is not None:
            if not _exclusive(self.map_where[decl.name], where):
                raise self.error(f"map {decl.name!r} is defined twice", i)
            if (first.map_type, first.key_type, first.leaf_type) != (decl.map_type, decl.key_type, decl.leaf_type):
                self.warnings.append(f"line {decl.line}: map {decl.name!r} has another definition at line "
                                     f"{first.line} (in another #if branch); table methods follow the first")
        else:
            self.maps[decl.name] = decl
            self.map_where[decl.name] = where
        self.map_items[i] = (rp + 1, decl)

    def _conditional(self, text: str) -> None:
        """Follow #if/#ifdef/#elif/#else/#endif nesting (to accept a map defined once per branch)."""
        m = re.match(r"#\s*(\w+)", text)
        word = m.group(1) if m else ""
        line = text.strip()
        if word in ("if", "ifdef", "ifndef"):
            self._groups += 1
            self.cond_stack.append((self._groups, 0))
            self.cond_text.append([line])
        elif word in ("elif", "else", "elifdef", "elifndef") and self.cond_stack:
            g, b = self.cond_stack[-1]
            self.cond_stack[-1] = (g, b + 1)
            self.cond_text[-1].append(line)
        elif word == "endif" and self.cond_stack:
            self.cond_stack.pop()
            self.cond_text.pop()

    def in_conditions(self, f: _Func, text: str) -> str:
        """``text`` (a copy of ``f`` emitted elsewhere) inside the #if branches ``f`` was written in."""
        if not f.cond:
            return text
        pre = "".join(d + "\n" for group in f.cond for d in group)
        return pre + text + ("" if text.endswith("\n") else "\n") + "#endif\n" * len(f.cond)

    def _describe_func(self, f: _Func) -> None:
        tk = self.tk
        f.name = tk.text(f.name_idx)
        if f.name in PROBE_MACROS:
            f.macro = f.name
            f.macro_args = [_strip_text(tk.raw(lo, hi)) for lo, hi in tk.split_args(f.lp, f.rp)]
            f.kind = FuncKind.FIXED
            return
        spec = [x for x in range(f.header_lo, f.name_idx) if _significant(tk.t[x])]
        words = [tk.text(x) for x in spec]
        f.is_static = "static" in words
        f.has_inline = any(w in _INLINE_WORDS for w in words)
        f.noinline = "__noinline" in words or "noinline" in words
        for x in spec:
            if tk.text(x) in ("SEC", "__section"):
                lp2 = tk.sig(x + 1)
                args = tk.split_args(lp2, tk.match(lp2))
                s = _strip_text(tk.raw(*args[0])) if args else ""
                if s.startswith('"') and s.endswith('"'):
                    f.user_section = s[1:-1]
        params = []
        for lo, hi in tk.split_args(f.lp, f.rp):
            p = _parse_param(tk.raw(lo, hi))
            if p is not None:
                params.append(p)
        f.params = params
        # calls made by the body
        for x in range(f.body_lo, f.body_hi):
            if tk.t[x].kind == Kind.IDENT and tk.text(tk.sig(x + 1)) == "(":
                prev = tk.text(tk.prev_sig(x))
                if prev not in (".", "->"):
                    f.calls.add(tk.text(x))

    # ---- pass 2: classification -----------------------------------------------------

    def classify(self) -> None:
        names = {f.name for f in self.funcs if not f.macro}
        called: set[str] = set()
        for f in self.funcs:
            called |= f.calls & names
        any_network = False
        for f in self.funcs:
            first = f.params[0].type if f.params else ""
            rec = _record_ptr(first)
            if rec is not None and rec[1] in _NETWORK_CTX:
                any_network = True
        for f in self.funcs:
            if f.macro:
                f.tracing = f.macro in ("TRACEPOINT_PROBE", "RAW_TRACEPOINT_PROBE")
                continue
            if f.user_section is not None or (f.name.startswith(("tracepoint__", "raw_tracepoint__")) and not f.is_static):
                f.kind = FuncKind.FIXED
            elif f.is_static or f.has_inline or f.name in called:
                f.kind = FuncKind.HELPER
            else:
                f.kind = FuncKind.PROGRAM
            first = f.params[0].type if f.params else ""
            rec = _record_ptr(first)
            if f.kind == FuncKind.HELPER:
                f.tracing = not any_network
            else:
                f.tracing = not (rec is not None and rec[1] in _NETWORK_CTX) and not first.startswith(
                    "unsigned long long")
        # user-defined names that vmlinux.h also defines are renamed in the generated C
        if self.kernel is not None:
            for tag in sorted(self.user_tags):
                if any(self.kernel.has_type(k, tag) for k in ("struct", "union", "enum")):
                    self.tag_renames[tag] = f"{tag}___bcc"
            for td in sorted(self.user_typedefs):
                if self.kernel.has_type("typedef", td):
                    self.typedef_renames[td] = f"{td}___bcc"
        for f in self.funcs:
            if f.tracing:
                f.kptrs = self._kernel_pointers(f)
                f.raw_ptrs = self._foreign_layout_pointers(f)
                f.kptr_arrays = self._kernel_pointer_arrays(f)
                if f.kind == FuncKind.PROGRAM and not f.name.startswith("syscall__"):  # a syscall's are user memory
                    f.scalar_ptrs = {p.name for p in f.params[1:] if p.name and _SCALAR_PTR_RE.match(_strip_text(p.type))}
        helpers = {f.name: f for f in self.funcs if f.kind == FuncKind.HELPER}
        regs_in_macros = "PT_REGS_" in self.defines_text

        def reads_regs(f: _Func, seen: set[str]) -> bool:
            body = self.tk.raw(f.body_lo, f.body_hi)
            if "PT_REGS_" in body:
                return True
            if f.params and f.params[0].name and re.search(rf"\b{re.escape(f.params[0].name)}\s*->", body):
                return True
            for c in f.calls:
                h = helpers.get(c)
                if h is not None and c not in seen:
                    seen.add(c)
                    if reads_regs(h, seen):
                        return True
            return False

        for f in self.funcs:
            if f.kind != FuncKind.PROGRAM:
                continue
            first = f.params[0].type if f.params else ""
            rec = _record_ptr(first)
            kprobe_like = (rec is not None and rec[1] == "pt_regs") or _strip_text(first) in ("", "void *") \
                or f.name.startswith(("kprobe__", "kretprobe__", "syscall__"))
            if not kprobe_like:
                continue
            if len(f.params) > 1 or regs_in_macros or reads_regs(f, {f.name}):
                f.mode_sensitive = True
            if len(f.params) > 1 and not (rec is not None and rec[1] == "pt_regs"):
                raise self.error(
                    f"function {f.name!r} takes {len(f.params)} parameters: extra kprobe arguments need a first "
                    "parameter 'struct pt_regs *ctx'", f.name_idx)

    def _kernel_pointers(self, f: _Func) -> dict[str, object]:
        """Variables of ``f`` that point to kernel records (params after the context, locals)."""
        out: dict[str, object] = {}
        kernel = self.kernel
        if kernel is None:
            return out
        params = f.params if f.kind == FuncKind.HELPER else f.params[1:]
        for p in params:
            rec = _record_ptr(p.type)
            if rec is not None and p.name:
                ref = self._kernel_record(rec)
                if ref is not None:
                    out[p.name] = ref
        tk = self.tk
        t = tk.t
        i = f.body_lo
        while i < f.body_hi:
            if t[i].kind == Kind.IDENT and t[i].text in ("struct", "union"):
                j = tk.sig(i + 1)
                if t[j].kind != Kind.IDENT:
                    i += 1
                    continue
                rec = (t[i].text, t[j].text)
                k = tk.sig(j + 1)
                # one or more declarators: [*] name [= ...] {, [*] name}
                while k < f.body_hi:
                    quals = k
                    while tk.text(quals) in ("const", "volatile", "__user", "__rcu", "__kernel"):
                        quals = tk.sig(quals + 1)
                    if tk.text(quals) != "*":
                        break
                    v = tk.sig(quals + 1)
                    while tk.text(v) in ("const", "volatile"):
                        v = tk.sig(v + 1)
                    if t[v].kind != Kind.IDENT:
                        break
                    nxt = tk.sig(v + 1)
                    if tk.text(nxt) not in ("=", ";", ",", ")"):
                        break
                    ref = self._kernel_record(rec)
                    if ref is not None:
                        out[t[v].text] = ref
                    else:
                        out.pop(t[v].text, None)
                    # skip an initializer up to the next ',' or ';' at this level
                    k = nxt
                    while k < f.body_hi and tk.text(k) not in (",", ";"):
                        if tk.text(k) in ("(", "[", "{"):
                            k = tk.match(k)
                        k += 1
                    if tk.text(k) != ",":
                        break
                    k = tk.sig(k + 1)
                i = j + 1
                continue
            i += 1
        return out

    def _kernel_pointer_arrays(self, f: _Func) -> set[str]:
        """Parameters typed ``struct <kernel type> **`` (virtiostat's ``struct scatterlist **sgs``): kernel memory."""
        out: set[str] = set()
        params = f.params if f.kind == FuncKind.HELPER else f.params[1:]
        for p in params:
            t = _strip_text(p.type)
            if p.name and t.endswith("*"):
                rec = _record_ptr(t[:-1].rstrip())
                if rec is not None and t[:-1].rstrip().endswith("*") and self._kernel_record(rec) is not None:
                    out.add(p.name)
        return out

    def _index_read(self, v: int, hi: int, ctx: _FnCtx, out: list[str]) -> int | None:
        """``sgs[i]`` on a parameter of :meth:`_kernel_pointer_arrays`: the element is read with a helper."""
        tk = self.tk
        lb = tk.sig(v + 1)
        if tk.text(lb) != "[" or lb >= hi:
            return None
        rb = tk.match(lb)
        before = tk.text(tk.prev_sig(v))
        if tk.text(tk.sig(rb + 1)) in _ASSIGN_OPS | {"[", "."} or before in ("&", "++", "--"):
            return None
        if before == "(" and tk.text(tk.prev_sig(tk.prev_sig(v))) in ("sizeof", "typeof", "__typeof__"):
            return None
        elem = f"{tk.text(v)}[{self.emit(lb + 1, rb, ctx)}]"
        text = (f"({{ __typeof__({elem}) __bcc_kv; bpf_probe_read_kernel(&__bcc_kv, sizeof(__bcc_kv), &{elem}); "
                "__bcc_kv; })")
        out.append(_pad_lines(tk.raw(v, rb + 1), text))
        return rb + 1

    def _foreign_layout_pointers(self, f: _Func) -> set[str]:
        """Locals typed as pointers to the program's own structs that are assigned kernel addresses.

        ``struct cfs_rq_partial *q = (struct cfs_rq_partial *)task->se.cfs_rq;`` describes kernel memory with the
        program's layout: reads through ``q`` become probe reads at those offsets (BCC's semantics), no CO-RE.
        """
        tk = self.tk
        t = tk.t
        declared: set[str] = set()
        for x in range(f.body_lo, f.body_hi):
            if t[x].kind == Kind.IDENT and tk.text(x) in ("struct", "union"):
                tag = tk.sig(x + 1)
                star = tk.sig(tag + 1)
                v = tk.sig(star + 1)
                if tk.text(tag) in self.user_tags and tk.text(star) == "*" and t[v].kind == Kind.IDENT \
                        and self._kernel_record((tk.text(x), tk.text(tag))) is None:
                    declared.add(tk.text(v))
        out: set[str] = set()
        for x in range(f.body_lo, f.body_hi):
            name = tk.text(x)
            if name not in declared or tk.text(tk.sig(x + 1)) != "=" or tk.text(tk.prev_sig(x)) in (".", "->"):
                continue
            y = tk.sig(x + 1) + 1
            while y < f.body_hi and tk.text(y) not in (";", ","):
                if t[y].kind == Kind.IDENT and (tk.text(y) in f.kptrs or tk.text(y) == "bpf_get_current_task") \
                        and tk.text(tk.prev_sig(y)) not in (".", "->"):
                    out.add(name)
                    break
                y += 1
        return out

    def _raw_read(self, v: int, hi: int, out: list[str]) -> int | None:
        """``p->a.b`` through a pointer of :meth:`_foreign_layout_pointers`: one probe read at the program's offsets."""
        tk = self.tk
        end = v + 1
        p = tk.sig(end)
        if tk.text(p) != "->":
            return None
        while tk.text(p) in ("->", ".") and p < hi and (tk.text(p) == "." or end == v + 1):
            q = tk.sig(p + 1)
            if tk.t[q].kind != Kind.IDENT:
                return None
            end = q + 1
            p = tk.sig(end)
        after = tk.text(tk.sig(end))
        before = tk.text(tk.prev_sig(v))
        if after in _ASSIGN_OPS or after in ("[", "(", "->") or before in ("&", "++", "--"):
            return None
        if before == "(" and tk.text(tk.prev_sig(tk.prev_sig(v))) in ("sizeof", "typeof", "__typeof__"):
            return None
        chain = tk.raw(v, end)
        text = (f"({{ __typeof__({chain}) __bcc_kv; bpf_probe_read_kernel(&__bcc_kv, sizeof(__bcc_kv), &{chain}); "
                "__bcc_kv; })")
        out.append(_pad_lines(chain, text))
        return end

    def _kernel_record(self, rec: tuple[str, str]) -> object | None:
        kind, tag = rec
        if tag in _CTX_RECORDS or tag.startswith("tracepoint__") or self.kernel is None:
            return None
        if tag in self.user_tags and not self._copies_kernel_record(kind, tag):
            return None
        return self.kernel.record(kind, tag)

    def _copies_kernel_record(self, kind: str, tag: str) -> bool:
        """Whether the program's own ``struct tag`` is a partial copy of the kernel's (every member is the kernel's).

        Such copies (``struct mnt_namespace { struct ns_common ns; };``) are renamed ``tag___bcc``, a CO-RE flavour
        of the kernel type, so reads through them are relocated against the kernel's layout.
        """
        assert self.kernel is not None
        members = self.user_members.get(tag)
        if not members or tag not in self.tag_renames:
            return False
        ref = self.kernel.record(kind, tag)
        return ref is not None and all(self.kernel.member(ref, m) is not None for m in members)

    # ---- pass 3: emission --------------------------------------------------------------

    def emit(self, lo: int, hi: int, ctx: _FnCtx | None) -> str:
        """Rewritten text of tokens [lo, hi)."""
        tk = self.tk
        t = tk.t
        out: list[str] = []
        i = lo
        while i < hi:
            tok = t[i]
            if tok.kind == Kind.IDENT:
                r = self._emit_ident(i, hi, ctx, out)
                if r is not None:
                    i = r
                    continue
                out.append(self._renamed(i, ctx))
            elif tok.kind == Kind.DIRECTIVE:
                out.append(self._directive(tok))
            elif ctx is not None and ctx.func.tracing and ctx.func.kptrs and tok.text in ("*", "("):
                r = self._kernel_deref(i, hi, ctx, out)
                if r is not None:
                    i = r
                    continue
                out.append(tok.text)
            else:
                out.append(tok.text)
            i += 1
        return "".join(out)

    def _renamed(self, i: int, ctx: _FnCtx | None) -> str:
        tk = self.tk
        name = tk.text(i)
        prev = tk.text(tk.prev_sig(i))
        if prev in ("struct", "union", "enum") and name in self.tag_renames:
            return self.tag_renames[name]
        if prev in (".", "->"):
            return name
        if name in self.typedef_renames:
            return self.typedef_renames[name]
        if ctx is not None and name in ctx.renames and tk.text(tk.sig(i + 1)) == "(":
            return ctx.renames[name]
        return name

    def _emit_ident(self, i: int, hi: int, ctx: _FnCtx | None, out: list[str]) -> int | None:
        """Rewrite a construct starting at identifier ``i``; returns the index after it, or None."""
        tk = self.tk
        name = tk.text(i)
        prev = tk.text(tk.prev_sig(i))
        if prev in (".", "->"):
            return None
        if name in self.maps:
            j = tk.sig(i + 1)
            if tk.text(j) == ".":
                k = tk.sig(j + 1)
                member = tk.text(k)
                m = self.maps[name]
                lp = tk.sig(k + 1)
                if tk.text(lp) == "(" and lp < hi:
                    rp = tk.match(lp)
                    args = [self.emit(a, b, ctx).strip() for a, b in tk.split_args(lp, rp)]
                    original = tk.raw(i, rp + 1)
                    raw_args = [tk.raw(a, b) for a, b in tk.split_args(lp, rp)]
                    out.append(_pad_lines(original, self._method(m, member, args, raw_args, i, ctx)))
                    return rp + 1
                if member in ("key", "leaf"):
                    typedef = m.key_typedef if member == "key" else m.leaf_typedef
                    if (member == "key" and m.key_type is None) or (member == "leaf" and m.leaf_type is None):
                        raise self.error(f"map {name!r} has no {member} type", i)
                    out.append(f"(*({typedef} *)0)")
                    return k + 1
                if member == "max_entries":
                    out.append(f"({m.max_entries})")
                    return k + 1
            return None
        if name == "bpf_trace_printk":
            lp = tk.sig(i + 1)
            if tk.text(lp) != "(":
                return None
            rp = tk.match(lp)
            ranges = tk.split_args(lp, rp)
            if not ranges or tk.t[tk.sig(ranges[0][0])].kind != Kind.STRING:
                return None
            args = [self.emit(a, b, ctx).strip() for a, b in ranges]
            macro = "__bcc_printk" if len(args) <= 4 else "bpf_printk"
            out.append(_pad_lines(tk.raw(i, rp + 1), f"{macro}({', '.join(args)})"))
            return rp + 1
        if ctx is not None and name in ctx.func.kptrs and tk.text(tk.sig(i + 1)) == "->":
            return self._deref_chain(i, hi, ctx, out)
        if ctx is not None and name in ctx.func.raw_ptrs and tk.text(tk.sig(i + 1)) == "->":
            return self._raw_read(i, hi, out)
        if ctx is not None and name in ctx.func.kptr_arrays and tk.text(tk.sig(i + 1)) == "[":
            return self._index_read(i, hi, ctx, out)
        if ctx is not None and name in ctx.func.scalar_ptrs and tk.text(tk.prev_sig(i)) == "*" \
                and tk.text(tk.sig(i + 1)) not in _ASSIGN_OPS | {"[", "++", "--"} and out and out[-1] == "*":
            p = tk.prev_sig(tk.prev_sig(i))
            if p < 0 or (tk.t[p].kind == Kind.PUNCT and tk.text(p) not in (")", "]")) or tk.text(p) == "return":
                out.pop()  # the unary '*': '*ppos' of a kprobe's pointer argument is read with a helper
                out.append(f"({{ __typeof__(*{name}) __bcc_kv; bpf_probe_read_kernel(&__bcc_kv, sizeof(__bcc_kv), "
                           f"{name}); __bcc_kv; }})")
                return i + 1
        return None

    # ---- table methods -------------------------------------------------------------

    def _method(self, m: MapDecl, meth: str, a: list[str], raw: list[str], idx: int, ctx: _FnCtx | None) -> str:
        spec = _METHODS.get(meth)
        if spec is None:
            raise self.error(f"BPF table {m.name!r} has no method {meth!r}", idx)
        lo, hi, types = spec
        if not lo <= len(a) <= hi:
            want = str(lo) if lo == hi else f"{lo} or {hi}"
            raise self.error(f"{m.name}.{meth}() takes {want} argument(s), got {len(a)}", idx)
        allowed = types if types is not None else _KV_TYPES
        if m.map_type not in allowed:
            raise self.error(f"{m.name}.{meth}() is not available on a {m.map_type.lower()} map ({m.macro})", idx)
        n = f"&{m.name}"
        leaf = m.leaf_typedef
        key = m.key_typedef
        if meth == "lookup":
            return f"(({leaf} *)bpf_map_lookup_elem({n}, {a[0]}))"
        if meth in ("update", "insert"):
            flag = "BPF_ANY" if meth == "update" else "BPF_NOEXIST"
            return f"bpf_map_update_elem({n}, {a[0]}, {a[1]}, {flag})"
        if meth == "delete":
            return f"bpf_map_delete_elem({n}, {a[0]})"
        if meth in ("lookup_or_init", "lookup_or_try_init"):
            bail = " if (!__leaf) return 0;" if meth == "lookup_or_init" else ""
            return (f"({{ {leaf} *__leaf = ({leaf} *)bpf_map_lookup_elem({n}, {a[0]}); if (!__leaf) {{ "
                    f"bpf_map_update_elem({n}, {a[0]}, {a[1]}, BPF_NOEXIST); "
                    f"__leaf = ({leaf} *)bpf_map_lookup_elem({n}, {a[0]});{bail} }} __leaf; }})")
        if meth in ("increment", "atomic_increment"):
            inc = f"({a[1]})" if len(a) == 2 else "1"
            add = f"__sync_fetch_and_add(__leaf, {inc});" if meth == "atomic_increment" else f"(*__leaf) += {inc};"
            text = (f"({{ {key} __key = {a[0]}; {leaf} *__leaf = ({leaf} *)bpf_map_lookup_elem({n}, &__key); "
                    f"if (__leaf) {add}")
            if m.map_type in HASH_LIKE:
                text += (f" else {{ {leaf} __zleaf; __builtin_memset(&__zleaf, 0, sizeof(__zleaf)); "
                         f"__zleaf += {inc}; bpf_map_update_elem({n}, &__key, &__zleaf, BPF_NOEXIST); }}")
            return text + " })"
        if meth == "perf_submit":
            anchor = self._event_anchor(m, raw[1], raw[2], ctx)
            return f"({{ {anchor}bpf_perf_event_output({a[0]}, {n}, BPF_F_CURRENT_CPU, {a[1]}, {a[2]}); }})"
        if meth == "perf_submit_skb":
            return (f"bpf_perf_event_output({a[0]}, {n}, ((__u64)({a[1]}) << 32) | BPF_F_CURRENT_CPU, "
                    f"{a[2]}, {a[3]})")
        if meth == "perf_read":
            return f"bpf_perf_event_read({n}, {a[0]})"
        if meth == "perf_counter_value":
            return f"bpf_perf_event_read_value({n}, {a[0]}, {a[1]}, {a[2]})"
        if meth == "ringbuf_output":
            anchor = self._event_anchor(m, raw[0], raw[1], ctx)
            return f"({{ {anchor}bpf_ringbuf_output({n}, {a[0]}, {a[1]}, {a[2]}); }})"
        if meth == "ringbuf_reserve":
            anchor = self._event_anchor(m, None, raw[0])
            return f"({{ {anchor}bpf_ringbuf_reserve({n}, {a[0]}, 0); }})"
        if meth in ("ringbuf_submit", "ringbuf_discard"):
            return f"bpf_{meth}({a[0]}, {a[1]})"
        if meth == "ringbuf_query":
            return f"bpf_ringbuf_query({n}, {a[0]})"
        if meth == "call":
            return f"bpf_tail_call({a[0]}, {n}, {a[1]})"
        if meth == "get_stackid":
            return f"bpf_get_stackid({a[0]}, {n}, {a[1]})"
        if meth == "push":
            return f"bpf_map_push_elem({n}, {a[0]}, {a[1]})"
        if meth in ("pop", "peek"):
            return f"bpf_map_{meth}_elem({n}, {a[0]})"
        if meth == "redirect_map":
            return f"bpf_redirect_map({n}, {a[0]}, {a[1]})"
        if meth == "check_current_task":
            return f"bpf_current_task_under_cgroup({n}, {a[0]})"
        if meth in ("sock_map_update", "sock_hash_update", "msg_redirect_map", "sk_redirect_map", "msg_redirect_hash",
                    "sk_redirect_hash"):
            return f"bpf_{meth}({a[0]}, {n}, {a[1]}, {a[2]})"
        if meth in ("sk_storage_get", "inode_storage_get", "task_storage_get"):
            return f"bpf_{meth}({n}, {a[0]}, {a[1]}, {a[2]})"
        if meth in ("sk_storage_delete", "inode_storage_delete", "task_storage_delete"):
            return f"bpf_{meth}({n}, {a[0]})"
        raise self.error(f"BPF table method {meth!r} is not supported", idx)  # pragma: no cover - table above

    def _event_anchor(self, m: MapDecl, data: str | None, size: str, ctx: _FnCtx | None = None) -> str:
        """C that records the type of the events a map carries in BTF, or '' when it is not evident."""
        expr = None
        sm = re.fullmatch(r"\s*sizeof\s*\((.*)\)\s*", size, re.S)
        if sm is not None:
            expr = sm.group(1)
        elif data is not None and _strip_text(data).startswith("&"):
            expr = _strip_text(data)[1:]
        elif data is not None and ctx is not None and re.fullmatch(r"\s*[A-Za-z_]\w*\s*", data) \
                and self._points_to_record(ctx.func, data.strip()):
            expr = f"*({data.strip()})"  # a pointer to the event (from a map lookup), with a computed size
        if expr is None or not expr.strip():
            return ""
        td = f"__bcc_event_t__{m.name}"
        self.event_types.setdefault(m.name, td)
        return (f"typedef __typeof__({expr}) {td}; "
                f"asm volatile(\"\" :: \"r\"(__builtin_btf_type_id(*({td} *)0, 0))); ")

    def _points_to_record(self, f: _Func, var: str) -> bool:
        """Whether ``var`` is declared in ``f`` (parameter or local) as a pointer to a struct or a typedef'd type."""
        tk = self.tk
        for x in range(f.lp, f.body_hi):
            if tk.t[x].kind != Kind.IDENT or tk.text(x) != var:
                continue
            star = tk.prev_sig(x)
            if tk.text(star) != "*":
                continue
            typ = tk.prev_sig(star)
            if tk.t[typ].kind == Kind.IDENT and tk.text(typ) not in ("void", "char", "const", "return") \
                    and tk.text(tk.sig(x + 1)) in ("=", ";", ",", ")"):
                return True
        return False

    def rename_types(self, text: str | None) -> str | None:
        """A C type text with the user's renamed tags and typedefs (see classify)."""
        if text is None or not (self.tag_renames or self.typedef_renames):
            return text

        def tag(m: re.Match[str]) -> str:
            return f"{m.group(1)} {self.tag_renames.get(m.group(2), m.group(2))}"

        out = re.sub(r"\b(struct|union|enum)\s+([A-Za-z_][A-Za-z0-9_]*)", tag, text)
        for old, new in self.typedef_renames.items():
            out = re.sub(rf"(?<![\w.])(?<!struct )(?<!union )(?<!enum ){re.escape(old)}\b", new, out)
        return out

    # ---- kernel pointer dereferences --------------------------------------------------

    def _resolve(self, ref: object, member: str) -> tuple[str, MemberType] | None:
        assert self.kernel is not None
        mt = self.kernel.member(ref, member)
        if mt is not None:
            return member, mt
        alias = SOCK_ALIASES.get(member)
        if alias is None:
            return None
        cur: MemberType | None = None
        r = ref
        for part in alias.split("."):
            cur = self.kernel.member(r, part)
            if cur is None:
                return None
            r = cur.ref
        assert cur is not None
        return alias, cur

    def _deref_chain(self, v: int, hi: int, ctx: _FnCtx, out: list[str]) -> int | None:
        tk = self.tk
        var = tk.text(v)
        ref: object = ctx.func.kptrs[var]
        steps: list[tuple[str, MemberType]] = []
        p = tk.sig(v + 1)
        end = v + 1
        while tk.text(p) == "->" and p < hi:
            q = tk.sig(p + 1)
            if tk.t[q].kind != Kind.IDENT:
                return None
            res = self._resolve(ref, tk.text(q))
            if res is None:
                return None
            acc, mt = res
            end = q + 1
            while True:
                r = tk.sig(end)
                if tk.text(r) == "." and mt.kind in ("struct", "union"):
                    g = tk.sig(r + 1)
                    if tk.t[g].kind != Kind.IDENT:
                        return None
                    res2 = self._resolve(mt.ref, tk.text(g))
                    if res2 is None:
                        return None
                    acc += "." + res2[0]
                    mt = res2[1]
                    end = g + 1
                elif tk.text(r) == "[" and mt.kind == "array" and mt.elem is not None:
                    rb = tk.match(r)
                    acc += "[" + self.emit(r + 1, rb, ctx) + "]"
                    mt = mt.elem
                    end = rb + 1
                else:
                    break
            steps.append((acc, mt))
            p = tk.sig(end)
            if tk.text(p) == "->":
                if mt.kind != "pointer" or mt.ref is None:
                    return None
                ref = mt.ref
        if not steps:
            return None
        before = tk.prev_sig(v)
        before_txt = tk.text(before)
        after_txt = tk.text(tk.sig(end))
        chain = tk.raw(v, end)
        if after_txt in _ASSIGN_OPS or before_txt in ("++", "--"):
            raise self.error(
                f"'{_strip_text(chain)}' writes to kernel memory, which BPF programs cannot do; "
                "copy the value to a local variable or a map value and change that", v)
        if before_txt == "(" and tk.text(tk.prev_sig(before)) in ("sizeof", "typeof", "__typeof__", "__typeof"):
            return None
        address = False
        if before_txt == "&":
            pre = tk.prev_sig(before)
            pre_tok = tk.t[pre] if pre >= 0 else None
            address = pre_tok is None or (not (pre_tok.kind in (Kind.IDENT, Kind.NUMBER, Kind.STRING, Kind.CHAR)
                                              and pre_tok.text not in ("return", "sizeof")) \
                and pre_tok.text not in (")", "]")) or (pre_tok.text == ")" and self._is_cast(pre))
        accs = [a for a, _ in steps]
        last = steps[-1][1]
        if address or last.kind == "array":
            if len(steps) == 1:
                out.append(_pad_lines(chain, f"{var}->{accs[0]}"))  # member aliases resolved, no read
                return end
            text = f"(BPF_CORE_READ({var}, {', '.join(accs[:-1])}))->{accs[-1]}"
        elif last.bitfield:
            base = var if len(steps) == 1 else f"BPF_CORE_READ({var}, {', '.join(accs[:-1])})"
            text = f"BPF_CORE_READ_BITFIELD_PROBED({base}, {accs[-1]})"
        else:
            text = f"BPF_CORE_READ({var}, {', '.join(accs)})"
        out.append(_pad_lines(chain, text))
        return end

    def _open_paren(self, rp: int) -> int:
        """Index of the '(' that ``rp`` closes (-1 when unbalanced)."""
        depth = 0
        j = rp
        while j >= 0:
            tx = self.tk.text(j)
            if self.tk.t[j].kind == Kind.PUNCT:
                if tx in (")", "]", "}"):
                    depth += 1
                elif tx in ("(", "[", "{"):
                    depth -= 1
                    if depth == 0:
                        return j
            j -= 1
        return -1

    def _is_cast(self, rp: int) -> bool:
        """Whether the parenthesized group closed at ``rp`` is a cast to a type (``(const void *)``, ``(u8 *)``)."""
        lp = self._open_paren(rp)
        if lp < 0:
            return False
        before = self.tk.text(self.tk.prev_sig(lp))
        if before in ("sizeof", "if", "while", "for", "switch", "return") or (
                self.tk.t[self.tk.prev_sig(lp)].kind == Kind.IDENT and before not in ("return",)):
            return before == "return"
        return _CAST_RE.match(_strip_text(self.tk.raw(lp + 1, rp))) is not None

    def _kernel_deref(self, i: int, hi: int, ctx: _FnCtx, out: list[str]) -> int | None:
        """``*(expr)`` and ``((T *)ptr)[n]`` on kernel memory (a kernel pointer inside): read with a helper."""
        tk = self.tk
        if tk.text(i) == "*":
            prev = tk.prev_sig(i)
            unary = prev < 0 or (tk.t[prev].kind == Kind.PUNCT and tk.text(prev) not in (")", "]")) or \
                tk.text(prev) == "return" or (tk.text(prev) == ")" and self._is_cast(prev))  # (u8) *(...)
            lp = tk.sig(i + 1)
            if not unary or tk.text(lp) != "(" or lp >= hi:
                return None
            rp = tk.match(lp)
            if not self._names_kernel_pointer(lp, rp, ctx) or tk.text(tk.sig(rp + 1)) in _ASSIGN_OPS | {"[", "->", "."}:
                return None
            inner = self.emit(lp + 1, rp, ctx)
            end = rp + 1
        elif tk.text(i) == "(":
            rp = tk.match(i)
            cl = tk.sig(i + 1)
            if tk.text(cl) != "(":
                return None
            cr = tk.match(cl)
            v = tk.sig(cr + 1)
            if not (self._is_cast(cr) and _strip_text(tk.raw(cl + 1, cr)).endswith("*") and tk.sig(v + 1) == rp
                    and tk.text(v) in ctx.func.kptrs and tk.text(tk.sig(rp + 1)) == "["):
                return None
            lb = tk.sig(rp + 1)
            rb = tk.match(lb)
            if lb >= hi or tk.text(tk.sig(rb + 1)) in _ASSIGN_OPS:
                return None
            inner = f"({tk.raw(cl, cr + 1)}({tk.text(v)}) + ({self.emit(lb + 1, rb, ctx)}))"
            end = rb + 1
        else:
            return None
        text = (f"({{ __typeof__(*({inner})) __bcc_kv; bpf_probe_read_kernel(&__bcc_kv, sizeof(__bcc_kv), "
                f"({inner})); __bcc_kv; }})")
        out.append(_pad_lines(tk.raw(i, end), text))
        return end

    def _names_kernel_pointer(self, lo: int, hi: int, ctx: _FnCtx) -> bool:
        """Whether tokens (lo, hi) take the address of, or cast, a kernel pointer variable of the function."""
        tk = self.tk
        idents = [x for x in range(lo + 1, hi) if tk.t[x].kind == Kind.IDENT and tk.text(x) in ctx.func.kptrs
                  and tk.text(tk.prev_sig(x)) not in (".", "->")]
        return any(tk.text(tk.prev_sig(x)) == "&" or tk.text(tk.prev_sig(x)) == ")" for x in idents)

    # ---- directives --------------------------------------------------------------------

    def _directive(self, tok: Token) -> str:
        text = tok.text
        m = re.match(r"#\s*include\s*<([^>]*)>", text)
        if m is not None:
            return "/* bcc: <" + m.group(1) + "> is provided by vmlinux.h and bcc_compat.h */" + \
                "\n" * text.count("\n")
        m = re.match(r"(#\s*define\s+[A-Za-z_][A-Za-z0-9_]*(?:\([^)]*\))?)(.*)", text, re.S)
        if m is not None and (any(name in m.group(2) for name in self.maps) or "bpf_trace_printk" in m.group(2)):
            sub = _Rewriter.__new__(_Rewriter)
            sub.__dict__.update(self.__dict__)
            try:
                sub.tk = _Toks(tokenize(m.group(2)), self.filename)
            except LexError:
                return text
            body = sub.emit(0, sub.tk.n, None)
            return m.group(1) + body
        return text

    # ---- functions -------------------------------------------------------------------

    def _spec_text(self, f: _Func, ctx: _FnCtx | None) -> str:
        return self.emit(f.header_lo, f.name_idx, ctx).strip()

    def _params_text(self, f: _Func, ctx: _FnCtx | None) -> str:
        return self.emit(f.lp + 1, f.rp, ctx)

    def function_text(self, f: _Func, mode: Mode, renames: dict[str, str]) -> str:
        """A function's full rewritten definition (header and body) for ``mode``."""
        ctx = _FnCtx(f, renames)
        header_orig = self.tk.raw(f.header_lo, f.body_lo)
        body = self.emit(f.body_lo, f.body_hi + 1, ctx)
        return _pad_lines(header_orig, self.function_header(f, mode, renames)) + " " + body

    def function_header(self, f: _Func, mode: Mode, renames: dict[str, str]) -> str:
        ctx = _FnCtx(f, renames)
        if f.macro:
            return self._macro_header(f)
        spec = self._spec_text(f, ctx)
        params = self._params_text(f, ctx)
        if f.kind == FuncKind.FIXED:
            if f.user_section is not None:
                return f"{spec} {f.name}({params})"
            return f"SEC(__BCC_NOAUTO \"{_fixed_section(f.name)}\") {spec} {f.name}({params})"
        name = renames.get(f.name, f.name) if f.kind == FuncKind.HELPER else _body_name(f.name, mode)
        rest = re.sub(r"\bstatic\b\s*", "", spec, count=1)
        pre = "static " + ("__always_inline " if not f.has_inline and not f.noinline else "")
        return f"{pre}{rest} {name}({params})"

    def _macro_header(self, f: _Func) -> str:
        a = f.macro_args
        m = f.macro
        if m == "TRACEPOINT_PROBE":
            if len(a) != 2:
                raise self.error("TRACEPOINT_PROBE takes (category, event)", f.name_idx)
            struct = tracepoint_struct_name(a[0], a[1])
            return (f"SEC(__BCC_NOAUTO \"tracepoint/{a[0]}/{a[1]}\") int tracepoint__{a[0]}__{a[1]}"
                    f"(struct {struct} *args)")
        if m == "RAW_TRACEPOINT_PROBE":
            if len(a) != 1:
                raise self.error("RAW_TRACEPOINT_PROBE takes (event)", f.name_idx)
            return (f"SEC(__BCC_NOAUTO \"raw_tracepoint/{a[0]}\") int raw_tracepoint__{a[0]}"
                    "(struct bpf_raw_tracepoint_args *ctx)")
        if m == "BPF_ITER":
            return f"SEC(__BCC_NOAUTO \"iter/{a[0]}\") int bpf_iter__{a[0]}(struct bpf_iter__{a[0]} *ctx)"
        if not a:
            raise self.error(f"{m} needs the traced function's name", f.name_idx)
        rest = ", ".join(a[1:])
        if m in ("MODULE_KFUNC_PROBE", "MODULE_KRETFUNC_PROBE"):
            if len(a) < 2:
                raise self.error(f"{m} takes (module, function, args...)", f.name_idx)
            prefix = "kfunc" if m == "MODULE_KFUNC_PROBE" else "kretfunc"
            sec = "fentry" if m == "MODULE_KFUNC_PROBE" else "fexit"
            rest = ", ".join(a[2:])
            return f"SEC(__BCC_NOAUTO \"{sec}/{a[1]}\") int BPF_PROG({prefix}__{a[0]}__{a[1]}{', ' + rest if rest else ''})"
        sec, prefix = {"KFUNC_PROBE": ("fentry", "kfunc__vmlinux__"), "KRETFUNC_PROBE": ("fexit", "kretfunc__vmlinux__"),
                       "KMOD_RET": ("fmod_ret", "kmod_ret__"), "LSM_PROBE": ("lsm", "lsm__")}[m]
        return f"SEC(__BCC_NOAUTO \"{sec}/{a[0]}\") int BPF_PROG({prefix}{a[0]}{', ' + rest if rest else ''})"

    def fixed_decl(self, f: _Func) -> FunctionDecl:
        a = f.macro_args
        if f.macro == "TRACEPOINT_PROBE":
            name, section = f"tracepoint__{a[0]}__{a[1]}", f"tracepoint/{a[0]}/{a[1]}"
        elif f.macro == "RAW_TRACEPOINT_PROBE":
            name, section = f"raw_tracepoint__{a[0]}", f"raw_tracepoint/{a[0]}"
        elif f.macro == "BPF_ITER":
            name, section = f"bpf_iter__{a[0]}", f"iter/{a[0]}"
        elif f.macro in ("MODULE_KFUNC_PROBE", "MODULE_KRETFUNC_PROBE"):
            pre = "kfunc" if f.macro == "MODULE_KFUNC_PROBE" else "kretfunc"
            name = f"{pre}__{a[0]}__{a[1]}"
            section = ("fentry/" if pre == "kfunc" else "fexit/") + a[1]
        elif f.macro:
            sec, prefix = {"KFUNC_PROBE": ("fentry", "kfunc__vmlinux__"), "KRETFUNC_PROBE": ("fexit", "kretfunc__vmlinux__"),
                           "KMOD_RET": ("fmod_ret", "kmod_ret__"), "LSM_PROBE": ("lsm", "lsm__")}[f.macro]
            name, section = f"{prefix}{a[0]}", f"{sec}/{a[0]}"
        elif f.user_section is not None:
            name, section = f.name, f.user_section.lstrip("?")
        else:
            name, section = f.name, _fixed_section(f.name)
        return FunctionDecl(name, FuncKind.FIXED, self.tk.line(f.name_idx), f.params, section, {Mode.KPROBE: name})


def _fixed_section(name: str) -> str:
    if name.startswith("raw_tracepoint__"):
        return "raw_tracepoint/" + name[len("raw_tracepoint__"):]
    rest = name[len("tracepoint__"):]
    cat, _, ev = rest.partition("__")
    return f"tracepoint/{cat}/{ev}"


def _body_name(name: str, mode: Mode) -> str:
    return f"__bcc_fn_{name}" + (f"__{mode.value}" if mode.value else "")


def entry_symbol(name: str, mode: Mode) -> str:
    """ELF symbol of the entry point of program ``name`` in ``mode``."""
    return name if mode is Mode.KPROBE else f"{name}__bcc_{mode.value}"


def _mode_macros(mode: Mode, arch: str) -> str:
    """#undef/#define lines giving PT_REGS_* their meaning in ``mode``."""
    sysparm = _ARCH_REGS[arch][1]
    names = [f"PT_REGS_PARM{k}" for k in range(1, 7)]
    all_names = (names + [n + "_CORE" for n in names] + [n + "_SYSCALL" for n in names]
                 + [n + "_CORE_SYSCALL" for n in names] + _REG_MACROS + [n + "_CORE" for n in _REG_MACROS]
                 + ["PT_REGS_SYSCALL_REGS", "PT_REGS_SYSCALL_CTX"])
    lines = [f"#undef {n}" for n in all_names]

    def parms(expr: Callable[[int], str], sys_expr: Callable[[int], str]) -> None:
        for k in range(1, 7):
            lines.append(f"#define PT_REGS_PARM{k}(x) ({expr(k - 1)})")
            lines.append(f"#define PT_REGS_PARM{k}_CORE(x) ({expr(k - 1)})")
            lines.append(f"#define PT_REGS_PARM{k}_SYSCALL(x) ({sys_expr(k - 1)})")
            lines.append(f"#define PT_REGS_PARM{k}_CORE_SYSCALL(x) ({sys_expr(k - 1)})")

    zero = "0UL"
    if mode is Mode.SYSCALL_ENTER:
        arg = "(unsigned long)((struct trace_event_raw_sys_enter *)(x))->args[{}]"
        parms(arg.format, arg.format)
        regs = {"PT_REGS_RC": zero, "PT_REGS_IP": zero, "PT_REGS_SP": zero, "PT_REGS_FP": zero, "PT_REGS_RET": zero}
        lines.append("#define PT_REGS_SYSCALL_REGS(x) (x)")
    elif mode is Mode.SYSCALL_EXIT:
        parms(lambda k: zero, lambda k: zero)
        regs = {"PT_REGS_RC": "(unsigned long)((struct trace_event_raw_sys_exit *)(x))->ret", "PT_REGS_IP": zero,
                "PT_REGS_SP": zero, "PT_REGS_FP": zero, "PT_REGS_RET": zero}
        lines.append("#define PT_REGS_SYSCALL_REGS(x) (x)")
    else:
        core = "BPF_CORE_READ((struct pt_regs *)(x), {})"
        parms(lambda k: f"__bcc_func_arg((x), {k})", lambda k: core.format(sysparm[k]))
        rcx = "__bcc_func_ret(x)" if mode is Mode.FEXIT else zero
        regs = {"PT_REGS_RC": rcx, "PT_REGS_IP": zero, "PT_REGS_SP": zero, "PT_REGS_FP": zero, "PT_REGS_RET": zero}
        lines.append("#define PT_REGS_SYSCALL_REGS(x) ((struct pt_regs *)__bcc_func_arg((x), 0))")
    for n, v in regs.items():
        lines.append(f"#define {n}(x) ({v})")
        lines.append(f"#define {n}_CORE(x) ({v})")
    lines.append("#define PT_REGS_SYSCALL_CTX(x) PT_REGS_SYSCALL_REGS(x)")
    return "\n".join(lines) + "\n"


def _wrapper(fd: FunctionDecl, f: _Func, mode: Mode, arch: str, syscall_conv: bool) -> str:
    """The entry point of program ``f`` in ``mode``: unpacks BCC's extra arguments and calls the body."""
    parm, sysparm, *_ = _ARCH_REGS[arch]
    body = _body_name(f.name, mode)
    extra = f.params[1:]
    args: list[str] = []
    pre = ""
    if f.params:
        args.append("ctx")
    if mode is Mode.KPROBE:
        section = fd.section
        if syscall_conv and extra:
            pre = "struct pt_regs *__bcc_sr = (struct pt_regs *)PT_REGS_PARM1((struct pt_regs *)ctx); "
            args += [f"({p.type})BPF_CORE_READ(__bcc_sr, {sysparm[k]})" for k, p in enumerate(extra)]
        else:
            args += [f"({p.type})((struct pt_regs *)ctx)->{parm[k]}" for k, p in enumerate(extra)]
    elif mode is Mode.SYSCALL_ENTER:
        section = "tracepoint"
        args += [f"({p.type})((struct trace_event_raw_sys_enter *)ctx)->args[{k}]" for k, p in enumerate(extra)]
    elif mode is Mode.SYSCALL_EXIT:
        section = "tracepoint"
        args += [f"({p.type})0" for p in extra]
    else:
        section = "fentry" if mode is Mode.FENTRY else "fexit"
        if syscall_conv and extra:
            pre = "struct pt_regs *__bcc_sr = (struct pt_regs *)__bcc_func_arg(ctx, 0); "
            args += [f"({p.type})BPF_CORE_READ(__bcc_sr, {sysparm[k]})" for k, p in enumerate(extra)]
        else:
            args += [f"({p.type})__bcc_func_arg(ctx, {k})" for k, p in enumerate(extra)]
    for p in extra:
        if "[" in p.type or p.type == "...":
            raise CompileError(f"parameter {p.name!r} of {f.name!r}: kprobe arguments must be scalars or pointers",
                               line=fd.line)
    call = f"{body}({', '.join(args)})"
    returns_void = _strip_text(f.spec_text) == "void"
    ret = f"{call}; return 0;" if returns_void else f"return {call};"
    return (f"SEC(__BCC_NOAUTO \"{section}\") int {entry_symbol(f.name, mode)}(void *ctx) "
            f"{{ {pre}{ret} }}\n")


def rewrite(
    text: str,
    *,
    filename: str = "<text>",
    kernel: KernelFacts | None = None,
    arch: str = "x86",
    modes: tuple[Mode, ...] = (Mode.SYSCALL_ENTER, Mode.SYSCALL_EXIT, Mode.FENTRY, Mode.FEXIT),
) -> RewriteResult:
    """Rewrite BCC C ``text`` into a C file for ``clang -target bpf`` (see the module docstring).

    ``kernel`` supplies tracefs formats and BTF facts; without it no tracepoint
    structs are generated and no dereference is rewritten.  ``arch`` is "x86"
    or "arm64" (register names of BCC's kprobe arguments).  ``modes`` are the
    kprobe fallbacks to generate copies for (default: all).
    """
    if arch not in _ARCH_REGS:
        raise ValueError(f"unsupported architecture {arch!r} (x86 or arm64)")
    rw = _Rewriter(text, filename, kernel, arch)
    rw.scan()
    rw.classify()
    tk = rw.tk

    # tracepoint structs: for TRACEPOINT_PROBE and any 'struct tracepoint__cat__ev' the text names
    wanted: list[tuple[str, str]] = []
    for f in rw.funcs:
        if f.macro == "TRACEPOINT_PROBE" and len(f.macro_args) == 2:
            wanted.append((f.macro_args[0], f.macro_args[1]))
    for i, tok in enumerate(tk.t):
        if tok.kind == Kind.IDENT and tok.text.startswith("tracepoint__") and tk.text(tk.prev_sig(i)) == "struct":
            cat, sep, ev = tok.text[len("tracepoint__"):].partition("__")
            if sep and cat and ev:
                wanted.append((cat, ev))
    structs: list[str] = []
    for cat, ev in dict.fromkeys(wanted):
        fmt = kernel.tracepoint_format(cat, ev) if kernel is not None else None
        if fmt is None:
            if kernel is not None:
                raise CompileError(f"tracepoint {cat}:{ev} does not exist on this kernel (no tracefs format)",
                                   filename=filename)
            continue
        assert kernel is not None
        structs.append(tracepoint_struct(cat, ev, fmt, functools.partial(kernel.has_type, "typedef")))
        rw.tracepoints.append((cat, ev))

    # BPF versions of the kernel inline functions the program calls but does not define
    defined = {f.name for f in rw.funcs} | set(re.findall(r"#\s*define\s+(\w+)", rw.defines_text))
    called = {tok.text for i, tok in enumerate(tk.t) if tok.kind == Kind.IDENT and tok.text in KERNEL_INLINES
              and tk.text(tk.sig(i + 1)) == "("}
    structs += [KERNEL_INLINES[n] + "\n" for n in sorted(called - defined)]

    # the user's text (base copy)
    functions: dict[str, FunctionDecl] = {}
    out: list[str] = []
    i = 0
    func_by_lo = rw.func_at
    while i < tk.n:
        if i in rw.map_items:
            end, decl = rw.map_items[i]
            decl.key_type = rw.rename_types(decl.key_type)
            decl.leaf_type = rw.rename_types(decl.leaf_type)
            out.append(_pad_lines(tk.raw(i, end), map_definition(decl)))
            i = end
            continue
        here = func_by_lo.get(i)
        if here is not None:
            here.spec_text = rw._spec_text(here, None) if not here.macro else "int"
            out.append(rw.function_text(here, Mode.KPROBE, {}))
            i = here.body_hi + 1
            continue
        j = i
        nxt = min([k for k in list(rw.map_items) + list(func_by_lo) if k > i], default=tk.n)
        out.append(rw.emit(j, nxt, None))
        i = nxt

    programs = [f for f in rw.funcs if f.kind == FuncKind.PROGRAM]
    epilogue: list[str] = []
    for f in rw.funcs:
        if f.kind == FuncKind.FIXED:
            d = rw.fixed_decl(f)
            functions[d.name] = d
    for f in programs:
        first = f.params[0].type if f.params else ""
        rec = _record_ptr(first)
        if f.name.startswith("kretprobe__"):
            section = "kretprobe"
        elif rec is not None and rec[1] in _SECTION_BY_CTX:
            section = _SECTION_BY_CTX[rec[1]]
        else:
            section = "kprobe"
        syscall_conv = f.name.startswith(("syscall__", "kprobe____x64_sys_", "kprobe____arm64_sys_"))
        d = FunctionDecl(f.name, FuncKind.PROGRAM, tk.line(f.name_idx), f.params, section,
                         {Mode.KPROBE: f.name}, syscall_conv)
        f.decl = d
        functions[f.name] = d
        epilogue.append(rw.in_conditions(f, _wrapper(d, f, Mode.KPROBE, arch, syscall_conv)))

    sensitive = [f for f in programs if f.mode_sensitive]
    copies: list[str] = []
    if sensitive:
        helpers = [f for f in rw.funcs if f.kind == FuncKind.HELPER]
        for mode in modes:
            if mode is Mode.KPROBE:
                continue
            renames = {h.name: f"{h.name}__bcc_{mode.value}" for h in helpers}
            block = [f"/* ---- {mode.name.lower()} copies: PT_REGS_* read this context ---- */\n",
                     _mode_macros(mode, arch)]
            for f in helpers + sensitive:
                block.append(rw.in_conditions(f, rw.function_header(f, mode, renames) + ";\n"))
            for f in helpers + sensitive:
                block.append(rw.in_conditions(f, f'#line {tk.line(f.header_lo)} "{_c_string(filename)}"\n'
                                              + rw.function_text(f, mode, renames) + "\n"))
            block.append('#line 1 "<bpfkit.bcc generated>"\n')
            for f in sensitive:
                assert f.decl is not None
                block.append(rw.in_conditions(f, _wrapper(f.decl, f, mode, arch, f.decl.syscall_convention)))
                f.decl.symbols[mode] = entry_symbol(f.name, mode)
            copies.append("".join(block))

    source = "".join([
        "/* generated by bpfkit.bcc from a BCC program; do not edit */\n",
        '#include "vmlinux.h"\n',
        "#include <bpf/bpf_helpers.h>\n",
        "#include <bpf/bpf_tracing.h>\n",
        "#include <bpf/bpf_core_read.h>\n",
        "#include <bpf/bpf_endian.h>\n",
        '#include "bcc_compat.h"\n',
        '#include "bcc_kdefs.h"\n',
        *structs,
        f'#line 1 "{_c_string(filename)}"\n',
        "".join(out),
        '\n#line 1 "<bpfkit.bcc generated>"\n',
        "".join(epilogue),
        "".join(copies),
        "" if re.search(r'SEC\s*\(\s*"license"\s*\)', text) else 'char _license[] SEC("license") = BCC_LICENSE;\n',
    ])
    return RewriteResult(source, rw.maps, functions, rw.event_types, rw.tracepoints, rw.warnings)


def _c_string(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')
