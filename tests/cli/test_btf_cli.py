"""``bpfkit btf dump`` and ``bpfkit btf list``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bpfkit
from bpfkit._cli import btf as btf_cli
from bpfkit.btf import Btf, Enum, EnumValue, Int, IntEncoding, Member, Ptr, Struct, Typedef
from bpfkit.btf.format import format_c, format_raw
from bpfkit.cli import main


def base_types() -> list:
    return [
        Int("int", 4, IntEncoding.SIGNED),  # 1
        Struct("pair", 8, [Member("a", 1, 0), Member("b", 1, 32)]),  # 2
        Ptr(2),  # 3
        Enum("mode", 4, [EnumValue("OFF", 0), EnumValue("ON", 1)]),  # 4
    ]


@pytest.fixture
def blobs(tmp_path: Path) -> tuple[Path, Path]:
    """A base BTF file and a split BTF file on top of it."""
    base_file = tmp_path / "base.btf"
    base_file.write_bytes(Btf.from_types(base_types()).to_bytes())
    base = Btf.from_bytes(base_file.read_bytes())
    split = Btf(base=base)
    sid = split.add(Struct("modstate", 16, [Member("p", 3, 0), Member("m", 4, 64)]))
    split.add(Typedef("modstate_t", sid))
    split_file = tmp_path / "split.btf"
    split_file.write_bytes(split.to_bytes())
    return base_file, split_file


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_dump_raw_blob(blobs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base_file, _ = blobs
    rc, out, err = run(["btf", "dump", "--format", "raw", str(base_file)], capsys)
    assert (rc, err) == (0, "")
    assert out == format_raw(Btf.from_bytes(base_file.read_bytes()))
    assert out.startswith("[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n")


def test_dump_c_is_the_default_and_goes_to_output_file(
    blobs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base_file, _ = blobs
    out_file = tmp_path / "out" / "vmlinux.h"
    out_file.parent.mkdir()
    rc, out, err = run(["btf", "dump", str(base_file), "-o", str(out_file)], capsys)
    assert (rc, out, err) == (0, "", "")
    text = out_file.read_text()
    assert text == format_c(Btf.from_bytes(base_file.read_bytes()))
    assert "struct pair {\n\tint a;\n\tint b;\n};" in text
    assert os.listdir(out_file.parent) == ["vmlinux.h"]  # no temporary file left behind


def test_dump_split_with_base(blobs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base_file, split_file = blobs
    rc, out, _ = run(["btf", "dump", "-f", "raw", "-B", str(base_file), str(split_file)], capsys)
    assert rc == 0
    assert out.splitlines()[0] == "[5] STRUCT 'modstate' size=16 vlen=2"
    rc, out, _ = run(["btf", "dump", "--no-kfuncs", "-B", str(base_file), str(split_file)], capsys)
    assert rc == 0
    assert "typedef struct modstate modstate_t;" in out and "struct pair {" in out
    assert "BPF kfuncs" not in out


def test_module_btf_is_split_on_vmlinux(blobs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base_file, split_file = blobs
    sysdir = tmp_path / "sys_btf"
    sysdir.mkdir()
    shutil.copy(base_file, sysdir / "vmlinux")
    shutil.copy(split_file, sysdir / "mymod")
    monkeypatch.setattr(btf_cli, "VMLINUX_BTF_PATH", str(sysdir / "vmlinux"))
    mod = btf_cli.load_btf_file(str(sysdir / "mymod"))
    assert mod.base is not None and mod.first_id == 5
    assert mod.find("modstate") == [5]
    assert btf_cli.load_btf_file(str(sysdir / "vmlinux")).base is None


def test_dump_elf_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed")
    (tmp_path / "o.bpf.c").write_text(
        "struct rec { int pid; char comm[16]; struct rec *next; };\n"
        'struct rec last __attribute__((section(".data")));\n'
        '__attribute__((section("tc"), used)) int prog(struct rec *r) { return r->pid + last.pid; }\n'
    )
    for flags, name in ((["-g"], "o.bpf.o"), ([], "nobtf.o")):
        res = subprocess.run(
            [clang, *flags, "-O2", "-target", "bpf", "-c", "o.bpf.c", "-o", name], cwd=tmp_path, check=False, capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
    rc, out, _ = run(["btf", "dump", str(tmp_path / "o.bpf.o")], capsys)
    assert rc == 0
    assert "struct rec {\n\tint pid;\n\tchar comm[16];\n\tstruct rec *next;\n};" in out
    rc, out, _ = run(["btf", "dump", "--format", "raw", str(tmp_path / "o.bpf.o")], capsys)
    assert rc == 0 and "STRUCT 'rec' size=32 vlen=3" in out
    rc, out, err = run(["btf", "dump", str(tmp_path / "nobtf.o")], capsys)
    assert rc == 1 and out == "" and ".BTF" in err


def test_bad_inputs_fail_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(["btf", "dump", str(tmp_path / "missing.btf")], capsys)
    assert rc == 1 and out == "" and err.startswith("bpfkit: ")
    junk = tmp_path / "junk"
    junk.write_bytes(b"not btf at all, not elf either")
    rc, out, err = run(["btf", "dump", str(junk)], capsys)
    assert rc == 1 and out == "" and err.startswith("bpfkit: ")
    (tmp_path / "bad.o").write_bytes(b"\x7fELF" + b"\0" * 12)
    rc, out, err = run(["btf", "dump", str(tmp_path / "bad.o")], capsys)
    assert rc == 1 and out == "" and err.startswith("bpfkit: ")
    rc, out, _ = run(["btf"], capsys)
    assert rc == 2 and "dump" in out


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(["btf", "list"], capsys)
    assert rc == 0
    names = out.splitlines()
    on_disk = os.listdir("/sys/kernel/btf")
    assert names[0] == "vmlinux"
    assert sorted(names) == sorted(on_disk)


def test_vmlinux_dump_through_a_pipe_that_closes_early() -> None:
    """The default dump (running kernel, C) streams; a reader that stops early is no error."""
    env = dict(os.environ, PYTHONPATH=str(Path(bpfkit.__file__).parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "bpfkit", "btf", "dump"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(65536)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, err
    assert err == b""
    assert head.startswith(b"#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n")


def test_vmlinux_dump_to_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "vmlinux.h"
    rc, _, _ = run(["btf", "dump", "--format", "c", "-o", str(out_file)], capsys)
    assert rc == 0
    text = out_file.read_text()
    assert "\nstruct task_struct {\n" in text and "\nstruct trace_event_raw_sched_process_exec {\n" in text
    assert text.endswith("#endif /* __VMLINUX_H__ */\n")


def test_output_to_a_device_is_written_in_place(blobs: tuple[Path, Path], capfd: pytest.CaptureFixture[str]) -> None:
    base_file, _ = blobs
    assert main(["btf", "dump", "-f", "raw", "-o", "/dev/stdout", str(base_file)]) == 0
    out, _ = capfd.readouterr()
    assert out == format_raw(Btf.from_bytes(base_file.read_bytes()))
    assert os.path.islink("/dev/stdout")
