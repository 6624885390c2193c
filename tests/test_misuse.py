"""The public API under misuse: no state kept across loads, bpfkit errors for bad arguments, clear messages (issue 13)."""

from __future__ import annotations

import errno
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import bpfkit
from bpfkit.testing import compile_bpf, require

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "src" / "bpfkit" / "tools"


@pytest.fixture(scope="module")
def bootstrap_obj() -> Path:
    return compile_bpf(TOOLS / "bootstrap.bpf.c", cflags=["-Werror"])


def _module_state() -> dict[str, int]:
    """Size of every dict, list and set held at module level by a bpfkit module."""
    sizes = {}
    for name, mod in list(sys.modules.items()):
        if name == "bpfkit" or name.startswith("bpfkit."):
            for attr, v in list(vars(mod).items()):
                if type(v) in (dict, list, set):
                    sizes[f"{name}.{attr}"] = len(v)
    return sizes


def test_co_re_loads_keep_no_module_level_state(bootstrap_obj: Path) -> None:
    require("helper:probe_read_kernel@tracepoint")  # bootstrap's BPF_CORE_READ (lockdown=confidentiality refuses it)
    spec = bpfkit.ObjectSpec.from_file(bootstrap_obj)
    assert any(p.core_relos for p in spec.programs.values())  # the loads below do CO-RE
    for _ in range(2):  # warm the caches that legitimately fill once (host facts, probes)
        with bpfkit.load(bootstrap_obj):
            pass
    before = _module_state()
    for _ in range(5):
        with bpfkit.load(bootstrap_obj):
            pass
    after = _module_state()
    grown = {k: (before.get(k, 0), n) for k, n in after.items() if n > before.get(k, 0)}
    assert grown == {}


# ---- bad arguments to load() (issue 13 #3, #4) ----------------------------------


def test_unknown_program_name_is_a_bpfkit_key_error(bootstrap_obj: Path) -> None:
    with pytest.raises(bpfkit.BpfKeyError) as info:
        bpfkit.load(bootstrap_obj, programs=["nope"])
    assert isinstance(info.value, KeyError)


def test_programs_given_as_one_str_is_refused_not_split(bootstrap_obj: Path) -> None:
    with pytest.raises(bpfkit.BpfTypeError):
        bpfkit.load(bootstrap_obj, programs="handle_exit")  # type: ignore[arg-type]


def test_reuse_maps_of_the_wrong_kind_are_bpfkit_errors(bootstrap_obj: Path) -> None:
    with pytest.raises(bpfkit.BpfTypeError):
        bpfkit.load(bootstrap_obj, reuse_maps={"exec_start": "x"})
    with pytest.raises(bpfkit.KernelError) as info:
        bpfkit.load(bootstrap_obj, reuse_maps={"exec_start": 999_999})  # no such fd
    assert info.value.errno == errno.EBADF
    r, w = os.pipe()
    try:
        with pytest.raises(bpfkit.BpfValueError):
            bpfkit.load(bootstrap_obj, reuse_maps={"exec_start": r})  # an fd, not a map's
    finally:
        os.close(r)
        os.close(w)


def test_str_for_an_integer_constant_is_refused(bootstrap_obj: Path) -> None:
    with pytest.raises(bpfkit.BpfTypeError) as info:
        bpfkit.load(bootstrap_obj, constants={"min_duration_ns": "1234"})
    assert isinstance(info.value, TypeError)


def test_str_for_a_char_array_constant_still_works(tmp_path: Path) -> None:
    src = tmp_path / "comm.bpf.c"
    src.write_text(
        '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
        'const volatile char want[16] = "";\n'
        'SEC("socket") int f(void *ctx) { return want[0]; }\n'
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    with bpfkit.load(compile_bpf(src), constants={"want": "bash"}) as obj:
        assert obj.variables.raw("want")[:5] == b"bash\0"


# ---- messages (issue 13 #5) -----------------------------------------------------------


def test_unknown_section_name_says_so_and_lists_close_ones(tmp_path: Path) -> None:
    src = tmp_path / "typo.bpf.c"
    src.write_text(
        '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
        'SEC("tracepoint_typo/x") int f(void *ctx) { return 0; }\n'
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    with pytest.raises(bpfkit.ObjectFormatError) as info:
        bpfkit.load(compile_bpf(src))
    assert info.value.section == "tracepoint_typo/x"
    assert "tracepoint/..." in str(info.value)
    assert "unspec" not in str(info.value)


def test_max_entries_zero_is_caught_before_the_syscall(tmp_path: Path) -> None:
    src = tmp_path / "sized.bpf.c"
    src.write_text(
        '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
        "struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, u32); __type(value, u64); } counts SEC(\".maps\");\n"
        'SEC("socket") int f(void *ctx) { u32 k = 0; return bpf_map_lookup_elem(&counts, &k) != 0; }\n'
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    obj = compile_bpf(src)
    with pytest.raises(bpfkit.BpfValueError) as info:
        bpfkit.load(obj)
    assert not isinstance(info.value, bpfkit.KernelError)  # found before BPF_MAP_CREATE
    assert "spec.maps['counts'].max_entries" in str(info.value)
    spec = bpfkit.ObjectSpec.from_file(obj)
    spec.maps["counts"].max_entries = 8
    with bpfkit.load(spec) as loaded:
        assert loaded.maps["counts"].max_entries == 8
    with pytest.raises(bpfkit.BpfValueError):
        bpfkit.Map.create("hash", 4, 8, 0)


# ---- malformed objects (issue 13 #3) ---------------------------------------------------


def _set_symbol_value(elf: bytearray, name: str, value: int) -> None:
    """Overwrite st_value of ELF64 little-endian symbol ``name``."""
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    for sh in sections:
        if sh[1] != 2:  # SHT_SYMTAB
            continue
        strtab = sections[sh[6]]
        for off in range(sh[4], sh[4] + sh[5], 24):
            st_name, = struct.unpack_from("<I", elf, off)
            start = strtab[4] + st_name
            if bytes(elf[start : elf.index(b"\0", start)]).decode() == name:
                struct.pack_into("<Q", elf, off + 8, value)
                return
    raise AssertionError(f"no symbol {name}")


def test_data_symbol_value_out_of_range_is_object_format_error(tmp_path: Path) -> None:
    src = tmp_path / "spare.bpf.c"
    src.write_text(
        '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
        "__u64 used = 1;\n__u64 spare = 5;\n"  # spare: no instruction refers to it
        'SEC("socket") int f(void *ctx) { return used; }\n'
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    elf = bytearray(compile_bpf(src).read_bytes())
    _set_symbol_value(elf, "spare", 2**32)
    with pytest.raises(bpfkit.ObjectFormatError):
        with bpfkit.load(bytes(elf)):
            pass


def test_btf_field_out_of_range_is_a_bpfkit_error() -> None:
    """A DATASEC variable offset >= 2**32 (an ELF symbol value, say) cannot be encoded: say so."""
    from bpfkit.btf import Btf, Datasec, Int, IntEncoding, Var, VarSecinfo

    btf = Btf.from_types([Int("u64", 8, IntEncoding(0)), Var("spare", 1), Datasec(".data", 8, [VarSecinfo(2, 2**32, 8)])])
    with pytest.raises(bpfkit.BpfOverflowError):
        btf.to_bytes()


def test_uprobe_on_a_missing_symbol_is_a_bpfkit_key_error() -> None:
    from bpfkit.links._probes import resolve_symbol

    with pytest.raises(bpfkit.BpfKeyError):
        resolve_symbol(sys.executable, "no_such_function_in_python_xyz")


def test_btf_dump_c_of_a_bad_name_offset_is_object_format_error(tmp_path: Path) -> None:
    from bpfkit.btf import Btf, Int, IntEncoding, Member, Struct
    from bpfkit.btf.format import format_c, format_raw
    from bpfkit.cli import main

    blob = bytearray(Btf.from_types([Int("int", 4, IntEncoding.SIGNED), Struct("pair", 4, [Member("a", 1, 0)])]).to_bytes())
    member_name = 24 + 16 + 12  # header, INT (12 + 4), STRUCT header: then the member's name offset
    struct.pack_into("<I", blob, member_name, 0x7FFF0)
    bad = Btf.from_bytes(bytes(blob))
    with pytest.raises(bpfkit.ObjectFormatError):
        format_raw(bad)
    with pytest.raises(bpfkit.ObjectFormatError):
        format_c(bad)
    path = tmp_path / "bad.btf"
    path.write_bytes(blob)
    assert main(["btf", "dump", str(path)]) != 0  # reported as an error, no traceback


def test_test_run_with_an_empty_ctx_says_why() -> None:
    from bpfkit.asm import exit_insn, mov64_imm

    with bpfkit.Program.load("socket_filter", [*mov64_imm(0, 0), *exit_insn()]) as p:
        with pytest.raises(bpfkit.BpfValueError):
            p.test_run(ctx=b"")


def test_map_flags_out_of_range_are_refused_before_the_syscall() -> None:
    with pytest.raises(bpfkit.BpfOverflowError):
        bpfkit.Map.create("hash", 4, 8, 4, flags=2**40)
    with bpfkit.Map.create("hash", 4, 8, 4) as m:
        with pytest.raises(bpfkit.BpfOverflowError):
            m.update(1, 2, flags=2**70)
        with pytest.raises(bpfkit.BpfOverflowError):
            m.update_batch([(1, 2)], flags=2**64)
        with pytest.raises(bpfkit.BpfTypeError):
            m.update(1, 2, flags="1")  # type: ignore[arg-type]
        assert 1 not in m


def test_update_batch_items_must_be_pairs() -> None:
    with bpfkit.Map.create("hash", 4, 8, 4) as m:
        with pytest.raises(bpfkit.BpfTypeError):
            m.update_batch([(1,)])  # type: ignore[list-item]
        assert m.update_batch([[1, 2]]) == 1


# ---- the CLI (issue 13 #6) -----------------------------------------------------------------


def test_bootstrap_min_duration_overflowing_u64_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from bpfkit.cli import main

    with pytest.raises(SystemExit) as info:
        main(["bootstrap", "-d", "18446744073710"])
    assert info.value.code == 2
    assert "min_duration_ns" in capsys.readouterr().err


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_the_cli_builds_its_parser_exits_quietly(sig: int, status: int) -> None:
    """The handlers are in place before the subcommands are imported (run in a child: SIGTERM kills)."""
    code = (
        "import os, signal, sys\n"
        "import bpfkit.cli as cli\n"
        "real = cli.build_parser\n"
        f"def build(*a, **k):\n    os.kill(os.getpid(), {int(sig)})\n    return real(*a, **k)\n"
        "cli.build_parser = build\n"
        "sys.exit(cli.main(['bootstrap', '--duration', '5']))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == status
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_console_script_signal_while_bpfkit_imports_exits_quietly(sig: int, status: int) -> None:
    """The console script's handlers come before ``import bpfkit`` (tens of ms): a signal then exits quietly."""
    code = (
        "import builtins, os, sys\n"
        "import bpfkit_entry\n"
        "assert 'bpfkit' not in sys.modules\n"
        "real = builtins.__import__\n"
        "def imp(name, *a, **k):\n"
        "    if name.startswith('bpfkit.'):\n"
        "        builtins.__import__ = real\n"
        f"        os.kill(os.getpid(), {int(sig)})\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = imp\n"
        "sys.argv = ['bpfkit', '--version']\n"
        "sys.exit(bpfkit_entry.main())\n"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == status, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_console_script_runs_the_cli() -> None:
    """The installed ``bpfkit`` script goes through bpfkit_entry to bpfkit.cli.main."""
    r = subprocess.run([sys.executable, "-c", "import sys, bpfkit_entry; sys.argv = ['bpfkit', '--version']; "
                        "sys.exit(bpfkit_entry.main())"], check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("bpfkit ")
