"""Address -> symbol for stacks and instruction pointers: kernel (/proc/kallsyms) and user (ELF symtabs)."""

from __future__ import annotations

import bisect
import functools
import os
from dataclasses import dataclass

__all__ = ["KernelSymbols", "UserSymbols", "elf_functions", "kernel_symbols"]


@dataclass(frozen=True)
class _Sym:
    addr: int
    name: str
    module: str


class KernelSymbols:
    """Sorted kernel symbols of /proc/kallsyms (function symbols: text types)."""

    def __init__(self, text: str) -> None:
        syms: list[_Sym] = []
        zeros = 0
        for line in text.splitlines():
            parts = line.split()
            if len(parts) < 3 or parts[1] not in ("t", "T", "w", "W"):
                continue
            addr = int(parts[0], 16)
            if addr == 0:
                zeros += 1
                continue
            module = parts[3].strip("[]") if len(parts) > 3 else "kernel"
            syms.append(_Sym(addr, parts[2], module))
        syms.sort(key=lambda s: s.addr)
        self._syms = syms
        self.hidden = zeros > 0 and not syms
        """True when the kernel hid every address from the reader (kptr_restrict, no CAP_SYSLOG)."""
        self._addrs = [s.addr for s in syms]
        self._by_name: dict[str, int] = {}
        for s in syms:
            self._by_name.setdefault(s.name, s.addr)

    def resolve(self, addr: int) -> tuple[str, int, str] | None:
        """(name, offset, module) of the symbol containing ``addr``, or None."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0:
            return None
        s = self._syms[i]
        return s.name, addr - s.addr, s.module

    def address(self, name: str) -> int | None:
        """Address of function ``name``, or None."""
        return self._by_name.get(name)


@functools.cache
def kernel_symbols() -> KernelSymbols:
    """The kernel's symbols (read once per process; addresses are zero without privileges)."""
    with open("/proc/kallsyms") as f:
        return KernelSymbols(f.read())


class UserSymbols:
    """Symbols of a process's mapped ELF files, for ``BPF.sym(addr, pid)``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._maps: list[tuple[int, int, int, str]] = []  # start, end, file offset, path
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    parts = line.split(None, 5)
                    if len(parts) < 6 or "x" not in parts[1]:
                        continue
                    path = parts[5].strip()
                    if not path.startswith("/"):
                        continue
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    self._maps.append((lo, hi, int(parts[2], 16), path))
        except OSError:
            pass

    def resolve(self, addr: int) -> tuple[str, int, str] | None:
        """(name, offset, module path) of ``addr`` in the process, or None."""
        for lo, hi, off, path in self._maps:
            if lo <= addr < hi:
                file_off = addr - lo + off
                table = _elf_symbols(path)
                if table is None:
                    return None
                vaddr = table.offset_to_vaddr(file_off)
                hit = table.lookup(vaddr)
                if hit is None:
                    return None
                return hit[0], hit[1], path
        return None


class _ElfTable:
    def __init__(self, funcs: list[tuple[int, int, str]], segments: list[tuple[int, int, int]]) -> None:
        funcs.sort()
        self.funcs = funcs
        self.addrs = [a for a, _, _ in funcs]
        self.segments = segments  # (file offset, vaddr, size)

    def offset_to_vaddr(self, off: int) -> int:
        for foff, vaddr, size in self.segments:
            if foff <= off < foff + size:
                return off - foff + vaddr
        return off

    def lookup(self, vaddr: int) -> tuple[str, int] | None:
        i = bisect.bisect_right(self.addrs, vaddr) - 1
        if i < 0:
            return None
        a, size, name = self.funcs[i]
        if size and vaddr >= a + size:
            return None
        return name, vaddr - a


@functools.lru_cache(maxsize=64)
def _elf_symbols(path: str) -> _ElfTable | None:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    if not os.path.isfile(path):
        return None
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            funcs: list[tuple[int, int, str]] = []
            for secname in (".symtab", ".dynsym"):
                sec = elf.get_section_by_name(secname)
                if sec is None:
                    continue
                for sym in sec.iter_symbols():  # type: ignore[attr-defined]
                    if sym["st_info"]["type"] in ("STT_FUNC", "STT_GNU_IFUNC") and sym["st_value"]:
                        funcs.append((int(sym["st_value"]), int(sym["st_size"]), sym.name))
            segs = [(int(s["p_offset"]), int(s["p_vaddr"]), int(s["p_filesz"])) for s in elf.iter_segments()
                    if s["p_type"] == "PT_LOAD"]
    except (ELFError, OSError, ValueError):
        return None
    return _ElfTable(funcs, segs)


def elf_functions(path: str) -> list[tuple[int, str]]:
    """(address, name) of the function symbols of ELF file ``path`` (cached per path)."""
    table = _elf_symbols(os.path.realpath(path))
    if table is None:
        raise ValueError(f"{path} is not a readable ELF file")
    return [(a, n) for a, _, n in table.funcs]
