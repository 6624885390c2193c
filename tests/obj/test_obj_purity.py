"""The object layer is pure: importing and using it loads no syscall code, and pyelftools loads lazily."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env={"PYTHONPATH": str(SRC)})
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_import_does_not_load_sys_or_elftools() -> None:
    out = run(
        "import sys, bpfkit.obj\n"
        "print(sorted(m for m in sys.modules if m.startswith(('bpfkit._sys', 'elftools', 'ctypes'))))\n"
    )
    assert out.strip() == "[]"


def test_parsing_does_not_load_sys(compile_bpf) -> None:  # type: ignore[no-untyped-def]
    path = compile_bpf("bootstrap.bpf.c")
    out = run(
        "import sys\n"
        "from bpfkit.obj import ObjectSpec, resolve_kconfig, parse_kernel_config\n"
        f"s = ObjectSpec.from_file({str(path)!r})\n"
        "resolve_kconfig(s, parse_kernel_config('CONFIG_X=y\\n'), 1)\n"
        "print(len(s.programs), sorted(m for m in sys.modules if m.startswith('bpfkit._sys')))\n"
    )
    assert out.strip() == "2 []"


def test_usdt_and_native_elf_parsing_do_not_load_sys() -> None:
    libc = next(p for p in ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6")
                if Path(p).exists())
    out = run(
        "import sys\n"
        "from bpfkit.obj._native import NativeElf\n"
        "from bpfkit.obj._usdt import usdt_probes\n"
        f"e = NativeElf.from_bytes(open({libc!r}, 'rb').read())\n"
        "usdt_probes(e)\n"
        "print('malloc' in e.functions, sorted(m for m in sys.modules if m.startswith(('bpfkit._sys', 'elftools'))))\n"
    )
    assert out.strip() == "True []"
