"""kprobe.multi and uprobe.multi links: cookies, patterns, return probes, auto-attach, clear refusals."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from link_progs import RET0

import bpfkit
from bpfkit import features
from bpfkit._uapi import LinkType
from bpfkit.errors import AccessError, BpfTypeError, BpfValueError, NotSupportedError
from bpfkit.links import _multi as multi
from bpfkit.programs import Program
from bpfkit.testing import compile_bpf, require

pytestmark = pytest.mark.kernel

PROG = Path(__file__).parent / "progs" / "multi.bpf.c"
CALLS = {"bpfkit_multi_a": 1, "bpfkit_multi_b": 2, "bpfkit_multi_c": 3}  # calls per round


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("multi")
    src = d / "target.c"
    funcs = "".join(
        f"__attribute__((noinline)) int {name}(int x) {{ asm volatile(\"\" ::: \"memory\"); return x + {n}; }}\n"
        for name, n in CALLS.items()
    )
    calls = " ".join(f"for (int j = 0; j < {n}; j++) s += {name}(i);" for name, n in CALLS.items())
    src.write_text("#include <stdlib.h>\n" + funcs +
                   f"int main(int argc, char **argv) {{ int n = atoi(argv[1]), s = 0;"
                   f" for (int i = 0; i < n; i++) {{ {calls} }} return s == -1; }}\n")
    exe = d / "target"
    subprocess.run(["cc", "-O1", "-o", str(exe), str(src)], check=True)
    return exe


@pytest.fixture
def col(target: Path) -> Iterator[bpfkit.Collection]:
    require("helper:get_attach_cookie@kprobe")  # every program of multi.bpf.c reads its cookie (Linux 5.15)
    obj = compile_bpf(PROG, cflags=[f'-DMULTI_EXE="{target}"', "-Werror"])
    with bpfkit.load(obj) as c:
        yield c


def hits(col: bpfkit.Collection) -> dict[int, int]:
    return {int(k): int(v) for k, v in col.maps["hits"].items()}


def run(target: Path, rounds: int) -> None:
    subprocess.run([str(target), str(rounds)], check=True)


def test_uprobe_multi_cookies_per_symbol(col: bpfkit.Collection, target: Path) -> None:
    require("uprobe_multi")
    p = col.programs["umulti"]
    with p.attach_uprobe_multi(str(target), syms=list(CALLS), cookies=[1, 2, 3]) as link:
        assert link.info().type == LinkType.UPROBE_MULTI
        run(target, 4)
    run(target, 1)  # detached: not counted
    assert hits(col) == {1: 4, 2: 8, 3: 12}


def test_uretprobe_multi_pattern(col: bpfkit.Collection, target: Path) -> None:
    require("uprobe_multi")
    with col.programs["uretmulti"].attach_uprobe_multi(str(target), "bpfkit_multi_*"):
        run(target, 2)
    assert hits(col) == {1000: 2 * sum(CALLS.values())}


def test_uprobe_multi_offsets_and_pid_filter(col: bpfkit.Collection, target: Path) -> None:
    require("uprobe_multi")
    from bpfkit.links._probes import resolve_symbol

    off = resolve_symbol(str(target), "bpfkit_multi_c").offset
    p = col.programs["umulti"]
    with p.attach_uprobe_multi(str(target), offsets=[off], cookies=[5], pid=os.getpid()):
        run(target, 3)  # another process: filtered out
    with p.attach_uprobe_multi(str(target), offsets=[off], cookies=[6]):
        run(target, 3)
    assert hits(col) == {6: 9}


def test_uprobe_multi_attaches_from_the_section(col: bpfkit.Collection, target: Path) -> None:
    require("uprobe_multi")
    links = col.attach()
    assert [link.kind for link in links] == ["uprobe.multi"]
    run(target, 5)
    col.detach()
    assert hits(col) == {2000: 5 * (CALLS["bpfkit_multi_a"] + CALLS["bpfkit_multi_b"])}


def test_uprobe_multi_bad_input(col: bpfkit.Collection, target: Path) -> None:
    p = col.programs["umulti"]
    with pytest.raises(BpfTypeError):
        p.attach_uprobe_multi(str(target), "bpfkit_multi_*", syms=["bpfkit_multi_a"])
    with pytest.raises(BpfValueError):
        p.attach_uprobe_multi(str(target), syms=["bpfkit_multi_a", "bpfkit_multi_b"], cookies=[1])
    with pytest.raises(BpfValueError):
        p.attach_uprobe_multi(str(target), "no_such_function_*")
    with pytest.raises(KeyError):
        p.attach_uprobe_multi(str(target), syms=["no_such_function"])
    with Program.load("kprobe", RET0, name="plain") as plain, pytest.raises(BpfValueError) as ei:
        plain.attach_uprobe_multi(str(target), syms=["bpfkit_multi_a"])
    assert "uprobe.multi" in str(ei.value)


def test_kprobe_multi_attaches_or_is_refused_clearly(col: bpfkit.Collection) -> None:
    """Where the probe says kprobe.multi links exist they count calls with cookies; elsewhere a clear refusal."""
    p, ret = col.programs["kmulti"], col.programs["kretmulti"]
    support = features.check("kprobe_multi")
    if not support.available:
        assert not multi.kprobe_multi_support()
        for attach in (lambda: p.attach_kprobe_multi(syms=["do_nanosleep"], cookies=[7]),
                       lambda: p.attach_kprobe_multi("do_nanosleep"),
                       lambda: p.attach("do_nanosleep")):
            with pytest.raises(NotSupportedError) as ei:
                attach()
            assert ei.value.feature == "kprobe_multi" and ei.value.min_kernel == "5.18"
        assert hits(col) == {}
        return
    with p.attach_kprobe_multi(syms=["do_nanosleep"], cookies=[7]) as link:
        assert link.info().type == LinkType.KPROBE_MULTI
        time.sleep(0.001)
    if not features.have_tracefs():  # a pattern is matched against tracefs's available_filter_functions
        with pytest.raises((NotSupportedError, AccessError)) as ei:  # empty (lockdown) or unreadable (non-root)
            ret.attach("do_nanosleep")
        assert "available_filter_functions" in str(ei.value) or "tracefs" in str(ei.value)
        assert hits(col).get(7, 0) >= 1
        return
    with ret.attach("do_nanosleep"):  # the dispatch of the section family, with a pattern
        time.sleep(0.001)
    got = hits(col)
    assert got.get(7, 0) >= 1 and got.get(1000, 0) >= 1
    assert set(got) <= {7, 1000}


def test_kprobe_multi_bad_input(col: bpfkit.Collection) -> None:
    p = col.programs["kmulti"]
    with pytest.raises(BpfTypeError):
        p.attach_kprobe_multi()
    with pytest.raises(BpfTypeError):
        p.attach_kprobe_multi("do_*", syms=["do_nanosleep"])
    with pytest.raises(BpfValueError):
        p.attach_kprobe_multi(syms=["do_nanosleep", "vfs_read"], cookies=[1])
    with Program.load("kprobe", RET0, name="plain") as plain, pytest.raises(BpfValueError):
        plain.attach_kprobe_multi(syms=["do_nanosleep"])
