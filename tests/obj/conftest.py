"""Fixtures of the obj/ tests: compile small BPF C programs with clang (cached per session)."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

PROGS = Path(__file__).parent / "progs"
TOOLS = Path(__file__).resolve().parents[2] / "src" / "bpfkit" / "tools"  # bootstrap.bpf.c: the tool's own source
VMLINUX_H = Path("/tmp/vmlinux.h")


@pytest.fixture(scope="session")
def vmlinux_h_dir() -> Path:
    """Directory holding the vmlinux.h the test programs include (the one place to switch to bpfkit's own)."""
    if not VMLINUX_H.exists():
        out = subprocess.run(
            ["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"], check=True, capture_output=True
        ).stdout
        VMLINUX_H.write_bytes(out)
    return VMLINUX_H.parent


Compiler = Callable[..., Path]


@pytest.fixture(scope="session")
def compile_bpf(tmp_path_factory: pytest.TempPathFactory, vmlinux_h_dir: Path) -> Compiler:
    """compile_bpf(name_or_source, *, target="bpf", flags=(), out_name=None) -> path of the .o (clang -g -O2).

    A name is looked for in progs/, then among bpfkit's tools (whose folder is then on the include path too)."""
    outdir = tmp_path_factory.mktemp("bpfobj")
    cache: dict[str, Path] = {}

    def build(src: str, *, target: str = "bpf", flags: tuple[str, ...] = (), out_name: str | None = None) -> Path:
        if src.endswith(".bpf.c") and "\n" not in src:
            path = PROGS / src if (PROGS / src).exists() else TOOLS / src
            text = path.read_text()
            srcdir = path.parent
            stem = src[: -len(".bpf.c")]
        else:
            text = src
            stem = "inline"
            srcdir = PROGS
        key = hashlib.sha256("\0".join([text, target, *flags]).encode()).hexdigest()[:16]
        if key in cache:
            return cache[key]
        name = out_name or f"{stem}.bpf.o"
        d = outdir / key
        d.mkdir()
        c = d / f"{stem}.bpf.c"
        c.write_text(text)
        o = d / name
        cmd = ["clang", "-g", "-O2", "-target", target, "-D__TARGET_ARCH_x86", f"-I{vmlinux_h_dir}", f"-I{srcdir}", *flags]
        cmd += ["-c", str(c), "-o", str(o)]
        res = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if res.returncode:
            raise AssertionError(f"clang failed: {' '.join(cmd)}\n{res.stderr}")
        cache[key] = o
        return o

    return build
