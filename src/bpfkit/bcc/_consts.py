"""BCC's constant holders (``PerfType``, ``PerfSWConfig``, ``BPFProgType`` ...), valued from bpfkit's uapi enums.

BCC tools read them as plain class attributes (``PerfType.SOFTWARE``); the
values come from the enums bpfkit generates from the kernel's UAPI headers,
so they cannot drift from what the syscalls expect.
"""

from __future__ import annotations

from .._uapi import AttachType, ProgType
from .._uapi import PerfType as _PerfTypeId
from .._uapi._generated_lazy import PerfHwId, PerfSampleFormat, PerfSwId, XdpAction, XdpFlags

__all__ = ["BPFAttachType", "BPFProgType", "PerfEventSampleFormat", "PerfHWConfig", "PerfSWConfig", "PerfType",
           "XDPAction", "XDPFlags"]


class PerfType:
    """perf_event_attr.type values (enum perf_type_id)."""

    HARDWARE = int(_PerfTypeId.HARDWARE)
    SOFTWARE = int(_PerfTypeId.SOFTWARE)
    TRACEPOINT = int(_PerfTypeId.TRACEPOINT)
    HW_CACHE = int(_PerfTypeId.HW_CACHE)
    RAW = int(_PerfTypeId.RAW)
    BREAKPOINT = int(_PerfTypeId.BREAKPOINT)


class PerfHWConfig:
    """Hardware counters (enum perf_hw_id), the config of PerfType.HARDWARE events."""

    CPU_CYCLES = int(PerfHwId.CPU_CYCLES)
    INSTRUCTIONS = int(PerfHwId.INSTRUCTIONS)
    CACHE_REFERENCES = int(PerfHwId.CACHE_REFERENCES)
    CACHE_MISSES = int(PerfHwId.CACHE_MISSES)
    BRANCH_INSTRUCTIONS = int(PerfHwId.BRANCH_INSTRUCTIONS)
    BRANCH_MISSES = int(PerfHwId.BRANCH_MISSES)
    BUS_CYCLES = int(PerfHwId.BUS_CYCLES)
    STALLED_CYCLES_FRONTEND = int(PerfHwId.STALLED_CYCLES_FRONTEND)
    STALLED_CYCLES_BACKEND = int(PerfHwId.STALLED_CYCLES_BACKEND)
    REF_CPU_CYCLES = int(PerfHwId.REF_CPU_CYCLES)


class PerfSWConfig:
    """Software counters (enum perf_sw_ids), the config of PerfType.SOFTWARE events."""

    CPU_CLOCK = int(PerfSwId.CPU_CLOCK)
    TASK_CLOCK = int(PerfSwId.TASK_CLOCK)
    PAGE_FAULTS = int(PerfSwId.PAGE_FAULTS)
    CONTEXT_SWITCHES = int(PerfSwId.CONTEXT_SWITCHES)
    CPU_MIGRATIONS = int(PerfSwId.CPU_MIGRATIONS)
    PAGE_FAULTS_MIN = int(PerfSwId.PAGE_FAULTS_MIN)
    PAGE_FAULTS_MAJ = int(PerfSwId.PAGE_FAULTS_MAJ)
    ALIGNMENT_FAULTS = int(PerfSwId.ALIGNMENT_FAULTS)
    EMULATION_FAULTS = int(PerfSwId.EMULATION_FAULTS)
    DUMMY = int(PerfSwId.DUMMY)
    BPF_OUTPUT = int(PerfSwId.BPF_OUTPUT)


class PerfEventSampleFormat:
    """perf_event_attr.sample_type bits (enum perf_event_sample_format)."""

    IP = int(PerfSampleFormat.IP)
    TID = int(PerfSampleFormat.TID)
    TIME = int(PerfSampleFormat.TIME)
    ADDR = int(PerfSampleFormat.ADDR)
    READ = int(PerfSampleFormat.READ)
    CALLCHAIN = int(PerfSampleFormat.CALLCHAIN)
    ID = int(PerfSampleFormat.ID)
    CPU = int(PerfSampleFormat.CPU)
    PERIOD = int(PerfSampleFormat.PERIOD)
    STREAM_ID = int(PerfSampleFormat.STREAM_ID)
    RAW = int(PerfSampleFormat.RAW)
    BRANCH_STACK = int(PerfSampleFormat.BRANCH_STACK)
    REGS_USER = int(PerfSampleFormat.REGS_USER)
    STACK_USER = int(PerfSampleFormat.STACK_USER)
    WEIGHT = int(PerfSampleFormat.WEIGHT)
    DATA_SRC = int(PerfSampleFormat.DATA_SRC)
    IDENTIFIER = int(PerfSampleFormat.IDENTIFIER)
    TRANSACTION = int(PerfSampleFormat.TRANSACTION)
    REGS_INTR = int(PerfSampleFormat.REGS_INTR)
    PHYS_ADDR = int(PerfSampleFormat.PHYS_ADDR)
    AUX = int(PerfSampleFormat.AUX)
    CGROUP = int(PerfSampleFormat.CGROUP)
    DATA_PAGE_SIZE = int(PerfSampleFormat.DATA_PAGE_SIZE)
    CODE_PAGE_SIZE = int(PerfSampleFormat.CODE_PAGE_SIZE)
    WEIGHT_STRUCT = int(PerfSampleFormat.WEIGHT_STRUCT)


def _members(enum: type, names: str) -> dict[str, int]:
    return {n: int(getattr(enum, n)) for n in names.split()}


BPFProgType = type("BPFProgType", (), {
    "__doc__": "Program types (enum bpf_prog_type), as BCC's BPFProgType.",
    **_members(ProgType, "SOCKET_FILTER KPROBE SCHED_CLS SCHED_ACT TRACEPOINT XDP PERF_EVENT CGROUP_SKB CGROUP_SOCK "
                         "LWT_IN LWT_OUT LWT_XMIT SOCK_OPS SK_SKB CGROUP_DEVICE SK_MSG RAW_TRACEPOINT "
                         "CGROUP_SOCK_ADDR CGROUP_SOCKOPT TRACING LSM"),
})

BPFAttachType = type("BPFAttachType", (), {
    "__doc__": "Attach types (enum bpf_attach_type), as BCC's BPFAttachType.",
    **{m.name: int(m) for m in AttachType},
})


class XDPAction:
    """XDP program return codes (enum xdp_action)."""

    XDP_ABORTED = int(XdpAction.ABORTED)
    XDP_DROP = int(XdpAction.DROP)
    XDP_PASS = int(XdpAction.PASS)
    XDP_TX = int(XdpAction.TX)
    XDP_REDIRECT = int(XdpAction.REDIRECT)


class XDPFlags:
    """XDP attach flags (XDP_FLAGS_* of linux/if_link.h)."""

    UPDATE_IF_NOEXIST = int(XdpFlags.UPDATE_IF_NOEXIST)
    SKB_MODE = int(XdpFlags.SKB_MODE)
    DRV_MODE = int(XdpFlags.DRV_MODE)
    HW_MODE = int(XdpFlags.HW_MODE)
    REPLACE = int(XdpFlags.REPLACE)
