"""Opcode constants against the kernel's uapi headers, and the package's purity."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bpfkit.asm import (
    AluOp,
    AtomicOp,
    InsnClass,
    JmpOp,
    Mode,
    PseudoCall,
    PseudoLd,
    Size,
    Source,
)
from bpfkit.asm import (
    _opcodes as opcodes,
)

_HEADERS = [Path("/usr/include/linux/bpf_common.h"), Path("/usr/include/linux/bpf.h")]

# uapi name without "BPF_" -> the value bpfkit gives it
_EXPECTED: dict[str, int] = {
    **{m.name: m.value for m in InsnClass},
    **{m.name: m.value for m in Size},
    **{m.name: m.value for m in Mode},
    **{m.name: m.value for m in AluOp},
    **{m.name: m.value for m in JmpOp},
    **{m.name: m.value for m in Source},
    "TO_LE": opcodes.TO_LE,
    "TO_BE": opcodes.TO_BE,
    "FETCH": opcodes.FETCH,
    "XCHG": AtomicOp.XCHG,
    "CMPXCHG": AtomicOp.CMPXCHG,
    "LOAD_ACQ": AtomicOp.LOAD_ACQ,
    "STORE_REL": AtomicOp.STORE_REL,
    "XADD": Mode.ATOMIC,
    **{f"PSEUDO_{m.name}": m.value for m in PseudoLd},
    "PSEUDO_CALL": PseudoCall.CALL,
    "PSEUDO_KFUNC_CALL": PseudoCall.KFUNC_CALL,
}
# Classic-BPF names sharing eBPF's numbers with another meaning.
_CLASSIC = {"RET": 0x06, "MISC": 0x07, "LEN": 0x80, "MSH": 0xA0}


def _uapi_defines() -> dict[str, int]:
    """The BPF_* instruction constants #defined by the installed uapi headers."""
    values: dict[str, int] = {}
    for header in _HEADERS:
        for m in re.finditer(
            r"^#define\s+BPF_(\w+)\s+([^/\n]+)", header.read_text(), re.MULTILINE
        ):
            expr = m.group(2).strip()
            expr = re.sub(
                r"BPF_(\w+)", lambda n: str(values.get(n.group(1), "x")), expr
            )
            if re.fullmatch(r"[0-9a-fA-Fx|() ]+", expr) and "x" not in expr.replace(
                "0x", ""
            ):
                values[m.group(1)] = eval(expr)  # only digits, hex, | and parentheses
    return values


@pytest.mark.skipif(
    not all(h.exists() for h in _HEADERS), reason="no kernel uapi headers"
)
def test_values_match_uapi_headers() -> None:
    defines = _uapi_defines()
    checked = [name for name in _EXPECTED if name in defines and name not in _CLASSIC]
    # Every name the (possibly older) header knows must agree; most must be present.
    assert len(checked) >= 50, checked
    mismatched = {
        n: (defines[n], _EXPECTED[n]) for n in checked if defines[n] != _EXPECTED[n]
    }
    assert mismatched == {}


def test_named_opcodes_are_their_fields() -> None:
    assert opcodes.OP_LD_IMM64 == InsnClass.LD | Mode.IMM | Size.DW
    assert opcodes.OP_CALL == InsnClass.JMP | JmpOp.CALL | Source.K
    assert opcodes.OP_CALLX == InsnClass.JMP | JmpOp.CALL | Source.X
    assert opcodes.OP_EXIT == InsnClass.JMP | JmpOp.EXIT
    assert opcodes.OP_JA == InsnClass.JMP | JmpOp.JA
    assert opcodes.OP_GOTOL == InsnClass.JMP32 | JmpOp.JA
    assert AtomicOp.FETCH_ADD == AtomicOp.ADD | opcodes.FETCH
    assert AtomicOp.FETCH_XOR == AtomicOp.XOR | opcodes.FETCH
    assert [opcodes.size_bytes_of(s) for s in Size] == [4, 2, 1, 8]


def test_asm_imports_only_the_standard_library() -> None:
    """bpfkit.asm pulls in no syscall layer and no third-party module."""
    code = (
        "import sys, bpfkit, bpfkit.errors\n"
        "before = set(sys.modules)\n"
        "import bpfkit.asm\n"
        "new = sorted(set(sys.modules) - before)\n"
        "print('\\n'.join(new))\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(src)},
    ).stdout.split()
    assert "bpfkit.asm" in out
    foreign = [
        name
        for name in out
        if not name.startswith("bpfkit.asm")
        and name not in ("bpfkit._record", "bpfkit._typing")  # record helper of Instruction, typing stand-ins: stdlib only
        and name.split(".")[0] not in sys.stdlib_module_names
    ]
    assert foreign == []
    assert "ctypes" not in out
