"""Typed wrappers, one per bpf(2) command, over the chokepoint in :mod:`.syscall`.

These take and return plain ints, bytes and ctypes buffers; the object layer
(maps, programs, links) adds meaning.  ``target`` describes the object for error
messages ("map 'counts' (hash, key 4 B, value 8 B)").
"""

from __future__ import annotations

import ctypes
import errno as E
import os
from collections.abc import Callable, Sequence

from .._uapi import Cmd, MapFlags
from ..errors import BpfTypeError, BpfValueError
from . import attrs as A
from . import privilege
from .mounts import ensure_bpffs_for
from .syscall import bpf, bpf_bound, bpf_raw, error_for

__all__ = [
    "btf_get_fd_by_id",
    "fdinfo",
    "btf_info",
    "btf_load",
    "enable_stats",
    "iter_create",
    "link_create",
    "link_detach",
    "link_get_fd_by_id",
    "link_update",
    "map_batch",
    "map_batch_unchecked",
    "map_create",
    "map_delete_batch",
    "map_delete_elem",
    "map_elem",
    "map_elem_bound",
    "map_freeze",
    "map_get_fd_by_id",
    "map_get_next_key",
    "map_info",
    "map_lookup_and_delete_batch",
    "map_lookup_and_delete_elem",
    "map_lookup_batch",
    "map_lookup_elem",
    "map_update_batch",
    "map_update_elem",
    "next_id",
    "obj_get",
    "obj_get_info_by_fd",
    "obj_kind",
    "obj_pin",
    "obj_unpin",
    "prog_attach",
    "prog_bind_map",
    "prog_detach",
    "prog_get_fd_by_id",
    "prog_load",
    "prog_query",
    "prog_test_run",
    "raw_tracepoint_open",
    "task_fd_query",
    "token_create",
    "NO_TOKEN",
    "TOKEN_FD",
]

TOKEN_FD = int(MapFlags.TOKEN_FD)
"""BPF_F_TOKEN_FD: the flag in map_flags, prog_flags and btf_flags that says the attr carries a token fd."""

NO_TOKEN = -1
"""``token_fd`` of the creation commands meaning "no token"; None means the process's ambient token."""

def _token(token_fd: int | None) -> int | None:
    if token_fd is None:
        return privilege.ambient_token_fd()
    return None if token_fd < 0 else token_fd


def _addr(buf: ctypes.Array[ctypes.c_char] | ctypes.Array[ctypes.c_ubyte] | ctypes._CData | None) -> int:
    return 0 if buf is None else ctypes.addressof(buf)


def _cbuf(data: bytes | bytearray | memoryview) -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(bytes(data), len(data))


# ---- maps --------------------------------------------------------------------


def map_create(
    map_type: int,
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    map_flags: int = 0,
    name: str = "",
    inner_map_fd: int = 0,
    numa_node: int = 0,
    map_ifindex: int = 0,
    btf_fd: int = 0,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
    btf_vmlinux_value_type_id: int = 0,
    map_extra: int = 0,
    value_type_btf_obj_fd: int = 0,
    token_fd: int | None = None,
    target: str | None = None,
) -> int:
    """BPF_MAP_CREATE; returns the new map fd. ``token_fd``: create it through that BPF token (Linux 6.9;
    None: the ambient one, :data:`NO_TOKEN`: none)."""
    a = A.MapCreateAttr()
    a.map_type = map_type
    a.key_size = key_size
    a.value_size = value_size
    a.max_entries = max_entries
    a.map_flags = map_flags
    a.inner_map_fd = inner_map_fd
    a.numa_node = numa_node
    a.map_name = name.encode()[:15]
    a.map_ifindex = map_ifindex
    a.btf_fd = btf_fd
    a.btf_key_type_id = btf_key_type_id
    a.btf_value_type_id = btf_value_type_id
    a.btf_vmlinux_value_type_id = btf_vmlinux_value_type_id
    a.map_extra = map_extra
    a.value_type_btf_obj_fd = value_type_btf_obj_fd
    token_fd = _token(token_fd)
    if token_fd is not None:
        a.map_token_fd = token_fd
        a.map_flags |= TOKEN_FD
    return bpf(Cmd.MAP_CREATE, a, target=target)


def map_elem(cmd: int, fd: int, key: int, value: int, flags: int = 0, *, target: str | None = None) -> int:
    """One element command (BPF_MAP_*_ELEM) with key and value at caller buffer addresses (0: none)."""
    a = A.MapElemAttr(map_fd=fd, key=key, value=value, flags=flags)
    return bpf(cmd, a, target=target)


def map_elem_bound(cmd: int, attr: A.MapElemAttr, *, hold_gil: bool = True) -> Callable[[], int]:
    """A prebuilt element command on the caller's attr for the map hot paths: returns >= 0, or -1 with
    the errno in :func:`~bpfkit._sys.syscall.last_errno` (see :func:`~bpfkit._sys.syscall.bpf_bound`)."""
    return bpf_bound(cmd, attr, hold_gil=hold_gil)


def map_lookup_elem(fd: int, key: int, value: int, flags: int = 0, *, target: str | None = None) -> None:
    """BPF_MAP_LOOKUP_ELEM: key and value are addresses of caller buffers."""
    map_elem(Cmd.MAP_LOOKUP_ELEM, fd, key, value, flags, target=target)


def map_update_elem(fd: int, key: int, value: int, flags: int = 0, *, target: str | None = None) -> None:
    """BPF_MAP_UPDATE_ELEM with BPF_ANY/NOEXIST/EXIST/F_LOCK flags."""
    map_elem(Cmd.MAP_UPDATE_ELEM, fd, key, value, flags, target=target)


def map_delete_elem(fd: int, key: int, flags: int = 0, *, target: str | None = None) -> None:
    """BPF_MAP_DELETE_ELEM."""
    map_elem(Cmd.MAP_DELETE_ELEM, fd, key, 0, flags, target=target)


def map_get_next_key(fd: int, key: int, next_key: int, *, target: str | None = None) -> bool:
    """BPF_MAP_GET_NEXT_KEY; False at the end of the map. ``key`` 0 starts from the first."""
    a = A.MapElemAttr(map_fd=fd, key=key, value=next_key)
    try:
        bpf(Cmd.MAP_GET_NEXT_KEY, a, target=target)
    except OSError as exc:
        if exc.errno == E.ENOENT:
            return False
        raise
    return True


def map_lookup_and_delete_elem(
    fd: int, key: int, value: int, flags: int = 0, *, target: str | None = None
) -> None:
    """BPF_MAP_LOOKUP_AND_DELETE_ELEM (pop for queue/stack when key is 0)."""
    map_elem(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, fd, key, value, flags, target=target)


def map_freeze(fd: int, *, target: str | None = None) -> None:
    """BPF_MAP_FREEZE: make the map read-only from user space."""
    a = A.MapElemAttr(map_fd=fd)
    bpf(Cmd.MAP_FREEZE, a, target=target)


def map_batch(cmd: int, attr: A.MapBatchAttr, *, target: str | None = None) -> None:
    """A batch command (BPF_MAP_*_BATCH) on the caller's attr: after an error too, ``attr.count`` is how
    many entries the kernel processed, so the caller can tell which element failed."""
    bpf(cmd, attr, target=target)


def map_batch_unchecked(cmd: int, attr_addr: int, size: int) -> int:
    """A batch command returning its result or ``-errno`` (the GIL released: for a helper thread's call)."""
    return bpf_raw(cmd, attr_addr, size)


def _batch(
    cmd: int,
    fd: int,
    in_batch: int,
    out_batch: int,
    keys: int,
    values: int,
    count: int,
    elem_flags: int,
    target: str | None,
) -> tuple[int, bool]:
    """Run a batch command; returns (count processed, reached the end)."""
    a = A.MapBatchAttr(
        in_batch=in_batch, out_batch=out_batch, keys=keys, values=values, count=count, map_fd=fd, elem_flags=elem_flags
    )
    try:
        map_batch(cmd, a, target=target)
    except OSError as exc:
        if exc.errno == E.ENOENT:
            return a.count, True
        raise
    return a.count, False


def map_lookup_batch(
    fd: int, in_batch: int, out_batch: int, keys: int, values: int, count: int, elem_flags: int = 0,
    *, target: str | None = None,
) -> tuple[int, bool]:
    """BPF_MAP_LOOKUP_BATCH; (entries copied, end reached)."""
    return _batch(Cmd.MAP_LOOKUP_BATCH, fd, in_batch, out_batch, keys, values, count, elem_flags, target=target)


def map_lookup_and_delete_batch(
    fd: int, in_batch: int, out_batch: int, keys: int, values: int, count: int, elem_flags: int = 0,
    *, target: str | None = None,
) -> tuple[int, bool]:
    """BPF_MAP_LOOKUP_AND_DELETE_BATCH; (entries copied, end reached)."""
    return _batch(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, fd, in_batch, out_batch, keys, values, count, elem_flags, target=target)


def map_update_batch(
    fd: int, keys: int, values: int, count: int, elem_flags: int = 0, *, target: str | None = None
) -> int:
    """BPF_MAP_UPDATE_BATCH; returns the number of entries updated."""
    a = A.MapBatchAttr(keys=keys, values=values, count=count, map_fd=fd, elem_flags=elem_flags)
    map_batch(Cmd.MAP_UPDATE_BATCH, a, target=target)
    return int(a.count)


def map_delete_batch(fd: int, keys: int, count: int, elem_flags: int = 0, *, target: str | None = None) -> int:
    """BPF_MAP_DELETE_BATCH; returns the number of entries deleted."""
    a = A.MapBatchAttr(keys=keys, count=count, map_fd=fd, elem_flags=elem_flags)
    map_batch(Cmd.MAP_DELETE_BATCH, a, target=target)
    return int(a.count)


# ---- objects -----------------------------------------------------------------


def obj_pin(fd: int, path: str, *, target: str | None = None) -> None:
    """BPF_OBJ_PIN at ``path`` (mounting bpffs first when the path is under a missing one)."""
    _check_path(path)
    ensure_bpffs_for(path)
    p = ctypes.create_string_buffer(os.fsencode(path))
    a = A.ObjPinAttr(pathname=ctypes.addressof(p), bpf_fd=fd)
    bpf(Cmd.OBJ_PIN, a, target=f"{target or 'object'} at {path!r}")


def obj_unpin(path: str | os.PathLike[str] | None, pinned: str | None, target: str) -> str | None:
    """Unlink the pin at ``path`` (default: ``pinned``, where the object was pinned or opened from);
    returns what is still pinned: ``pinned``, or None when that pin was the one removed.

    The unpin rule of Map, Program and Link: nothing pinned is a no-op, and so is a pin already gone.
    """
    if path is not None:
        _check_path(path)
    where = os.fspath(path) if path is not None else pinned
    if where is None:
        return None
    try:
        os.unlink(where)
    except FileNotFoundError:
        pass
    return None if where == pinned else pinned


def _check_path(path: object) -> None:
    """Refuse a pin path that is not a str/bytes/PathLike or holds a NUL, before any file system call."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise BpfTypeError(f"a pin path is a str, bytes or os.PathLike, not {type(path).__name__}")
    if "\0" in os.fsdecode(path):
        raise BpfValueError(f"pin path {path!r} contains a NUL byte")


def obj_get(path: str, flags: int = 0, *, target: str | None = None) -> int:
    """BPF_OBJ_GET: open a pinned object; returns its fd."""
    _check_path(path)
    ensure_bpffs_for(path)
    p = ctypes.create_string_buffer(os.fsencode(path))
    a = A.ObjPinAttr(pathname=ctypes.addressof(p), file_flags=flags)
    return bpf(Cmd.OBJ_GET, a, target=target or f"pinned object {path!r}")


def next_id(cmd: int, start_id: int) -> int | None:
    """BPF_{MAP,PROG,LINK,BTF}_GET_NEXT_ID; None when there is no further id."""
    a = A.GetIdAttr(start_id=start_id)
    try:
        bpf(cmd, a)
    except OSError as exc:
        if exc.errno == E.ENOENT:
            return None
        raise
    return int(a.next_id)


def _fd_by_id(cmd: int, field: str, obj_id: int, flags: int, what: str) -> int:
    """BPF_*_GET_FD_BY_ID; ``field`` is the attr's name of the id (map_id, prog_id ...)."""
    a = A.GetIdAttr(open_flags=flags)
    setattr(a, field, obj_id)
    return bpf(cmd, a, target=f"{what} id {obj_id}")


def map_get_fd_by_id(map_id: int, flags: int = 0) -> int:
    """BPF_MAP_GET_FD_BY_ID."""
    return _fd_by_id(Cmd.MAP_GET_FD_BY_ID, "map_id", map_id, flags, "map")


def prog_get_fd_by_id(prog_id: int, flags: int = 0) -> int:
    """BPF_PROG_GET_FD_BY_ID."""
    return _fd_by_id(Cmd.PROG_GET_FD_BY_ID, "prog_id", prog_id, flags, "program")


def link_get_fd_by_id(link_id: int, flags: int = 0) -> int:
    """BPF_LINK_GET_FD_BY_ID."""
    return _fd_by_id(Cmd.LINK_GET_FD_BY_ID, "link_id", link_id, flags, "link")


def btf_get_fd_by_id(btf_id: int, flags: int = 0) -> int:
    """BPF_BTF_GET_FD_BY_ID."""
    return _fd_by_id(Cmd.BTF_GET_FD_BY_ID, "btf_id", btf_id, flags, "BTF")


def obj_get_info_by_fd(fd: int, info: ctypes.Structure, *, target: str | None = None, length: int | None = None) -> int:
    """BPF_OBJ_GET_INFO_BY_FD into ``info``; returns the length the kernel filled.

    ``length`` limits what is passed to the kernel (the length an earlier call returned):
    an older kernel refuses non-zero fields beyond its own struct with E2BIG.
    """
    size = ctypes.sizeof(info) if length is None else min(length, ctypes.sizeof(info))
    a = A.InfoAttr(bpf_fd=fd, info_len=size, info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, a, target=target)
    return int(a.info_len)


def obj_kind(fd: int) -> str:
    """What kind of object an fd is, from its anon inode: 'bpf-map', 'bpf-prog', 'bpf_link', 'btf', ...

    Returns '' for an fd that is not an anon inode. Lets callers refuse a wrong fd
    before OBJ_GET_INFO_BY_FD would fill the wrong info struct.
    """
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except FileNotFoundError:
        raise error_for(E.EBADF, Cmd.OBJ_GET_INFO_BY_FD, f"fd {fd}") from None
    prefix = "anon_inode:"
    return target[len(prefix):] if target.startswith(prefix) else ""


def map_info(fd: int, *, target: str | None = None) -> A.MapInfo:
    """OBJ_GET_INFO_BY_FD of a map fd into a fresh struct bpf_map_info."""
    info = A.MapInfo()
    obj_get_info_by_fd(fd, info, target=target or f"map fd {fd}")
    return info


def btf_info(fd: int, *, target: str | None = None) -> tuple[bytes, str, bool, int]:
    """The raw BTF blob of a BTF object fd: (data, name, is kernel BTF, BTF id).

    Two OBJ_GET_INFO_BY_FD calls: one for the sizes, one into buffers of those sizes.
    """
    what = target or f"BTF fd {fd}"
    first = A.BtfInfo()
    known = obj_get_info_by_fd(fd, first, target=what)
    data = ctypes.create_string_buffer(max(int(first.btf_size), 1))
    info = A.BtfInfo(btf=ctypes.addressof(data), btf_size=int(first.btf_size))
    name = ctypes.create_string_buffer(max(int(first.name_len) + 1, 64))
    if known >= A.BtfInfo.kernel_btf.offset:  # name and kernel_btf: Linux 5.11
        info.name = ctypes.addressof(name)
        info.name_len = len(name)
    obj_get_info_by_fd(fd, info, target=what, length=known)
    if known < A.BtfInfo.kernel_btf.offset:  # before 5.11 only vmlinux's BTF is a kernel object with an id
        return data.raw[: int(info.btf_size)], "", False, int(info.id)
    return data.raw[: int(info.btf_size)], name.value.decode(errors="replace"), bool(info.kernel_btf), int(info.id)


# ---- BTF ---------------------------------------------------------------------


def btf_load(data: bytes, *, log_level: int = 0, log_size: int = 0, target: str | None = None,
             token_fd: int | None = None) -> tuple[int, str]:
    """BPF_BTF_LOAD; returns (fd, log). With log_level 0 the kernel is retried with a log on error."""
    blob = _cbuf(data)
    log = ctypes.create_string_buffer(log_size) if log_size else None
    a = A.BtfLoadAttr(btf=ctypes.addressof(blob), btf_size=len(data))
    token_fd = _token(token_fd)
    if token_fd is not None:
        a.btf_token_fd = token_fd
        a.btf_flags |= TOKEN_FD
    if log is not None:
        a.btf_log_buf = ctypes.addressof(log)
        a.btf_log_size = log_size
        a.btf_log_level = log_level or 1
    try:
        fd = bpf(Cmd.BTF_LOAD, a, target=target or "BTF")
    except OSError as exc:
        if log is None and exc.errno != E.EPERM:
            return btf_load(data, log_level=1, log_size=1 << 20, target=target,
                            token_fd=NO_TOKEN if token_fd is None else token_fd)
        text = log.value.decode(errors="replace") if log is not None else ""
        if text:
            raise error_for(exc.errno or 0, Cmd.BTF_LOAD, target or "BTF", detail=text.strip()[-2000:]) from None
        raise
    return fd, (log.value.decode(errors="replace") if log is not None else "")


def token_create(bpffs_fd: int, *, target: str | None = None) -> int:
    """BPF_TOKEN_CREATE (Linux 6.9) from the root of a bpffs mount with delegate_* options; returns the token fd."""
    a = A.TokenCreateAttr(flags=0, bpffs_fd=bpffs_fd)
    return bpf(Cmd.TOKEN_CREATE, a, target=target)


# ---- programs ----------------------------------------------------------------


def prog_load(attr: A.ProgLoadAttr, *, target: str | None = None, token_fd: int | None = None) -> int:
    """BPF_PROG_LOAD with a filled attr (the program layer builds it); retries EAGAIN. ``token_fd`` as for
    :func:`map_create`; an attr that already carries a token keeps it."""
    if not attr.prog_flags & TOKEN_FD:
        fd = _token(token_fd)
        if fd is not None:
            attr.prog_token_fd = fd
            attr.prog_flags |= TOKEN_FD
    return bpf(Cmd.PROG_LOAD, attr, target=target, retry_eagain=5)


def prog_test_run(attr: A.TestRunAttr, *, target: str | None = None) -> None:
    """BPF_PROG_TEST_RUN with a filled attr; outputs are written back into it."""
    bpf(Cmd.PROG_TEST_RUN, attr, target=target)


def prog_attach(
    target_fd: int, prog_fd: int, attach_type: int, flags: int = 0, *, replace_fd: int = 0,
    relative_fd: int = 0, expected_revision: int = 0, target: str | None = None,
) -> None:
    """BPF_PROG_ATTACH (cgroup, sockmap, flow dissector, lirc ...)."""
    a = A.ProgAttachAttr(
        target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type, attach_flags=flags,
        replace_bpf_fd=replace_fd, relative_fd=relative_fd, expected_revision=expected_revision,
    )
    bpf(Cmd.PROG_ATTACH, a, target=target)


def prog_detach(target_fd: int, prog_fd: int, attach_type: int, *, target: str | None = None) -> None:
    """BPF_PROG_DETACH."""
    a = A.ProgAttachAttr(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type)
    bpf(Cmd.PROG_DETACH, a, target=target)


def prog_query(target_fd: int, attach_type: int, flags: int = 0, max_progs: int = 64) -> tuple[list[int], int]:
    """BPF_PROG_QUERY; returns (program ids, attach flags)."""
    ids = (ctypes.c_uint32 * max_progs)()
    a = A.ProgQueryAttr(
        target_fd=target_fd, attach_type=attach_type, query_flags=flags, prog_ids=ctypes.addressof(ids),
        prog_cnt=max_progs,
    )
    bpf(Cmd.PROG_QUERY, a)
    return list(ids[: a.prog_cnt]), int(a.attach_flags)


def prog_bind_map(prog_fd: int, map_fd: int) -> None:
    """BPF_PROG_BIND_MAP: keep a map alive as long as the program."""
    a = A.ProgBindMapAttr(prog_fd=prog_fd, map_fd=map_fd)
    bpf(Cmd.PROG_BIND_MAP, a)


def raw_tracepoint_open(name: str | None, prog_fd: int, cookie: int = 0, *, target: str | None = None) -> int:
    """BPF_RAW_TRACEPOINT_OPEN; name None for tp_btf/fentry-style programs. Returns a link fd."""
    buf = ctypes.create_string_buffer(name.encode()) if name else None
    a = A.RawTracepointOpenAttr(name=_addr(buf), prog_fd=prog_fd, cookie=cookie)
    return bpf(Cmd.RAW_TRACEPOINT_OPEN, a, target=target)


def link_create(attr: A.LinkCreateAttr, *, target: str | None = None) -> int:
    """BPF_LINK_CREATE with a filled attr; returns the link fd."""
    return bpf(Cmd.LINK_CREATE, attr, target=target)


def link_update(link_fd: int, new_prog_fd: int, *, old_prog_fd: int = 0, flags: int = 0) -> None:
    """BPF_LINK_UPDATE: swap the program of a link."""
    a = A.LinkUpdateAttr(link_fd=link_fd, new_prog_fd=new_prog_fd, flags=flags, old_prog_fd=old_prog_fd)
    bpf(Cmd.LINK_UPDATE, a, target="link")


def link_detach(link_fd: int) -> None:
    """BPF_LINK_DETACH: detach without closing the fd."""
    a = A.LinkDetachAttr(link_fd=link_fd)
    bpf(Cmd.LINK_DETACH, a, target="link")


def iter_create(link_fd: int) -> int:
    """BPF_ITER_CREATE: a readable fd producing one iteration's output."""
    a = A.IterCreateAttr(link_fd=link_fd)
    return bpf(Cmd.ITER_CREATE, a, target="iterator link")


def enable_stats(stats_type: int = 0) -> int:
    """BPF_ENABLE_STATS; returns an fd that keeps run-time stats on while open."""
    a = A.EnableStatsAttr(type=stats_type)
    return bpf(Cmd.ENABLE_STATS, a)


def task_fd_query(pid: int, fd: int) -> tuple[int, int, str, int, int]:
    """BPF_TASK_FD_QUERY: (prog_id, fd_type, name, probe_offset, probe_addr)."""
    buf = ctypes.create_string_buffer(4096)
    a = A.TaskFdQueryAttr(pid=pid, fd=fd, buf=ctypes.addressof(buf), buf_len=4096)
    bpf(Cmd.TASK_FD_QUERY, a)
    return int(a.prog_id), int(a.fd_type), buf.value.decode(errors="replace"), int(a.probe_offset), int(a.probe_addr)


def ids_of(cmd: int) -> Sequence[int]:
    """All ids the kernel lists for BPF_*_GET_NEXT_ID ``cmd``."""
    out: list[int] = []
    cur = 0
    while True:
        nxt = next_id(cmd, cur)
        if nxt is None:
            return out
        out.append(nxt)
        cur = nxt


def fdinfo(fd: int) -> dict[str, str]:
    """The fields of /proc/self/fdinfo/FD (the kernel's view of a bpf object fd: memlock, owner type ...)."""
    out: dict[str, str] = {}
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep:
                    out[key.strip()] = value.strip()
    except OSError:
        pass  # no procfs: callers treat the fields as unknown
    return out

