#!/usr/bin/env python3
"""Generate src/bpfkit/_uapi/_generated.py and _generated_lazy.py from the kernel's own type information.

Enums come from the running kernel's BTF (/sys/kernel/btf/vmlinux, or --btf);
the few uapi constants that are #defines (and so absent from BTF) come from the
``DEFINES`` table below, cross-checked against /usr/include/linux/bpf.h when that
header defines them.

--check regenerates and compares with the checked-in file. When the host kernel
differs from the one the file was made from, it checks consistency instead:
every enumerator the host knows must have the same value in the file, and the
file may know more (it was generated on a newer kernel).

The enums in ``LAZY`` (not needed to load and attach an object) go to
_generated_lazy.py, which bpfkit._uapi imports on first use of one of them:
building an enum class costs import time (HelperId alone about 1 ms).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from bpfkit._registry import MAP_TYPES  # noqa: E402
from bpfkit.btf import Btf, Enum, Enum64  # noqa: E402

OUT = ROOT / "src" / "bpfkit" / "_uapi" / "_generated.py"
OUT_LAZY = OUT.with_name("_generated_lazy.py")

# classes written to OUT_LAZY; bpfkit._uapi lists the same names in _LAZY (a test checks they agree)
# (RingbufHeaderBits is not: a RingBuffer reader, what most tools start, reads records with it)
LAZY = frozenset({
    "HelperId", "StatsType", "PerfSwId", "PerfHwId", "PerfRecordType", "PerfSampleFormat", "XdpAction",
    "RingbufFlags", "PerfEventOutputFlags", "StackIdFlags", "LocalStorageFlags",
    "LinkCreateFlags", "UprobeMultiFlags", "AttachFlags", "TestRunFlags", "QueryFlags", "ObjFlags",
    "BtfLoadFlags", "TcAction", "XdpFlags",
})

# (class name, kind, source, prefix stripped, docstring)
#   source "enum:NAME" = the named enum; "anon:ENUMERATOR" = the enum that holds it.
ENUMS: list[tuple[str, str, str, str, str]] = [
    ("Cmd", "enum", "enum:bpf_cmd", "BPF_", "bpf(2) commands (enum bpf_cmd)."),
    ("MapType", "enum", "enum:bpf_map_type", "BPF_MAP_TYPE_", "Map types (enum bpf_map_type, BPF_MAP_TYPE_*)."),
    ("ProgType", "enum", "enum:bpf_prog_type", "BPF_PROG_TYPE_", "Program types (enum bpf_prog_type, BPF_PROG_TYPE_*)."),
    ("AttachType", "enum", "enum:bpf_attach_type", "BPF_", "Attach types (enum bpf_attach_type)."),
    ("LinkType", "enum", "enum:bpf_link_type", "BPF_LINK_TYPE_", "Link types (enum bpf_link_type)."),
    ("HelperId", "enum", "enum:bpf_func_id", "BPF_FUNC_", "Helper function ids (enum bpf_func_id, BPF_FUNC_*)."),
    ("CoreReloKind", "enum", "enum:bpf_core_relo_kind", "BPF_CORE_", "CO-RE relocation kinds (enum bpf_core_relo_kind)."),
    ("BtfKind", "enum", "anon:BTF_KIND_INT", "BTF_KIND_", "BTF kinds (BTF_KIND_*)."),
    ("StatsType", "enum", "enum:bpf_stats_type", "BPF_STATS_", "BPF_ENABLE_STATS types."),
    ("PerfType", "enum", "enum:perf_type_id", "PERF_TYPE_", "perf_event_attr.type (enum perf_type_id)."),
    ("PerfSwId", "enum", "enum:perf_sw_ids", "PERF_COUNT_SW_", "Software perf counters (enum perf_sw_ids)."),
    ("PerfHwId", "enum", "enum:perf_hw_id", "PERF_COUNT_HW_", "Hardware perf counters (enum perf_hw_id)."),
    ("PerfRecordType", "enum", "enum:perf_event_type", "PERF_RECORD_", "perf ring record types (enum perf_event_type)."),
    ("PerfSampleFormat", "flag", "enum:perf_event_sample_format", "PERF_SAMPLE_", "perf_event_attr.sample_type bits."),
    ("XdpAction", "enum", "enum:xdp_action", "XDP_", "XDP program return codes."),
    ("MapFlags", "flag", "anon:BPF_F_NO_PREALLOC", "BPF_F_", "BPF_MAP_CREATE map_flags (BPF_F_*)."),
    ("UpdateFlags", "flag", "anon:BPF_NOEXIST", "BPF_", "Element update flags: BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK."),
    ("RingbufFlags", "flag", "anon:BPF_RB_NO_WAKEUP", "BPF_RB_", "bpf_ringbuf_output/submit flags."),
    ("RingbufHeaderBits", "flag", "anon:BPF_RINGBUF_BUSY_BIT", "BPF_RINGBUF_", "Ring buffer record header bits and size."),
    ("PerfEventOutputFlags", "flag", "anon:BPF_F_CURRENT_CPU", "BPF_F_", "bpf_perf_event_output flags."),
    ("StackIdFlags", "flag", "anon:BPF_F_USER_STACK", "BPF_F_", "bpf_get_stackid/bpf_get_stack flags."),
    ("LocalStorageFlags", "flag", "anon:BPF_LOCAL_STORAGE_GET_F_CREATE", "BPF_LOCAL_STORAGE_GET_F_", "Local storage get flags."),
    ("LinkCreateFlags", "flag", "anon:BPF_F_KPROBE_MULTI_RETURN", "BPF_F_", "kprobe_multi link flags."),
    ("UprobeMultiFlags", "flag", "anon:BPF_F_UPROBE_MULTI_RETURN", "BPF_F_", "uprobe_multi link flags."),
]

# uapi #defines: (class, kind, prefix, [(NAME, value, min Linux)]). Values are ABI and never change.
DEFINES: list[tuple[str, str, str, str, list[tuple[str, int, str]]]] = [
    ("ProgFlags", "flag", "BPF_F_", "BPF_PROG_LOAD prog_flags.", [
        ("BPF_F_STRICT_ALIGNMENT", 1 << 0, "4.12"),
        ("BPF_F_ANY_ALIGNMENT", 1 << 1, "5.0"),
        ("BPF_F_TEST_RND_HI32", 1 << 2, "5.3"),
        ("BPF_F_TEST_STATE_FREQ", 1 << 3, "5.5"),
        ("BPF_F_SLEEPABLE", 1 << 4, "5.10"),
        ("BPF_F_XDP_HAS_FRAGS", 1 << 5, "5.18"),
        ("BPF_F_XDP_DEV_BOUND_ONLY", 1 << 6, "6.3"),
        ("BPF_F_TEST_REG_INVARIANTS", 1 << 7, "6.8"),
    ]),
    ("AttachFlags", "flag", "BPF_F_", "BPF_PROG_ATTACH / mprog attach flags.", [
        ("BPF_F_ALLOW_OVERRIDE", 1 << 0, "4.10"),
        ("BPF_F_ALLOW_MULTI", 1 << 1, "4.15"),
        ("BPF_F_REPLACE", 1 << 2, "5.6"),
        ("BPF_F_BEFORE", 1 << 3, "6.6"),
        ("BPF_F_AFTER", 1 << 4, "6.6"),
        ("BPF_F_ID", 1 << 5, "6.6"),
        ("BPF_F_LINK", 1 << 13, "6.6"),
    ]),
    ("TestRunFlags", "flag", "BPF_F_", "BPF_PROG_TEST_RUN flags.", [
        ("BPF_F_TEST_RUN_ON_CPU", 1 << 0, "5.10"),
        ("BPF_F_TEST_XDP_LIVE_FRAMES", 1 << 1, "5.18"),
        ("BPF_F_TEST_SKB_CHECKSUM_COMPLETE", 1 << 2, "6.11"),
    ]),
    ("QueryFlags", "flag", "BPF_F_", "BPF_PROG_QUERY flags.", [
        ("BPF_F_QUERY_EFFECTIVE", 1 << 0, "4.15"),
    ]),
    ("PseudoSrc", "enum", "BPF_PSEUDO_", "src_reg values of BPF_LD_IMM64 and BPF_CALL.", [
        ("BPF_PSEUDO_MAP_FD", 1, "3.19"),
        ("BPF_PSEUDO_MAP_VALUE", 2, "5.2"),
        ("BPF_PSEUDO_BTF_ID", 3, "5.10"),
        ("BPF_PSEUDO_FUNC", 4, "5.13"),
        ("BPF_PSEUDO_MAP_IDX", 5, "5.14"),
        ("BPF_PSEUDO_MAP_IDX_VALUE", 6, "5.14"),
    ]),
    ("ObjFlags", "flag", "BPF_F_", "File flags of BPF_OBJ_GET and BPF_*_GET_FD_BY_ID.", [
        ("BPF_F_RDONLY", 1 << 3, "4.15"),
        ("BPF_F_WRONLY", 1 << 4, "4.15"),
        ("BPF_F_PATH_FD", 1 << 14, "6.5"),
    ]),
    ("BtfLoadFlags", "flag", "BPF_F_", "BPF_BTF_LOAD flags.", [
        ("BPF_F_TOKEN_FD", 1 << 16, "6.9"),
    ]),
    ("PerfFlags", "flag", "PERF_FLAG_", "perf_event_open(2) flags.", [
        ("PERF_FLAG_FD_NO_GROUP", 1 << 0, "2.6.35"),
        ("PERF_FLAG_FD_OUTPUT", 1 << 1, "2.6.35"),
        ("PERF_FLAG_PID_CGROUP", 1 << 2, "2.6.39"),
        ("PERF_FLAG_FD_CLOEXEC", 1 << 3, "3.14"),
    ]),
    ("TcAction", "enum", "TC_ACT_", "tc program return codes (linux/pkt_cls.h).", [
        ("TC_ACT_UNSPEC", -1, "2.6"),
        ("TC_ACT_OK", 0, "2.6"),
        ("TC_ACT_RECLASSIFY", 1, "2.6"),
        ("TC_ACT_SHOT", 2, "2.6"),
        ("TC_ACT_PIPE", 3, "2.6"),
        ("TC_ACT_STOLEN", 4, "2.6"),
        ("TC_ACT_QUEUED", 5, "2.6"),
        ("TC_ACT_REPEAT", 6, "2.6"),
        ("TC_ACT_REDIRECT", 7, "4.0"),
        ("TC_ACT_TRAP", 8, "4.14"),
    ]),
    ("XdpFlags", "flag", "XDP_FLAGS_", "XDP attach flags (linux/if_link.h).", [
        ("XDP_FLAGS_UPDATE_IF_NOEXIST", 1 << 0, "4.12"),
        ("XDP_FLAGS_SKB_MODE", 1 << 1, "4.12"),
        ("XDP_FLAGS_DRV_MODE", 1 << 2, "4.13"),
        ("XDP_FLAGS_HW_MODE", 1 << 3, "4.13"),
        ("XDP_FLAGS_REPLACE", 1 << 4, "5.7"),
    ]),
]

# First Linux release with each map type: from the registry of per-type facts (bpfkit._registry);
# with each program type: the table below (for docstrings and NotSupportedError).
MAP_MIN_KERNEL = {f.name: f.since for f in MAP_TYPES if f.since is not None}
PROG_MIN_KERNEL = {
    "SOCKET_FILTER": "3.19", "KPROBE": "4.1", "SCHED_CLS": "4.1", "SCHED_ACT": "4.1",
    "TRACEPOINT": "4.7", "XDP": "4.8", "PERF_EVENT": "4.9", "CGROUP_SKB": "4.10",
    "CGROUP_SOCK": "4.10", "LWT_IN": "4.10", "LWT_OUT": "4.10", "LWT_XMIT": "4.10",
    "SOCK_OPS": "4.13", "SK_SKB": "4.14", "CGROUP_DEVICE": "4.15", "SK_MSG": "4.17",
    "RAW_TRACEPOINT": "4.17", "CGROUP_SOCK_ADDR": "4.17", "LWT_SEG6LOCAL": "4.18",
    "LIRC_MODE2": "4.18", "SK_REUSEPORT": "4.19", "FLOW_DISSECTOR": "4.20",
    "CGROUP_SYSCTL": "5.2", "RAW_TRACEPOINT_WRITABLE": "5.2", "CGROUP_SOCKOPT": "5.3",
    "TRACING": "5.5", "STRUCT_OPS": "5.6", "EXT": "5.6", "LSM": "5.7", "SK_LOOKUP": "5.9",
    "SYSCALL": "5.14", "NETFILTER": "6.4",
}

HEADER = '''"""Kernel uapi enums and constants{what}. GENERATED by scripts/gen_uapi.py: do not edit.

Source: BTF of Linux {release} plus the uapi #define table of the generator.
"""

# ruff: noqa: E501
from __future__ import annotations

from ._base import register_prefix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._base import UapiFlag, UapiIntEnum
else:  # stand-ins whose class statements return the enum make_enum builds: half the import time (issue 18)
    from ._base import EnumBodyFlag as UapiFlag
    from ._base import EnumBodyInt as UapiIntEnum

GENERATED_FROM = {release!r}
'''


def load_btf(path: str) -> Btf:
    with open(path, "rb") as f:
        return Btf.from_bytes(f.read())


def collect(btf: Btf) -> dict[str, list[tuple[str, int]]]:
    """Map each ENUMS source to its enumerators."""
    named: dict[str, list[tuple[str, int]]] = {}
    by_member: dict[str, list[tuple[str, int]]] = {}
    for _tid, t in btf.items():
        if isinstance(t, (Enum, Enum64)):
            vals = [(v.name, v.value) for v in t.values]
            if t.name:
                named.setdefault(t.name, vals)
            else:
                for n, _ in vals:
                    by_member.setdefault(n, vals)
    out: dict[str, list[tuple[str, int]]] = {}
    for cls, _kind, source, _prefix, _doc in ENUMS:
        how, _, what = source.partition(":")
        vals = named.get(what) if how == "enum" else by_member.get(what)
        if vals is None:
            raise SystemExit(f"gen_uapi: {source} not found in BTF (for {cls})")
        out[cls] = vals
    return out


def header_defines(path: str) -> dict[str, int]:
    """#define NAME value (decimal, hex or shift) of a uapi header, if present."""
    result: dict[str, int] = {}
    if not os.path.exists(path):
        return result
    pat = re.compile(r"^#define\s+(\w+)\s+\(?\s*(\(?1U?\s*<<\s*\d+\)?|0x[0-9a-fA-F]+|-?\d+)U?\s*\)?\s*(/\*.*)?$")
    with open(path) as f:
        for line in f:
            m = pat.match(line.strip())
            if m:
                expr = m.group(2).replace("U", "").replace("(", "").replace(")", "")
                try:
                    result[m.group(1)] = int(eval(expr, {"__builtins__": {}}))
                except (SyntaxError, ValueError):
                    continue
    return result


def py_name(name: str, prefix: str) -> str:
    short = name[len(prefix):] if name.startswith(prefix) else name
    if short[:1].isdigit():
        short = "_" + short
    return short


def render(release: str, enums: dict[str, list[tuple[str, int]]], header: dict[str, int]) -> tuple[str, str]:
    """The texts of OUT and OUT_LAZY."""
    main = [HEADER.format(release=release, what="")]
    lazy = [HEADER.format(release=release, what=" not needed to load an object (imported on first use)")]
    prefixes: list[tuple[str, str]] = []
    lazy_prefixes: list[tuple[str, str]] = []
    for cls, kind, _source, prefix, doc in ENUMS:
        base = "UapiFlag" if kind == "flag" else "UapiIntEnum"
        out = lazy if cls in LAZY else main
        out.append(f"\n\nclass {cls}({base}):\n    \"\"\"{doc}\"\"\"\n\n")
        (lazy_prefixes if cls in LAZY else prefixes).append((cls, prefix))
        seen: set[str] = set()
        for name, value in enums[cls]:
            if not name.startswith(prefix) or name.startswith("__"):
                continue
            member = py_name(name, prefix)
            if member == "MAX" or member.endswith("_MAX") or member.startswith("MAX_"):
                continue
            if member in seen:
                continue
            seen.add(member)
            comment = ""
            if cls == "MapType" and member in MAP_MIN_KERNEL:
                comment = f"  # {name}, Linux {MAP_MIN_KERNEL[member]}"
            elif cls == "ProgType" and member in PROG_MIN_KERNEL:
                comment = f"  # {name}, Linux {PROG_MIN_KERNEL[member]}"
            out.append(f"    {member} = {value}{comment}\n")
    for cls, kind, prefix, doc, entries in DEFINES:
        base = "UapiFlag" if kind == "flag" else "UapiIntEnum"
        out = lazy if cls in LAZY else main
        out.append(f"\n\nclass {cls}({base}):\n    \"\"\"{doc}\"\"\"\n\n")
        (lazy_prefixes if cls in LAZY else prefixes).append((cls, prefix))
        for name, value, since in entries:
            if name in header and header[name] != value:
                raise SystemExit(f"gen_uapi: {name} is {header[name]} in the uapi header, {value} in DEFINES")
            out.append(f"    {py_name(name, prefix)} = {value}  # {name}, Linux {since}\n")
    for out, regs in ((lazy, lazy_prefixes), (main, prefixes)):
        out.append("\n\n")
        for cls, prefix in regs:
            out.append(f"register_prefix({cls}, {prefix!r})\n")
    out = main
    out.append("\n\nMAP_MIN_KERNEL: dict[str, str] = {\n")
    for k, v in MAP_MIN_KERNEL.items():
        out.append(f"    {k!r}: {v!r},\n")
    out.append("}\n\nPROG_MIN_KERNEL: dict[str, str] = {\n")
    for k, v in PROG_MIN_KERNEL.items():
        out.append(f"    {k!r}: {v!r},\n")
    out.append("}\n")
    return "".join(main), "".join(lazy)


def parse_generated(text: str) -> dict[str, dict[str, int]]:
    """Class -> member -> value of a generated file (for --check across kernels)."""
    result: dict[str, dict[str, int]] = {}
    cls = None
    for line in text.splitlines():
        m = re.match(r"^class (\w+)\(", line)
        if m:
            cls = m.group(1)
            result[cls] = {}
            continue
        m = re.match(r"^    (\w+) = (-?\d+)", line)
        if m and cls is not None:
            result[cls][m.group(1)] = int(m.group(2))
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--btf", default="/sys/kernel/btf/vmlinux")
    ap.add_argument("--header", default="/usr/include/linux/bpf.h")
    ap.add_argument("--release", default=os.uname().release)
    ap.add_argument("--check", action="store_true", help="verify the checked-in file instead of writing it")
    args = ap.parse_args()
    btf = load_btf(args.btf)
    enums = collect(btf)
    texts = render(args.release, enums, header_defines(args.header))
    if not args.check:
        for path, text in zip((OUT, OUT_LAZY), texts, strict=True):
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)} from Linux {args.release}")
        return 0
    currents = tuple(p.read_text() if p.exists() else "" for p in (OUT, OUT_LAZY))
    if currents == texts:
        print(f"gen_uapi --check: {OUT.relative_to(ROOT)} and {OUT_LAZY.name} are up to date (Linux {args.release})")
        return 0
    current, text = "".join(currents), "".join(texts)
    m = re.search(r"GENERATED_FROM = '([^']*)'", current)
    made_from = m.group(1) if m else "?"
    if made_from == args.release:
        print(f"gen_uapi --check: {OUT.relative_to(ROOT)} or {OUT_LAZY.name} differs from what Linux {args.release} generates;"
              " rerun scripts/gen_uapi.py")
        return 1
    have, want = parse_generated(current), parse_generated(text)
    problems = []
    for cls, members in want.items():
        for name, value in members.items():
            got = have.get(cls, {}).get(name)
            if got is None:
                problems.append(f"{cls}.{name} (= {value}) is missing; the host kernel is newer than {made_from}")
            elif got != value:
                problems.append(f"{cls}.{name} is {got} in the file but {value} on this kernel")
    if problems:
        print("gen_uapi --check:\n  " + "\n  ".join(problems))
        return 1
    print(f"gen_uapi --check: consistent with Linux {args.release} (file made from {made_from})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
