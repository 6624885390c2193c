"""Label decoders: bytes of a key or record field -> the text of a label.

A label's decoders run in a chain, as in ebpf_exporter: the first gets the
field's raw bytes, each next one the previous output. ``uint`` turns an int
into its decimal text; ``errno``, ``syscall``, ``cgroup`` (id -> path),
``cpu``, the ``pci_*`` names (from pci.ids, as ebpf_exporter reads it) and
``static_map`` read such text. A decoder raising :class:`SkipLabelSet` drops the entry
(``regexp`` without a match); any other error counts as a decoder error.
"""

from __future__ import annotations

import errno as _errno
import functools
import ipaddress
import os
import platform
import re
import socket
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import ConfigError, DecoderError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DECODERS", "MISSING_PCI_IDS", "PCI_IDS_PATHS", "TEXT_INPUT", "DecoderError", "DecoderSpec", "SkipLabelSet",
           "cgroup2_root", "cgroup_paths", "chain", "decoder_spec"]


class SkipLabelSet(Exception):
    """The entry must not become a series (a ``regexp`` decoder found no match)."""


@dataclass(frozen=True)
class DecoderSpec:
    """One decoder of a label's chain with its options (``static_map``, ``regexps``, ``allow_unknown``)."""

    name: str
    static_map: Mapping[str, str] = field(default_factory=dict)
    regexps: Sequence[str] = ()
    allow_unknown: bool = False


Decoder = Callable[[bytes, DecoderSpec], bytes]


def _uint(data: bytes, _: DecoderSpec) -> bytes:
    if len(data) not in (1, 2, 4, 8):
        raise DecoderError(f"uint: a field of {len(data)} bytes is not an integer")
    return str(int.from_bytes(data, "little")).encode()


def _int(data: bytes, _: DecoderSpec) -> bytes:
    if len(data) not in (1, 2, 4, 8):
        raise DecoderError(f"int: a field of {len(data)} bytes is not an integer")
    return str(int.from_bytes(data, "little", signed=True)).encode()


def _string(data: bytes, _: DecoderSpec) -> bytes:
    end = data.find(b"\0")
    return data if end < 0 else data[:end]


def _hex(data: bytes, _: DecoderSpec) -> bytes:
    return data.hex().encode()


def _number(data: bytes, what: str) -> int:
    try:
        return int(data.decode())
    except ValueError:
        raise DecoderError(f"{what}: {data!r} is not a decimal number (put the 'uint' decoder first)") from None


def _errno_name(data: bytes, _: DecoderSpec) -> bytes:
    n = _number(data, "errno")
    name = _errno.errorcode.get(abs(n))
    return (name or f"unknown:{n}").encode()


def _syscall(data: bytes, _: DecoderSpec) -> bytes:
    n = _number(data, "syscall")
    name = _syscall_table().get(n)
    return (name or f"unknown_syscall:{n}").encode()


def _static_map(data: bytes, spec: DecoderSpec) -> bytes:
    if not spec.static_map:
        return b"empty mapping"
    text = data.decode(errors="replace")
    value = spec.static_map.get(text)
    if value is None:
        return data if spec.allow_unknown else f"unknown:{text}".encode()
    return str(value).encode()


_REGEX_CACHE: dict[str, re.Pattern[bytes]] = {}


def _regexp(data: bytes, spec: DecoderSpec) -> bytes:
    if not spec.regexps:
        raise DecoderError("regexp: no regexps configured")
    for expr in spec.regexps:
        rx = _REGEX_CACHE.get(expr)
        if rx is None:
            rx = _REGEX_CACHE[expr] = re.compile(expr.encode())
        m = rx.search(data)
        if m is not None:
            return m.group(1) if rx.groups >= 1 and m.group(1) is not None else m.group(0)
    raise SkipLabelSet


def _inet_ip(data: bytes, _: DecoderSpec) -> bytes:
    if len(data) == 4:
        return str(ipaddress.IPv4Address(data)).encode()
    if len(data) == 16:
        addr = ipaddress.IPv6Address(data)
        return str(addr.ipv4_mapped or addr).encode()
    raise DecoderError(f"inet_ip: {len(data)} bytes is neither an IPv4 (4) nor an IPv6 (16) address")


class _Kallsyms:
    """Kernel symbols sorted by address (read from /proc/kallsyms once, on first use)."""

    def __init__(self) -> None:
        self.addrs: list[int] = []
        self.names: list[str] = []

    def load(self) -> None:
        if self.addrs:
            return
        rows: list[tuple[int, str]] = []
        with open("/proc/kallsyms", encoding="ascii", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[1] in "tTwW":
                    rows.append((int(parts[0], 16), parts[2]))
        rows.sort()
        self.addrs = [a for a, _ in rows]
        self.names = [n for _, n in rows]

    def sym(self, addr: int) -> str | None:
        import bisect

        self.load()
        if not self.addrs or self.addrs[-1] == 0:
            return None  # kptr_restrict hides the addresses
        i = bisect.bisect_right(self.addrs, addr) - 1
        return self.names[i] if i >= 0 else None


_KSYMS = _Kallsyms()


def _ksym(data: bytes, _: DecoderSpec) -> bytes:
    if len(data) != 8:
        raise DecoderError(f"ksym: an address is 8 bytes, not {len(data)}")
    addr = int.from_bytes(data, "little")
    return (_KSYMS.sym(addr) or f"unknown_addr:0x{addr:x}").encode()


def _kstack(data: bytes, _: DecoderSpec) -> bytes:
    frames = []
    for (addr,) in struct.iter_unpack("<Q", data[: len(data) // 8 * 8]):
        if addr == 0:
            break
        frames.append(_KSYMS.sym(addr) or "??")
    return "\n".join(frames).encode()


def cgroup2_root() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (None when it is not: cgroup v1 only)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return parts[1].replace("\\040", " ")
    except OSError:
        pass
    return None


def cgroup_paths(root: str | None = None) -> dict[int, str]:
    """cgroup v2 id (the inode number of its directory) -> its path under the hierarchy's root.

    The ids BPF programs see (bpf_get_current_cgroup_id) are cgroup v2 ids; without a cgroup2
    mount nothing resolves.
    """
    root = root or cgroup2_root()
    out: dict[int, str] = {}
    if root is None:
        return out
    dev = os.stat(root).st_dev
    for dirpath, dirs, _files in os.walk(root):
        try:
            st = os.stat(dirpath)
        except OSError:
            continue
        if st.st_dev != dev:
            dirs.clear()
            continue
        rel = dirpath[len(root):] or "/"
        out[st.st_ino] = rel if rel.startswith("/") else "/" + rel
    return out


class _Cgroups:
    """cgroup id -> path, rescanned (at most every few seconds) when an id is not known yet."""

    def __init__(self) -> None:
        self.paths: dict[int, str] = {}
        self.scanned = 0.0

    def path(self, cid: int) -> str | None:
        import time

        p = self.paths.get(cid)
        if p is None and time.monotonic() - self.scanned > 5.0:
            self.paths = cgroup_paths()
            self.scanned = time.monotonic()
            p = self.paths.get(cid)
        return p


_CGROUPS = _Cgroups()


def _cgroup(data: bytes, _: DecoderSpec) -> bytes:
    cid = _number(data, "cgroup")
    return (_CGROUPS.path(cid) or f"unknown_cgroup_id:{cid}").encode()


def _majorminor(data: bytes, _: DecoderSpec) -> bytes:
    if len(data) < 4:
        raise DecoderError(f"majorminor: a device number is 4 bytes, not {len(data)}")
    dev = int.from_bytes(data[:4], "little")
    major, minor = dev >> 20, dev & 0xFFFFF  # the kernel's internal dev_t (MINORBITS = 20)
    try:
        with open("/proc/partitions", encoding="ascii") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 4 and parts[0] == str(major) and parts[1] == str(minor):
                    return parts[3].encode()
    except OSError:
        pass
    return f"unknown:{major}:{minor}".encode()


def _ifname(data: bytes, _: DecoderSpec) -> bytes:
    idx = int.from_bytes(data[:4], "little")
    try:
        return socket.if_indextoname(idx).encode()
    except OSError:
        return f"unknown:{idx}".encode()


def _dname(data: bytes, _: DecoderSpec) -> bytes:
    """A DNS name in wire format (length-prefixed labels) as dotted text; bytes that do not parse stay as they are."""
    if not data:
        return b"."
    out = bytearray(data)
    off = 0
    while off < len(data):
        n = data[off]
        out[off] = ord(".")
        off += 1
        if off + n > len(data):
            return data
        off += n
    return bytes(out[1:])


def _possible_cpus() -> int:
    try:
        with open("/sys/devices/system/cpu/possible", encoding="ascii") as f:
            return max(int(part.split("-")[-1]) for part in f.read().strip().split(",")) + 1
    except (OSError, ValueError):
        return os.cpu_count() or 1


def _cpu(data: bytes, _: DecoderSpec) -> bytes:
    """A CPU number (decimal text) checked against the possible CPUs: a garbage id is a decoder error."""
    n = _number(data, "cpu")
    if not 0 <= n < _possible_cpus():
        raise DecoderError(f"cpu: {n} is not a possible CPU of this machine")
    return str(n).encode()


PCI_IDS_PATHS = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids"]  # where ebpf_exporter looks
MISSING_PCI_IDS = b"missing pci.ids db"


class _PciIds:
    """The names of pci.ids (vendors, vendor+device, classes and their subclasses), read once when first asked."""

    def __init__(self) -> None:
        self.loaded_from: str | None = None
        self.vendors: dict[str, str] = {}
        self.devices: dict[str, str] = {}
        self.classes: dict[str, tuple[str, dict[str, str]]] = {}
        self._tried = False

    def get(self) -> _PciIds | None:
        if not self._tried:
            self._tried = True
            for path in PCI_IDS_PATHS:
                try:
                    with open(path, encoding="utf-8", errors="replace") as f:
                        self._parse(f)
                except OSError:
                    continue
                self.loaded_from = path
                break
        return self if self.loaded_from else None

    def _parse(self, lines: Any) -> None:
        vendor: str | None = None
        subclasses: dict[str, str] | None = None
        for line in lines:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            if line.startswith("C "):  # C cc  class name
                cid, _, name = line[2:].partition("  ")
                subclasses = {}
                self.classes[cid.strip()] = (name, subclasses)
                vendor = None
            elif not line.startswith("\t"):  # vvvv  vendor name
                vid, _, name = line.partition("  ")
                vendor, subclasses = vid, None
                self.vendors[vid] = name
            elif not line.startswith("\t\t"):  # a device of the vendor, or a subclass of the class
                did, _, name = line[1:].partition("  ")
                if subclasses is not None:
                    subclasses[did] = name
                elif vendor is not None:
                    self.devices[vendor + did] = name
            # two tabs: subsystems and programming interfaces, which no decoder names


_PCI = _PciIds()


def _pci(data: bytes, what: str) -> tuple[_PciIds | None, int]:
    return _PCI.get(), _number(data, what)


def _pci_lookup(table: str, digits: int, what: str, data: bytes, _: DecoderSpec) -> bytes:
    """The pci.ids name of the number in ``data`` (hex, at least ``digits`` digits) in ``table``."""
    db, n = _pci(data, f"pci_{what}")
    if db is None:
        return MISSING_PCI_IDS
    key = f"{n:0{digits}x}"
    got = getattr(db, table).get(key)
    name = got[0] if isinstance(got, tuple) else got
    return (name or f"unknown pci {what}: 0x{key}").encode()


_pci_vendor = functools.partial(_pci_lookup, "vendors", 2, "vendor")
_pci_device = functools.partial(_pci_lookup, "devices", 4, "device")  # vendor << 16 | device: names are per vendor
_pci_class = functools.partial(_pci_lookup, "classes", 2, "class")


def _pci_subclass(data: bytes, _: DecoderSpec) -> bytes:
    """``class << 8 | subclass`` as the subclass's name."""
    db, n = _pci(data, "pci_subclass")
    if db is None:
        return MISSING_PCI_IDS
    cid, sid = f"{n >> 8:02x}", f"{n & 0xFF:02x}"
    cls = db.classes.get(cid)
    if cls is None:
        return f"unknown pci class: 0x{cid}".encode()
    name = cls[1].get(sid)
    return (name or f"unknown pci subclass: 0x{sid} (class 0x{cid})").encode()


DECODERS: dict[str, Decoder] = {
    "uint": _uint,
    "int": _int,
    "string": _string,
    "comm": _string,
    "hex": _hex,
    "errno": _errno_name,
    "syscall": _syscall,
    "static_map": _static_map,
    "regexp": _regexp,
    "inet_ip": _inet_ip,
    "ksym": _ksym,
    "kstack": _kstack,
    "cgroup": _cgroup,
    "majorminor": _majorminor,
    "ifname": _ifname,
    "dname": _dname,
    "cpu": _cpu,
    "pci_vendor": _pci_vendor,
    "pci_device": _pci_device,
    "pci_class": _pci_class,
    "pci_subclass": _pci_subclass,
}

# decoders that read the decimal text another decoder wrote (an int field gets 'uint' put before them)
TEXT_INPUT = frozenset({"errno", "syscall", "cgroup", "static_map", "regexp", "cpu",
                        "pci_vendor", "pci_device", "pci_class", "pci_subclass"})


def chain(specs: Sequence[DecoderSpec]) -> Callable[[bytes], str]:
    """One function running the decoders of ``specs`` in order on a field's bytes."""
    funcs: list[tuple[Decoder, DecoderSpec]] = [(DECODERS[s.name], s) for s in specs]

    def run(data: bytes) -> str:
        for func, spec in funcs:
            data = func(data, spec)
        return data.decode(errors="replace")

    return run


_SYSCALLS: dict[int, str] | None = None


def _syscall_table() -> dict[int, str]:
    global _SYSCALLS
    if _SYSCALLS is None:
        table: dict[int, str] = {}
        if platform.machine() in ("x86_64", "AMD64"):
            from ._syscalls import X86_64

            table = dict(X86_64)
        _SYSCALLS = table
    return _SYSCALLS


def decoder_spec(item: Any, where: str) -> DecoderSpec:
    """A DecoderSpec from a config item: a decoder name or a mapping with 'name' and its options."""
    if isinstance(item, str):
        item = {"name": item}
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise ConfigError(f"{where}: a decoder is a name or a mapping with 'name', not {item!r}")
    name = item["name"]
    if name not in DECODERS:
        raise ConfigError(f"{where}: unknown decoder {name!r} (known: {', '.join(sorted(DECODERS))})")
    unknown = set(item) - {"name", "static_map", "regexps", "allow_unknown"}
    if unknown:
        raise ConfigError(f"{where}: decoder {name!r} has unknown option(s) {sorted(unknown)}")
    smap = item.get("static_map") or {}
    if not isinstance(smap, Mapping):
        raise ConfigError(f"{where}: static_map must be a mapping")
    regexps = item.get("regexps") or []
    if not isinstance(regexps, list) or not all(isinstance(r, str) for r in regexps):
        raise ConfigError(f"{where}: regexps must be a list of strings")
    for r in regexps:
        try:
            re.compile(r)
        except re.error as exc:
            raise ConfigError(f"{where}: regexp {r!r} does not compile: {exc}") from None
    if name == "regexp" and not regexps:
        raise ConfigError(f"{where}: the regexp decoder needs 'regexps'")
    return DecoderSpec(name, {str(k): str(v) for k, v in smap.items()}, tuple(regexps), bool(item.get("allow_unknown", False)))
