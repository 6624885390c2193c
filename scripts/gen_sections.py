#!/usr/bin/env python3
"""Generate src/bpfkit/obj/_section_table.py: program section names -> program type.

The table below holds the facts of libbpf's SEC() naming convention (the
section_defs of libbpf's src/libbpf.c, v1.5 era), written out here as data:
which ELF section names select which program type and expected attach type,
which need a BTF attach target, which are sleepable, and which attach
automatically (and how). Rows are matched in order; the first match wins.

  match "exact": the section name must equal ``name``.
  match "plus":  ``name`` itself, or ``name/<target>``; <target> is the attach target.

Flags: attach_optional (drop the expected attach type on kernels that reject it),
attach_btf (needs a BTF id of its target at load), sleepable (BPF_F_SLEEPABLE),
xdp_frags (BPF_F_XDP_HAS_FRAGS), usdt (USDT probe; uprobe_multi when the kernel has it).

--check regenerates the file in memory, compares it with the checked-in one,
and verifies that every program and attach type named exists in bpfkit._uapi.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _generated import write_or_check

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "bpfkit" / "obj" / "_section_table.py"

AO = ("attach_optional",)
BTF = ("attach_btf",)
SL = ("sleepable",)
BTF_SL = ("attach_btf", "sleepable")
FRAGS = ("xdp_frags",)
NONE: tuple[str, ...] = ()

# (name, match, program type, expected attach type or None, flags, auto-attach family or None)
TABLE: list[tuple[str, str, str, str | None, tuple[str, ...], str | None]] = [
    ("socket", "exact", "SOCKET_FILTER", None, NONE, None),
    ("sk_reuseport/migrate", "exact", "SK_REUSEPORT", "SK_REUSEPORT_SELECT_OR_MIGRATE", NONE, None),
    ("sk_reuseport", "exact", "SK_REUSEPORT", "SK_REUSEPORT_SELECT", NONE, None),
    ("kprobe", "plus", "KPROBE", None, NONE, "kprobe"),
    ("uprobe", "plus", "KPROBE", None, NONE, "uprobe"),
    ("uprobe.s", "plus", "KPROBE", None, SL, "uprobe"),
    ("kretprobe", "plus", "KPROBE", None, NONE, "kprobe"),
    ("uretprobe", "plus", "KPROBE", None, NONE, "uprobe"),
    ("uretprobe.s", "plus", "KPROBE", None, SL, "uprobe"),
    ("kprobe.multi", "plus", "KPROBE", "TRACE_KPROBE_MULTI", NONE, "kprobe_multi"),
    ("kretprobe.multi", "plus", "KPROBE", "TRACE_KPROBE_MULTI", NONE, "kprobe_multi"),
    ("kprobe.session", "plus", "KPROBE", "TRACE_KPROBE_SESSION", NONE, "kprobe_session"),
    ("uprobe.multi", "plus", "KPROBE", "TRACE_UPROBE_MULTI", NONE, "uprobe_multi"),
    ("uretprobe.multi", "plus", "KPROBE", "TRACE_UPROBE_MULTI", NONE, "uprobe_multi"),
    ("uprobe.session", "plus", "KPROBE", "TRACE_UPROBE_SESSION", NONE, "uprobe_multi"),
    ("uprobe.multi.s", "plus", "KPROBE", "TRACE_UPROBE_MULTI", SL, "uprobe_multi"),
    ("uretprobe.multi.s", "plus", "KPROBE", "TRACE_UPROBE_MULTI", SL, "uprobe_multi"),
    ("uprobe.session.s", "plus", "KPROBE", "TRACE_UPROBE_SESSION", SL, "uprobe_multi"),
    ("ksyscall", "plus", "KPROBE", None, NONE, "ksyscall"),
    ("kretsyscall", "plus", "KPROBE", None, NONE, "ksyscall"),
    ("usdt", "plus", "KPROBE", None, ("usdt",), "usdt"),
    ("usdt.s", "plus", "KPROBE", None, ("usdt", "sleepable"), "usdt"),
    ("tc/ingress", "exact", "SCHED_CLS", "TCX_INGRESS", NONE, None),
    ("tc/egress", "exact", "SCHED_CLS", "TCX_EGRESS", NONE, None),
    ("tcx/ingress", "exact", "SCHED_CLS", "TCX_INGRESS", NONE, None),
    ("tcx/egress", "exact", "SCHED_CLS", "TCX_EGRESS", NONE, None),
    ("tc", "exact", "SCHED_CLS", None, NONE, None),
    ("classifier", "exact", "SCHED_CLS", None, NONE, None),
    ("action", "exact", "SCHED_ACT", None, NONE, None),
    ("netkit/primary", "exact", "SCHED_CLS", "NETKIT_PRIMARY", NONE, None),
    ("netkit/peer", "exact", "SCHED_CLS", "NETKIT_PEER", NONE, None),
    ("tracepoint", "plus", "TRACEPOINT", None, NONE, "tracepoint"),
    ("tp", "plus", "TRACEPOINT", None, NONE, "tracepoint"),
    ("tracepoint.s", "plus", "TRACEPOINT", None, SL, "tracepoint"),
    ("tp.s", "plus", "TRACEPOINT", None, SL, "tracepoint"),
    ("raw_tracepoint", "plus", "RAW_TRACEPOINT", None, NONE, "raw_tracepoint"),
    ("raw_tp", "plus", "RAW_TRACEPOINT", None, NONE, "raw_tracepoint"),
    ("raw_tracepoint.s", "plus", "RAW_TRACEPOINT", None, SL, "raw_tracepoint"),
    ("raw_tp.s", "plus", "RAW_TRACEPOINT", None, SL, "raw_tracepoint"),
    ("raw_tracepoint.w", "plus", "RAW_TRACEPOINT_WRITABLE", None, NONE, "raw_tracepoint"),
    ("raw_tp.w", "plus", "RAW_TRACEPOINT_WRITABLE", None, NONE, "raw_tracepoint"),
    ("tp_btf", "plus", "TRACING", "TRACE_RAW_TP", BTF, "tracing"),
    ("tp_btf.s", "plus", "TRACING", "TRACE_RAW_TP", BTF_SL, "tracing"),
    ("fentry", "plus", "TRACING", "TRACE_FENTRY", BTF, "tracing"),
    ("fmod_ret", "plus", "TRACING", "MODIFY_RETURN", BTF, "tracing"),
    ("fexit", "plus", "TRACING", "TRACE_FEXIT", BTF, "tracing"),
    ("fentry.s", "plus", "TRACING", "TRACE_FENTRY", BTF_SL, "tracing"),
    ("fmod_ret.s", "plus", "TRACING", "MODIFY_RETURN", BTF_SL, "tracing"),
    ("fexit.s", "plus", "TRACING", "TRACE_FEXIT", BTF_SL, "tracing"),
    ("freplace", "plus", "EXT", None, BTF, "ext"),
    ("lsm", "plus", "LSM", "LSM_MAC", BTF, "lsm"),
    ("lsm.s", "plus", "LSM", "LSM_MAC", BTF_SL, "lsm"),
    ("lsm_cgroup", "plus", "LSM", "LSM_CGROUP", BTF, None),
    ("iter", "plus", "TRACING", "TRACE_ITER", BTF, "iter"),
    ("iter.s", "plus", "TRACING", "TRACE_ITER", BTF_SL, "iter"),
    ("syscall", "exact", "SYSCALL", None, SL, None),
    ("xdp.frags/devmap", "exact", "XDP", "XDP_DEVMAP", FRAGS, None),
    ("xdp/devmap", "exact", "XDP", "XDP_DEVMAP", NONE, None),
    ("xdp.frags/cpumap", "exact", "XDP", "XDP_CPUMAP", FRAGS, None),
    ("xdp/cpumap", "exact", "XDP", "XDP_CPUMAP", NONE, None),
    ("xdp.frags", "exact", "XDP", "XDP", FRAGS, None),
    ("xdp", "exact", "XDP", "XDP", AO, None),
    ("perf_event", "exact", "PERF_EVENT", None, NONE, None),
    ("lwt_in", "exact", "LWT_IN", None, NONE, None),
    ("lwt_out", "exact", "LWT_OUT", None, NONE, None),
    ("lwt_xmit", "exact", "LWT_XMIT", None, NONE, None),
    ("lwt_seg6local", "exact", "LWT_SEG6LOCAL", None, NONE, None),
    ("sockops", "exact", "SOCK_OPS", "CGROUP_SOCK_OPS", AO, None),
    ("sk_skb/stream_parser", "exact", "SK_SKB", "SK_SKB_STREAM_PARSER", AO, None),
    ("sk_skb/stream_verdict", "exact", "SK_SKB", "SK_SKB_STREAM_VERDICT", AO, None),
    ("sk_skb/verdict", "exact", "SK_SKB", "SK_SKB_VERDICT", AO, None),
    ("sk_skb", "exact", "SK_SKB", None, NONE, None),
    ("sk_msg", "exact", "SK_MSG", "SK_MSG_VERDICT", AO, None),
    ("lirc_mode2", "exact", "LIRC_MODE2", "LIRC_MODE2", AO, None),
    ("flow_dissector", "exact", "FLOW_DISSECTOR", "FLOW_DISSECTOR", AO, None),
    ("cgroup_skb/ingress", "exact", "CGROUP_SKB", "CGROUP_INET_INGRESS", AO, None),
    ("cgroup_skb/egress", "exact", "CGROUP_SKB", "CGROUP_INET_EGRESS", AO, None),
    ("cgroup/skb", "exact", "CGROUP_SKB", None, NONE, None),
    ("cgroup/sock_create", "exact", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE", NONE, None),
    ("cgroup/sock_release", "exact", "CGROUP_SOCK", "CGROUP_INET_SOCK_RELEASE", NONE, None),
    ("cgroup/sock", "exact", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE", AO, None),
    ("cgroup/post_bind4", "exact", "CGROUP_SOCK", "CGROUP_INET4_POST_BIND", NONE, None),
    ("cgroup/post_bind6", "exact", "CGROUP_SOCK", "CGROUP_INET6_POST_BIND", NONE, None),
    ("cgroup/bind4", "exact", "CGROUP_SOCK_ADDR", "CGROUP_INET4_BIND", NONE, None),
    ("cgroup/bind6", "exact", "CGROUP_SOCK_ADDR", "CGROUP_INET6_BIND", NONE, None),
    ("cgroup/connect4", "exact", "CGROUP_SOCK_ADDR", "CGROUP_INET4_CONNECT", NONE, None),
    ("cgroup/connect6", "exact", "CGROUP_SOCK_ADDR", "CGROUP_INET6_CONNECT", NONE, None),
    ("cgroup/connect_unix", "exact", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_CONNECT", NONE, None),
    ("cgroup/sendmsg4", "exact", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_SENDMSG", NONE, None),
    ("cgroup/sendmsg6", "exact", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_SENDMSG", NONE, None),
    ("cgroup/sendmsg_unix", "exact", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_SENDMSG", NONE, None),
    ("cgroup/recvmsg4", "exact", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_RECVMSG", NONE, None),
    ("cgroup/recvmsg6", "exact", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_RECVMSG", NONE, None),
    ("cgroup/recvmsg_unix", "exact", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_RECVMSG", NONE, None),
    ("cgroup/getpeername4", "exact", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETPEERNAME", NONE, None),
    ("cgroup/getpeername6", "exact", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETPEERNAME", NONE, None),
    ("cgroup/getpeername_unix", "exact", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_GETPEERNAME", NONE, None),
    ("cgroup/getsockname4", "exact", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETSOCKNAME", NONE, None),
    ("cgroup/getsockname6", "exact", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETSOCKNAME", NONE, None),
    ("cgroup/getsockname_unix", "exact", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_GETSOCKNAME", NONE, None),
    ("cgroup/sysctl", "exact", "CGROUP_SYSCTL", "CGROUP_SYSCTL", NONE, None),
    ("cgroup/getsockopt", "exact", "CGROUP_SOCKOPT", "CGROUP_GETSOCKOPT", NONE, None),
    ("cgroup/setsockopt", "exact", "CGROUP_SOCKOPT", "CGROUP_SETSOCKOPT", NONE, None),
    ("cgroup/dev", "exact", "CGROUP_DEVICE", "CGROUP_DEVICE", AO, None),
    ("struct_ops", "plus", "STRUCT_OPS", None, NONE, None),
    ("struct_ops.s", "plus", "STRUCT_OPS", None, SL, None),
    ("sk_lookup", "exact", "SK_LOOKUP", "SK_LOOKUP", NONE, None),
    ("netfilter", "exact", "NETFILTER", "NETFILTER", NONE, None),
]

FLAGS = ("attach_optional", "attach_btf", "sleepable", "xdp_frags", "usdt")
FAMILIES = (
    "kprobe",
    "uprobe",
    "kprobe_multi",
    "kprobe_session",
    "uprobe_multi",
    "ksyscall",
    "usdt",
    "tracepoint",
    "raw_tracepoint",
    "tracing",
    "ext",
    "lsm",
    "iter",
)

HEADER = '''"""Program section names -> program type (libbpf's SEC() naming); generated, do not edit.

Written by scripts/gen_sections.py from its table; rows are matched in order.
Each row: (name, match, program type, expected attach type, flags, auto-attach family).
"""

from __future__ import annotations

SECTION_TABLE: tuple[tuple[str, str, str, str | None, tuple[str, ...], str | None], ...] = (
'''


def validate() -> list[str]:
    """Problems with the table: unknown enum names, flags, families, duplicate or shadowed rows."""
    sys.path.insert(0, str(ROOT / "src"))
    from bpfkit._uapi import AttachType, ProgType

    problems = []
    seen: set[str] = set()
    for name, match, ptype, atype, flags, family in TABLE:
        if name in seen:
            problems.append(f"{name}: listed twice")
        seen.add(name)
        if match not in ("exact", "plus"):
            problems.append(f"{name}: match {match!r} is neither 'exact' nor 'plus'")
        if ptype not in ProgType.__members__:
            problems.append(f"{name}: ProgType.{ptype} does not exist")
        if atype is not None and atype not in AttachType.__members__:
            problems.append(f"{name}: AttachType.{atype} does not exist")
        problems.extend(f"{name}: unknown flag {f!r}" for f in flags if f not in FLAGS)
        if family is not None and family not in FAMILIES:
            problems.append(f"{name}: unknown attach family {family!r}")
    return problems


def render() -> str:
    """The text of _section_table.py."""
    lines = [HEADER]
    for row in TABLE:
        lines.append(f"    {row!r},\n")
    lines.append(")\n")
    return "".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="verify the checked-in file instead of writing it")
    args = ap.parse_args()
    problems = validate()
    if problems:
        print("gen_sections: the table is inconsistent:\n  " + "\n  ".join(problems))
        return 1
    return write_or_check(OUT, render(), check=args.check, tool="gen_sections",
                          detail=f"{len(TABLE)} section definitions")


if __name__ == "__main__":
    sys.exit(main())
