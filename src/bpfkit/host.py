"""Facts of the running host (kernel version, CPUs, vmlinux BTF), read once and cached.

vmlinux BTF is mapped rather than read where the kernel allows it, and the
index of its types (what :class:`~bpfkit.btf.Btf` otherwise scans 5 MB for) is
cached across processes in ``$BPFKIT_CACHE`` (default ``~/.cache/bpfkit``),
keyed by the boot and checked on load; an unwritable place only means no cache.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

from ._sys.privilege import (
    CAP_BPF,
    CAP_NET_ADMIN,
    CAP_PERFMON,
    CAP_SYS_ADMIN,
    TOKEN_CAPS,
    active_lsms,
    bpf_capable,
    capability_name,
    effective_capabilities,
    has_capability,
    in_initial_user_namespace,
    lockdown_mode,
    token_in_use,
)
from ._typing import overload
from .btf import Btf
from .btf._parse import BtfIndex
from .errors import BpfTypeError, BpfValueError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mmap import mmap

__all__ = [
    "active_lsms",
    "CAP_BPF",
    "CAP_NET_ADMIN",
    "CAP_PERFMON",
    "CAP_SYS_ADMIN",
    "capability_name",
    "debugfs_tracing",
    "bpf_capable",
    "effective_capabilities",
    "has_capability",
    "in_initial_user_namespace",
    "kallsyms_hidden",
    "kernel_btfs",
    "kernel_release",
    "kernel_version",
    "kernel_version_code",
    "KernelBtfs",
    "ksym_address",
    "lockdown_mode",
    "module_btf",
    "module_btf_names",
    "online_cpus",
    "page_size",
    "parse_cpu_list",
    "possible_cpus",
    "token_in_use",
    "TOKEN_CAPS",
    "vmlinux_btf",
    "VMLINUX_BTF_PATH",
]

VMLINUX_BTF_PATH = "/sys/kernel/btf/vmlinux"


@functools.cache
def kernel_release() -> str:
    """``uname -r``."""
    return os.uname().release


@functools.cache
def kernel_version() -> tuple[int, int, int]:
    """(major, minor, patch) of the running kernel."""
    return _parse_release(kernel_release())


def _parse_release(release: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a release string (``6.18.44-fc``, ``7.2``); (0, 0, 0) when it starts otherwise."""
    nums: list[int] = []
    for part in release.split(".", 2):
        digits = ""
        for ch in part:
            if not ("0" <= ch <= "9"):
                break
            digits += ch
        if not digits:
            break
        nums.append(int(digits))
        if len(digits) != len(part):
            break
    if len(nums) < 2:
        return (0, 0, 0)
    return (nums[0], nums[1], nums[2] if len(nums) > 2 else 0)


def kernel_version_code() -> int:
    """LINUX_VERSION_CODE of the running kernel (patch clamped to 255)."""
    a, b, c = kernel_version()
    return (a << 16) | (b << 8) | min(c, 255)


def parse_cpu_list(text: str) -> list[int]:
    """Parse a kernel CPU list such as ``0-3,5``."""
    if not isinstance(text, str):
        raise BpfTypeError(f"a CPU list is a str such as '0-3,5', not {type(text).__name__}")
    cpus: list[int] = []
    try:
        for part in text.strip().split(","):
            if not part:
                continue
            if "-" in part:
                lo, hi = part.split("-", 1)
                cpus.extend(range(int(lo), int(hi) + 1))
            else:
                cpus.append(int(part))
    except ValueError:
        raise BpfValueError(f"not a CPU list such as '0-3,5': {text!r}") from None
    return cpus


@functools.cache
def possible_cpus() -> int:
    """Number of possible CPUs (the per-CPU map value count)."""
    with open("/sys/devices/system/cpu/possible") as f:
        return max(parse_cpu_list(f.read())) + 1


@functools.cache
def online_cpu_list() -> tuple[int, ...]:
    """Ids of the online CPUs."""
    with open("/sys/devices/system/cpu/online") as f:
        return tuple(parse_cpu_list(f.read()))


def online_cpus() -> list[int]:
    """Ids of the online CPUs."""
    return list(online_cpu_list())


@functools.cache
def page_size() -> int:
    """The MMU page size."""
    return os.sysconf("SC_PAGE_SIZE")


@functools.cache
def vmlinux_btf() -> Btf:
    """The running kernel's BTF, indexed lazily (cached for the process, its index across processes)."""
    data = _btf_blob(VMLINUX_BTF_PATH)
    key = _index_key(VMLINUX_BTF_PATH, data)
    cache = _index_file()
    index = _load_index(cache, key) if key else None
    btf = Btf._from_buffer(data, index=index)
    if key and (index is None or btf._index is not index):
        _save_index(cache, key, btf._type_index(by_name=True))
    return btf


def _btf_blob(path: str) -> bytes | mmap:
    """The bytes of a BTF file; the kernel's own (sysfs, fixed for the boot) mapped when it allows that."""
    with open(path, "rb") as f:
        if path.startswith("/sys/kernel/btf/"):
            import mmap as m

            try:
                # Linux 6.16+ maps /sys/kernel/btf/vmlinux read-only and private; no copy of 5+ MB
                return m.mmap(f.fileno(), 0, flags=m.MAP_PRIVATE, prot=m.PROT_READ)
            except (OSError, ValueError):
                pass
        return f.read()


_INDEX_FILE_MAGIC = b"bpfkit-btf-index-1\n"


def _index_file() -> str:
    """Where the vmlinux BTF index is cached: ``$BPFKIT_CACHE``, else ``~/.cache/bpfkit`` (as bpfkit.testing)."""
    d = os.environ.get("BPFKIT_CACHE")
    if not d:
        d = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "bpfkit")
    return os.path.join(d, "vmlinux.btfidx")


def _index_key(path: str, data: bytes | mmap) -> bytes | None:
    """What the cached index must have been made from: this boot's kernel BTF, by size, time and samples.

    Only the kernel's own BTF under /sys is cached: it cannot change during a boot.
    """
    if not path.startswith("/sys/"):
        return None
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        st = os.stat(path)
    except OSError:
        return None
    import zlib

    n = len(data)
    crc = zlib.crc32(data[:64])
    for k in range(1, 17):  # 16 samples spread over the blob: a cheap fingerprint
        pos = n * k // 17
        crc = zlib.crc32(data[pos : pos + 64], crc)
    return f"{path} boot={boot} size={st.st_size} mtime={st.st_mtime_ns} ino={st.st_ino} len={n} crc={crc:08x}".encode()


def _index_head(key: bytes) -> bytes:
    """The cache file's first line: magic and key, padded so that the index's arrays stay aligned."""
    head = _INDEX_FILE_MAGIC + key
    return head + b" " * (-(len(head) + 1) % 8) + b"\n"


def _load_index(file: str, key: bytes) -> BtfIndex | None:
    """The cached index when it was made for ``key`` and is intact (mapped, not copied); None otherwise."""
    import mmap as m

    try:
        with open(file, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_uid != os.geteuid() or st.st_mode & 0o022:
                return None  # only an index this user wrote and nobody else can change
            raw: bytes | mmap = m.mmap(f.fileno(), 0, flags=m.MAP_PRIVATE, prot=m.PROT_READ)
    except (OSError, ValueError):  # absent, unreadable, or empty
        return None
    head = _index_head(key)
    if raw[: len(head)] != head:
        return None
    try:
        return BtfIndex.from_bytes(memoryview(raw)[len(head) :])
    except ValueError:
        return None


def _save_index(file: str, key: bytes, index: BtfIndex) -> None:
    """Write the index for ``key`` atomically (a temporary file renamed over); failures are ignored."""
    tmp = f"{file}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(file), mode=0o700, exist_ok=True)
        try:
            os.unlink(tmp)  # left by a crashed process of the same pid
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        with open(fd, "wb") as f:
            f.write(_index_head(key))
            f.write(index.to_bytes())
        os.replace(tmp, file)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


@functools.cache
def module_btf(name: str) -> Btf:
    """Split BTF of a loaded kernel module, on top of vmlinux."""
    with open(os.path.join(os.path.dirname(VMLINUX_BTF_PATH), name), "rb") as f:
        return Btf.from_bytes(f.read(), base=vmlinux_btf())


def module_btf_names() -> list[str]:
    """Names of kernel modules that have BTF loaded."""
    d = os.path.dirname(VMLINUX_BTF_PATH)
    try:
        return sorted(n for n in os.listdir(d) if n != "vmlinux")
    except FileNotFoundError:
        return []


@functools.cache
def kernel_config_text() -> str | None:
    """The running kernel's build configuration (/proc/config.gz or /boot/config-$(uname -r)), if readable."""
    import gzip

    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return f.read()
    except OSError:
        pass
    for path in (f"/boot/config-{kernel_release()}", f"/lib/modules/{kernel_release()}/config"):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            continue
    return None


@functools.cache
def kallsyms() -> dict[str, int]:
    """Kernel symbol addresses from /proc/kallsyms (module symbols included, first one wins)."""
    out: dict[str, int] = {}
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            name = parts[2]
            if name not in out:
                out[name] = int(parts[0], 16)
    return out


def ksym_address(name: str) -> int | None:
    """Address of kernel symbol ``name``, or None."""
    return kallsyms().get(name)


def kallsyms_hidden() -> str | None:
    """Why /proc/kallsyms shows this process every address as 0 (the kernel hides them), None when it shows them."""
    with open("/proc/kallsyms") as f:
        for line in f:
            if int(line.split(maxsplit=1)[0], 16):
                return None
    try:
        with open("/proc/sys/kernel/kptr_restrict") as f:
            restrict = f"kernel.kptr_restrict={f.read().strip()}"
    except OSError:
        restrict = "kernel.kptr_restrict"
    return (f"/proc/kallsyms shows this process (uid {os.getuid()}) every kernel address as 0: {restrict} hides "
            "them from a process without CAP_SYSLOG (kernel.perf_event_paranoid <= 1 shows them to all at "
            "kptr_restrict=0); grant CAP_SYSLOG or run as root")


def debugfs_tracing() -> str:
    """/sys/kernel/debug/tracing (tracefs where BCC-era tools look for it), mounting debugfs there when needed."""
    from ._sys.mounts import ensure_debugfs_tracing

    return ensure_debugfs_tracing()


class KernelBtfs(Sequence[Btf]):
    """vmlinux BTF then every module's split BTF, each read and indexed only when first used."""

    def __init__(self) -> None:
        self._modules: list[str] | None = None  # listed when first needed

    @property
    def _names(self) -> list[str]:
        if self._modules is None:
            self._modules = ["vmlinux", *module_btf_names()]
        return self._modules

    def __len__(self) -> int:
        return len(self._names)

    @overload
    def __getitem__(self, i: int) -> Btf: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Btf]: ...

    def __getitem__(self, i: int | slice) -> Btf | Sequence[Btf]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i == 0:
            return vmlinux_btf()  # without listing the modules
        name = self._names[i]
        return vmlinux_btf() if name == "vmlinux" else module_btf(name)


def kernel_btfs() -> KernelBtfs:
    """The running kernel's BTF: vmlinux first, then modules (CO-RE's target order)."""
    return KernelBtfs()
