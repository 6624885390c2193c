"""ctypes layouts of ``union bpf_attr`` members and the info structs (uapi linux/bpf.h).

Each command gets its own Structure; the kernel accepts any attr size up to its
own and requires the bytes it does not know to be zero, so the full current
layouts work on older kernels as long as new fields stay zero.
"""

from __future__ import annotations

import ctypes
from ctypes import c_char, c_int32, c_uint8, c_uint32, c_uint64

__all__ = [
    "BtfInfo",
    "BtfLoadAttr",
    "GetIdAttr",
    "InfoAttr",
    "IterCreateAttr",
    "LinkCreateAttr",
    "LinkDetachAttr",
    "LinkInfo",
    "LinkUpdateAttr",
    "MapBatchAttr",
    "MapCreateAttr",
    "MapElemAttr",
    "MapInfo",
    "ObjPinAttr",
    "ProgAttachAttr",
    "ProgBindMapAttr",
    "ProgInfo",
    "ProgLoadAttr",
    "ProgQueryAttr",
    "RawTracepointOpenAttr",
    "TaskFdQueryAttr",
    "TestRunAttr",
    "TokenCreateAttr",
    "EnableStatsAttr",
]


class MapCreateAttr(ctypes.Structure):
    """BPF_MAP_CREATE."""

    _fields_ = [
        ("map_type", c_uint32),
        ("key_size", c_uint32),
        ("value_size", c_uint32),
        ("max_entries", c_uint32),
        ("map_flags", c_uint32),
        ("inner_map_fd", c_uint32),
        ("numa_node", c_uint32),
        ("map_name", c_char * 16),
        ("map_ifindex", c_uint32),
        ("btf_fd", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("map_extra", c_uint64),
        ("value_type_btf_obj_fd", c_int32),
        ("map_token_fd", c_int32),
    ]


class MapElemAttr(ctypes.Structure):
    """BPF_MAP_LOOKUP/UPDATE/DELETE_ELEM, GET_NEXT_KEY, LOOKUP_AND_DELETE_ELEM, FREEZE."""

    _fields_ = [
        ("map_fd", c_uint32),
        ("_pad0", c_uint32),
        ("key", c_uint64),
        ("value", c_uint64),  # also next_key
        ("flags", c_uint64),
    ]


class MapBatchAttr(ctypes.Structure):
    """BPF_MAP_*_BATCH."""

    _fields_ = [
        ("in_batch", c_uint64),
        ("out_batch", c_uint64),
        ("keys", c_uint64),
        ("values", c_uint64),
        ("count", c_uint32),
        ("map_fd", c_uint32),
        ("elem_flags", c_uint64),
        ("flags", c_uint64),
    ]


class ProgLoadAttr(ctypes.Structure):
    """BPF_PROG_LOAD."""

    _fields_ = [
        ("prog_type", c_uint32),
        ("insn_cnt", c_uint32),
        ("insns", c_uint64),
        ("license", c_uint64),
        ("log_level", c_uint32),
        ("log_size", c_uint32),
        ("log_buf", c_uint64),
        ("kern_version", c_uint32),
        ("prog_flags", c_uint32),
        ("prog_name", c_char * 16),
        ("prog_ifindex", c_uint32),
        ("expected_attach_type", c_uint32),
        ("prog_btf_fd", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("func_info", c_uint64),
        ("func_info_cnt", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("line_info", c_uint64),
        ("line_info_cnt", c_uint32),
        ("attach_btf_id", c_uint32),
        ("attach_prog_fd", c_uint32),  # also attach_btf_obj_fd
        ("core_relo_cnt", c_uint32),
        ("fd_array", c_uint64),
        ("core_relos", c_uint64),
        ("core_relo_rec_size", c_uint32),
        ("log_true_size", c_uint32),
        ("prog_token_fd", c_int32),
        ("fd_array_cnt", c_uint32),
    ]


class ObjPinAttr(ctypes.Structure):
    """BPF_OBJ_PIN / BPF_OBJ_GET."""

    _fields_ = [
        ("pathname", c_uint64),
        ("bpf_fd", c_uint32),
        ("file_flags", c_uint32),
        ("path_fd", c_int32),
        ("_pad", c_uint32),
    ]


class ProgAttachAttr(ctypes.Structure):
    """BPF_PROG_ATTACH / BPF_PROG_DETACH."""

    _fields_ = [
        ("target_fd", c_uint32),  # also target_ifindex
        ("attach_bpf_fd", c_uint32),
        ("attach_type", c_uint32),
        ("attach_flags", c_uint32),
        ("replace_bpf_fd", c_uint32),
        ("relative_fd", c_uint32),  # also relative_id
        ("expected_revision", c_uint64),
    ]


class TestRunAttr(ctypes.Structure):
    """BPF_PROG_TEST_RUN (a.k.a. BPF_PROG_RUN)."""

    _fields_ = [
        ("prog_fd", c_uint32),
        ("retval", c_uint32),
        ("data_size_in", c_uint32),
        ("data_size_out", c_uint32),
        ("data_in", c_uint64),
        ("data_out", c_uint64),
        ("repeat", c_uint32),
        ("duration", c_uint32),
        ("ctx_size_in", c_uint32),
        ("ctx_size_out", c_uint32),
        ("ctx_in", c_uint64),
        ("ctx_out", c_uint64),
        ("flags", c_uint32),
        ("cpu", c_uint32),
        ("batch_size", c_uint32),
        ("_pad", c_uint32),
    ]


class GetIdAttr(ctypes.Structure):
    """BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID."""

    _fields_ = [
        ("id", c_uint32),  # start_id / prog_id / map_id / btf_id / link_id
        ("next_id", c_uint32),
        ("open_flags", c_uint32),
        ("fd_by_id_token_fd", c_int32),
    ]


class InfoAttr(ctypes.Structure):
    """BPF_OBJ_GET_INFO_BY_FD."""

    _fields_ = [
        ("bpf_fd", c_uint32),
        ("info_len", c_uint32),
        ("info", c_uint64),
    ]


class ProgQueryAttr(ctypes.Structure):
    """BPF_PROG_QUERY."""

    _fields_ = [
        ("target_fd", c_uint32),
        ("attach_type", c_uint32),
        ("query_flags", c_uint32),
        ("attach_flags", c_uint32),
        ("prog_ids", c_uint64),
        ("prog_cnt", c_uint32),
        ("_pad", c_uint32),
        ("prog_attach_flags", c_uint64),
        ("link_ids", c_uint64),
        ("link_attach_flags", c_uint64),
        ("revision", c_uint64),
    ]


class RawTracepointOpenAttr(ctypes.Structure):
    """BPF_RAW_TRACEPOINT_OPEN."""

    _fields_ = [
        ("name", c_uint64),
        ("prog_fd", c_uint32),
        ("_pad", c_uint32),
        ("cookie", c_uint64),
    ]


class BtfLoadAttr(ctypes.Structure):
    """BPF_BTF_LOAD."""

    _fields_ = [
        ("btf", c_uint64),
        ("btf_log_buf", c_uint64),
        ("btf_size", c_uint32),
        ("btf_log_size", c_uint32),
        ("btf_log_level", c_uint32),
        ("btf_log_true_size", c_uint32),
        ("btf_flags", c_uint32),
        ("btf_token_fd", c_int32),
    ]


class TokenCreateAttr(ctypes.Structure):
    """BPF_TOKEN_CREATE."""

    _fields_ = [
        ("flags", c_uint32),
        ("bpffs_fd", c_uint32),
    ]


class TaskFdQueryAttr(ctypes.Structure):
    """BPF_TASK_FD_QUERY."""

    _fields_ = [
        ("pid", c_uint32),
        ("fd", c_uint32),
        ("flags", c_uint32),
        ("buf_len", c_uint32),
        ("buf", c_uint64),
        ("prog_id", c_uint32),
        ("fd_type", c_uint32),
        ("probe_offset", c_uint64),
        ("probe_addr", c_uint64),
    ]


class LinkCreateAttr(ctypes.Structure):
    """BPF_LINK_CREATE; ``extra`` holds the per-attach-type union (48 bytes).

    Use :meth:`set_u32`/:meth:`set_u64` with byte offsets into the union:
    target_btf_id (0), iter_info (0,u64) + iter_info_len (8), perf_event.bpf_cookie (0),
    kprobe_multi {flags 0, cnt 4, syms 8, addrs 16, cookies 24},
    tracing {target_btf_id 0, cookie 8}, netfilter {pf 0, hooknum 4, priority 8, flags 12},
    tcx/netkit/cgroup {relative_fd 0, expected_revision 8},
    uprobe_multi {path 0, offsets 8, ref_ctr_offsets 16, cookies 24, cnt 32, flags 36, pid 40}.
    """

    _fields_ = [
        ("prog_fd", c_uint32),  # also map_fd
        ("target_fd", c_uint32),  # also target_ifindex
        ("attach_type", c_uint32),
        ("flags", c_uint32),
        ("extra", c_uint8 * 48),
    ]

    def set_u32(self, offset: int, value: int) -> None:
        """Store a u32 at ``offset`` of the per-type union."""
        ctypes.c_uint32.from_buffer(self.extra, offset).value = value & 0xFFFFFFFF

    def set_u64(self, offset: int, value: int) -> None:
        """Store a u64 at ``offset`` of the per-type union."""
        ctypes.c_uint64.from_buffer(self.extra, offset).value = value & 0xFFFFFFFFFFFFFFFF


class LinkCreateKprobeMulti(ctypes.Structure):
    """The ``kprobe_multi`` variant of LinkCreateAttr's union (BPF_TRACE_KPROBE_MULTI/_SESSION)."""

    _fields_ = [
        ("flags", c_uint32),
        ("cnt", c_uint32),
        ("syms", c_uint64),  # const char **
        ("addrs", c_uint64),  # const unsigned long *
        ("cookies", c_uint64),  # const __u64 *
    ]


class LinkCreateUprobeMulti(ctypes.Structure):
    """The ``uprobe_multi`` variant of LinkCreateAttr's union (BPF_TRACE_UPROBE_MULTI/_SESSION)."""

    _fields_ = [
        ("path", c_uint64),  # const char *
        ("offsets", c_uint64),  # const unsigned long *
        ("ref_ctr_offsets", c_uint64),  # const unsigned long *
        ("cookies", c_uint64),  # const __u64 *
        ("cnt", c_uint32),
        ("flags", c_uint32),
        ("pid", c_uint32),
    ]


class LinkUpdateAttr(ctypes.Structure):
    """BPF_LINK_UPDATE."""

    _fields_ = [
        ("link_fd", c_uint32),
        ("new_prog_fd", c_uint32),
        ("flags", c_uint32),
        ("old_prog_fd", c_uint32),
    ]


class LinkDetachAttr(ctypes.Structure):
    """BPF_LINK_DETACH."""

    _fields_ = [("link_fd", c_uint32)]


class EnableStatsAttr(ctypes.Structure):
    """BPF_ENABLE_STATS."""

    _fields_ = [("type", c_uint32)]


class IterCreateAttr(ctypes.Structure):
    """BPF_ITER_CREATE."""

    _fields_ = [("link_fd", c_uint32), ("flags", c_uint32)]


class ProgBindMapAttr(ctypes.Structure):
    """BPF_PROG_BIND_MAP."""

    _fields_ = [("prog_fd", c_uint32), ("map_fd", c_uint32), ("flags", c_uint32)]


class MapInfo(ctypes.Structure):
    """struct bpf_map_info."""

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("key_size", c_uint32),
        ("value_size", c_uint32),
        ("max_entries", c_uint32),
        ("map_flags", c_uint32),
        ("name", c_char * 16),
        ("ifindex", c_uint32),
        ("btf_vmlinux_value_type_id", c_uint32),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("btf_id", c_uint32),
        ("btf_key_type_id", c_uint32),
        ("btf_value_type_id", c_uint32),
        ("btf_vmlinux_id", c_uint32),
        ("map_extra", c_uint64),
    ]


class ProgInfo(ctypes.Structure):
    """struct bpf_prog_info."""

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("tag", c_uint8 * 8),
        ("jited_prog_len", c_uint32),
        ("xlated_prog_len", c_uint32),
        ("jited_prog_insns", c_uint64),
        ("xlated_prog_insns", c_uint64),
        ("load_time", c_uint64),
        ("created_by_uid", c_uint32),
        ("nr_map_ids", c_uint32),
        ("map_ids", c_uint64),
        ("name", c_char * 16),
        ("ifindex", c_uint32),
        ("gpl_compatible", c_uint32),
        ("netns_dev", c_uint64),
        ("netns_ino", c_uint64),
        ("nr_jited_ksyms", c_uint32),
        ("nr_jited_func_lens", c_uint32),
        ("jited_ksyms", c_uint64),
        ("jited_func_lens", c_uint64),
        ("btf_id", c_uint32),
        ("func_info_rec_size", c_uint32),
        ("func_info", c_uint64),
        ("nr_func_info", c_uint32),
        ("nr_line_info", c_uint32),
        ("line_info", c_uint64),
        ("jited_line_info", c_uint64),
        ("nr_jited_line_info", c_uint32),
        ("line_info_rec_size", c_uint32),
        ("jited_line_info_rec_size", c_uint32),
        ("nr_prog_tags", c_uint32),
        ("prog_tags", c_uint64),
        ("run_time_ns", c_uint64),
        ("run_cnt", c_uint64),
        ("recursion_misses", c_uint64),
        ("verified_insns", c_uint32),
        ("attach_btf_obj_id", c_uint32),
        ("attach_btf_id", c_uint32),
        ("_pad", c_uint32),
    ]


class BtfInfo(ctypes.Structure):
    """struct bpf_btf_info."""

    _fields_ = [
        ("btf", c_uint64),
        ("btf_size", c_uint32),
        ("id", c_uint32),
        ("name", c_uint64),
        ("name_len", c_uint32),
        ("kernel_btf", c_uint32),
    ]


class LinkInfo(ctypes.Structure):
    """struct bpf_link_info; ``extra`` is the per-link-type union (raw bytes)."""

    _fields_ = [
        ("type", c_uint32),
        ("id", c_uint32),
        ("prog_id", c_uint32),
        ("_pad", c_uint32),
        ("extra", c_uint8 * 64),
    ]
