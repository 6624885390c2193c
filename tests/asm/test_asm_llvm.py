"""bpfkit.asm against LLVM: clang-compiled programs, llvm-objdump and llvm-mc encodings."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from bpfkit import asm
from bpfkit.asm import ByteOrder, Instruction, decode, disassemble, encode

_U64 = (1 << 64) - 1


@dataclass(frozen=True)
class CodeSection:
    """One executable section of a compiled object."""

    name: str
    data: bytes
    big_endian: bool


@dataclass(frozen=True)
class ObjdumpLine:
    """One instruction line of llvm-objdump: slot index, raw bytes and text."""

    index: int
    raw: bytes
    text: str


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture
def compile_bpf(tmp_path: Path) -> Callable[..., Path]:
    """Return compile(source, *, target="bpfel", cpu="v3", name="prog") -> object path."""
    clang = _tool("clang")

    def compile_(
        source: str, *, target: str = "bpfel", cpu: str = "v3", name: str = "prog"
    ) -> Path:
        src = tmp_path / f"{name}.c"
        obj = tmp_path / f"{name}-{target}-{cpu}.o"
        src.write_text(source)
        subprocess.run(
            [
                clang,
                "-target",
                target,
                f"-mcpu={cpu}",
                "-O2",
                "-c",
                str(src),
                "-o",
                str(obj),
            ],
            check=True,
            capture_output=True,
        )
        return obj

    return compile_


def code_sections(obj: Path) -> list[CodeSection]:
    """Every non-empty executable section of the ELF object `obj`."""
    with obj.open("rb") as f:
        elf = ELFFile(f)
        big = not elf.little_endian
        return [
            CodeSection(sec.name, sec.data(), big)
            for sec in elf.iter_sections()
            if sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR and sec["sh_size"] > 0
        ]


_LINE = re.compile(r"^\s*(\d+):\t([0-9a-f]{2}(?: [0-9a-f]{2})*)\s*\t(.*)$")


def objdump(obj: Path, section: str) -> list[ObjdumpLine]:
    """llvm-objdump's disassembly of `section` (32-bit ALU/atomics decoded too)."""
    tool = _tool("llvm-objdump")
    out = subprocess.run(
        [tool, "-d", "--mattr=+alu32", f"--section={section}", str(obj)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = []
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            raw = bytes.fromhex(m.group(2).replace(" ", ""))
            lines.append(ObjdumpLine(int(m.group(1)), raw, m.group(3).strip()))
    return lines


@pytest.fixture
def llvm_mc() -> Callable[[list[str], str], list[bytes]]:
    """Return assemble(lines, triple) -> the encoding llvm-mc gives for each line."""
    tool = _tool("llvm-mc")

    def assemble(lines: list[str], triple: str = "bpfel") -> list[bytes]:
        out = subprocess.run(
            [tool, f"-triple={triple}", "-mattr=+alu32", "-show-encoding"],
            input="\n".join(lines) + "\n",
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        encodings = [
            bytes(int(b, 16) for b in m.group(1).split(","))
            for m in re.finditer(r"encoding: \[([^\]]*)\]", out)
        ]
        assert len(encodings) == len(lines), out
        return encodings

    return assemble


_PRELUDE = """
typedef unsigned long long u64; typedef unsigned int u32; typedef unsigned short u16;
typedef unsigned char u8; typedef long long s64; typedef int s32; typedef short s16;
#define SEC(name) __attribute__((section(name), used))
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_loop)(u32 n, void *cb, void *ctx, u64 flags) = (void *)181;
struct { int (*type)[1]; int (*max_entries)[16]; u32 *key; u64 *value; } counts SEC(".maps");
"""

# Loops, a map lookup, fetch and non-fetch atomics on 32 and 64 bits, byte swaps,
# 32-bit ALU, a bpf-to-bpf call and global data (LD_IMM64 with relocations).
ATOMICS_C = (
    _PRELUDE
    + """
struct xdp_md { u32 data, data_end, data_meta, ifindex, queue, egress; };
u64 gcounter = 0;
int gval = 5;
static __attribute__((noinline)) int sub(int x) { return x * 3 + (x >> 2); }
SEC("xdp") int prog(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    u32 key = 1; u64 *v; u64 sum = 0;
    if (data + 16 > end) return 2;
    u16 p = *(u16 *)data;
    u32 q = *(u32 *)(data + 4);
    #pragma clang loop unroll(disable)
    for (int i = 0; i < 8; i++) { sum += ((u8 *)data)[i] ^ i; if (sum > 1000) break; }
    v = bpf_map_lookup_elem(&counts, &key);
    if (v) {
        __sync_fetch_and_add(v, 1);
        sum += __sync_fetch_and_or(v, 2);
        sum += __sync_val_compare_and_swap(v, 3, 4);
        sum += __sync_lock_test_and_set(v, 7);
        __sync_fetch_and_xor((u32 *)v, 9);
        sum += __sync_fetch_and_and((u32 *)v, 9);
        sum += __sync_fetch_and_add((u32 *)v + 1, 11);
        sum += __sync_val_compare_and_swap((u32 *)v, 5, 6);
        sum += __sync_lock_test_and_set((u32 *)v, 8);
        __sync_fetch_and_or((u32 *)v, 16);
        __sync_fetch_and_and(v, 32);
    }
    __sync_fetch_and_add(&gcounter, sum);
    sum += __builtin_bswap16(p) + __builtin_bswap32(q) + __builtin_bswap64(sum);
    sum += sub(gval) + (q / 7) + (q % 5) + ((s64)sum >> 3) - (int)q;
    return sum & 1 ? 1 : 2;
}
"""
)

# Legacy packet loads, 64-bit constants, signed and 32-bit compares, a callback
# passed by address, division, volatile stack traffic of every width.
SOCKET_C = (
    _PRELUDE
    + """
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");
u64 big = 0x123456789abcdef0ULL;
static int cb(u32 i, void *ctx) { *(u64 *)ctx += i; return 0; }
static __attribute__((noinline)) s64 mix(s64 a, u32 b) {
    if (a < -5) a = -a;
    if ((s32)b > 17) a ^= b;
    if (b <= 300) a += 3;
    return a * (s64)b - (a >> 7);
}
SEC("socket") int f(void *skb) {
    u32 off = load_byte(skb, 14) & 0xf;
    u64 s = load_byte(skb, 14) + load_half(skb, 12) + load_word(skb, 26) + load_byte(skb, off);
    volatile u64 x = 0xfffffffffffULL; volatile s32 y = -7; volatile s16 z = -3;
    volatile signed char c = -100;
    s += x * 3 - y; s ^= (u64)z << 5; s |= c;
    s += 0x1122334455667788ULL;
    if ((s64)s < -5) s = ~s;
    if ((u32)s >= 0xfffffff0u) s += 1;
    if ((u32)s != (u32)x) s -= 9;
    bpf_loop(10, cb, &s, 0);
    s += (u64)bpf_map_lookup_elem(&big, &s);
    s = s % 3 + s / 10 + mix((s64)s, (u32)(s >> 3));
    return (int)s + (int)(s >> 33);
}
"""
)


def _to_kernel_syntax(line: ObjdumpLine, big_endian: bool) -> str:
    """Rewrite one llvm-objdump line into the kernel verifier's syntax."""
    text = re.sub(r" <[^<>\s]+>$", "", line.text)  # a branch target's label
    order: ByteOrder = "big" if big_endian else "little"
    src = line.raw[1] & 0xF if big_endian else line.raw[1] >> 4
    imm = int.from_bytes(line.raw[4:8], order, signed=True)
    # "(r1 + 4)" -> "(r1 +4)"
    text = re.sub(r"\((r\d+) ([+-]) (\d+)\)", r"(\1 \2\3)", text)
    m = re.fullmatch(
        r"[wr]0 = cmpxchg(?:32)?_(32|64)\((r\d+) ([+-]) (\d+), [wr]0, [wr](\d+)\)", text
    )
    if m:
        width = "64" if m[1] == "64" else ""
        return (
            f"r0 = atomic{width}_cmpxchg((u{m[1]} *)({m[2]} {m[3]}{m[4]}), r0, r{m[5]})"
        )
    m = re.fullmatch(
        r"[wr](\d+) = xchg(?:32)?_(32|64)\((r\d+) ([+-]) (\d+), [wr](\d+)\)", text
    )
    if m:
        width = "64" if m[2] == "64" else ""
        return (
            f"r{m[1]} = atomic{width}_xchg((u{m[2]} *)({m[3]} {m[4]}{m[5]}), r{m[6]})"
        )
    m = re.fullmatch(
        r"[wr](\d+) = atomic_fetch_(\w+)\(\((u\d+) \*\)(\(r\d+ [+-]\d+\)), [wr](\d+)\)",
        text,
    )
    if m:
        width = "64" if m[3] == "u64" else ""
        return f"r{m[1]} = atomic{width}_fetch_{m[2]}(({m[3]} *){m[4]}, r{m[5]})"
    # The kernel names the full register in memory operations.
    text = re.sub(r"^(\*\(u\d+ \*\)\(r\d+ [+-]\d+\) = )w(\d+)$", r"\1r\2", text)
    text = re.sub(r"^(lock .* )w(\d+)$", r"\1r\2", text)
    text = re.sub(r"^w(\d+) = \*\(", r"r\1 = *(", text)
    m = re.fullmatch(r"if ([wr]\d+) (\S+) (-?\d+) goto ([+-]\d+)", text)
    if m:
        return f"if {m[1]} {m[2]} {int(m[3]) & 0xFFFFFFFF:#x} goto pc{m[4]}"
    text = re.sub(r"goto ([+-]\d+)$", r"goto pc\1", text)
    m = re.fullmatch(r"call (-?\d+)", text)
    if m:
        return f"call pc{int(m[1]):+d}" if src == 1 else f"call #{m[1]}"
    m = re.fullmatch(r"(r\d+) = (-?\d+) ll", text)
    if m:
        return f"{m[1]} = {int(m[2]) & _U64:#x} ll"
    m = re.fullmatch(r"r0 = \*\((u\d+) \*\)skb\[(r\d+)\]", text)
    if m:
        return f"r0 = *({m[1]} *)skb[{m[2]} + {imm}]"
    return text


def _check_against_llvm(obj: Path) -> int:
    """Compare decode/encode/disassemble of every code section with llvm-objdump."""
    checked = 0
    sections = code_sections(obj)
    assert sections, f"{obj} has no code"
    for section in sections:
        order: ByteOrder = "big" if section.big_endian else "little"
        insns = decode(section.data, order)
        assert encode(insns, order) == section.data
        ours = {}
        for text_line in disassemble(insns, numbered=True):
            index, _, text = text_line.partition(": ")
            ours[int(index)] = text
        theirs = {
            line.index: _to_kernel_syntax(line, section.big_endian)
            for line in objdump(obj, section.name)
        }
        assert "<unknown>" not in theirs.values()
        assert ours == theirs, section.name
        # The raw slots objdump shows are the ones decode produced.
        for line in objdump(obj, section.name):
            raw = encode(insns[line.index : line.index + len(line.raw) // 8], order)
            assert raw == line.raw
        checked += len(theirs)
    return checked


@pytest.mark.parametrize("target", ["bpfel", "bpfeb"])
def test_atomics_program_matches_llvm(
    compile_bpf: Callable[..., Path], target: str
) -> None:
    obj = compile_bpf(ATOMICS_C, target=target, cpu="v3", name="atomics")
    assert _check_against_llvm(obj) > 80


@pytest.mark.parametrize("target", ["bpfel", "bpfeb"])
@pytest.mark.parametrize("cpu", ["v1", "v2", "v3"])
def test_socket_program_matches_llvm(
    compile_bpf: Callable[..., Path], target: str, cpu: str
) -> None:
    obj = compile_bpf(SOCKET_C, target=target, cpu=cpu, name="socket")
    assert _check_against_llvm(obj) > 60


def test_compiled_program_features_are_present(
    compile_bpf: Callable[..., Path],
) -> None:
    """The programs above really exercise what the comparison claims to cover."""
    insns: list[Instruction] = []
    for source in (ATOMICS_C, SOCKET_C):
        for section in code_sections(compile_bpf(source, cpu="v3")):
            insns += decode(section.data)
    ops = {i.opcode for i in insns}
    atomic_imms = {i.imm for i in insns if i.is_atomic}
    assert {
        asm.AtomicOp.ADD,
        asm.AtomicOp.FETCH_OR,
        asm.AtomicOp.CMPXCHG,
    } <= atomic_imms
    assert {asm.AtomicOp.XCHG, asm.AtomicOp.XOR, asm.AtomicOp.FETCH_AND} <= atomic_imms
    assert {0xDB, 0xC3} <= ops  # 64- and 32-bit atomics
    assert 0xDC in ops  # byte swap
    assert {0x30, 0x28, 0x20, 0x50} <= ops  # LD_ABS b/h/w, LD_IND b
    assert any(i.is_pseudo_call for i in insns)
    assert any(i.is_helper_call for i in insns)
    assert any(i.is_ld_imm64 for i in insns)
    assert any(i.insn_class == asm.InsnClass.JMP32 for i in insns)
    assert any(i.insn_class == asm.InsnClass.ALU for i in insns)
    assert any(i.is_jump and i.off < 0 for i in insns)  # a loop


# (llvm-mc 14 text, the builder call that must encode the same bytes); llvm-mc 14
# cannot parse MOD, JSET, ST imm or fetch atomics: test_asm_builder covers those.
_MC_CASES: list[tuple[str, list[Instruction]]] = [
    ("r0 = 1", asm.mov64_imm(0, 1)),
    ("r3 = -7", asm.mov64_imm(3, -7)),
    ("r1 = r10", asm.mov64_reg(1, 10)),
    ("w1 = w2", asm.mov32_reg(1, 2)),
    ("w4 = 65533", asm.mov32_imm(4, 65533)),
    ("r2 += -4", asm.alu64_imm("+=", 2, -4)),
    ("r2 -= r3", asm.alu64_reg("-", 2, 3)),
    ("r5 *= 3", asm.alu64_imm("mul", 5, 3)),
    ("r5 /= r6", asm.alu64_reg(asm.AluOp.DIV, 5, 6)),
    ("r1 |= 8", asm.alu64_imm("|=", 1, 8)),
    ("r1 &= r9", asm.alu64_reg("&", 1, 9)),
    ("r1 <<= 32", asm.alu64_imm("<<=", 1, 32)),
    ("r1 >>= 32", asm.alu64_imm(">>", 1, 32)),
    ("r1 ^= r2", asm.alu64_reg("^=", 1, 2)),
    ("r1 s>>= 3", asm.alu64_imm("s>>=", 1, 3)),
    ("w1 += 7", asm.alu32_imm("add", 1, 7)),
    ("w1 s>>= w2", asm.alu32_reg("arsh", 1, 2)),
    ("w7 -= w6", asm.alu32_reg("-=", 7, 6)),
    ("w6 /= 7", asm.alu32_imm("/=", 6, 7)),
    ("r1 = -r1", asm.neg64(1)),
    ("w1 = -w1", asm.neg32(1)),
    ("r0 = be16 r0", asm.endian(0, 16, "be")),
    ("r1 = be32 r1", asm.endian(1, 32, "be")),
    ("r1 = le64 r1", asm.endian(1, 64, "le")),
    ("r1 = 0x123456789abcdef0 ll", asm.ld_imm64(1, 0x123456789ABCDEF0)),
    ("r2 = -2 ll", asm.ld_imm64(2, -2)),
    ("r1 = *(u32 *)(r2 + 8)", asm.ldx_mem(4, 1, 2, 8)),
    ("r1 = *(u64 *)(r10 - 8)", asm.ldx_mem(asm.Size.DW, 1, 10, -8)),
    ("r1 = *(u16 *)(r2 + 2)", asm.ldx_mem(2, 1, 2, 2)),
    ("r1 = *(u8 *)(r2 + 0)", asm.ldx_mem(1, 1, 2, 0)),
    ("*(u64 *)(r10 - 16) = r1", asm.stx_mem(8, 10, 1, -16)),
    ("*(u16 *)(r10 - 2) = w3", asm.stx_mem(2, 10, 3, -2)),
    ("*(u8 *)(r10 - 23) = w1", asm.stx_mem(1, 10, 1, -23)),
    ("lock *(u64 *)(r1 + 0) += r2", asm.atomic_op(8, asm.AtomicOp.ADD, 1, 2, 0)),
    ("lock *(u32 *)(r1 + 4) += w2", asm.atomic_op(4, asm.AtomicOp.ADD, 1, 2, 4)),
    ("r0 = *(u8 *)skb[4]", asm.ld_abs(1, 4)),
    ("r0 = *(u32 *)skb[26]", asm.ld_abs(asm.Size.W, 26)),
    ("r0 = *(u16 *)skb[r3]", asm.ld_ind(2, 3, 0)),
    ("if r1 > 5 goto +3", asm.jmp_imm(">", 1, 5, 3)),
    ("if r1 == r3 goto -1", asm.jmp_reg("==", 1, 3, -1)),
    ("if r3 s> r1 goto +1", asm.jmp_reg("jsgt", 3, 1, 1)),
    ("if r1 s< -5 goto +1", asm.jmp_imm("s<", 1, -5, 1)),
    ("if r1 != 0 goto +9", asm.jmp_imm("!=", 1, 0, 9)),
    ("if r1 >= 7 goto +2", asm.jmp_imm(asm.JmpOp.JGE, 1, 7, 2)),
    ("if r1 <= r2 goto +2", asm.jmp_reg("<=", 1, 2, 2)),
    ("if r1 s>= r2 goto +2", asm.jmp_reg("s>=", 1, 2, 2)),
    ("if r1 s<= 4 goto +2", asm.jmp_imm("s<=", 1, 4, 2)),
    ("if r1 < 4 goto +2", asm.jmp_imm("jlt", 1, 4, 2)),
    ("if w1 s< w2 goto -2", asm.jmp32_reg("s<", 1, 2, -2)),
    ("if w1 > 5 goto +3", asm.jmp32_imm(">", 1, 5, 3)),
    ("goto +5", asm.ja(5)),
    ("goto -1", asm.ja(-1)),
    ("call 1", asm.call_helper(1)),
    ("call 181", asm.call_helper(181)),
    ("exit", asm.exit_insn()),
]


@pytest.mark.parametrize("triple", ["bpfel", "bpfeb"])
def test_builder_encodes_like_llvm_mc(
    llvm_mc: Callable[[list[str], str], list[bytes]], triple: str
) -> None:
    expected = llvm_mc([text for text, _ in _MC_CASES], triple)
    order: ByteOrder = "big" if triple == "bpfeb" else "little"
    for (text, insns), want in zip(_MC_CASES, expected, strict=True):
        assert encode(insns, order) == want, text
        assert decode(want, order) == insns, text
