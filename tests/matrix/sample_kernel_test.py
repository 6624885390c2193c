"""A small kernel test for the matrix: runs in each guest and on the host.

It checks what the guest's /init promises (bpffs mounted, the kernel it booted) and
makes real bpf(2) calls through ctypes, so a kernel that cannot create a map or
run a program fails here. Two probes skip with the reason on kernels too old for
a map type, to show skip reasons in the matrix.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from pathlib import Path

import pytest

from bpfkit.arch import syscall_number

pytestmark = pytest.mark.kernel

NR_BPF = syscall_number("bpf")  # this machine's: 321 on x86_64, 280 on arm64
BPF_MAP_CREATE, BPF_PROG_LOAD, BPF_OBJ_GET_INFO_BY_FD, BPF_PROG_TEST_RUN = 0, 5, 15, 10
MAP_ARRAY, MAP_BLOOM_FILTER, MAP_USER_RINGBUF = 2, 30, 31
PROG_SOCKET_FILTER = 1
ATTR_SIZE = 168  # through prog_token_fd; the kernel takes a longer attr whose tail is zero
BPF_F_TOKEN_FD = 1 << 16  # map_flags / prog_flags: the *_token_fd field holds a BPF token (Linux 6.9)
MAP_FLAGS_OFF, MAP_TOKEN_FD_OFF, PROG_FLAGS_OFF, PROG_TOKEN_FD_OFF = 16, 76, 44, 144

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    """bpf(2); raises OSError with the errno on failure."""
    ret = _libc.syscall(NR_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(ret)


def token_fd() -> int | None:
    """The BPF token this process must pass to bpf(2) (a user namespace with a delegated bpffs), else None."""
    from bpfkit.token import ambient_token

    token = ambient_token()
    return None if token is None else token.fd


def with_token(attr: ctypes.Array[ctypes.c_char], flags_off: int, fd_off: int) -> None:
    """Pass the ambient BPF token in ``attr`` (BPF_F_TOKEN_FD in its flags), when there is one."""
    fd = token_fd()
    if fd is not None:
        struct.pack_into("<I", attr, flags_off, struct.unpack_from("<I", attr, flags_off)[0] | BPF_F_TOKEN_FD)
        struct.pack_into("<i", attr, fd_off, fd)


def map_create(map_type: int, key: int, value: int, entries: int, name: bytes = b"",
               extra: int = 0) -> int:
    """BPF_MAP_CREATE with the given shape; returns the map fd."""
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("<IIIII", attr, 0, map_type, key, value, entries, 0)
    struct.pack_into("16s", attr, 28, name)
    struct.pack_into("<Q", attr, 64, extra)
    with_token(attr, MAP_FLAGS_OFF, MAP_TOKEN_FD_OFF)
    return bpf(BPF_MAP_CREATE, attr)


def map_info(fd: int) -> tuple[int, int, int, int]:
    """(type, key_size, value_size, max_entries) of a map fd from BPF_OBJ_GET_INFO_BY_FD."""
    info = ctypes.create_string_buffer(80)
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("<IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
    bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    mtype, _id, key, value, entries = struct.unpack_from("<IIIII", info, 0)
    return mtype, key, value, entries


def test_proc_version_names_the_booted_kernel() -> None:
    text = Path("/proc/version").read_text()
    assert text.startswith("Linux version ")
    assert platform.release() in text
    want = os.environ.get("BPFKIT_MATRIX_KERNEL", "")
    if want.endswith("-arm64"):  # an arm64 column: the guest runs that architecture
        assert platform.machine() == "aarch64", (want, platform.machine())
        want = want.removesuffix("-arm64")
    if want and want != "host" and not want.endswith(".x") and "@" not in want:
        assert platform.release().startswith(want + "."), (want, platform.release())


def test_bpffs_is_mounted() -> None:
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    assert any(m[1] == "/sys/fs/bpf" and m[2] == "bpf" for m in mounts)


def test_array_map_create_and_info() -> None:
    fd = map_create(MAP_ARRAY, 4, 8, 3, b"matrix_arr")
    try:
        assert fd >= 0
        assert map_info(fd) == (MAP_ARRAY, 4, 8, 3)
    finally:
        os.close(fd)


def test_socket_filter_load_and_test_run() -> None:
    insns = struct.pack("<BBhi", 0xB7, 0, 0, 7) + struct.pack("<BBhi", 0x95, 0, 0, 0)
    ibuf = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(ATTR_SIZE)
    struct.pack_into("<IIQQ", attr, 0, PROG_SOCKET_FILTER, 2, ctypes.addressof(ibuf),
                     ctypes.addressof(lic))
    with_token(attr, PROG_FLAGS_OFF, PROG_TOKEN_FD_OFF)
    prog = bpf(BPF_PROG_LOAD, attr)
    try:
        data = ctypes.create_string_buffer(b"\x00" * 64, 64)
        run = ctypes.create_string_buffer(ATTR_SIZE)
        struct.pack_into("<IIIIQQI", run, 0, prog, 0, 64, 0, ctypes.addressof(data), 0, 1)
        bpf(BPF_PROG_TEST_RUN, run)
        assert struct.unpack_from("<I", run, 4)[0] == 7
    finally:
        os.close(prog)


@pytest.mark.parametrize(("name", "map_type", "shape", "since"), [
    ("bloom_filter", MAP_BLOOM_FILTER, (0, 4, 16), "5.16"),
    ("user_ringbuf", MAP_USER_RINGBUF, (0, 0, 4096), "6.1"),
])
def test_newer_map_type(name: str, map_type: int, shape: tuple[int, int, int],
                        since: str) -> None:
    try:
        fd = map_create(map_type, *shape)
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            pytest.skip(f"probe: {name} map: EINVAL (needs Linux {since})")
        raise
    try:
        assert map_info(fd)[0] == map_type
    finally:
        os.close(fd)
