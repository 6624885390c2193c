"""Compiling rewritten BCC programs with clang (cached), and the kernel's verdict on what comes out.

The kernel tests load every entry point of each object with bpftool (libbpf) as an independent
loader: the generated C must compile and verify as the program type each entry point is for.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bpfkit import features
from bpfkit.bcc import CompileError, CompilerNotFoundError, _compile
from bpfkit.bcc._compile import compile_c
from bpfkit.bcc._kernel import HostKernel
from bpfkit.bcc._rewriter import Mode, rewrite
from bpfkit.testing import require, require_libbpf

from .test_rewriter import SYSCALL, program_text

EXAMPLES = ["bcc_uid_counter.py", "bcc_doc002_uid_counter.py", "bcc_perf_hello.py", "bcc_tailcalls.py",
            "bcc_execsnoop.py", "bcc_syscount.py", "bcc_sleeplat.py"]
BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


@pytest.fixture
def pin_dir() -> Iterator[Path]:
    """A bpffs directory for bpftool's pins, removed (with the pins) afterwards."""
    d = Path(f"/sys/fs/bpf/bpfkit-bcc-test-{os.getpid()}")
    yield d
    if features.have_pinning() and d.exists():
        shutil.rmtree(d)


# bpf_probe_read, bpf_probe_read_str, bpf_probe_read_kernel, bpf_probe_read_kernel_str: kernel memory reads,
# which lockdown=confidentiality removes from the verifier's helpers
KERNEL_READ_HELPERS = frozenset({4, 45, 113, 115})


def reads_kernel_memory(elf: bytes) -> bool:
    """Whether a program of ``elf`` calls a helper that reads kernel memory (a helper call: BPF_JMP|BPF_CALL, src 0)."""
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile

    for sec in ELFFile(io.BytesIO(elf)).iter_sections():
        if not sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR:
            continue
        code = sec.data()
        for i in range(0, len(code) - 7, 8):
            if code[i] == 0x85 and code[i + 1] >> 4 == 0 and \
                    int.from_bytes(code[i + 4:i + 8], "little", signed=True) in KERNEL_READ_HELPERS:
                return True
    return False


def _loadall(elf: bytes, pin_dir: Path, tmp: Path) -> dict[str, str]:
    """Load every program of ``elf`` with bpftool; name -> kernel program type."""
    require("pinning")
    require_libbpf("bpftool prog loadall")
    if reads_kernel_memory(elf):
        require("helper:probe_read_kernel@kprobe")  # lockdown=confidentiality refuses it
    obj = tmp / "prog.bpf.o"
    obj.write_bytes(elf)
    p = subprocess.run([BPFTOOL, "prog", "loadall", str(obj), str(pin_dir)], capture_output=True, text=True,
                       timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    out = {}
    for name in sorted(os.listdir(pin_dir)):
        info = json.loads(subprocess.run([BPFTOOL, "-j", "prog", "show", "pinned", str(pin_dir / name)],
                                         capture_output=True, text=True, check=True).stdout)
        out[name] = info["type"]
    return out


@pytest.mark.kernel
@pytest.mark.parametrize("example", EXAMPLES + ["syscall-convention"])
def test_programs_compile_and_verify(example: str, cache_home: Path, pin_dir: Path, tmp_path: Path) -> None:
    text = SYSCALL if example == "syscall-convention" else program_text(example)
    if "TRACEPOINT_PROBE(" in text:
        require("tracefs")  # the rewriter lays out tracepoint arguments from tracefs formats
    r = rewrite(text, filename=example, kernel=HostKernel(), modes=(Mode.SYSCALL_ENTER, Mode.SYSCALL_EXIT))
    res = compile_c(r.source, cflags=['-D__BCC_NOAUTO=""'], filename=example)
    types = _loadall(res.elf, pin_dir, tmp_path)
    expected = {}
    for fn in r.functions.values():
        for mode, sym in fn.symbols.items():
            if mode is Mode.KPROBE:
                sec = fn.section.split("/")[0]
                expected[sym] = {"kprobe": "kprobe", "kretprobe": "kprobe", "tracepoint": "tracepoint",
                                 "raw_tracepoint": "raw_tracepoint"}[sec]
            else:
                expected[sym] = "tracepoint"
    assert types == expected


def test_the_cache_compiles_once(cache_home: Path) -> None:
    text = "BPF_ARRAY(a, u32, 4);\nint f(void *ctx) { int k = 0; a.increment(k); return 0; }\n"
    src = rewrite(text).source
    first = compile_c(src, cflags=["-DMARK=1"])
    second = compile_c(src, cflags=["-DMARK=1"])
    other = compile_c(src, cflags=["-DMARK=2"])
    assert not first.cached and second.cached and not other.cached
    assert first.elf == second.elf and first.path == second.path
    assert first.key != other.key
    assert first.path.parent == cache_home / "bpfkit" / "bcc" / "objects"
    assert first.elf[:4] == b"\x7fELF"


def test_clang_errors_point_at_the_users_line(cache_home: Path) -> None:
    text = "BPF_HASH(h, u32);\n\nint f(void *ctx) {\n  u32 k = 0;\n  return undefined_thing + k;\n}\n"
    with pytest.raises(CompileError) as ei:
        compile_c(rewrite(text, filename="prog.c").source, filename="prog.c")
    assert ei.value.line == 5
    assert "undefined_thing" in str(ei.value) and "prog.c:5" in str(ei.value)
    assert "error:" in ei.value.log


def test_hash_comments_fail_in_clang_with_the_line(cache_home: Path) -> None:
    text = "BPF_HASH(h);\n# a comment as written in document 004\nint f(void *ctx) { return 0; }\n"
    with pytest.raises(CompileError) as ei:
        compile_c(rewrite(text).source)
    assert ei.value.line == 2 and "invalid preprocessing directive" in str(ei.value)


def test_missing_clang_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPFKIT_CLANG", "/nonexistent/clang-42")
    _compile.clang_path.cache_clear()
    try:
        with pytest.raises(CompilerNotFoundError) as ei:
            compile_c("int x;")
        assert isinstance(ei.value, FileNotFoundError)
        monkeypatch.delenv("BPFKIT_CLANG")
        monkeypatch.setenv("PATH", "/nonexistent")
        _compile.clang_path.cache_clear()
        with pytest.raises(CompilerNotFoundError, match=re.escape("apt-get install clang")):
            compile_c("int x;")
    finally:
        _compile.clang_path.cache_clear()


def test_vmlinux_h_is_made_once_per_kernel(cache_home: Path) -> None:
    p = _compile.vmlinux_h()
    assert p.exists() and p.parent.name.startswith("vmlinux-")
    mtime = p.stat().st_mtime_ns
    assert _compile.vmlinux_h() == p and p.stat().st_mtime_ns == mtime
    assert "struct task_struct {" in p.read_text()


def test_kernel_reads_are_found_in_the_instructions() -> None:
    text = "int f(struct pt_regs *ctx) { u64 v = 0; bpf_probe_read_kernel(&v, sizeof(v), (void *)PT_REGS_PARM1(ctx)); return v; }\n"
    plain = "BPF_ARRAY(a, u32, 4);\nint g(void *ctx) { int k = 0; a.increment(k); return 0; }\n"
    assert reads_kernel_memory(compile_c(rewrite(text).source, cflags=['-D__BCC_NOAUTO=""']).elf)
    assert not reads_kernel_memory(compile_c(rewrite(plain).source, cflags=['-D__BCC_NOAUTO=""']).elf)
