"""The loader sends an object's own .BTF bytes with a few records patched: the same types as
re-encoding the fixed-up BTF gives, and the object's string section byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bpfkit import collection
from bpfkit.btf import Btf
from bpfkit.btf._marshal import encode_with_strings
from bpfkit.btf._parse import parse_header
from bpfkit.obj import ObjectSpec
from bpfkit.testing import compile_bpf, vmlinux_header
from bpfkit.tools import TOOLS, object_path

CORPUS = Path(__file__).parent / "bpf"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


def _strings(data: bytes) -> bytes:
    h = parse_header(data)
    return data[h.hdr_len + h.str_off : h.hdr_len + h.str_off + h.str_len]


def _elf_btf(path: Path) -> bytes:
    from elftools.elf.elffile import ELFFile

    with path.open("rb") as f:
        sec = ELFFile(f).get_section_by_name(".BTF")
        assert sec is not None
        return bytes(sec.data())


def check(path: Path) -> bool:
    """Compare the raw-patched blob with the re-encoded one; False when the loader would re-encode."""
    spec = ObjectSpec.from_file(str(path))
    btf = spec.btf
    assert btf is not None
    wanted = [p for p in spec.programs.values() if p.autoload]
    fixes = collection._datasec_fixes(btf, spec)
    raw = collection._raw_btf_blob(btf, fixes, wanted)
    extra = [s for p in wanted for li in p.line_info for s in (li.file_name, li.line)]
    full, _ = encode_with_strings(collection._apply_fixes(btf, fixes), extra)
    if raw is None:
        assert btf._offsets is None, path.name  # only when the reader added types (.ksyms functions)
        return False
    a, b = Btf.from_bytes(raw), Btf.from_bytes(full)
    assert a.count == b.count
    for tid in a.own_ids():
        assert a[tid] == b[tid], (path.name, tid)
    assert _strings(raw) == _strings(_elf_btf(path))
    for p in wanted:  # line info keeps the object's string offsets
        for li in p.line_info:
            assert (a.string(li.file_name_off), a.string(li.line_off)) == (li.file_name, li.line)
    return True


@pytest.mark.parametrize("tool", list(TOOLS))
def test_tool_objects(tool: str) -> None:
    assert check(Path(object_path(tool)))


@pytest.fixture(scope="module")
def vmlinux_dir() -> Path:
    return vmlinux_header()


@pytest.mark.parametrize("entry", [pytest.param(o, id=o["file"]) for o in MANIFEST["objects"]])
def test_corpus_objects(entry: dict[str, object], vmlinux_dir: Path) -> None:
    import corpus_kernel

    gaps = corpus_kernel.source_gaps(entry)
    if gaps:
        pytest.skip(gaps[0])
    try:
        obj = compile_bpf(CORPUS / str(entry["file"]), vmlinux_dir=vmlinux_dir, cflags=["-Werror"])
    except RuntimeError:
        if corpus_kernel.type_gaps(entry):
            pytest.skip("the source needs types this kernel's vmlinux.h lacks")
        raise
    check(Path(obj))


@pytest.mark.kernel
def test_the_loader_sends_the_patched_blob(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpfkit
    from bpfkit.testing import require

    require("helper:probe_read_kernel@tracepoint")  # bootstrap's BPF_CORE_READ (refused under confidentiality)
    require("tracefs")  # bootstrap attaches to the sched tracepoints by name

    real = collection.C.btf_load
    sent: list[bytes] = []

    def spy(blob: bytes, **kw: object) -> tuple[int, str]:
        sent.append(blob)
        return real(blob, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(collection.C, "btf_load", spy)
    path = Path(object_path("bootstrap"))
    with bpfkit.load(path, constants={"min_duration_ns": 7}) as obj:
        assert obj.variables["min_duration_ns"] == 7
        assert len(obj.attach()) == 2
    assert len(sent) == 1 and _strings(sent[0]) == _strings(_elf_btf(path))
