"""The one table of per-type facts: map types and attach families.

Every part of bpfkit that needs a fact about a map type (which class wraps it,
its fixed or default sizes, what its values hold, whether the kernel takes BTF
for it, the first Linux that has it, how the feature probe creates one) or about
an attach family (which function attaches a program of that section family)
reads it here: the maps package (class lookup, create defaults), the loader
(collection.py: BTF and value codecs), the feature probes (features.py) and
scripts/gen_uapi.py (the minimum kernels in the generated enum docs) and
scripts/gen_exports.py (the public re-exports of the map classes).

Pure data: no import of the kernel layer, and keyed by the kernel's names (the
``BPF_MAP_TYPE_`` suffix) so that the generators can read it before the uapi
enums exist. Adding a map type: a row here, its class in ``maps/_<module>.py``,
then ``scripts/gen_exports.py`` (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import functools

from ._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal
    ValueKind = Literal["data", "percpu", "fd", "none"]
    ProbeNeeds = Literal["", "inner_map", "storage_btf", "struct_ops"]

__all__ = ["ATTACH_FAMILIES", "MAP_TYPES", "PROG_TYPE_FAMILIES", "AttachFamily", "MapTypeFacts", "facts_of", "map_facts"]


@record(frozen=True, slots=True)
class MapTypeFacts:
    """What bpfkit knows about one map type (``BPF_MAP_TYPE_<name>``)."""

    name: str
    """The kernel's name without ``BPF_MAP_TYPE_`` (``"HASH"``)."""
    since: str | None
    """First Linux release with the type (None: not established). RHASH: 7.2 is the oldest release checked to
    have it (the kernel matrix's 7.x); it may have come a release or two earlier."""
    module: str | None = None
    """Module of :mod:`bpfkit.maps` holding the class (None: no class, a plain :class:`Map`)."""
    cls: str | None = None
    """Name of the class in ``module``; the class lists the type in ``map_types``."""
    key_size: int | None = None
    """Key size when the type fixes it (or the default :meth:`Map.create` uses); None: the caller's."""
    value_size: int | None = None
    """Value size when the type fixes it (or the default); None: the caller's."""
    max_entries: int | None = None
    """max_entries when the type fixes it (0 for storage maps); None: the caller's."""
    flags: tuple[str, ...] = ()
    """MapFlags names the kernel requires on create (``"NO_PREALLOC"``)."""
    value: ValueKind = "data"
    """What a value is: data, one data per possible CPU, an fd/id of another object, or no elements."""
    btf: bool = True
    """Whether the kernel takes (and does not ignore) key/value BTF: objects' maps of other types are created
    without it."""
    probe: tuple[int, int, int | Literal["page"]] = (4, 4, 1)
    """key_size, value_size, max_entries the feature probe creates the type with (``"page"``: the page size)."""
    probe_needs: ProbeNeeds = ""
    """What else the probe needs: an inner map, BTF for a local storage value, or a struct_ops type id."""


_ = MapTypeFacts
MAP_TYPES: tuple[MapTypeFacts, ...] = (
    _("HASH", "3.19", "_hash", "HashMap"),
    _("ARRAY", "3.19", "_array", "ArrayMap", key_size=4),
    _("PROG_ARRAY", "4.2", "_prog_array", "ProgArrayMap", 4, 4, value="fd", btf=False),
    _("PERF_EVENT_ARRAY", "4.3", "_perf_event_array", "PerfEventArrayMap", 4, 4, value="fd", btf=False),
    _("PERCPU_HASH", "4.6", "_percpu", "PerCpuHashMap", value="percpu"),
    _("PERCPU_ARRAY", "4.6", "_percpu", "PerCpuArrayMap", key_size=4, value="percpu"),
    _("STACK_TRACE", "4.6", "_stack_trace", "StackTraceMap", 4, 8 * 127, btf=False, probe=(4, 8, 1)),
    _("CGROUP_ARRAY", "4.8", "_cgroup_array", "CgroupArrayMap", 4, 4, value="fd", btf=False),
    _("LRU_HASH", "4.10", "_hash", "LruHashMap"),
    _("LRU_PERCPU_HASH", "4.10", "_percpu", "LruPerCpuHashMap", value="percpu"),
    _("LPM_TRIE", "4.11", "_lpm", "LpmTrieMap", flags=("NO_PREALLOC",), probe=(8, 8, 1)),
    _("ARRAY_OF_MAPS", "4.12", "_of_maps", "ArrayOfMapsMap", 4, 4, value="fd", btf=False, probe_needs="inner_map"),
    _("HASH_OF_MAPS", "4.12", "_of_maps", "HashOfMapsMap", value_size=4, value="fd", btf=False,
      probe_needs="inner_map"),
    _("DEVMAP", "4.14", "_net", "DevMap", 4, 4, value="fd", btf=False),
    _("SOCKMAP", "4.14", "_net", "SockMap", 4, 8, value="fd", btf=False),
    _("CPUMAP", "4.15", "_net", "CpuMap", 4, 4, value="fd", btf=False),
    _("XSKMAP", "4.18", "_net", "XskMap", 4, 4, value="fd", btf=False),
    _("SOCKHASH", "4.18", "_net", "SockHash", value_size=8, value="fd", btf=False),
    _("CGROUP_STORAGE_DEPRECATED", "4.19"),
    _("CGROUP_STORAGE", "4.19", "_storage", "CgroupStorageMap", key_size=16, max_entries=0, probe=(16, 8, 0)),
    _("REUSEPORT_SOCKARRAY", "4.19", "_net", "ReuseportSockArray", 4, 8),
    _("PERCPU_CGROUP_STORAGE_DEPRECATED", "4.20"),
    _("PERCPU_CGROUP_STORAGE", "4.20", "_storage", "PerCpuCgroupStorageMap", key_size=16, max_entries=0,
      value="percpu", probe=(16, 8, 0)),
    _("QUEUE", "4.20", "_queue", "QueueMap", key_size=0, btf=False, probe=(0, 4, 1)),
    _("STACK", "4.20", "_queue", "StackMap", key_size=0, btf=False, probe=(0, 4, 1)),
    _("SK_STORAGE", "5.2", "_storage", "SkStorageMap", key_size=4, max_entries=0, flags=("NO_PREALLOC",),
      probe=(4, 4, 0), probe_needs="storage_btf"),
    _("DEVMAP_HASH", "5.4", "_net", "DevMapHash", 4, 4, value="fd", btf=False),
    _("STRUCT_OPS", "5.6", probe_needs="struct_ops"),
    _("RINGBUF", "5.8", "_ringbuf", "RingBufMap", 0, 0, value="none", btf=False, probe=(0, 0, "page")),
    _("INODE_STORAGE", "5.10", "_storage", "InodeStorageMap", key_size=4, max_entries=0, flags=("NO_PREALLOC",),
      probe=(4, 4, 0), probe_needs="storage_btf"),
    _("TASK_STORAGE", "5.11", "_storage", "TaskStorageMap", key_size=4, max_entries=0, flags=("NO_PREALLOC",),
      probe=(4, 4, 0), probe_needs="storage_btf"),
    _("BLOOM_FILTER", "5.16", "_bloom", "BloomFilterMap", key_size=0, btf=False, probe=(0, 4, 1)),
    _("USER_RINGBUF", "6.1", "_ringbuf", "UserRingBufMap", 0, 0, value="none", btf=False, probe=(0, 0, "page")),
    _("CGRP_STORAGE", "6.2", "_storage", "CgrpStorageMap", key_size=4, max_entries=0, flags=("NO_PREALLOC",),
      probe=(4, 4, 0), probe_needs="storage_btf"),
    _("ARENA", "6.9", "_arena", "ArenaMap", 0, 0, flags=("MMAPABLE",), value="none", probe=(0, 0, 1)),
    _("INSN_ARRAY", "6.19", "_insn_array", "InsnArrayMap", 4, 16, btf=False, probe=(4, 16, 1)),
    _("RHASH", "7.2", "_hash", "RHashMap", flags=("NO_PREALLOC",)),
)
"""Every map type bpfkit knows, in the kernel's order."""
del _

_BY_NAME = {f.name: f for f in MAP_TYPES}


def map_facts(name: str) -> MapTypeFacts | None:
    """The facts of map type ``name`` (the kernel's name without ``BPF_MAP_TYPE_``), None when unknown."""
    return _BY_NAME.get(name)


@functools.cache
def _by_value() -> dict[int, MapTypeFacts]:
    from ._uapi import MapType

    out: dict[int, MapTypeFacts] = {}
    for f in MAP_TYPES:
        member = MapType.__members__.get(f.name)
        if member is not None and (int(member) not in out or f.cls is not None):
            out[int(member)] = f  # of two names for one value (CGROUP_STORAGE_DEPRECATED) the one with a class
    return out


def facts_of(t: int) -> MapTypeFacts | None:
    """The facts of the map type numbered ``t`` (an int or a MapType), None when bpfkit has no row for it."""
    return _by_value().get(int(t))


@record(frozen=True, slots=True)
class AttachFamily:
    """How programs of one section family are attached by :meth:`Program.attach` / ``Collection.attach``."""

    module: str
    """Module of :mod:`bpfkit.links` holding ``function``."""
    function: str
    """``function(prog, where, options) -> Link``: attaches ``prog`` at ``where`` (the section's target or the
    caller's), with the caller's keyword arguments."""
    auto: str
    """What the section must name for an attach without arguments: ``"target"`` (any target), ``"always"``,
    ``"path:symbol"``, ``"path:provider:name"`` or ``"never"``."""
    probe: str | None = None
    """Name of a ``() -> bool`` in ``module`` telling whether the kernel has this kind of link; features.py
    offers it as the feature named after the family (``features.check("kprobe_multi")``)."""
    since: str | None = None
    """First Linux with the family's link (for a feature with ``probe``)."""
    label: str = ""
    """What the feature is called in messages (for a feature with ``probe``)."""
    config: tuple[str, ...] = ()
    """Kernel options the link needs, as /proc/config.gz names them (for the hint of a missing feature)."""


ATTACH_FAMILIES: dict[str, AttachFamily] = {
    "tracepoint": AttachFamily("_dispatch", "tracepoint", "target"),
    "raw_tracepoint": AttachFamily("_dispatch", "raw_tracepoint", "target"),
    "tracing": AttachFamily("_dispatch", "trampoline", "always"),
    "ext": AttachFamily("_dispatch", "trampoline", "never"),
    "lsm": AttachFamily("_dispatch", "trampoline", "always"),
    "iter": AttachFamily("_dispatch", "iterator", "always"),
    "kprobe": AttachFamily("_dispatch", "kprobe", "target"),
    "ksyscall": AttachFamily("_dispatch", "ksyscall", "target"),
    "uprobe": AttachFamily("_dispatch", "uprobe", "path:symbol"),
    "usdt": AttachFamily("_dispatch", "usdt", "path:provider:name"),
    "kprobe_multi": AttachFamily("_multi", "attach_kprobe_multi_section", "target", "kprobe_multi_support", "5.18",
                                 "kprobe.multi links", ("CONFIG_FPROBE",)),
    "kprobe_session": AttachFamily("_multi", "attach_kprobe_multi_section", "target"),
    "uprobe_multi": AttachFamily("_multi", "attach_uprobe_multi_section", "path:symbol", "uprobe_multi_support", "6.6",
                                 "uprobe.multi links", ("CONFIG_UPROBES",)),
    "xdp": AttachFamily("_dispatch", "xdp", "never"),
    "tc": AttachFamily("_dispatch", "tcx", "never"),
    "cgroup": AttachFamily("_dispatch", "cgroup", "never"),
    "socket_filter": AttachFamily("_dispatch", "socket_filter", "never"),
    "sockmap": AttachFamily("_dispatch", "sockmap", "never"),
    "netns": AttachFamily("_dispatch", "netns", "never"),
    "perf_event": AttachFamily("_dispatch", "perf_event", "never"),
    "netfilter": AttachFamily("_dispatch", "netfilter", "never"),
}
"""Section family (the last column of the section table, scripts/gen_sections.py) -> attach function."""

PROG_TYPE_FAMILIES: dict[str, str] = {
    "TRACEPOINT": "tracepoint",
    "RAW_TRACEPOINT": "raw_tracepoint",
    "RAW_TRACEPOINT_WRITABLE": "raw_tracepoint",
    "TRACING": "tracing",
    "LSM": "lsm",
    "EXT": "ext",
    "KPROBE": "kprobe",
    "XDP": "xdp",
    "SCHED_CLS": "tc",
    "SCHED_ACT": "tc",
    "CGROUP_SKB": "cgroup",
    "CGROUP_SOCK": "cgroup",
    "CGROUP_DEVICE": "cgroup",
    "CGROUP_SOCK_ADDR": "cgroup",
    "CGROUP_SYSCTL": "cgroup",
    "CGROUP_SOCKOPT": "cgroup",
    "SOCK_OPS": "cgroup",
    "SOCKET_FILTER": "socket_filter",
    "SK_MSG": "sockmap",
    "SK_SKB": "sockmap",
    "SK_LOOKUP": "netns",
    "FLOW_DISSECTOR": "netns",
    "PERF_EVENT": "perf_event",
    "NETFILTER": "netfilter",
}
"""Program type -> family, for a program whose section names none (loaded from instructions, or an
unknown or explicit-attach section)."""
