"""Hand-assembled BPF producers and consumers for the ring buffer tests (raw_tp, run with test_run).

Every producer numbers its records: record ``seq`` holds the u64 words
``w[0] = seq`` and ``w[k] = (seq << 8) | k``, so a test can check both order
and content. ``ctx`` of the raw_tp run is two u64: the record count and the
first sequence number.

Where the kernel has bpf_loop (Linux 5.17) one run writes all the records; on
older kernels (probed) the producers write one record per run and :func:`run`
runs them once per record, so the same tests hold on both.
"""

from __future__ import annotations

import ctypes
import struct

from bpfkit import features
from bpfkit._sys import Fd
from bpfkit._sys import commands as C
from bpfkit._uapi import HelperId, MapType
from bpfkit.asm import Assembler, AtomicOp
from bpfkit.programs import Program

RAW_TP = "raw_tracepoint"


def _func_btf(names: list[str]) -> bytes:
    """A minimal BTF blob: ``long``, one ``long f(long, long)`` prototype and a static FUNC per name."""
    strings = b"\0long\0a\0b\0" + b"".join(n.encode() + b"\0" for n in names)
    types = struct.pack("<III", 1, 1 << 24, 8) + struct.pack("<I", (1 << 24) | 64)  # [1] INT long, signed 64
    types += struct.pack("<III", 0, (13 << 24) | 2, 1) + struct.pack("<IIII", 6, 1, 8, 1)  # [2] FUNC_PROTO
    off = 10
    for n in names:  # [3...] FUNC name -> [2], static linkage
        types += struct.pack("<III", off, 12 << 24, 2)
        off += len(n) + 1
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return header + types + strings


def have_loop() -> bool:
    """Whether raw_tp programs may call bpf_loop here (else the producers write one record per run)."""
    return features.have_helper(RAW_TP, "loop")


def load(a: Assembler, name: str, subprogs: tuple[str, ...] = (), *, one_per_run: bool = False) -> Program:
    """Load a raw_tp program; subprograms (callbacks) get the BTF func_info the kernel requires for them."""
    insns = a.program()
    if not subprogs:
        prog = Program.load(RAW_TP, insns, name=name)
    else:
        starts = [0] + [a.labels[s] for s in subprogs]
        btf_fd, _ = C.btf_load(_func_btf(["main", *subprogs]))
        with Fd(btf_fd, "btf") as btf:
            func_info = b"".join(struct.pack("<II", start, 3 + i) for i, start in enumerate(starts))
            prog = Program.load(RAW_TP, insns, name=name, btf_fd=btf.fd, func_info=func_info)
    prog.one_per_run = one_per_run  # type: ignore[attr-defined]  # read by run()
    return prog


def create_map(map_type: MapType, key_size: int, value_size: int, max_entries: int, name: str) -> Fd:
    """A new map, owned by the returned Fd."""
    return Fd(C.map_create(int(map_type), key_size, value_size, max_entries, name=name), f"map {name}")


def ringbuf_map(size: int, name: str = "rb") -> Fd:
    return create_map(MapType.RINGBUF, 0, 0, size, name)


def counter_map(slots: int = 2, name: str = "counters") -> Fd:
    """An array with one entry of ``slots`` u64 counters."""
    return create_map(MapType.ARRAY, 4, 8 * slots, 1, name)


def read_counters(fd: Fd, slots: int = 2) -> list[int]:
    key = ctypes.c_uint32(0)
    value = ctypes.create_string_buffer(8 * slots)
    C.map_lookup_elem(fd.fd, ctypes.addressof(key), ctypes.addressof(value))
    return list(struct.unpack(f"<{slots}Q", value.raw))


def write_counters(fd: Fd, values: list[int]) -> None:
    key = ctypes.c_uint32(0)
    value = ctypes.create_string_buffer(struct.pack(f"<{len(values)}Q", *values), 8 * len(values))
    C.map_update_elem(fd.fd, ctypes.addressof(key), ctypes.addressof(value))


def expected_record(seq: int, size: int) -> bytes:
    """The bytes the producers write for record ``seq`` (``size`` bytes)."""
    words = [seq] + [((seq << 8) | k) & (2**64 - 1) for k in range(1, (size + 7) // 8)]
    return struct.pack(f"<{len(words)}Q", *words)[:size]


def _fill_record(a: Assembler, seq_reg: int, stack_off: int, size: int, tmp: int = 1) -> None:
    """Write the words of record ``seq`` (in ``seq_reg``) to the stack at ``r10 + stack_off``."""
    a.stx_mem(8, 10, seq_reg, stack_off)
    for k in range(1, (size + 7) // 8):
        a.mov64_reg(tmp, seq_reg).alu64_imm("<<", tmp, 8).alu64_imm("|", tmp, k)
        a.stx_mem(8, 10, tmp, stack_off + 8 * k)


def _count_failure(a: Assembler, counters_fd: int, slot: int = 0) -> None:
    a.ld_map_value(1, counters_fd, 8 * slot).mov64_imm(2, 1).atomic_op(8, AtomicOp.ADD, 1, 2, 0)


def _main_loop(a: Assembler, pass_ctx: bool = False) -> bool:
    """main: bpf_loop(ctx[0], cb, &{base = ctx[1], ctx}, 0); return the iterations run.

    Without bpf_loop: call cb(0, &{base, ctx}) once and return 1. Returns whether it loops.
    """
    loop = have_loop()
    a.mov64_reg(6, 1)
    a.ldx_mem(8, 7, 6, 0)
    a.ldx_mem(8, 8, 6, 8)
    a.stx_mem(8, 10, 8, -16)
    if pass_ctx:
        a.stx_mem(8, 10, 6, -8)
    if loop:
        a.mov64_reg(1, 7).ld_func(2, "cb").mov64_reg(3, 10).alu64_imm("+", 3, -16).mov64_imm(4, 0)
        a.call_helper(HelperId.loop)
    else:
        a.mov64_imm(1, 0).mov64_reg(2, 10).alu64_imm("+", 2, -16).call_rel("cb").mov64_imm(0, 1)
    a.exit_insn()
    return loop


def ringbuf_output_producer(rb_fd: int, counters_fd: int, size: int = 64, flags: int = 0) -> Program:
    """Loop ctx[0] times: bpf_ringbuf_output(record seq, size); failures counted in counters[0]."""
    a = Assembler()
    loops = _main_loop(a)
    stack = -((size + 7) // 8) * 8
    a.label("cb")
    a.ldx_mem(8, 6, 2, 0).alu64_reg("+", 6, 1)  # seq = base + index
    _fill_record(a, 6, stack, size)
    a.ld_map_fd(1, rb_fd).mov64_reg(2, 10).alu64_imm("+", 2, stack).mov64_imm(3, size).mov64_imm(4, flags)
    a.call_helper(HelperId.ringbuf_output)
    a.jmp_imm("==", 0, 0, "ok")
    _count_failure(a, counters_fd)
    a.label("ok").mov64_imm(0, 0).exit_insn()
    return load(a, "rb_output", ("cb",), one_per_run=not loops)


def ringbuf_reserve_producer(rb_fd: int, counters_fd: int, size: int = 64, discard_every: int = 3) -> Program:
    """Like the output producer, but reserve each record and discard those with seq % discard_every == 0."""
    a = Assembler()
    loops = _main_loop(a)
    a.label("cb")
    a.ldx_mem(8, 6, 2, 0).alu64_reg("+", 6, 1)
    a.ld_map_fd(1, rb_fd).mov64_imm(2, size).mov64_imm(3, 0).call_helper(HelperId.ringbuf_reserve)
    a.jmp_imm("!=", 0, 0, "got")
    _count_failure(a, counters_fd)
    a.mov64_imm(0, 0).exit_insn()
    a.label("got").mov64_reg(7, 0)
    a.stx_mem(8, 7, 6, 0)
    for k in range(1, size // 8):
        a.mov64_reg(1, 6).alu64_imm("<<", 1, 8).alu64_imm("|", 1, k).stx_mem(8, 7, 1, 8 * k)
    a.mov64_reg(2, 6).alu64_imm("%", 2, discard_every)
    a.mov64_reg(1, 7)
    a.jmp_imm("==", 2, 0, "drop")
    a.mov64_imm(2, 0).call_helper(HelperId.ringbuf_submit).mov64_imm(0, 0).exit_insn()
    a.label("drop").mov64_imm(2, 0).call_helper(HelperId.ringbuf_discard).mov64_imm(0, 0).exit_insn()
    return load(a, "rb_reserve", ("cb",), one_per_run=not loops)


def ringbuf_busy_producer(rb_fd: int, flag_fd: int, size: int = 16) -> Program:
    """Reserve A (seq 0), reserve and submit B (seq 1), spin until flag[0] != 0, then submit A.

    Returns 1 if the flag released it, 0 if the spin ran out (the window closed
    on its own), -1 if a reservation failed.
    """
    a = Assembler()
    a.ld_map_fd(1, rb_fd).mov64_imm(2, size).mov64_imm(3, 0).call_helper(HelperId.ringbuf_reserve)
    a.jmp_imm("!=", 0, 0, "a_ok").mov64_imm(0, -1).exit_insn()
    a.label("a_ok").mov64_reg(6, 0).st_mem(8, 6, 0, 0)
    a.ld_map_fd(1, rb_fd).mov64_imm(2, size).mov64_imm(3, 0).call_helper(HelperId.ringbuf_reserve)
    a.jmp_imm("!=", 0, 0, "b_ok")
    a.mov64_reg(1, 6).mov64_imm(2, 0).call_helper(HelperId.ringbuf_discard).mov64_imm(0, -1).exit_insn()
    a.label("b_ok").st_mem(8, 0, 0, 1).mov64_reg(1, 0).mov64_imm(2, 0).call_helper(HelperId.ringbuf_submit)
    a.mov64_imm(1, 64).ld_func(2, "spin").mov64_imm(3, 0).mov64_imm(4, 0).call_helper(HelperId.loop)
    a.mov64_reg(1, 6).mov64_imm(2, 0).call_helper(HelperId.ringbuf_submit)
    a.ld_map_value(1, flag_fd, 0).ldx_mem(8, 0, 1, 0).exit_insn()
    # spin: up to 64 x 2^23 flag checks (seconds), leaving as soon as the flag is set
    a.label("spin").mov64_imm(1, 1 << 23).ld_func(2, "spin_in").mov64_imm(3, 0).mov64_imm(4, 0)
    a.call_helper(HelperId.loop)
    a.label("check").ld_map_value(1, flag_fd, 0).ldx_mem(8, 0, 1, 0)
    a.jmp_imm("!=", 0, 0, "out").mov64_imm(0, 0).exit_insn()
    a.label("out").mov64_imm(0, 1).exit_insn()
    a.label("spin_in").ld_map_value(1, flag_fd, 0).ldx_mem(8, 0, 1, 0)
    a.jmp_imm("!=", 0, 0, "out_in").mov64_imm(0, 0).exit_insn()
    a.label("out_in").mov64_imm(0, 1).exit_insn()
    return load(a, "rb_busy", ("spin", "spin_in"))


def perf_output_producer(perf_fd: int, counters_fd: int, size: int = 64) -> Program:
    """Loop ctx[0] times: bpf_perf_event_output(ctx, map, CURRENT_CPU, record seq, size); failures counted."""
    a = Assembler()
    loops = _main_loop(a, pass_ctx=True)
    stack = -((size + 7) // 8) * 8 - 16
    a.label("cb")
    a.ldx_mem(8, 6, 2, 0).alu64_reg("+", 6, 1)
    a.ldx_mem(8, 7, 2, 8)  # the raw_tp ctx, spilled by main
    _fill_record(a, 6, stack, size)
    a.mov64_reg(1, 7).ld_map_fd(2, perf_fd).ld_imm64(3, 0xFFFFFFFF).mov64_reg(4, 10).alu64_imm("+", 4, stack)
    a.mov64_imm(5, size).call_helper(HelperId.perf_event_output)
    a.jmp_imm("==", 0, 0, "ok")
    _count_failure(a, counters_fd)
    a.label("ok").mov64_imm(0, 0).exit_insn()
    return load(a, "perf_output", ("cb",), one_per_run=not loops)


def user_ringbuf_drain(urb_fd: int, acc_fd: int) -> Program:
    """bpf_user_ringbuf_drain: per sample, add its first u64 (0 if shorter) to acc[0] and 1 to acc[1]."""
    a = Assembler()
    a.ld_map_fd(1, urb_fd).ld_func(2, "cb").mov64_imm(3, 0).mov64_imm(4, 0)
    a.call_helper(HelperId.user_ringbuf_drain).exit_insn()
    a.label("cb").mov64_reg(6, 1)
    a.st_mem(8, 10, -8, 0)
    a.mov64_reg(1, 10).alu64_imm("+", 1, -8).mov64_imm(2, 8).mov64_reg(3, 6).mov64_imm(4, 0).mov64_imm(5, 0)
    a.call_helper(HelperId.dynptr_read)
    a.ld_map_value(1, acc_fd, 0).ldx_mem(8, 2, 10, -8).atomic_op(8, AtomicOp.ADD, 1, 2, 0)
    a.ld_map_value(1, acc_fd, 8).mov64_imm(2, 1).atomic_op(8, AtomicOp.ADD, 1, 2, 0)
    a.mov64_imm(0, 0).exit_insn()
    return load(a, "urb_drain", ("cb",))


def run(prog: Program, count: int, base: int = 0, *, cpu: int | None = None) -> int:
    """test_run a producer: ``count`` records numbered from ``base``; returns the records it went through
    (the program's r0: the iterations of its loop, or the sum of its one-record runs)."""
    kw: dict[str, int] = {} if cpu is None else {"flags": 1, "cpu": cpu}  # BPF_F_TEST_RUN_ON_CPU
    if not getattr(prog, "one_per_run", False):
        return prog.test_run(ctx=struct.pack("<QQ", count, base), ctx_out_size=0, **kw).retval
    return sum(prog.test_run(ctx=struct.pack("<QQ", 1, base + i), ctx_out_size=0, **kw).retval for i in range(count))
