"""Compile BPF C with clang against a vmlinux.h that bpfkit generates, cached by content hash."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..arch import arch as bpf_arch
from ..errors import NotSupportedError

__all__ = ["VMLINUX_H_CFLAGS", "cache_root", "clang_path", "compile_bpf", "vmlinux_header"]


VMLINUX_H_CFLAGS = ("-fms-extensions", "-Wno-microsoft-anon-tag")
"""What a vmlinux.h of newer kernels needs: tagged anonymous members (``struct ns_tree;`` inside a
struct, Linux 6.19+) are a Microsoft extension that clang drops otherwise (the kernel's selftests use these)."""


def cache_root() -> Path:
    """Where compiled objects and headers are cached ($BPFKIT_CACHE, else ~/.cache/bpfkit)."""
    env = os.environ.get("BPFKIT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bpfkit"


def clang_path() -> str:
    """The clang to use ($CLANG or the one on PATH); a clear error when none is installed."""
    clang = os.environ.get("CLANG") or shutil.which("clang")
    if not clang:
        raise FileNotFoundError("clang is needed to compile BPF C programs: install it (apt-get install clang)")
    return clang


@functools.cache
def _clang_version(clang: str) -> str:
    return subprocess.run([clang, "--version"], capture_output=True, text=True, check=True).stdout


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def vmlinux_header(btf_path: str = "/sys/kernel/btf/vmlinux", cache_dir: Path | None = None) -> Path:
    """A directory holding ``vmlinux.h`` for the kernel BTF at ``btf_path`` (generated once)."""
    from ..btf import Btf
    from ..btf.format import format_c

    data = Path(btf_path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    d = (cache_dir or cache_root()) / f"vmlinux-{digest}"
    header = d / "vmlinux.h"
    if not header.exists():
        _atomic_write(header, format_c(Btf.from_bytes(data)).encode())
    return d


def compile_bpf(
    source: str | os.PathLike[str],
    *,
    include_dirs: Sequence[str | os.PathLike[str]] = (),
    cflags: Sequence[str] = (),
    vmlinux_dir: str | os.PathLike[str] | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """Compile ``source`` with ``clang -g -O2 -target bpf`` into a cached ``.bpf.o``; returns its path.

    The cache key covers the source, every header next to it and in ``include_dirs``,
    the flags, the vmlinux.h and the clang version, so a changed input recompiles.
    """
    src = Path(source)
    vdir = Path(vmlinux_dir) if vmlinux_dir is not None else vmlinux_header(cache_dir=cache_dir)
    clang = clang_path()
    try:
        arch = bpf_arch().target  # the kernel's name of this architecture: x86, arm64
    except NotSupportedError:
        arch = platform.machine()
    incs = [src.parent, *map(Path, include_dirs), vdir]
    args = ["-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{arch}", "-Wall", *VMLINUX_H_CFLAGS, *cflags]
    h = hashlib.sha256()
    h.update(src.read_bytes())
    for d in incs:
        for hdr in sorted(Path(d).glob("*.h")):
            h.update(hdr.name.encode())
            h.update(str(hdr.stat().st_mtime_ns).encode() if hdr.name == "vmlinux.h" else hdr.read_bytes())
    h.update(" ".join(args).encode())
    h.update(_clang_version(clang).encode())
    out = (cache_dir or cache_root()) / "objects" / f"{src.stem}-{h.hexdigest()[:16]}.o"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, suffix=".o")
    os.close(fd)
    cmd = [clang, *args, *(f"-I{d}" for d in incs), "-c", str(src), "-o", tmp]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        Path(tmp).unlink(missing_ok=True)  # clang removes its output on failure
        raise RuntimeError(f"clang failed on {src}:\n{r.stderr.strip()}")
    os.replace(tmp, out)
    return out
