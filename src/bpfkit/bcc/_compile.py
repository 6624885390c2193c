"""Compile generated C with clang at run time, cached on disk so a second start compiles nothing.

The cache key is a hash of everything the object depends on: the generated C
(which holds the user's text and the tracepoint formats it uses), the compat
header, the flags, the clang version, the identity of the running kernel's BTF
(and so of vmlinux.h) and the bpfkit version.  Objects live in
``$XDG_CACHE_HOME/bpfkit/bcc`` (``~/.cache/bpfkit/bcc``), next to the vmlinux.h
of each kernel seen.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..arch import arch as bpf_arch
from ..errors import CompileError, CompilerNotFoundError, NotSupportedError

__all__ = ["CompileResult", "cache_dir", "clang_path", "compile_c", "kernel_btf_id", "module_h", "vmlinux_h"]

_HERE = Path(__file__).resolve().parent
COMPAT_HEADER = _HERE / "bcc_compat.h"
_CLANG_NAMES = ("clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14", "clang-13")
_WARNINGS_OFF = (
    "-Wno-unused-value", "-Wno-pointer-sign", "-Wno-compare-distinct-pointer-types", "-Wno-int-conversion",
    "-Wno-incompatible-pointer-types-discards-qualifiers", "-Wno-unknown-attributes", "-Wno-unused-function",
    "-Wno-gnu-variable-sized-type-not-at-end", "-Wno-address-of-packed-member", "-Wno-tautological-compare",
    "-Wno-unknown-warning-option", "-Wno-macro-redefined", "-Wno-missing-declarations", "-Wno-visibility",
    # tagged anonymous members in newer kernels' vmlinux.h (struct ns_tree; in a struct, Linux 6.19+)
    "-fms-extensions", "-Wno-microsoft-anon-tag",
    # a call to an undeclared function is a kernel inline function or macro: an error with the user's line
    "-Werror=implicit-function-declaration",
)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/bpfkit/bcc`` (default ``~/.cache/bpfkit/bcc``), created on demand.

    A user without a writable home (a service user such as nobody) gets a private directory of its own in the
    temporary directory instead; AccessError when neither can be made.
    """
    import tempfile

    from ..errors import AccessError

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = Path(base) / "bpfkit" / "bcc"
    try:
        d.mkdir(parents=True, exist_ok=True)
        if os.access(d, os.W_OK | os.X_OK):
            return d
    except OSError:
        pass
    private = Path(tempfile.gettempdir()) / f"bpfkit-{os.getuid()}"
    try:
        private.mkdir(mode=0o700, exist_ok=True)
        if private.stat().st_uid != os.getuid() or not os.access(private, os.W_OK | os.X_OK):
            raise PermissionError(f"{private} belongs to another user")
        fallback = private / "bcc"
        fallback.mkdir(exist_ok=True)
        return fallback
    except OSError as exc:
        raise AccessError(f"bpfkit.bcc cannot make its compile cache: neither {d} nor {private} is writable by this "
                          f"process (uid {os.getuid()}): {exc}", path=str(d),
                          fix="set XDG_CACHE_HOME to a directory this user may write") from None


@functools.cache
def clang_path() -> str:
    """The clang to use ($BPFKIT_CLANG, else the first of clang, clang-19 ... on PATH)."""
    env = os.environ.get("BPFKIT_CLANG")
    if env:
        if shutil.which(env) is None:
            raise CompilerNotFoundError(env, "BPFKIT_CLANG names a program that does not exist")
        return env
    for name in _CLANG_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise CompilerNotFoundError(
        "clang", "install it with 'apt-get install clang' (Debian/Ubuntu) or 'dnf install clang' (Fedora), "
        "or point BPFKIT_CLANG at one")


@functools.cache
def _clang_version(clang: str) -> str:
    """Identity of the clang binary (path, size, mtime): changes when clang is upgraded, costs no exec."""
    real = os.path.realpath(clang)
    try:
        st = os.stat(real)
    except OSError as exc:
        raise CompilerNotFoundError(clang, f"it cannot be read: {exc}") from None
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


def _arch_define() -> str:
    try:
        return bpf_arch().target
    except NotSupportedError:
        raise CompileError(f"bpfkit.bcc does not know the BPF target name of architecture {platform.machine()!r}") from None


def arch() -> str:
    """The rewriter's architecture name of this host (x86 or arm64)."""
    return _arch_define()


@functools.cache
def kernel_btf_id(path: str = "/sys/kernel/btf/vmlinux") -> str:
    """A short hash naming the running kernel's BTF (and so its vmlinux.h and tracepoint layouts)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    h.update(os.uname().release.encode())
    return h.hexdigest()[:20]


def vmlinux_h() -> Path:
    """Path of a vmlinux.h for the running kernel (bpfkit's own BTF C dump), written once per kernel into the cache."""
    path = cache_dir() / f"vmlinux-{kernel_btf_id()}" / "vmlinux.h"
    if path.exists():
        return path
    from ..btf.format import format_c
    from ..host import vmlinux_btf

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".vmlinux.h.{os.getpid()}")
    tmp.write_text(format_c(vmlinux_btf()))
    os.replace(tmp, path)
    return path


def module_h(module: str) -> Path:
    """Path of a vmlinux.h with a loaded module's types too (the dump of its split BTF, as bpftool's), cached."""
    from ..btf.format import format_c
    from ..host import module_btf

    mod_id = kernel_btf_id(f"/sys/kernel/btf/{module}")
    path = cache_dir() / f"vmlinux-{kernel_btf_id()}-{module}-{mod_id}" / "vmlinux.h"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".vmlinux.h.{os.getpid()}")
    tmp.write_text(format_c(module_btf(module)))
    os.replace(tmp, path)
    return path


def kdefs_h() -> Path:
    """Path of the kernel #defines header for the running kernel and this machine's UAPI headers (cached)."""
    from ..host import vmlinux_btf
    from ._kdefs import kernel_defines, read_uapi_headers

    texts = read_uapi_headers()
    h = hashlib.sha256("\0".join(texts).encode() + (_HERE / "_kdefs.py").read_bytes()).hexdigest()[:16]
    path = vmlinux_h().parent / f"bcc_kdefs-{h}.h"
    if path.exists():
        return path
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(kernel_defines(vmlinux_btf(), texts))
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class CompileResult:
    """A compiled object: its bytes, where it is cached, and whether this call ran clang."""

    elf: bytes
    path: Path
    cached: bool
    key: str


def base_flags() -> list[str]:
    """The flags every BCC program is compiled with (defines of this host included)."""
    from .. import __version__
    from ..host import kernel_version_code, page_size, possible_cpus

    kv = kernel_version_code()
    mcpu = "-mcpu=v3" if kv >= (5 << 16 | 1 << 8) else "-mcpu=v2"
    return [
        "-g", "-O2", "-target", "bpf", mcpu, f"-D__TARGET_ARCH_{_arch_define()}",
        f"-D__BCC_NR_CPUS={possible_cpus()}", f"-D__BCC_PAGE_SIZE={page_size()}",
        f"-DLINUX_VERSION_CODE={kv}", f"-D__BPFKIT_VERSION__=\"{__version__}\"", *_WARNINGS_OFF,
    ]


def compile_c(
    source: str,
    *,
    cflags: list[str] | tuple[str, ...] = (),
    include_dirs: list[str] | tuple[str, ...] = (),
    filename: str = "<text>",
    use_cache: bool = True,
    module: str | None = None,
) -> CompileResult:
    """Compile a generated C file to a BPF object (bytes), reusing the cached object when the key matches.

    ``module``: a loaded kernel module whose types the program uses too (its vmlinux.h has them).
    """
    from .. import __version__

    clang = clang_path()
    flags = base_flags() + list(cflags)
    header = vmlinux_h() if module is None else module_h(module)
    kdefs = kdefs_h()
    key_src = "\0".join([
        __version__, _clang_version(clang), kernel_btf_id(), str(header), COMPAT_HEADER.read_text(), kdefs.name,
        source, *flags,
        *[os.path.abspath(d) for d in include_dirs],
    ])
    key = hashlib.sha256(key_src.encode()).hexdigest()[:32]
    out = cache_dir() / "objects" / f"{key}.bpf.o"
    if use_cache and out.exists():
        return CompileResult(out.read_bytes(), out, True, key)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bpfkit-bcc-") as tmp:
        c_path = Path(tmp) / f"bcc-{key[:12]}.c"
        c_path.write_text(source)
        obj = Path(tmp) / "out.o"
        (Path(tmp) / "bcc_kdefs.h").write_text(f'#include "{kdefs}"\n')  # next to the .c: found first
        cmd = [clang, *flags, f"-I{header.parent}", f"-I{_HERE}"]
        cmd += [f"-I{d}" for d in include_dirs]
        cmd += ["-c", str(c_path), "-o", str(obj)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        except OSError as exc:
            raise CompilerNotFoundError(clang, f"running it failed: {exc}") from None
        if p.returncode != 0:
            raise _compile_error(p.stderr, filename)
        data = obj.read_bytes()
    tmp_out = out.with_name(f".{out.name}.{os.getpid()}")
    tmp_out.write_bytes(data)
    os.replace(tmp_out, out)
    return CompileResult(data, out, False, key)


_DIAG_RE = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|fatal error): (?P<msg>.*)$", re.M)


def _compile_error(stderr: str, filename: str) -> CompileError:
    """The first clang error as a CompileError on the user's line, with the whole log attached."""
    m = _DIAG_RE.search(stderr)
    if m is None:
        return CompileError(f"clang failed: {stderr.strip()[-2000:]}", filename=filename, log=stderr)
    where = m.group("file")
    line = int(m.group("line")) if where == filename else None
    msg = m.group("msg")
    undeclared = re.search(r"(?:implicit declaration of function|call to undeclared function) '(\w+)'", msg)
    if undeclared is not None:
        fn = undeclared.group(1)
        msg = (f"{fn}() is neither a BPF helper nor a function of the program: if it is a kernel function, it is an "
               "inline function or macro of the kernel's headers, which BPF programs cannot call; read the fields "
               "it reads with BPF_CORE_READ or bpf_probe_read_kernel instead")
    # the source line and caret clang prints after the diagnostic
    tail = stderr[m.end():].splitlines()[1:3]
    detail = "\n".join(t for t in tail if t.strip())
    if where != filename:
        msg = f"{msg} (in {where}:{m.group('line')})"
    count = len(_DIAG_RE.findall(stderr))
    more = f"\n({count - 1} more error(s); the full clang output is on .log)" if count > 1 else ""
    return CompileError(f"{msg}\n{detail}{more}" if detail else msg + more, line=line, filename=filename, log=stderr)
