"""BCC's map macros and their defaults, as BTF-defined libbpf maps (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MapMacroError

__all__ = ["MAP_MACROS", "MapDecl", "map_decl", "map_definition"]

# BPF_TABLE type strings -> kernel map type names (MapType members)
TABLE_TYPES = {
    "hash": "HASH",
    "array": "ARRAY",
    "prog": "PROG_ARRAY",
    "perf_output": "PERF_EVENT_ARRAY",
    "perf_array": "PERF_EVENT_ARRAY",
    "percpu_hash": "PERCPU_HASH",
    "percpu_array": "PERCPU_ARRAY",
    "stacktrace": "STACK_TRACE",
    "cgroup_array": "CGROUP_ARRAY",
    "lru_hash": "LRU_HASH",
    "lru_percpu_hash": "LRU_PERCPU_HASH",
    "lpm_trie": "LPM_TRIE",
    "devmap": "DEVMAP",
    "sockmap": "SOCKMAP",
    "cpumap": "CPUMAP",
    "xskmap": "XSKMAP",
    "sockhash": "SOCKHASH",
    "queue": "QUEUE",
    "stack": "STACK",
    "ringbuf": "RINGBUF",
    "sk_storage": "SK_STORAGE",
    "inode_storage": "INODE_STORAGE",
    "task_storage": "TASK_STORAGE",
}

# Map types the kernel creates without BTF key/value types: defined by sizes only.
SIZED_TYPES = {"PERF_EVENT_ARRAY", "PROG_ARRAY", "STACK_TRACE", "CGROUP_ARRAY", "DEVMAP", "CPUMAP", "XSKMAP",
               "SOCKMAP", "SOCKHASH", "QUEUE", "STACK"}
NO_KEY_TYPES = {"QUEUE", "STACK", "RINGBUF"}
HASH_LIKE = {"HASH", "LRU_HASH", "PERCPU_HASH", "LRU_PERCPU_HASH"}
ARRAY_LIKE = {"ARRAY", "PERCPU_ARRAY"}

MAP_MACROS = {
    "BPF_HASH", "BPF_LRU_HASH", "BPF_PERCPU_HASH", "BPF_LRU_PERCPU_HASH", "BPF_ARRAY", "BPF_PERCPU_ARRAY",
    "BPF_HISTOGRAM", "BPF_PERF_OUTPUT", "BPF_RINGBUF_OUTPUT", "BPF_PERF_ARRAY", "BPF_CGROUP_ARRAY", "BPF_PROG_ARRAY",
    "BPF_STACK_TRACE", "BPF_STACK_TRACE_BUILDID", "BPF_QUEUE", "BPF_STACK", "BPF_LPM_TRIE", "BPF_TABLE",
    "BPF_F_TABLE", "BPF_TABLE_PUBLIC", "BPF_TABLE_SHARED", "BPF_TABLE_PINNED", "BPF_DEVMAP", "BPF_CPUMAP",
    "BPF_XSKMAP", "BPF_SOCKMAP", "BPF_SOCKHASH", "BPF_SK_STORAGE", "BPF_INODE_STORAGE", "BPF_TASK_STORAGE",
    "BPF_ARRAY_OF_MAPS", "BPF_HASH_OF_MAPS", "BPF_CGROUP_STORAGE", "BPF_PERCPU_CGROUP_STORAGE",
}


@dataclass
class MapDecl:
    """One map of a BCC program: what its macro said, with BCC's defaults filled in."""

    name: str
    macro: str
    map_type: str  # a MapType member name
    key_type: str | None  # C type text (None: no key)
    leaf_type: str | None
    max_entries: str  # C expression
    flags: str = "0"
    line: int = 0

    @property
    def sized(self) -> bool:
        """Defined by key/value sizes (the kernel takes no BTF types for this map type)."""
        return self.map_type in SIZED_TYPES

    @property
    def key_typedef(self) -> str:
        """The typedef naming this map's key type in the generated C (and so in BTF)."""
        return f"__bcc_key_t__{self.name}"

    @property
    def leaf_typedef(self) -> str:
        """The typedef naming this map's value type in the generated C (and so in BTF)."""
        return f"__bcc_leaf_t__{self.name}"


def _need(args: list[str], lo: int, hi: int, macro: str, usage: str) -> None:
    if not lo <= len(args) <= hi:
        raise MapMacroError(f"{macro} takes {usage}, got {len(args)} argument(s)")


def map_decl(macro: str, args: list[str], line: int = 0) -> MapDecl:
    """Interpret one map macro call (arguments as C text) with BCC's defaults."""
    a = [x.strip() for x in args]
    if macro in ("BPF_HASH", "BPF_LRU_HASH", "BPF_PERCPU_HASH", "BPF_LRU_PERCPU_HASH", "BPF_LPM_TRIE"):
        _need(a, 1, 4, macro, "(name[, key_type[, leaf_type[, size]]])")
        mtype = {"BPF_HASH": "HASH", "BPF_LRU_HASH": "LRU_HASH", "BPF_PERCPU_HASH": "PERCPU_HASH",
                 "BPF_LRU_PERCPU_HASH": "LRU_PERCPU_HASH", "BPF_LPM_TRIE": "LPM_TRIE"}[macro]
        flags = "BPF_F_NO_PREALLOC" if mtype == "LPM_TRIE" else "0"
        return MapDecl(a[0], macro, mtype, _arg(a, 1, "u64"), _arg(a, 2, "u64"), _arg(a, 3, "10240"), flags, line)
    if macro in ("BPF_ARRAY", "BPF_PERCPU_ARRAY"):
        _need(a, 1, 3, macro, "(name[, leaf_type[, size]])")
        mtype = "ARRAY" if macro == "BPF_ARRAY" else "PERCPU_ARRAY"
        return MapDecl(a[0], macro, mtype, "int", _arg(a, 1, "u64"), _arg(a, 2, "10240"), "0", line)
    if macro == "BPF_HISTOGRAM":
        _need(a, 1, 3, macro, "(name[, key_type[, size]])")
        key = _arg(a, 1, "int")
        mtype = "ARRAY" if " ".join(key.split()) == "int" else "HASH"
        return MapDecl(a[0], macro, mtype, key, "u64", _arg(a, 2, "64"), "0", line)
    if macro == "BPF_PERF_OUTPUT":
        _need(a, 1, 1, macro, "(name)")
        return MapDecl(a[0], macro, "PERF_EVENT_ARRAY", "int", "u32", "__BCC_NR_CPUS", "0", line)
    if macro == "BPF_PERF_ARRAY":
        _need(a, 2, 2, macro, "(name, max_entries)")
        return MapDecl(a[0], macro, "PERF_EVENT_ARRAY", "int", "u32", a[1], "0", line)
    if macro == "BPF_CGROUP_ARRAY":
        _need(a, 2, 2, macro, "(name, max_entries)")
        return MapDecl(a[0], macro, "CGROUP_ARRAY", "int", "u32", a[1], "0", line)
    if macro == "BPF_RINGBUF_OUTPUT":
        _need(a, 2, 2, macro, "(name, page_cnt)")
        return MapDecl(a[0], macro, "RINGBUF", None, None, f"(({a[1]}) * __BCC_PAGE_SIZE)", "0", line)
    if macro == "BPF_PROG_ARRAY":
        _need(a, 2, 2, macro, "(name, max_entries)")
        return MapDecl(a[0], macro, "PROG_ARRAY", "u32", "u32", a[1], "0", line)
    if macro in ("BPF_STACK_TRACE", "BPF_STACK_TRACE_BUILDID"):
        _need(a, 2, 2, macro, "(name, max_entries)")
        if macro == "BPF_STACK_TRACE":
            return MapDecl(a[0], macro, "STACK_TRACE", "int", "struct bpf_stacktrace", a[1], "0", line)
        return MapDecl(a[0], macro, "STACK_TRACE", "int", "struct bpf_stacktrace_buildid", a[1],
                       "BPF_F_STACK_BUILD_ID", line)
    if macro in ("BPF_QUEUE", "BPF_STACK"):
        _need(a, 3, 4, macro, "(name, leaf_type, max_entries[, flags])")
        return MapDecl(a[0], macro, "QUEUE" if macro == "BPF_QUEUE" else "STACK", None, a[1], a[2], _arg(a, 3, "0"),
                       line)
    if macro in ("BPF_DEVMAP", "BPF_CPUMAP", "BPF_XSKMAP", "BPF_SOCKMAP"):
        _need(a, 2, 3 if macro == "BPF_XSKMAP" else 2, macro, "(name, max_entries)")
        if macro == "BPF_XSKMAP" and len(a) == 3:
            raise MapMacroError("BPF_XSKMAP with a pin path is not supported by bpfkit.bcc")
        mtype = {"BPF_DEVMAP": "DEVMAP", "BPF_CPUMAP": "CPUMAP", "BPF_XSKMAP": "XSKMAP", "BPF_SOCKMAP": "SOCKMAP"}[macro]
        key = "int" if mtype == "SOCKMAP" else "u32"
        leaf = "int" if mtype in ("DEVMAP", "SOCKMAP", "XSKMAP") else "u32"
        return MapDecl(a[0], macro, mtype, key, leaf, a[1], "0", line)
    if macro == "BPF_SOCKHASH":
        _need(a, 1, 3, macro, "(name[, key_type[, max_entries]])")
        return MapDecl(a[0], macro, "SOCKHASH", _arg(a, 1, "u32"), "int", _arg(a, 2, "10240"), "0", line)
    if macro in ("BPF_SK_STORAGE", "BPF_INODE_STORAGE", "BPF_TASK_STORAGE"):
        _need(a, 2, 2, macro, "(name, leaf_type)")
        mtype = {"BPF_SK_STORAGE": "SK_STORAGE", "BPF_INODE_STORAGE": "INODE_STORAGE",
                 "BPF_TASK_STORAGE": "TASK_STORAGE"}[macro]
        return MapDecl(a[0], macro, mtype, "int", a[1], "0", "BPF_F_NO_PREALLOC", line)
    if macro in ("BPF_TABLE", "BPF_TABLE_PUBLIC", "BPF_F_TABLE", "BPF_TABLE_SHARED"):
        flagged = macro == "BPF_F_TABLE" or (macro == "BPF_TABLE_SHARED" and len(a) == 6)
        _need(a, 6 if flagged else 5, 6 if flagged else 5, macro,
              "(type, key_type, leaf_type, name, max_entries" + (", flags)" if flagged else ")"))
        tstr = a[0].strip()
        if not (tstr.startswith('"') and tstr.endswith('"')):
            raise MapMacroError(f"{macro}: the table type must be a string literal such as \"hash\", got {a[0]}")
        tname = tstr[1:-1]
        if ":" in tname:
            raise MapMacroError(f"{macro}: pinned tables ({tname!r}) are not supported by bpfkit.bcc")
        if tname == "histogram":
            mtype = "ARRAY" if " ".join(a[1].split()) == "int" else "HASH"
        elif tname in ("extern", "array_of_maps", "hash_of_maps"):
            raise MapMacroError(f"{macro}: {tname!r} tables are not supported by bpfkit.bcc")
        else:
            try:
                mtype = TABLE_TYPES[tname]
            except KeyError:
                raise MapMacroError(f"{macro}: unknown table type {tname!r}") from None
        tkey: str | None = None if mtype in NO_KEY_TYPES else a[1]
        return MapDecl(a[3], macro, mtype, tkey, a[2], a[4], a[5] if flagged else "0", line)
    if macro == "BPF_TABLE_PINNED":
        raise MapMacroError("BPF_TABLE_PINNED is not supported by bpfkit.bcc (pin the map from Python instead)")
    raise MapMacroError(f"{macro} is not supported by bpfkit.bcc")


def _arg(a: list[str], i: int, default: str) -> str:
    return a[i] if len(a) > i and a[i] else default


def map_definition(m: MapDecl) -> str:
    """One line of C: typedefs for key and value, then the BTF-defined map (without the final ';')."""
    parts: list[str] = []
    if m.key_type is not None:
        parts.append(f"typedef {m.key_type} {m.key_typedef};")
    if m.leaf_type is not None:
        parts.append(f"typedef {m.leaf_type} {m.leaf_typedef};")
    body = [f"__uint(type, BPF_MAP_TYPE_{m.map_type});"]
    if m.map_type == "RINGBUF":
        pass
    elif m.sized:
        if m.key_type is not None:
            body.append(f"__uint(key_size, sizeof({m.key_typedef}));")
        body.append(f"__uint(value_size, sizeof({m.leaf_typedef}));")
    else:
        body.append(f"__type(key, {m.key_typedef});")
        body.append(f"__type(value, {m.leaf_typedef});")
    body.append(f"__uint(max_entries, {m.max_entries});")
    if m.flags.strip() not in ("", "0"):
        body.append(f"__uint(map_flags, {m.flags});")
    parts.append("struct { " + " ".join(body) + f" }} {m.name} SEC(\".maps\")")
    return " ".join(parts)
