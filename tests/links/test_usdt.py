"""USDT on the real kernel: libbpf-style programs (usdt.bpf.h) read probe arguments of a PIE executable
and a shared library, semaphores are set while attached, paths resolve in another mount namespace."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bpfkit
from bpfkit import host
from bpfkit._sys import perf_event
from bpfkit.btf import BtfKind
from bpfkit.links import Link, LinkGroup, attach_usdt, close_links, find_usdt_probes
from bpfkit.links import _probes as probes
from bpfkit.links import _usdt as usdt_mod
from bpfkit.obj._usdt import MAX_ARGS, SPEC_SIZE, pt_regs_offsets
from bpfkit.testing import compile_bpf, require, require_capability
from usdt_build import Built, Target, build

pytestmark = pytest.mark.kernel

PROG = Path(__file__).parent / "progs" / "usdt_args.bpf.c"
EXE_HIT = [-5, 65000, -123456, 0x1122334455667788, -9000000000]  # round 0 (the third is -123456 - round)
LIB_ARGS = [-7, 300, -70000, 0xDEADBEEFCAFE]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("usdt"))


def usdt_object(exe: str) -> Path:
    require("helper:probe_read_kernel@kprobe")  # usdt.bpf.h reads registers with it (lockdown=confidentiality: no)
    multiarch = f"/usr/include/{platform.machine()}-linux-gnu"
    return compile_bpf(PROG, cflags=[f'-DUSDT_EXE="{exe}"', f"-I{multiarch}"])


@pytest.fixture
def target(built: Built) -> Iterator[Target]:
    with Target([str(built.exe)]) as t:
        yield t


@pytest.fixture(params=[True, False], ids=["cookies", "no-cookies"])
def cookies(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run with BPF cookies (a probe must find them) and as on kernels before 5.15, without."""
    if request.param:
        require("bpf_link_perf_event")
        require("helper:get_attach_cookie@kprobe")
    else:
        monkeypatch.setattr(usdt_mod, "bpf_cookie_support", lambda: False)
    return bool(request.param)


def event(col: Any, slot: int) -> Any:
    return col.maps["events"][slot]


def test_probes_are_found_with_offsets_and_semaphores(built: Built) -> None:
    found = {(t.provider, t.name): t for t in find_usdt_probes(str(built.exe))}
    assert set(found) == {("bpfkit_test", "hit"), ("bpfkit_test", "nosema")}
    hit = found["bpfkit_test", "hit"].probe
    assert hit.semaphore and hit.semaphore_offset and len(hit.args) == 6
    assert found["bpfkit_test", "nosema"].probe.semaphore == 0
    readelf = subprocess.run(["readelf", "-n", str(built.exe)], capture_output=True, text=True, check=True).stdout
    assert f"Location: {hit.address:#018x}" in readelf and f"Semaphore: {hit.semaphore:#018x}" in readelf
    (lib,) = find_usdt_probes(str(built.lib))
    assert lib.provider == "bpfkit_lib" and [a.kind.name for a in lib.probe.args] == ["REG"] * 5 + ["CONST"]


def test_spec_struct_matches_usdt_bpf_h(built: Built) -> None:
    spec = bpfkit.ObjectSpec.from_file(usdt_object(str(built.exe)))
    btf = spec.btf
    assert btf is not None
    st = btf[btf.find_one("__bpf_usdt_spec", BtfKind.STRUCT)]
    assert st.size == SPEC_SIZE
    offs = {m.name: m.offset // 8 for m in st.members}
    assert offs == {"args": 0, "usdt_cookie": 16 * MAX_ARGS, "arg_cnt": 16 * MAX_ARGS + 8}
    arg = btf[btf.find_one("__bpf_usdt_arg_spec", BtfKind.STRUCT)]
    assert {m.name: m.offset // 8 for m in arg.members} == {"val_off": 0, "arg_type": 8, "reg_off": 12,
                                                          "arg_signed": 14, "arg_bitshift": 15}
    assert spec.maps[usdt_mod.SPECS_MAP].value_size == SPEC_SIZE


def test_pt_regs_offsets_match_the_kernel() -> None:
    btf = host.vmlinux_btf()
    machine = {"x86_64": 62, "aarch64": 183}[platform.machine()]
    regs = pt_regs_offsets(machine)
    members = {m.name: m.offset // 8 for m in btf[btf.find_one("pt_regs", BtfKind.STRUCT)].members if m.name}
    if machine == 62:
        assert all(members[name] == off for name, off in regs.items() if name in members)
        assert {"ax", "di", "si", "bp", "sp", "r8", "r15", "ip"} <= set(members)


def test_library_attach_reads_arguments(built: Built, target: Target, cookies: bool) -> None:
    """With BPF cookies (5.15) or, as before them, by probe address: then a PIE's probes need pid=."""
    require("uprobes")
    pid = -1 if cookies else target.pid
    with bpfkit.load(usdt_object(str(built.exe))) as col:
        if cookies:
            auto = col.attach()  # SEC("usdt/<exe>:bpfkit_test:nosema") attaches from its section name
            assert [link.program.name for link in auto] == ["on_nosema"]
        else:
            with pytest.raises(bpfkit.NotSupportedError):
                col.attach()
            col.links.append(col.programs["on_nosema"].attach(pid=target.pid))
        with col.programs["on_hit"].attach_usdt(str(built.exe), "bpfkit_test", "hit", cookie=99, pid=pid) as hit, \
                col.programs["on_lib"].attach_usdt(target.pid, "bpfkit_lib", "libprobe"):
            assert isinstance(hit, LinkGroup)
            assert target.fire() == (1, 1)  # both semaphores counted while attached
            target.fire()
        assert target.fire() == (0, 0)
        e = event(col, 0)
        assert e.hits == 2 and e.cnt == 6 and e.err == 0 and e.cookie == 99
        assert list(e.args[:5]) == [-5, 65000, -123457, EXE_HIT[3], EXE_HIT[4]]  # the second round's values
        assert bytes(e.str).rstrip(b"\0") == b"hello usdt"
        n = event(col, 1)
        assert n.hits == 3 and n.cnt == 2 and list(n.args[:2]) == [2, 77]
        lib = event(col, 2)
        assert lib.hits == 2 and lib.cnt == 6 and lib.cookie == 0
        assert list(lib.args[:4]) == LIB_ARGS and lib.args[5] == 42
        assert bytes(lib.str).rstrip(b"\0") == b"from lib"


def test_semaphore_through_process_memory(built: Built, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the kernel's ref_ctr_offset, the semaphore is counted in /proc/PID/mem for the pid given."""
    require("uprobes")
    monkeypatch.setattr(usdt_mod, "uprobe_ref_ctr_support", lambda: False)
    with bpfkit.load(usdt_object(str(built.exe))) as col:
        with pytest.raises(bpfkit.NotSupportedError):
            col.programs["on_hit"].attach_usdt(str(built.exe), "bpfkit_test", "hit")
        with col.programs["on_hit"].attach_usdt(str(built.exe), "bpfkit_test", "hit", pid=target.pid):
            assert target.fire() == (1, 0)
        assert target.fire() == (0, 0)
        assert event(col, 0).hits == 1 and event(col, 0).args[0] == -5


def test_without_cookies_the_ip_map_finds_the_spec(built: Built, target: Target,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels before 5.15: LINUX_HAS_BPF_COOKIE is 0 and usdt.bpf.h looks the spec up by address."""
    require("uprobes")
    monkeypatch.setattr(usdt_mod, "bpf_cookie_support", lambda: False)
    with bpfkit.load(usdt_object(str(built.exe))) as col:
        with pytest.raises(bpfkit.NotSupportedError):
            col.programs["on_lib"].attach_usdt(str(built.lib), "bpfkit_lib", "libprobe")
        with col.programs["on_lib"].attach_usdt(target.pid, "bpfkit_lib", "libprobe"), \
                col.programs["on_hit"].attach_usdt(str(built.exe), "bpfkit_test", "hit", pid=target.pid):
            assert len(col.maps[usdt_mod.IP_MAP]) == 2
            target.fire()
        assert len(col.maps[usdt_mod.IP_MAP]) == 0
        lib = event(col, 2)
        assert lib.hits == 1 and lib.err == 0 and list(lib.args[:4]) == LIB_ARGS
        assert event(col, 0).args[2] == -123456
        # a fixed-address executable runs at its link-time addresses: no pid needed
        with Target([str(built.exe_fixed)]) as fixed, \
                col.programs["on_hit"].attach_usdt(str(built.exe_fixed), "bpfkit_test", "hit", cookie=5):
            (site,) = find_usdt_probes(str(built.exe_fixed), "bpfkit_test", "hit")
            assert list(col.maps[usdt_mod.IP_MAP].keys()) == [site.probe.address]
            assert fixed.fire() == (1, 0)
        e = event(col, 0)
        assert e.hits == 2 and e.cookie == 5 and e.args[0] == -5 and bytes(e.str).rstrip(b"\0") == b"hello usdt"


def test_missing_probe_and_bad_target(built: Built) -> None:
    with bpfkit.load(usdt_object(str(built.exe))) as col:
        with pytest.raises(KeyError):
            attach_usdt(col.programs["on_hit"], str(built.exe), "bpfkit_test", "nope")
        with pytest.raises(ValueError):
            col.programs["on_hit"].attach("no-provider")
        with pytest.raises(FileNotFoundError):
            attach_usdt(col.programs["on_hit"], "/nonexistent/binary", "p", "n")


def test_spec_ids_are_released(built: Built) -> None:
    require("uprobes")
    with bpfkit.load(usdt_object(str(built.exe))) as col:
        specs = col.maps[usdt_mod.SPECS_MAP]
        for _ in range(3):
            with col.programs["on_hit"].attach_usdt(str(built.exe_fixed), "bpfkit_test", "hit"):
                assert usdt_mod._used_ids[specs.id] == {0}
        assert specs.id not in usdt_mod._used_ids


@pytest.fixture
def namespaced(built: Built, tmp_path: Path) -> Iterator[Target]:
    """The executable run from a tmpfs that exists only in its own mount namespace (a container's view)."""
    require("uprobes")
    require_capability(host.CAP_SYS_ADMIN, "making a mount namespace with a tmpfs for the traced process")
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is missing: scripts/setup.sh installs it")
    script = (f"mount -t tmpfs bpfkit-usdt /mnt && cp {built.exe} {built.lib} /mnt/ && "
              "exec /mnt/usdt_target")
    with Target(["unshare", "-m", "--propagation", "private", "sh", "-c", script]) as t:
        yield t


def test_paths_resolve_in_the_process_mount_namespace(built: Built, namespaced: Target, cookies: bool) -> None:
    """Also without BPF cookies, where the probe addresses in the process are found by the file's inode."""
    assert not os.path.exists("/mnt/usdt_target") or not os.path.samefile("/mnt/usdt_target", built.exe)
    with bpfkit.load(usdt_object(str(built.exe))) as col:
        (site,) = find_usdt_probes(namespaced.pid, "bpfkit_lib")
        # as its maps list it (from a chroot, such as the kernel matrix's guests, with the path to that root)
        assert site.binary.endswith("/mnt/libbpfkitusdt.so")
        assert site.path.startswith(f"/proc/{namespaced.pid}/map_files/")  # opens the mapped file itself
        assert not os.path.samefile(site.path, built.lib)  # the copy in the tmpfs, not the original
        nested = find_usdt_probes("/mnt/usdt_target", pid=namespaced.pid)
        assert {t.name for t in nested} == {"hit", "nosema"} and nested[0].binary == "/mnt/usdt_target"
        with col.programs["on_lib"].attach_usdt(namespaced.pid, "bpfkit_lib", "libprobe"), \
                col.programs["on_hit"].attach_usdt("/mnt/usdt_target", "bpfkit_test", "hit", pid=namespaced.pid), \
                probes.attach_uprobe(col.programs["on_nosema"], "/mnt/usdt_target", "bpfkit_nosema",
                                     pid=namespaced.pid), \
                probes.attach_uprobe(col.programs["on_nosema"], "bpfkitusdt", "bpfkit_lib_fire",
                                     pid=namespaced.pid):
            assert namespaced.fire() == (1, 1)
        assert event(col, 2).hits == 1 and list(event(col, 2).args[:4]) == LIB_ARGS
        assert event(col, 0).hits == 1 and event(col, 0).args[0] == -5
        assert event(col, 1).hits == 2  # the uprobes on the function entries


def test_symbol_tables_are_cached_per_file_identity(built: Built, tmp_path: Path) -> None:
    copy = tmp_path / "lib.so"
    shutil.copy(built.lib, copy)
    first = probes.elf_image(str(copy))
    assert probes.elf_image(str(copy)) is first
    st = copy.stat()
    os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = probes.elf_image(str(copy))
    assert again is not first and again.functions.keys() == first.functions.keys()
    libc = probes.find_library("c")
    assert libc is not None
    names = ["malloc", "free", "getpid", "write", "read"]
    resolved = probes.resolve_symbols(libc, names)
    assert list(resolved) == names and all(r.offset > 0 for r in resolved.values())
    with pytest.raises(KeyError):
        probes.resolve_symbols(libc, ["malloc", "no_such_function_here"])


def test_tracefs_uprobes_without_the_pmu(built: Built, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kernels before the uprobe PMU (4.17): uprobe_events in tracefs, the semaphore in process memory."""
    require("tracefs")
    real = perf_event.pmu_type
    monkeypatch.setattr(perf_event, "pmu_type", lambda name: None if name == "uprobe" else real(name))
    assert not probes.uprobe_ref_ctr_support()
    with bpfkit.load(usdt_object(str(built.exe))) as col:
        with col.programs["on_hit"].attach_usdt(str(built.exe), "bpfkit_test", "hit", pid=target.pid) as group:
            assert all(link.kind == "uprobe" for link in group.links)
            assert target.fire() == (1, 0)
        assert event(col, 0).hits == 1 and event(col, 0).args[1] == 65000


def test_close_links_closes_many_and_works_at_interpreter_exit(built: Built) -> None:
    """Links closed concurrently; in an atexit handler (BCC's cleanup) no thread may start, and all still close."""
    require("uprobes")
    code = (
        "import atexit, bpfkit\n"
        "from bpfkit.links import attach_uprobe, close_links\n"
        f"col = bpfkit.load({str(usdt_object(str(built.exe)))!r})\n"
        "p = col.programs['on_nosema']\n"
        f"links = [attach_uprobe(p, {str(built.lib)!r}, 'bpfkit_lib_fire', retprobe=r) for r in (False, True)]\n"
        "def bye():\n"
        "    close_links(links)\n"
        "    assert all(link.closed for link in links)\n"
        "    col.close()\n"
        "    print('closed', len(links))\n"
        "atexit.register(bye)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "closed 2", res.stderr


def test_close_links_raises_the_first_error_after_closing_all() -> None:
    closed: list[int] = []

    class Fake(Link):
        def __init__(self, i: int) -> None:
            super().__init__(None, program=None, kind="fake", target=str(i), on_close=lambda: self.boom(i))

        def boom(self, i: int) -> None:
            closed.append(i)
            if i == 3:
                raise OSError(i, "refused")

    links = [Fake(i) for i in range(8)]
    with pytest.raises(OSError):
        close_links(links)
    assert sorted(closed) == list(range(8)) and all(link.closed for link in links)


def test_uprobe_at_a_virtual_address_is_translated_to_its_file_offset(built: Built) -> None:
    """BCC's attach_uprobe(addr=) gives a virtual address: in a fixed-address executable it differs from the offset."""
    require("uprobes")
    (site,) = find_usdt_probes(str(built.exe_fixed), "bpfkit_test", "nosema")
    assert site.probe.address != site.probe.offset
    with bpfkit.load(usdt_object(str(built.exe))) as col, Target([str(built.exe_fixed)]) as fixed:
        with probes.attach_uprobe(col.programs["on_nosema"], str(built.exe_fixed), address=site.probe.address):
            fixed.fire()
            fixed.fire()
        assert event(col, 1).hits == 2
        with pytest.raises(ValueError):
            probes.attach_uprobe(col.programs["on_nosema"], str(built.exe_fixed), address=0x10)
