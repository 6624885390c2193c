"""Kernel modules of an unpacked kernel package: .modinfo, dependencies, load order."""

from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

_SUFFIXES = (".ko.xz", ".ko.zst", ".ko.gz", ".ko")

# Modules the guest needs when they are not built in. REQUIRED ones must exist
# (the shares cannot be mounted without them); the others give tests more to use.
REQUIRED_9P = ("virtio_pci", "9pnet_virtio", "9p")
REQUIRED_VIRTIOFS = ("virtio_pci", "virtiofs")
OPTIONAL = (
    "veth", "dummy", "tun", "sch_ingress", "cls_bpf", "act_bpf", "sch_fq",
    "ipv6", "xt_bpf", "overlay", "loop", "ext4",  # loop + ext4: tests that make a file system on an image
)
# The driver of the scratch disks (--disk).
DISK = ("virtio_blk",)
# Parameters at load time: no device appears until a test creates one.
PARAMS = {"dummy": "numdummies=0"}


def module_name(path: Path | str) -> str:
    """The kernel's name for a module file: 'kernel/fs/9p/9p.ko.xz' -> '9p' ('-' -> '_')."""
    base = Path(path).name
    for suf in _SUFFIXES:
        if base.endswith(suf):
            base = base[: -len(suf)]
            break
    return base.replace("-", "_")


def read_module(path: Path) -> bytes:
    """The ELF bytes of a module file, decompressed by its suffix."""
    name = path.name
    if name.endswith(".xz"):
        return lzma.decompress(path.read_bytes())
    if name.endswith(".gz"):
        return gzip.decompress(path.read_bytes())
    if name.endswith(".zst"):
        zstd = shutil.which("zstd")
        if zstd is None:
            raise RuntimeError(f"{path}: zstd-compressed module and no zstd program")
        return subprocess.run([zstd, "-dc", str(path)], capture_output=True, check=True).stdout
    return path.read_bytes()


def elf_section(elf: bytes, wanted: str) -> bytes | None:
    """The contents of a named section of a little-endian ELF64 file, or None."""
    if len(elf) < 64 or elf[:4] != b"\x7fELF":
        raise ValueError("not an ELF file")
    if elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a little-endian ELF64 file")
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    if shentsize < 64 or shoff + shnum * shentsize > len(elf) or shstrndx >= shnum:
        raise ValueError("ELF section table out of bounds")

    def header(i: int) -> tuple[int, int, int]:
        off = shoff + i * shentsize
        name = struct.unpack_from("<I", elf, off)[0]
        offset, size = struct.unpack_from("<QQ", elf, off + 0x18)
        return name, offset, size

    _, str_off, str_size = header(shstrndx)
    strtab = elf[str_off:str_off + str_size]
    for i in range(shnum):
        name_off, offset, size = header(i)
        end = strtab.find(b"\0", name_off)
        if strtab[name_off:end].decode(errors="replace") == wanted:
            if offset + size > len(elf):
                raise ValueError(f"section {wanted} out of bounds")
            return elf[offset:offset + size]
    return None


def parse_modinfo(section: bytes) -> dict[str, list[str]]:
    """Split a .modinfo section ('key=value\\0...') into {key: [values]}."""
    out: dict[str, list[str]] = {}
    for item in section.split(b"\0"):
        if b"=" in item:
            k, v = item.decode(errors="replace").split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def module_deps(info: Mapping[str, list[str]]) -> list[str]:
    """Hard dependencies followed by 'pre:' soft dependencies of a module's modinfo."""
    deps: list[str] = []
    for value in info.get("depends", []):
        deps += [d.replace("-", "_") for d in value.split(",") if d]
    for value in info.get("softdep", []):
        words = value.split()
        pre = False
        for w in words:
            if w.endswith(":"):
                pre = w == "pre:"
            elif pre:
                deps.append(w.replace("-", "_"))
    return deps


class ModuleTree:
    """The modules directory of one kernel release (lib/modules/<release>)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: dict[str, Path] = {}
        for p in sorted(root.rglob("*.ko*")):
            if p.name.endswith(_SUFFIXES):
                self.paths.setdefault(module_name(p), p)
        self.builtin: set[str] = set()
        bi = root / "modules.builtin"
        if bi.exists():
            self.builtin = {module_name(line.strip()) for line in bi.read_text().splitlines()
                            if line.strip()}
        self._info: dict[str, dict[str, list[str]]] = {}

    def modinfo(self, name: str) -> dict[str, list[str]]:
        """The parsed .modinfo of a module present in the tree."""
        if name not in self._info:
            section = elf_section(read_module(self.paths[name]), ".modinfo")
            self._info[name] = parse_modinfo(section or b"")
        return self._info[name]

    def deps(self, name: str) -> list[str]:
        """The modules `name` needs loaded first: hard, then 'pre:' soft dependencies."""
        return module_deps(self.modinfo(name))

    def alias_target(self, name: str) -> str:
        """The module a soft dependency's alias names ('crypto-crc32c', 'crc32c' -> 'crc32c_generic'), else name.

        Crypto soft dependencies name an algorithm, which the '<algorithm>_generic' module provides (checked
        in its modinfo); the tree has no modules.alias (depmod makes it at install time).
        """
        algo = name.replace("_", "-").removeprefix("crypto-")  # module_deps turned '-' into '_'
        generic = f"{algo.replace('-', '_')}_generic"  # before the name: lib/crc32 is not the crc32 algorithm
        if generic in self.paths and {algo, f"crypto-{algo}"} & set(self.modinfo(generic).get("alias", [])):
            return generic
        if name.startswith("crypto_") and algo.replace("-", "_") in (*self.paths, *self.builtin):
            return algo.replace("-", "_")
        return name

    def load_order(self, required: Iterable[str], optional: Iterable[str] = ()) -> list[str]:
        """Module names to insmod, dependencies first; built-ins and absent optionals dropped.

        Raises LookupError when a required module is neither built in nor present.
        """
        order: list[str] = []
        done: set[str] = set()

        def visit(name: str, stack: tuple[str, ...], must: bool) -> bool:
            """Queue name after its dependencies; False if it cannot be loaded."""
            name = self.alias_target(name)
            if name in done or name in self.builtin or name in stack:
                return True
            if name not in self.paths:
                if must:
                    chain = " -> ".join((*stack, name))
                    raise LookupError(f"module {chain} is neither built in nor in {self.root}")
                return False
            hard = set(module_deps({"depends": self.modinfo(name).get("depends", [])}))
            for dep in self.deps(name):
                if not visit(dep, (*stack, name), must=must and dep in hard) and dep in hard:
                    return False
            done.add(name)
            order.append(name)
            return True

        for n in required:
            visit(n, (), True)
        for n in optional:
            visit(n, (), False)
        return order
