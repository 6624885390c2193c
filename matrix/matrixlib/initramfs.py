"""The guest's initramfs: a newc cpio archive with busybox, modules and /init."""

from __future__ import annotations

import dataclasses
import gzip
import shlex
import stat
from collections.abc import Mapping, Sequence

# Markers the host watches for on the serial console.
BOOTED = "MATRIX-BOOTED"
DONE = "MATRIX-DONE"
ERROR = "MATRIX-ERROR"

NEWROOT = "/newroot"
GUEST_RESULTS = "/tmp/matrix-results"  # where the results share appears inside the chroot
HOST_TMP = "/run/matrix-host-tmp"  # the host's /tmp (read-only) inside the chroot, where the guest's own /tmp hides it


class Cpio:
    """A newc ('070701') cpio archive built in memory."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._ino = 1
        self._names: set[str] = set()

    def _add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        name = name.lstrip("/")
        if not name or name in self._names:
            raise ValueError(f"bad or duplicate cpio entry {name!r}")
        self._names.add(name)
        encoded = name.encode() + b"\0"
        fields = (self._ino, mode, 0, 0, 1, 0, len(data), 0, 0, *rdev, len(encoded), 0)
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._ino += 1
        self._parts.append(header + encoded + _pad(len(header) + len(encoded)))
        self._parts.append(data + _pad(len(data)))

    def dir(self, name: str, mode: int = 0o755) -> None:
        """Add a directory."""
        self._add(name, stat.S_IFDIR | mode)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        """Add a regular file."""
        self._add(name, stat.S_IFREG | mode, data)

    def chardev(self, name: str, major: int, minor: int, mode: int = 0o600) -> None:
        """Add a character device node."""
        self._add(name, stat.S_IFCHR | mode, rdev=(major, minor))

    def symlink(self, name: str, target: str) -> None:
        """Add a symbolic link."""
        self._add(name, stat.S_IFLNK | 0o777, target.encode())

    def bytes(self) -> bytes:
        """The archive, with its TRAILER!!! entry."""
        trailer = Cpio()
        trailer._add("TRAILER!!!", 0)
        return b"".join(self._parts + trailer._parts)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def read_cpio(data: bytes) -> dict[str, tuple[int, bytes]]:
    """Parse a newc archive into {name: (mode, data)}; the inverse of Cpio.bytes()."""
    out: dict[str, tuple[int, bytes]] = {}
    off = 0
    while True:
        if data[off:off + 6] != b"070701":
            raise ValueError(f"bad cpio magic at offset {off}")
        fields = [int(data[off + 6 + 8 * i: off + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        off += 110
        name = data[off:off + namesize - 1].decode()
        off += namesize + _pad_len(110 + namesize)
        body = data[off:off + size]
        off += size + _pad_len(size)
        if name == "TRAILER!!!":
            return out
        out[name] = (mode, body)


def _pad_len(n: int) -> int:
    return -n % 4


HOSTROOT = "/host"  # where the host's root is mounted when the guest's root is a userland of its own


@dataclasses.dataclass(frozen=True)
class UserlandRoot:
    """A guest root made of a userland directory on the host (another architecture's) and binds of host paths.

    ``root`` is the userland's directory on the host; ``entries`` its top-level
    entries, (name, symlink target or None for a directory); ``binds`` (host path,
    guest path) pairs, such as the checkout.
    """

    root: str
    entries: tuple[tuple[str, str | None], ...]
    binds: tuple[tuple[str, str], ...]


def _userland_lines(u: UserlandRoot) -> str:
    """Shell lines that build the new root in a tmpfs from the userland and the binds (host root at HOSTROOT)."""
    r, h = NEWROOT, HOSTROOT
    lines = [f"mount -t tmpfs -o mode=755 tmpfs {r} || fail \"tmpfs root\""]
    for name, target in u.entries:
        if name in ("var", "tmp", "run", "proc", "sys", "dev", "boot", "root"):
            continue  # writable or kernel-provided: made below
        if target is not None:
            lines.append(f"ln -s {shlex.quote(target)} {r}/{shlex.quote(name)}")
        else:
            src = shlex.quote(f"{h}{u.root}/{name}")
            lines.append(f"mkdir -p {r}/{shlex.quote(name)} && mount --bind {src} {r}/{shlex.quote(name)} "
                         f"|| fail \"bind {name} of the userland\"")
    # the directories of a Debian root that no package of the userland ships (base-files makes them)
    lines.append(f"mkdir -p {r}/proc {r}/sys {r}/dev {r}/tmp {r}/run {r}/boot {r}/root {r}/mnt {r}/media {r}/srv "
                 f"{r}/home {r}/var/tmp {r}/var/lib && ln -s /run {r}/var/run")
    for host, guest in u.binds:
        lines.append(f"mkdir -p {r}{shlex.quote(guest)} && mount --bind {shlex.quote(h + host)} "
                     f"{r}{shlex.quote(guest)} || fail \"bind {host}\"")
    return "\n".join(lines)


def init_script(modules: Sequence[str], share: str, hostname: str = "matrix",
                params: Mapping[str, str] | None = None, userland: UserlandRoot | None = None) -> str:
    """The guest's /init: mount, load modules, mount the shares, make the host root the root, run, power off.

    `modules` are file names under /lib/modules of the initramfs in load order, and
    `params` their module parameters by file name; `share` is 'virtiofs' or '9p' for
    the host root (results always use 9p). With `userland`, the new root is built
    from it (another architecture's programs) instead of being the host's root.
    """
    if share not in ("virtiofs", "9p"):
        raise ValueError(f"share must be 'virtiofs' or '9p', not {share!r}")
    p9 = "trans=virtio,version=9p2000.L,msize=262144"
    target = NEWROOT if userland is None else HOSTROOT
    if share == "virtiofs":
        root_mount = f"mount -t virtiofs -o ro hostroot {target}"
    else:
        root_mount = f"mount -t 9p -o {p9},ro,cache=loose hostroot {target}"
    host_tmp = f"{NEWROOT}/tmp"  # the host's /tmp, seen from the initramfs
    if userland is not None:
        root_mount += f" || fail \"cannot mount the host root ({share})\"\n" + _userland_lines(userland)
        host_tmp = f"{HOSTROOT}/tmp"
    params = params or {}
    loads = "\n".join(
        f"insmod /lib/modules/{shlex.quote(m)} {params.get(m, '')} 2>/tmp/insmod.err"
        f" || echo \"matrix: insmod {m}: $(cat /tmp/insmod.err)\"" for m in modules)
    r = NEWROOT
    return f"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() {{ echo "{ERROR}: $*"; sync; poweroff -f; sleep 5; exit 1; }}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 4 > /proc/sys/kernel/printk
{loads}
mkdir -p /results {r} {HOSTROOT}
mount -t 9p -o {p9} results /results || fail "cannot mount the results share"
{root_mount} || fail "cannot mount the host root ({share})"
mount -t proc proc {r}/proc || fail "proc"
mount -t sysfs sysfs {r}/sys || fail "sysfs"
mount -t devtmpfs devtmpfs {r}/dev || fail "devtmpfs"
mkdir -p {r}/dev/pts {r}/dev/shm
mount -t devpts devpts {r}/dev/pts
mount -t tmpfs tmpfs {r}/dev/shm
mount -t tmpfs tmpfs {r}/run
mkdir -p {r}{HOST_TMP}
mount --bind {host_tmp} {r}{HOST_TMP} || fail "bind the host's /tmp"  # for a checkout under /tmp
mount -t tmpfs tmpfs {r}/tmp || fail "tmpfs /tmp"
mount -t bpf bpf {r}/sys/fs/bpf || fail "bpffs"
mount -t tracefs tracefs {r}/sys/kernel/tracing || echo "matrix: no tracefs"
mount -t debugfs debugfs {r}/sys/kernel/debug || echo "matrix: no debugfs"
mount -t cgroup2 cgroup2 {r}/sys/fs/cgroup || echo "matrix: no cgroup2"
mount -t securityfs securityfs {r}/sys/kernel/security || echo "matrix: no securityfs"
if [ -d /boot ]; then  # the guest kernel's config where tools look for it (/boot/config-$(uname -r))
    mount -t tmpfs tmpfs {r}/boot && cp -a /boot/. {r}/boot/ || echo "matrix: no /boot"
fi
mkdir -p {r}{GUEST_RESULTS}
mount --bind /results {r}{GUEST_RESULTS} || fail "bind results"
hostname {hostname}
ip link set lo up
echo "{BOOTED} $(cat /proc/uptime)"
# The host root becomes the root of the mount namespace (as switch_root does), not a chroot
# inside it: the kernel refuses user namespaces (unshare, BPF tokens) to a chrooted process.
# This shell keeps the initramfs as its root, so /results and busybox stay in reach.
cd {r} && mount --move . / || fail "cannot move the host root to /"
chroot . /bin/sh {GUEST_RESULTS}/run.sh > /results/output.txt 2>&1
rc=$?
echo $rc > /results/exit_code
sync
echo "{DONE} $rc $(cat /proc/uptime)"
poweroff -f
"""


def build(busybox: bytes, modules: Sequence[tuple[str, bytes]], share: str,
          params: Mapping[str, str] | None = None,
          boot_files: Mapping[str, bytes] | None = None, userland: UserlandRoot | None = None) -> bytes:
    """A gzip-compressed initramfs with busybox, the (name, ELF bytes) modules and /init.

    `params` maps a module name to its parameters ('numdummies=0'); `boot_files`
    (name -> bytes, e.g. the kernel's config-<release>) appear in the guest's /boot.
    """
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules", "results",
              NEWROOT.lstrip("/"), HOSTROOT.lstrip("/")):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)
    c.file("bin/busybox", busybox, 0o755)
    if boot_files:
        c.dir("boot")
        for name, data in sorted(boot_files.items()):
            c.file(f"boot/{name}", data)
    c.symlink("bin/sh", "busybox")
    names = []
    by_file = {}
    for i, (name, data) in enumerate(modules):
        fname = f"{i:02d}-{name}.ko"
        c.file(f"lib/modules/{fname}", data)
        names.append(fname)
        if params and name in params:
            by_file[fname] = params[name]
    c.file("init", init_script(names, share, params=by_file, userland=userland).encode(), 0o755)
    return gzip.compress(c.bytes(), compresslevel=1)
