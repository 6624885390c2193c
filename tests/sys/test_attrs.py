"""The generated kernel structs (bpfkit._sys.attrs): they match the kernel's BTF, and nothing else lays
out a kernel struct by hand (no literal byte offsets outside the generated module)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bpfkit
from bpfkit import host
from bpfkit._sys import attrs as A

ROOT = Path(__file__).resolve().parents[2]
_SRC = Path(bpfkit.__file__).parent
_GENERATED = {Path("_sys/attrs.py")}
# Pure parsers of file formats (ELF, BTF, .BTF.ext, USDT notes) read headers from bytes at fixed
# offsets; they are not kernel structs passed through a syscall.
_FORMAT_PARSERS = ("btf", "obj")
# the offset argument of each call, as (index when called on the struct module, index on an object)
_OFFSET_ARG: dict[str, tuple[int | None, int]] = {
    "pack_into": (2, 1), "unpack_from": (2, 1), "from_buffer": (None, 1), "from_buffer_copy": (None, 1),
}


def _gen_attrs() -> Any:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_attrs
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return gen_attrs


@pytest.mark.kernel
def test_generator_check_passes() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_attrs.py"), "--check"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.kernel
def test_layouts_match_the_running_kernel() -> None:
    """Every field of the running kernel's bpf_attr members and info structs is in attrs.py, at its offset."""
    assert _gen_attrs().compare(host.vmlinux_btf(), A) == []


def test_the_comparison_sees_a_wrong_layout() -> None:
    import ctypes

    gen = _gen_attrs()

    class Shifted(ctypes.Structure):
        _fields_ = [("bpf_fd", ctypes.c_uint32), ("info", ctypes.c_uint64), ("info_len", ctypes.c_uint32)]

    fake = type(sys)("fake_attrs")
    fake.__dict__.update({name: getattr(A, name) for name in A.__all__})
    fake.InfoAttr = Shifted
    problems = gen.compare(host.vmlinux_btf(), fake)
    assert [p for p in problems if p.startswith("InfoAttr.")] == [
        "InfoAttr.info_len is at bit 128, 32 bits in the file; at bit 32, 32 bits in the BTF"]


def test_union_members_are_typed() -> None:
    a = A.LinkCreateAttr(prog_fd=3, target_fd=4, attach_type=5, flags=6)
    a.kprobe_multi.cnt = 7
    assert a.uprobe_multi.path == 7 << 32  # the same bytes seen through another member of the union
    assert a.map_fd == 3 and a.target_ifindex == 4  # anonymous unions: their members by the kernel's names
    e = A.MapElemAttr(value=9)
    assert e.next_key == 9


def test_a_misspelt_field_is_an_error() -> None:
    with pytest.raises(AttributeError):
        A.GetIdAttr(id=1)  # the kernel's names are start_id, prog_id, map_id ...
    a = A.MapElemAttr()
    with pytest.raises(AttributeError):
        a.next = 1  # type: ignore[attr-defined]


def _hand_offsets(path: Path, root: Path = _SRC) -> Iterator[str]:
    """Calls in ``path`` that read or write a struct at a literal byte offset."""
    tree = ast.parse(path.read_text(), str(path))
    where = path.relative_to(root)
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            sides = (node.left, node.right)
            if any(isinstance(s, ast.Call) and getattr(s.func, "attr", getattr(s.func, "id", "")) == "addressof"
                   for s in sides) and any(isinstance(s, ast.Constant) and isinstance(s.value, int) for s in sides):
                yield f"{where}:{node.lineno} addressof(...) + literal"
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        name = node.func.attr
        if name in ("set_u32", "set_u64"):
            yield f"{where}:{node.lineno} {name}"
            continue
        if name not in _OFFSET_ARG:
            continue
        on_module = isinstance(node.func.value, ast.Name) and node.func.value.id == "struct"
        index = _OFFSET_ARG[name][0 if on_module else 1]
        if index is None:
            continue
        offset = node.args[index] if len(node.args) > index else next(
            (k.value for k in node.keywords if k.arg == "offset"), None)
        if isinstance(offset, ast.Constant) and isinstance(offset.value, int):
            yield f"{where}:{node.lineno} {name} at {offset.value}"


def test_no_hand_written_offsets_outside_generated_code() -> None:
    files = [p for p in _SRC.rglob("*.py")
             if p.relative_to(_SRC) not in _GENERATED and p.relative_to(_SRC).parts[0] not in _FORMAT_PARSERS]
    assert len(files) > 50
    assert [hit for p in files for hit in _hand_offsets(p)] == []


def test_the_scan_sees_hand_offsets(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import ctypes, struct\n"
        "a.set_u32(12, flags)\n"
        "v = struct.unpack_from('<I', raw, 8)\n"
        "S.pack_into(buf, 4, x)\n"
        "p = ctypes.addressof(info) + 16\n"
        "ok = struct.unpack_from('<I', raw, off)\n"
    )
    assert list(_hand_offsets(bad, tmp_path)) == [
        "bad.py:2 set_u32", "bad.py:3 unpack_from at 8", "bad.py:4 pack_into at 4", "bad.py:5 addressof(...) + literal",
    ]
