"""Structure-aware mutation fuzzer of BPF objects, used by the test suite and by ``make fuzz``.

Each input is a real object (the shipped tools, the test corpus) with one to three of its fields
changed: ELF and section headers, symbols, relocations, BTF (header, type records, strings),
.BTF.ext (func/line info, CO-RE records), instructions. The contract checked on each input:
parsing gives an ObjectSpec or a BpfError; loading gives a Collection or a BpfError and leaves no
fd, no pin and (checked in batches) no kernel object behind; ``bpfkit btf dump`` in raw and C
format writes a dump or exits 1 with a message. Anything else is a failure, saved with its input.

Runs are deterministic: input ``i`` of seed ``s`` is the same on every run (``--replay s:i``).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gc
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BpfError
from ._leaks import bpf_fds, kernel_ids, orphan_ids

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar
    T = TypeVar("T")

__all__ = ["Campaign", "Failure", "Field", "Target", "default_corpus", "main", "make_target", "mutate"]


BTF_MAGIC = 0xEB9F
_SHDR = 64
_SYM = 24
_REL = 16
SHT_SYMTAB, SHT_REL = 2, 9
MAX_MEMORY = 3 << 30
"""Address space a run may add to what the process had (RLIMIT_AS): an input that makes bpfkit allocate
without bound fails with MemoryError (a failure of the contract) instead of taking the machine down."""
MAX_MAP_BYTES = 64 << 20
"""A mutated map bigger than this (entries x (key + value)) is not created: the machine is shared."""

# BTF kinds whose records carry a trailing part: kind -> (fixed extra bytes, bytes per vlen member)
_BTF_TRAIL = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0), 15: (0, 12),
              17: (4, 0), 19: (0, 12)}
# the names of the words of each kind's trailing part (for the value a mutation picks)
_BTF_TRAIL_HINTS: dict[int, tuple[str, ...]] = {
    1: ("int_encoding",), 3: ("type_id", "type_id", "count"), 14: ("flags",), 17: ("index",),
    4: ("str_off", "type_id", "offset"), 5: ("str_off", "type_id", "offset"), 6: ("str_off", "value"),
    13: ("str_off", "type_id"), 15: ("type_id", "offset", "size"), 19: ("str_off", "value", "value"),
}
# kinds whose third word is a size rather than a type id
_SIZED_KINDS = {1, 4, 5, 6, 15, 16, 19}

CATEGORIES = ("elf_header", "section_header", "symbol", "relocation", "btf_header", "btf_type", "btf_string",
              "btf_ext_header", "btf_ext_func", "btf_ext_line", "btf_ext_core", "core_access", "insn")


@dataclass(frozen=True)
class Field:
    """One mutable field of an object: where, how wide, and what kind of value it holds."""

    category: str
    offset: int
    width: int
    hint: str
    record: tuple[int, int] | None = None  # the record (offset, size) the field belongs to


@dataclass
class Target:
    """A corpus object with its mutable fields and the facts the mutations draw values from."""

    name: str
    data: bytes
    fields: dict[str, list[Field]]
    btf: tuple[int, int] | None = None  # offset and size of .BTF in the file
    btf_strings: tuple[int, int] | None = None  # offset and size of the BTF string table in the file
    n_types: int = 0
    records: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    access_strs: list[int] = field(default_factory=list)  # string offsets of the CO-RE access strings


def _u(data: bytes, off: int, width: int) -> int:
    return int.from_bytes(data[off : off + width], "little")


def _btf_fields(data: bytes, base: int, size: int, t: Target) -> None:
    """Fields of the BTF at ``base``: its header, every type record, its string table."""
    if size < 24 or _u(data, base, 2) != BTF_MAGIC:
        return
    hdr_len = _u(data, base + 4, 4)
    type_off, type_len, str_off, str_len = (_u(data, base + 8 + 4 * i, 4) for i in range(4))
    hdr = t.fields.setdefault("btf_header", [])
    hdr += [Field("btf_header", base, 2, "magic"), Field("btf_header", base + 2, 1, "version"),
            Field("btf_header", base + 3, 1, "flags"), Field("btf_header", base + 4, 4, "size")]
    hdr += [Field("btf_header", base + 8 + 4 * i, 4, "offset" if i % 2 == 0 else "size") for i in range(4)]
    types = base + hdr_len + type_off
    strings = base + hdr_len + str_off
    t.btf_strings = (strings, str_len)
    recs = t.fields.setdefault("btf_type", [])
    pos, end, n = types, types + type_len, 0
    while pos + 12 <= end:
        info = _u(data, pos + 4, 4)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        extra, per = _BTF_TRAIL.get(kind, (0, 0))
        rsize = 12 + extra + per * vlen
        rec = (pos, rsize)
        recs += [Field("btf_type", pos, 4, "str_off", rec), Field("btf_type", pos + 4, 4, "kind_info", rec),
                 Field("btf_type", pos + 8, 4, "size" if kind in _SIZED_KINDS else "type_id", rec)]
        hints = _BTF_TRAIL_HINTS.get(kind, ())
        words = (extra + per * vlen) // 4
        step = max(1, len(hints))
        for w in range(words):
            recs.append(Field("btf_type", pos + 12 + 4 * w, 4, hints[w % step] if hints else "value", rec))
        t.records.setdefault("btf_type", []).append(rec)
        pos += rsize
        n += 1
    t.n_types = n
    t.fields["btf_string"] = [Field("btf_string", strings + i, 1, "string_byte") for i in range(1, str_len)]


def _ext_fields(data: bytes, base: int, size: int, t: Target) -> None:
    """Fields of .BTF.ext: its header and the records of its func info, line info and CO-RE parts."""
    if size < 24 or _u(data, base, 2) != BTF_MAGIC:
        return
    hdr_len = _u(data, base + 4, 4)
    hdr = t.fields.setdefault("btf_ext_header", [])
    hdr += [Field("btf_ext_header", base, 2, "magic"), Field("btf_ext_header", base + 2, 1, "version"),
            Field("btf_ext_header", base + 3, 1, "flags"), Field("btf_ext_header", base + 4, 4, "size")]
    parts = [("btf_ext_func", ("offset", "type_id")), ("btf_ext_line", ("offset", "str_off", "str_off", "value")),
             ("btf_ext_core", ("offset", "type_id", "str_off", "core_kind"))]
    for i, (cat, hints) in enumerate(parts):
        if 8 + 8 * i + 8 > hdr_len:
            break
        hdr += [Field("btf_ext_header", base + 8 + 8 * i, 4, "offset"), Field("btf_ext_header", base + 12 + 8 * i, 4, "size")]
        off, length = _u(data, base + 8 + 8 * i, 4), _u(data, base + 12 + 8 * i, 4)
        start = base + hdr_len + off
        end = min(start + length, base + size)
        if length < 4:
            continue
        fs = t.fields.setdefault(cat, [])
        rec_size = _u(data, start, 4)
        fs.append(Field(cat, start, 4, "size"))
        pos = start + 4
        while pos + 8 <= end and rec_size >= 4:
            fs += [Field(cat, pos, 4, "str_off"), Field(cat, pos + 4, 4, "count")]
            num = _u(data, pos + 4, 4)
            pos += 8
            for _ in range(num):
                if pos + rec_size > end:
                    break
                rec = (pos, rec_size)
                t.records.setdefault(cat, []).append(rec)
                if cat == "btf_ext_core" and rec_size >= 12:
                    t.access_strs.append(_u(data, pos + 8, 4))
                fs += [Field(cat, pos + 4 * w, 4, hints[w] if w < len(hints) else "value", rec)
                       for w in range(rec_size // 4)]
                pos += rec_size


def make_target(name: str, data: bytes) -> Target:
    """Index a (valid, little-endian ELF64) BPF object: every field the mutations may touch."""
    from ..obj._elf import ElfFile

    elf = ElfFile(data)
    t = Target(name, data, {})
    t.fields["elf_header"] = [
        Field("elf_header", 4, 1, "byte"), Field("elf_header", 5, 1, "byte"), Field("elf_header", 0x10, 2, "value"),
        Field("elf_header", 0x12, 2, "value"), Field("elf_header", 0x28, 8, "offset"),
        Field("elf_header", 0x3A, 2, "size"), Field("elf_header", 0x3C, 2, "count"), Field("elf_header", 0x3E, 2, "index"),
    ]
    shoff = _u(data, 0x28, 8)
    sh = t.fields["section_header"] = []
    layout = [(0, 4, "str_off"), (4, 4, "sh_type"), (8, 8, "flags"), (24, 8, "offset"), (32, 8, "size"),
              (40, 4, "index"), (44, 4, "index"), (48, 8, "value"), (56, 8, "size")]
    for s in elf.sections:
        rec = (shoff + _SHDR * s.index, _SHDR)
        t.records.setdefault("section_header", []).append(rec)
        sh += [Field("section_header", rec[0] + o, w, h, rec) for o, w, h in layout]
        if s.type == SHT_SYMTAB:
            for i in range(1, s.size // _SYM):
                r = (s.offset + _SYM * i, _SYM)
                t.records.setdefault("symbol", []).append(r)
                t.fields.setdefault("symbol", []).extend([
                    Field("symbol", r[0], 4, "str_off", r), Field("symbol", r[0] + 4, 1, "byte", r),
                    Field("symbol", r[0] + 5, 1, "byte", r), Field("symbol", r[0] + 6, 2, "index", r),
                    Field("symbol", r[0] + 8, 8, "offset", r), Field("symbol", r[0] + 16, 8, "size", r)])
        elif s.type == SHT_REL and not s.name.startswith(".rel.debug") and not s.name.startswith(".rel.BTF"):
            for i in range(s.size // _REL):
                r = (s.offset + _REL * i, _REL)
                t.records.setdefault("relocation", []).append(r)
                t.fields.setdefault("relocation", []).extend([
                    Field("relocation", r[0], 8, "offset", r), Field("relocation", r[0] + 8, 4, "reloc_type", r),
                    Field("relocation", r[0] + 12, 4, "index", r)])
        elif s.name == ".BTF":
            t.btf = (s.offset, s.size)
            _btf_fields(data, s.offset, s.size, t)
        elif s.name == ".BTF.ext":
            _ext_fields(data, s.offset, s.size, t)
        elif s.is_exec and s.size >= 8:
            ins = t.fields.setdefault("insn", [])
            for i in range(min(s.size // 8, 512)):
                p = s.offset + 8 * i
                ins += [Field("insn", p, 1, "byte"), Field("insn", p + 1, 1, "byte"), Field("insn", p + 2, 2, "offset"),
                        Field("insn", p + 4, 4, "value")]
    if t.btf_strings is not None:  # the characters of CO-RE access strings ("0:1:2")
        so, sl = t.btf_strings
        acc = t.fields["core_access"] = []
        for off in sorted(set(t.access_strs)):
            end = data.find(b"\0", so + off, so + sl)
            acc += [Field("core_access", p, 1, "access_char") for p in range(so + off, end if end >= 0 else so + off)]
    t.fields = {k: v for k, v in t.fields.items() if v}
    return t


def _value(f: Field, t: Target, buf: bytearray, rng: random.Random) -> int:
    """A new value for ``f``: a boundary of its width, a near miss of the old value, or one that makes sense for its hint."""
    bits = 8 * f.width
    top = (1 << bits) - 1
    old = int.from_bytes(buf[f.offset : f.offset + f.width], "little")
    str_len = t.btf_strings[1] if t.btf_strings else 64
    generic = [0, 1, top, top - 1, 1 << (bits - 1), (1 << (bits - 1)) - 1, (old + 1) & top, (old - 1) & top,
               old ^ (1 << rng.randrange(bits)), rng.getrandbits(bits), len(t.data) & top, rng.randrange(0, 64)]
    specific: list[int] = []
    if f.hint == "type_id":
        n = t.n_types
        specific = [0, n, n + 1, n + 2, rng.randrange(0, n + 1), 0x7FFFFFFF, old]
    elif f.hint == "str_off":
        specific = [0, str_len - 1, str_len, str_len + 1, rng.randrange(0, max(1, str_len)), (old + 1) & top]
    elif f.hint == "kind_info":
        kind, vlen, kflag = (old >> 24) & 0x1F, old & 0xFFFF, old >> 31
        choice = rng.randrange(4)
        if choice == 0:
            kind = rng.randrange(0, 32)
        elif choice == 1:
            vlen = rng.choice([0, vlen + 1, max(0, vlen - 1), 0xFFFF, rng.randrange(0, 0x10000)])
        elif choice == 2:
            kflag ^= 1
        else:
            return rng.getrandbits(32)
        return (kflag << 31) | (kind << 24) | (vlen & 0xFFFF)
    elif f.hint == "access_char":
        return int(rng.choice([*b"0123456789:", 0, ord("a"), ord("-"), 0xFF]))
    elif f.hint == "string_byte":
        return rng.choice([0, ord("A"), ord("."), ord("/"), 0xFF, 0x80, rng.randrange(256)])
    elif f.hint == "sh_type":
        specific = [0, 1, 2, 3, 4, 8, 9, 11, 0x6FFF4C03, 0x70000000]
    elif f.hint == "reloc_type":
        specific = [0, 1, 2, 3, 4, 10, 5, 11]
    elif f.hint == "core_kind":
        specific = list(range(0, 14))
    elif f.hint in ("size", "count", "offset"):
        specific = [old * 2 & top, old // 2, (old + 4) & top, (old - 4) & top, (old + 8) & top]
    elif f.hint == "index":
        specific = [0, 0xFFFF & top, (old + 1) & top, rng.randrange(0, 32)]
    pool = specific + generic if specific and rng.random() < 0.6 else generic + specific
    return pool[rng.randrange(len(pool))] & top


def mutate(t: Target, rng: random.Random) -> tuple[bytes, list[str]]:
    """One input: ``t``'s bytes with one to three fields or records changed; returns it and what was done."""
    buf = bytearray(t.data)
    done: list[str] = []
    count = rng.choices([1, 2, 3], weights=[6, 3, 1])[0]
    cats = sorted(t.fields)
    for _ in range(count):
        cat = rng.choice(cats)
        records = t.records.get(cat, [])
        op = rng.random()
        if op < 0.08 and len(records) >= 2:  # swap, copy or zero whole records of the same table
            a, b = rng.sample(records, 2)
            how = rng.choice(["swap", "copy", "zero"])
            ra, rb = bytes(buf[a[0] : a[0] + a[1]]), bytes(buf[b[0] : b[0] + b[1]])
            if a[1] == b[1] and (ra != rb if how != "zero" else any(ra)):
                if how == "swap":
                    buf[a[0] : a[0] + a[1]], buf[b[0] : b[0] + b[1]] = rb, ra
                elif how == "copy":
                    buf[b[0] : b[0] + b[1]] = ra
                else:
                    buf[a[0] : a[0] + a[1]] = bytes(a[1])
                done.append(f"{cat}: {how} records at {a[0]:#x} and {b[0]:#x}")
                continue
        if op > 0.98:
            cut = rng.randrange(0, len(buf))
            del buf[cut:]
            done.append(f"truncate: at {cut:#x}")
            continue
        f = rng.choice(t.fields[cat])
        if f.offset + f.width > len(buf):
            continue
        value = _value(f, t, buf, rng)
        old = int.from_bytes(buf[f.offset : f.offset + f.width], "little")
        if value == old:  # a change, always: flip one bit instead
            value ^= 1 << rng.randrange(8 * f.width)
        buf[f.offset : f.offset + f.width] = value.to_bytes(f.width, "little")
        done.append(f"{cat}: {f.hint} at {f.offset:#x} ({f.width} B) {old:#x} -> {value:#x}")
    return bytes(buf), done


@dataclass
class Failure:
    """An input that broke the contract: where, what was raised, how to get it back."""

    stage: str
    seed: int
    index: int
    target: str
    mutations: list[str]
    error: str
    trace: str

    @property
    def signature(self) -> str:
        """Same stage, exception type and innermost frame: the same defect, most likely."""
        last = [ln for ln in self.trace.splitlines() if ln.strip().startswith("File ")][-1:] or [""]
        return f"{self.stage}|{self.error.split(':', 1)[0]}|{last[0].strip()}"


def default_corpus(*, compile_tests: bool = True) -> list[tuple[str, bytes]]:
    """The objects to mutate: the shipped tools and, when clang is there, objects of the test corpus."""
    tools = Path(__file__).resolve().parent.parent / "tools"
    out = [(p.name, p.read_bytes()) for p in sorted(tools.glob("*.bpf.o"))]
    tests_bpf = Path(__file__).resolve().parents[3] / "tests" / "bpf"
    if compile_tests and tests_bpf.is_dir() and shutil.which(os.environ.get("CLANG", "clang")):
        from .compile import compile_bpf

        for name in ("core_read_task", "global_aggregates", "map_in_map", "subprog_global", "callback_fnptr",
                     "extern_kconfig", "legacy_maps", "map_pinning", "core_bitfields", "prog_array_tail_call", "core_flavor",
                     "core_missing_guarded"):
            src = tests_bpf / f"{name}.bpf.c"
            if not src.exists():
                continue
            try:
                out.append((f"{name}.bpf.o", compile_bpf(src).read_bytes()))
            except RuntimeError:  # this kernel's vmlinux.h lacks what the source reads (core_bitfields on
                continue  # arm64 6.1): the fuzzer needs objects to mutate, not this one in particular
    return out


def _vm_size() -> int:
    """This process's address space now (VmSize), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _map_too_big(spec: Any) -> bool:
    for m in spec.maps.values():
        inner = m.inner
        per = m.key_size + m.value_size + 64
        if m.max_entries * per > MAX_MAP_BYTES or (inner is not None and inner.max_entries * 64 > MAX_MAP_BYTES):
            return True
    return False


class Campaign:
    """A seeded run over a corpus: mutate, check each stage's outcome, count, keep the failures."""

    def __init__(
        self,
        corpus: Sequence[tuple[str, bytes]],
        *,
        seed: int = 0,
        load: bool = True,
        dump: bool = True,
        cli_every: int = 0,
        id_check_every: int = 0,
        save_dir: str | os.PathLike[str] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.targets = [make_target(n, d) for n, d in corpus]
        self.seed = seed
        self.load = load
        self.dump = dump
        self.cli_every = cli_every
        self.id_check_every = id_check_every
        self.save_dir = Path(save_dir) if save_dir is not None else None
        self.log = log
        self.inputs = 0
        self.mutations = 0
        self.by_category: Counter[str] = Counter()
        self.outcomes: dict[str, Counter[str]] = {}
        self.failures: list[Failure] = []
        self.signatures: Counter[str] = Counter()
        self.orphans: dict[str, set[int]] = {}
        self.names: set[str] = set()
        for t in self.targets:
            for tab in (t.data.split(b"\0")):
                if 0 < len(tab) < 256:
                    s = tab.decode(errors="replace")
                    self.names.update({s[:15], s.lstrip(".")[:15]})
        self._made: dict[str, set[int]] = {}  # ids that appeared during a load of this campaign
        self._made_by: dict[tuple[str, int], int] = {}  # ... and the input that was loading then
        self._tmp = tempfile.mkdtemp(prefix="bpfkit-fuzz-")
        self._pin_dir: str | None = None

    # ---- stages -------------------------------------------------------------------

    def _count(self, stage: str, outcome: str) -> None:
        self.outcomes.setdefault(stage, Counter())[outcome] += 1

    def _fail(self, stage: str, index: int, target: Target, done: list[str], data: bytes, error: str, trace: str) -> None:
        f = Failure(stage, self.seed, index, target.name, done, error, trace)
        self.failures.append(f)
        self.signatures[f.signature] += 1
        if self.log:
            self.log(f"FAIL {stage} seed {self.seed} input {index} ({target.name}): {error}")
        if self.signatures[f.signature] <= 3:
            self._save(stage, index, target, done, data, trace)

    def _save(self, stage: str, index: int, target: Target, done: list[str], data: bytes, trace: str) -> None:
        """Write an input and how to replay it under ``save_dir`` (when there is one)."""
        if self.save_dir is None:
            return
        self.save_dir.mkdir(parents=True, exist_ok=True)
        stem = self.save_dir / f"{self.seed}-{index}-{target.name.split('.')[0]}-{stage.replace(' ', '_')}"
        stem.with_suffix(".o").write_bytes(data)
        stem.with_suffix(".txt").write_text(
            f"replay: python -m bpfkit.testing.fuzz --replay {self.seed}:{index}\n"
            f"stage: {stage}\nobject: {target.name}\nmutations:\n  " + "\n  ".join(done) + f"\n\n{trace}")

    def _stage(self, stage: str, fn: Callable[[], T], ctx: tuple[int, Target, list[str], bytes]) -> T | None:
        try:
            result = fn()
        except BpfError as exc:
            if stage == "load" and getattr(exc, "errno", None) == errno.EFAULT:
                # allowed, but the kernel's verifier answers EFAULT to what it calls its own bug (and WARNs)
                self._count(stage, f"{type(exc).__name__} EFAULT (kernel verifier bug?)")
                self._save("kernel-efault", *ctx, str(exc)[-2000:])
            else:
                self._count(stage, type(exc).__name__)
            return None
        except Exception as exc:
            traceback.clear_frames(exc.__traceback__)  # a MemoryError's frames hold what filled the memory
            self._count(stage, f"FAIL {type(exc).__name__}")
            self._fail(stage, *ctx, f"{type(exc).__name__}: {exc}"[:500], traceback.format_exc())
            return None
        self._count(stage, "ok")
        return result

    def _pins(self) -> str:
        if self._pin_dir is None:
            from .._sys.mounts import ensure_bpffs_for

            root = "/sys/fs/bpf"
            ensure_bpffs_for(root)
            self._pin_dir = tempfile.mkdtemp(prefix="bpfkit-fuzz-", dir=root)
        return self._pin_dir

    def _load(self, spec: Any, ctx: tuple[int, Target, list[str], bytes]) -> None:
        from ..collection import load

        if _map_too_big(spec):
            self._count("load", "skipped (map too big for a shared machine)")
            return
        pin_dir = self._pins()
        fds = bpf_fds()
        ids = kernel_ids()

        def run() -> None:
            col = load(spec, pin_path=pin_dir)
            col.unpin()  # a pin by name is wanted after a successful load; the fuzzer removes it
            col.close()

        self._stage("load", run, ctx)
        for kind, now in kernel_ids().items():  # what appeared during this load: ours, most likely
            made = now - ids[kind]
            self._made.setdefault(kind, set()).update(made)
            for i in made:
                self._made_by[(kind, i)] = ctx[0]
        leaked = {fd: t for fd, t in bpf_fds().items() if fds.get(fd) != t}
        if leaked:  # what only a garbage collection frees is no leak (as in the suite's leak fixture)
            gc.collect()
            leaked = {fd: t for fd, t in bpf_fds().items() if fds.get(fd) != t}
        left = sorted(os.listdir(pin_dir))
        if leaked or left:
            self._fail("load-leak", *ctx, f"left behind: fds {leaked}, pins {left}", "")
            for fd in leaked:
                with contextlib.suppress(OSError):
                    os.close(fd)
            for n in left:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(pin_dir, n))

    def _dump_inproc(self, path: str, fmt: str, ctx: tuple[int, Target, list[str], bytes]) -> None:
        from ..cli import main as cli_main

        out = os.path.join(self._tmp, f"dump.{fmt}")

        def run() -> int:
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                rc = cli_main(["btf", "dump", path, "-f", fmt, "-o", out])
            if rc not in (0, 1) or (rc == 1 and not err.getvalue().startswith("bpfkit: ")):
                raise AssertionError(f"exit {rc}, stderr {err.getvalue()[:300]!r}")
            return rc

        rc = self._stage(f"btf dump {fmt}", run, ctx)
        if rc is not None:  # _stage counted "ok": say which exit
            self.outcomes[f"btf dump {fmt}"]["ok"] -= 1
            self._count(f"btf dump {fmt}", f"exit {rc}")

    def _dump_cli(self, path: str, fmt: str, ctx: tuple[int, Target, list[str], bytes]) -> None:
        cmd = [sys.executable, "-m", "bpfkit", "btf", "dump", path, "-f", fmt, "-o", os.devnull]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if r.returncode in (0, 1) and "Traceback" not in r.stderr and (r.returncode == 0 or r.stderr.startswith("bpfkit: ")):
            self._count(f"cli btf dump {fmt}", f"exit {r.returncode}")
        else:
            self._count(f"cli btf dump {fmt}", f"FAIL exit {r.returncode}")
            self._fail(f"cli btf dump {fmt}", *ctx, f"exit {r.returncode}: {r.stderr.strip()[-300:]}", r.stderr)

    def one(self, index: int) -> None:
        """Make input ``index`` and check every stage on it."""
        from ..obj import ObjectSpec

        rng = random.Random(f"{self.seed}:{index}")
        target = rng.choice(self.targets)
        data, done = mutate(target, rng)
        self.inputs += 1
        self.mutations += len(done)
        self.by_category.update(d.split(":", 1)[0] for d in done)
        ctx = (index, target, done, data)
        spec = self._stage("parse", lambda: ObjectSpec.from_bytes(data), ctx)
        if spec is not None and self.load:
            self._load(spec, ctx)
        if not self.dump:
            return
        touched_btf = any(d.startswith("btf_") and not d.startswith("btf_ext") for d in done)
        if touched_btf and target.btf is not None:
            path = os.path.join(self._tmp, "input.btf")
            Path(path).write_bytes(data[target.btf[0] : target.btf[0] + target.btf[1]])
        elif rng.random() < 0.15:
            path = os.path.join(self._tmp, "input.o")
            Path(path).write_bytes(data)
        else:
            return
        for fmt in ("raw", "c"):
            self._dump_inproc(path, fmt, ctx)
        if self.cli_every and index % self.cli_every == 0:
            self._dump_cli(path, rng.choice(["raw", "c"]), ctx)

    def check_kernel(self, before: dict[str, set[int]]) -> None:
        """Objects created since ``before`` that are still in the kernel and held by nobody.

        Only objects that appeared while this campaign was loading an input count (other processes
        share the kernel), and programs and maps only with a name from the corpus.
        """
        found = orphan_ids(before, names=lambda n: n in self.names or "." in n)  # "." in n: a data section's map
        found = {k: v & self._made.get(k, set()) for k, v in found.items()}
        found = {k: v for k, v in found.items() if v}
        for kind, ids in found.items():
            self.orphans.setdefault(kind, set()).update(ids)
        self._count("kernel ids", "orphans" if found else "clean")
        if found and self.log:
            inputs = sorted({self._made_by[(k, i)] for k, v in found.items() for i in v})
            self.log(f"FAIL kernel objects left: {found}, made while loading input(s) {inputs} of seed {self.seed}")
        self._made.clear()
        self._made_by.clear()

    def run(self, *, count: int | None = None, seconds: float | None = None, start: int = 0) -> Campaign:
        """Inputs ``start``, ``start + 1``, ... until ``count`` were made or ``seconds`` passed."""
        before = kernel_ids() if self.load else None
        end = None if seconds is None else time.monotonic() + seconds
        i = start
        limit = resource.getrlimit(resource.RLIMIT_AS)
        cap = _vm_size() + MAX_MEMORY
        if limit[1] != resource.RLIM_INFINITY:
            cap = min(cap, limit[1])
        if limit[0] == resource.RLIM_INFINITY or limit[0] > cap:
            resource.setrlimit(resource.RLIMIT_AS, (cap, limit[1]))
        try:
            while (count is None or i < start + count) and (end is None or time.monotonic() < end):
                self.one(i)
                i += 1
                if self.id_check_every and before is not None and i % self.id_check_every == 0:
                    self.check_kernel(before)
                    before = kernel_ids()
                if self.log and i % 1000 == 0:
                    self.log(f"{i - start} inputs, {self.mutations} mutations, {len(self.failures)} failures")
        finally:
            resource.setrlimit(resource.RLIMIT_AS, limit)
            if before is not None:
                self.check_kernel(before)
        return self

    def close(self) -> None:
        """Remove the scratch directory and the private pin directory."""
        shutil.rmtree(self._tmp, ignore_errors=True)
        if self._pin_dir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._pin_dir)

    def summary(self) -> dict[str, Any]:
        """The counts of the run as plain data (JSON-ready)."""
        return {
            "seed": self.seed,
            "objects": [t.name for t in self.targets],
            "inputs": self.inputs,
            "mutations": self.mutations,
            "mutations_by_category": dict(sorted(self.by_category.items())),
            "outcomes": {stage: dict(c.most_common()) for stage, c in self.outcomes.items()},
            "failures": len(self.failures),
            "distinct_failures": dict(self.signatures.most_common()),
            "kernel_orphans": {k: sorted(v) for k, v in self.orphans.items()},
        }

    def report(self) -> str:
        """The counts as text: inputs, mutations by category, outcomes by stage and exception type."""
        s = self.summary()
        lines = [f"seed {s['seed']}: {s['inputs']} inputs, {s['mutations']} mutations over {len(s['objects'])} objects"]
        lines.append("mutations: " + ", ".join(f"{k} {v}" for k, v in s["mutations_by_category"].items()))
        for stage, c in s["outcomes"].items():
            lines.append(f"{stage}: " + ", ".join(f"{k} {v}" for k, v in c.items() if v))
        lines.append(f"failures: {s['failures']} ({len(s['distinct_failures'])} distinct)")
        lines += [f"  {n} x {sig}" for sig, n in s["distinct_failures"].items()]
        lines.append(f"kernel objects left: {s['kernel_orphans'] or 'none'}")
        return "\n".join(lines)


def _parse_args(argv: Iterable[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bpfkit.testing.fuzz", description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", "60")),
                   help="how long to run (default $FUZZ_SECONDS or 60)")
    p.add_argument("--count", type=int, default=None, help="stop after this many inputs")
    p.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "0") or 0), help="default $FUZZ_SEED or 0")
    p.add_argument("--out", default=os.environ.get("FUZZ_OUT", "build/fuzz-failures"),
                   help="where failing inputs are saved (default $FUZZ_OUT or build/fuzz-failures)")
    p.add_argument("--no-load", action="store_true", help="parse and dump only: no kernel")
    p.add_argument("--no-tests", action="store_true", help="mutate only the shipped tool objects (no clang)")
    p.add_argument("--cli-every", type=int, default=200, help="run the bpfkit CLI on every Nth input that is dumped")
    p.add_argument("--id-check-every", type=int, default=500, help="look for kernel objects left every N inputs")
    p.add_argument("--replay", metavar="SEED:INDEX", help="run one input again and print its mutations and outcomes")
    p.add_argument("--json", metavar="FILE", help="also write the counts as JSON")
    return p.parse_args(list(argv) if argv is not None else None)


def main(argv: Iterable[str] | None = None) -> int:
    """``make fuzz``: run a campaign, save failing inputs, print the counts; exit 1 on any failure."""
    ns = _parse_args(argv)
    corpus = default_corpus(compile_tests=not ns.no_tests)
    if ns.replay:
        seed, index = (int(x) for x in ns.replay.split(":"))
        camp = Campaign(corpus, seed=seed, load=not ns.no_load, cli_every=1, save_dir=None, log=print)
        rng = random.Random(f"{seed}:{index}")
        target = rng.choice(camp.targets)
        print(f"input {seed}:{index} on {target.name}:\n  " + "\n  ".join(mutate(target, rng)[1]))
        try:
            camp.run(count=1, start=index)
        finally:
            camp.close()
        print(camp.report())
        for f in camp.failures:
            print(f.trace)
        return 1 if camp.failures else 0
    camp = Campaign(corpus, seed=ns.seed, load=not ns.no_load, cli_every=ns.cli_every, id_check_every=ns.id_check_every,
                    save_dir=ns.out, log=lambda m: print(m, flush=True))
    t0 = time.monotonic()
    try:
        camp.run(count=ns.count, seconds=None if ns.count is not None else ns.seconds)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    finally:
        camp.close()
    print(f"{time.monotonic() - t0:.0f} s")
    print(camp.report())
    if camp.failures:
        print(f"failing inputs saved under {ns.out}")
    if ns.json:
        Path(ns.json).write_text(json.dumps(camp.summary(), indent=1))
    return 1 if camp.failures or camp.orphans else 0


if __name__ == "__main__":
    sys.exit(main())
