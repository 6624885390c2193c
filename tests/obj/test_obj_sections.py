"""The section table: libbpf's SEC() names -> program type, attach type, target, flags (pure)."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys
from pathlib import Path

import pytest

from bpfkit._uapi import AttachType, ProgFlags, ProgType
from bpfkit.obj import SECTION_DEFS, find_section_def, parse_section

ROOT = Path(__file__).resolve().parents[2]


def names_for(d):  # type: ignore[no-untyped-def]
    yield d.name
    if d.match == "plus":
        yield f"{d.name}/some/target"


def test_every_row_round_trips() -> None:
    """Each row's own name (and name/target for '+' rows) selects that very row."""
    assert len(SECTION_DEFS) > 90
    for d in SECTION_DEFS:
        for name in names_for(d):
            assert find_section_def(name) is d, name
            assert find_section_def("?" + name) is d, name
            ps = parse_section(name)
            assert ps.definition is d
            assert ps.target == ("some/target" if name != d.name else "")


def test_rows_are_unique() -> None:
    assert len({d.name for d in SECTION_DEFS}) == len(SECTION_DEFS)


@pytest.mark.parametrize(
    ("section", "ptype", "atype", "target"),
    [
        ("tp/sched/sched_process_exec", ProgType.TRACEPOINT, None, "sched/sched_process_exec"),
        ("tracepoint/syscalls/sys_enter_openat", ProgType.TRACEPOINT, None, "syscalls/sys_enter_openat"),
        ("raw_tp/sys_enter", ProgType.RAW_TRACEPOINT, None, "sys_enter"),
        ("raw_tracepoint.w/bpf_test_finish", ProgType.RAW_TRACEPOINT_WRITABLE, None, "bpf_test_finish"),
        ("tp_btf/sched_switch", ProgType.TRACING, AttachType.TRACE_RAW_TP, "sched_switch"),
        ("fentry/do_unlinkat", ProgType.TRACING, AttachType.TRACE_FENTRY, "do_unlinkat"),
        ("fexit/do_unlinkat", ProgType.TRACING, AttachType.TRACE_FEXIT, "do_unlinkat"),
        ("fmod_ret/security_file_open", ProgType.TRACING, AttachType.MODIFY_RETURN, "security_file_open"),
        ("freplace/handler", ProgType.EXT, None, "handler"),
        ("lsm/file_open", ProgType.LSM, AttachType.LSM_MAC, "file_open"),
        ("lsm_cgroup/socket_bind", ProgType.LSM, AttachType.LSM_CGROUP, "socket_bind"),
        ("iter/task", ProgType.TRACING, AttachType.TRACE_ITER, "task"),
        ("kprobe/do_unlinkat", ProgType.KPROBE, None, "do_unlinkat"),
        ("kretprobe/do_unlinkat", ProgType.KPROBE, None, "do_unlinkat"),
        ("kprobe.multi/do_*", ProgType.KPROBE, AttachType.TRACE_KPROBE_MULTI, "do_*"),
        ("uprobe.multi/libc.so.6:*alloc", ProgType.KPROBE, AttachType.TRACE_UPROBE_MULTI, "libc.so.6:*alloc"),
        ("ksyscall/openat", ProgType.KPROBE, None, "openat"),
        ("uprobe//bin/bash:readline", ProgType.KPROBE, None, "/bin/bash:readline"),
        ("usdt/libc.so.6:libc:setjmp", ProgType.KPROBE, None, "libc.so.6:libc:setjmp"),
        ("xdp", ProgType.XDP, AttachType.XDP, ""),
        ("xdp.frags", ProgType.XDP, AttachType.XDP, ""),
        ("xdp/devmap", ProgType.XDP, AttachType.XDP_DEVMAP, ""),
        ("xdp/cpumap", ProgType.XDP, AttachType.XDP_CPUMAP, ""),
        ("tc", ProgType.SCHED_CLS, None, ""),
        ("tc/ingress", ProgType.SCHED_CLS, AttachType.TCX_INGRESS, ""),
        ("tcx/egress", ProgType.SCHED_CLS, AttachType.TCX_EGRESS, ""),
        ("netkit/peer", ProgType.SCHED_CLS, AttachType.NETKIT_PEER, ""),
        ("classifier", ProgType.SCHED_CLS, None, ""),
        ("action", ProgType.SCHED_ACT, None, ""),
        ("socket", ProgType.SOCKET_FILTER, None, ""),
        ("sk_reuseport", ProgType.SK_REUSEPORT, AttachType.SK_REUSEPORT_SELECT, ""),
        ("sk_lookup", ProgType.SK_LOOKUP, AttachType.SK_LOOKUP, ""),
        ("cgroup_skb/ingress", ProgType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS, ""),
        ("cgroup_skb/egress", ProgType.CGROUP_SKB, AttachType.CGROUP_INET_EGRESS, ""),
        ("cgroup/skb", ProgType.CGROUP_SKB, None, ""),
        ("cgroup/sock_create", ProgType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_CREATE, ""),
        ("cgroup/sock", ProgType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_CREATE, ""),
        ("cgroup/post_bind4", ProgType.CGROUP_SOCK, AttachType.CGROUP_INET4_POST_BIND, ""),
        ("cgroup/connect4", ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_CONNECT, ""),
        ("cgroup/connect6", ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET6_CONNECT, ""),
        ("cgroup/sendmsg4", ProgType.CGROUP_SOCK_ADDR, AttachType.CGROUP_UDP4_SENDMSG, ""),
        ("cgroup/sysctl", ProgType.CGROUP_SYSCTL, AttachType.CGROUP_SYSCTL, ""),
        ("cgroup/getsockopt", ProgType.CGROUP_SOCKOPT, AttachType.CGROUP_GETSOCKOPT, ""),
        ("cgroup/setsockopt", ProgType.CGROUP_SOCKOPT, AttachType.CGROUP_SETSOCKOPT, ""),
        ("cgroup/dev", ProgType.CGROUP_DEVICE, AttachType.CGROUP_DEVICE, ""),
        ("sockops", ProgType.SOCK_OPS, AttachType.CGROUP_SOCK_OPS, ""),
        ("sk_msg", ProgType.SK_MSG, AttachType.SK_MSG_VERDICT, ""),
        ("sk_skb/stream_parser", ProgType.SK_SKB, AttachType.SK_SKB_STREAM_PARSER, ""),
        ("sk_skb/stream_verdict", ProgType.SK_SKB, AttachType.SK_SKB_STREAM_VERDICT, ""),
        ("sk_skb", ProgType.SK_SKB, None, ""),
        ("flow_dissector", ProgType.FLOW_DISSECTOR, AttachType.FLOW_DISSECTOR, ""),
        ("lwt_in", ProgType.LWT_IN, None, ""),
        ("lwt_xmit", ProgType.LWT_XMIT, None, ""),
        ("syscall", ProgType.SYSCALL, None, ""),
        ("perf_event", ProgType.PERF_EVENT, None, ""),
        ("struct_ops/tcp_init", ProgType.STRUCT_OPS, None, "tcp_init"),
        ("netfilter", ProgType.NETFILTER, AttachType.NETFILTER, ""),
    ],
)
def test_known_sections(section: str, ptype: ProgType, atype: AttachType | None, target: str) -> None:
    ps = parse_section(section)
    assert ps.definition is not None
    assert ps.prog_type is ptype
    assert ps.definition.attach_type is atype
    assert ps.target == target
    assert ps.autoload


def test_flags_and_attach() -> None:
    """Sleepable, frags and auto-attach facts come with the definition."""
    assert find_section_def("fentry.s/x").prog_flags == ProgFlags.SLEEPABLE  # type: ignore[union-attr]
    assert find_section_def("lsm.s/x").sleepable  # type: ignore[union-attr]
    assert find_section_def("uprobe.s/x").sleepable  # type: ignore[union-attr]
    assert find_section_def("syscall").sleepable  # type: ignore[union-attr]
    assert not find_section_def("tp/x/y").sleepable  # type: ignore[union-attr]
    assert find_section_def("xdp.frags").prog_flags == ProgFlags.XDP_HAS_FRAGS  # type: ignore[union-attr]
    assert find_section_def("fentry/x").attach_btf  # type: ignore[union-attr]
    assert not find_section_def("kprobe/x").attach_btf  # type: ignore[union-attr]
    assert find_section_def("xdp").attach_type_optional  # type: ignore[union-attr]
    assert find_section_def("usdt/x").usdt  # type: ignore[union-attr]
    assert find_section_def("kretprobe/x").is_return_probe  # type: ignore[union-attr]
    assert not find_section_def("kprobe/x").is_return_probe  # type: ignore[union-attr]
    assert parse_section("tp/sched/sched_switch").auto_attach
    assert parse_section("fentry/do_unlinkat").auto_attach
    assert not parse_section("kprobe").auto_attach  # no target: attached explicitly
    assert not parse_section("xdp").auto_attach
    assert not parse_section("cgroup/connect4").auto_attach
    assert parse_section("?tp/a/b").autoload is False


@pytest.mark.parametrize(
    "section",
    ["", "tpx/a", "tp_btfx/a", "xdp/", "xdpx", "socket1", "kprobex/foo", "cgroup/unknown", "fentryfoo", "?"],
)
def test_unknown_sections(section: str) -> None:
    """Names that only share a prefix with a row do not match it (libbpf's '/' rule)."""
    assert find_section_def(section) is None
    ps = parse_section(section)
    assert ps.prog_type is ProgType.UNSPEC
    assert not ps.auto_attach


def test_plus_rows_need_a_slash() -> None:
    assert find_section_def("tp_btf/x").name == "tp_btf"  # type: ignore[union-attr]
    assert find_section_def("tp/x").name == "tp"  # type: ignore[union-attr]
    assert find_section_def("uprobe.multi/x").name == "uprobe.multi"  # type: ignore[union-attr]
    assert find_section_def("kprobe.multi.s/x") is None


def _libbpf() -> ctypes.CDLL:
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    lib = ctypes.CDLL(name)
    lib.libbpf_prog_type_by_name.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
    return lib


def test_agrees_with_installed_libbpf() -> None:
    """Every name the installed libbpf knows maps to the same (prog type, attach type) in our table."""
    f = _libbpf().libbpf_prog_type_by_name
    checked = 0
    for d in SECTION_DEFS:
        for name in names_for(d):
            pt, at = ctypes.c_int(), ctypes.c_int()
            if f(name.encode(), ctypes.byref(pt), ctypes.byref(at)) != 0:
                continue  # newer than the installed libbpf (1.1 on Debian bookworm)
            expect_at = int(d.attach_type) if d.attach_type is not None else 0
            assert (pt.value, at.value) == (int(d.prog_type), expect_at), name
            checked += 1
    assert checked >= 100


def test_generator_check_mode() -> None:
    """scripts/gen_sections.py --check accepts the checked-in table."""
    cmd = [sys.executable, str(ROOT / "scripts" / "gen_sections.py"), "--check"]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
