"""``bpfkit map ...`` on real maps, cross-checked with bpftool where both print the same thing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from bpfkit import cli, host
from bpfkit.btf import Array, Btf, Int, IntEncoding, Member, Struct
from bpfkit.maps import Map
from bpfkit.testing import require

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True)
def _object_ids() -> None:
    """``bpfkit map`` selects maps by id or name, walking the kernel's ids as bpftool does (CAP_SYS_ADMIN);
    test_host_limits checks the one-line refusal a capabilities-only user gets."""
    require("object_ids")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["map", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def counts() -> Map:
    m = Map.create("hash", key_size=4, value_size=8, max_entries=8, name="cli_counts")
    m[1] = 7
    m[2] = 0x0102
    yield m
    m.close()


def test_list_and_show(capsys: pytest.CaptureFixture[str], counts: Map) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["ID", "TYPE", "NAME", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS", "BTF", "FROZEN"]
    mine = [r for r in rows if r.split()[0] == str(counts.id)]
    assert mine and mine[0].split()[1:8] == ["hash", "cli_counts", "4", "8", "8", "0x0", "-"]
    code, out, _ = run(capsys, "list", "--json")
    listed = {e["id"]: e for e in json.loads(out)}
    assert listed[counts.id]["name"] == "cli_counts" and listed[counts.id]["type"] == "hash"
    code, out, _ = run(capsys, "-j", "show", "id", str(counts.id))
    shown = json.loads(out)
    assert (shown["bytes_key"], shown["bytes_value"], shown["max_entries"], shown["frozen"]) == (4, 8, 8, 0)
    bt = json.loads(subprocess.run([shutil.which("bpftool") or "bpftool", "map", "show", "id", str(counts.id), "-j"],
                                   check=True, capture_output=True, text=True).stdout)
    assert shown == bt
    code, out, _ = run(capsys, "-p", "show", "id", str(counts.id))
    assert json.loads(out) == bt
    code, out, _ = run(capsys, "show", "name", "cli_counts")
    assert code == 0 and str(counts.id) in out


def test_columns_are_aligned(capsys: pytest.CaptureFixture[str], counts: Map) -> None:
    with Map.create("array", key_size=4, value_size=128, max_entries=100000, name="a_longer_name") as other:
        _, out, _ = run(capsys, "list")
        lines = [ln for ln in out.splitlines() if ln.split()[0] in ("ID", str(counts.id), str(other.id))]
        starts = [ln.index("TYPE") if i == 0 else None for i, ln in enumerate(lines)]
        col = starts[0]
        assert all(ln[col - 2 : col] == "  " and ln[col] != " " for ln in lines)


def test_dump_hex_matches_bpftool(capsys: pytest.CaptureFixture[str], counts: Map) -> None:
    code, out, _ = run(capsys, "dump", "id", str(counts.id))
    assert code == 0
    lines = out.splitlines()
    assert "key: 01 00 00 00  value: 07 00 00 00 00 00 00 00" in lines
    assert "key: 02 00 00 00  value: 02 01 00 00 00 00 00 00" in lines
    assert lines[-1] == "Found 2 elements"
    code, out, _ = run(capsys, "dump", "id", str(counts.id), "-j")
    ours = json.loads(out)
    theirs = json.loads(subprocess.run([shutil.which("bpftool") or "bpftool", "map", "dump", "id", str(counts.id), "-j"],
                                       check=True, capture_output=True, text=True).stdout)
    key = lambda e: e["key"]  # noqa: E731
    assert sorted(ours, key=key) == sorted(theirs, key=key)


def test_dump_with_btf_and_percpu(capsys: pytest.CaptureFixture[str]) -> None:
    btf = Btf.from_types([Int("int", 4, IntEncoding.SIGNED), Int("char", 1, IntEncoding.SIGNED), Array(2, 1, 8),
                          Struct("proc", 12, [Member("pid", 1, 0), Member("comm", 3, 32)])])
    with Map.create("hash", key_size=4, value_size=12, max_entries=4, name="cli_btf", btf=btf,
                    btf_key_type_id=1, btf_value_type_id=4) as m:
        m[-1] = {"pid": 10, "comm": "init"}
        code, out, _ = run(capsys, "dump", "id", str(m.id))
        assert out.splitlines()[0] == 'key: -1  value: {"pid": 10, "comm": "init"}'
        code, out, _ = run(capsys, "dump", "id", str(m.id), "-j")
        (entry,) = json.loads(out)
        assert entry["formatted"] == {"key": -1, "value": {"pid": 10, "comm": "init"}}
        theirs = json.loads(subprocess.run(["bpftool", "map", "dump", "id", str(m.id), "-j"], check=True,
                                           capture_output=True, text=True).stdout)
        assert theirs[0]["key"] == entry["key"] and theirs[0]["value"] == entry["value"]
    n = host.possible_cpus()
    with Map.create("percpu_array", key_size=4, value_size=4, max_entries=1, name="cli_pc") as pc:
        pc[0] = list(range(1, n + 1))
        code, out, _ = run(capsys, "dump", "id", str(pc.id))
        lines = out.splitlines()
        assert lines[0] == "key: 00 00 00 00"
        assert lines[1:1 + n] == [f"  cpu{i}: {i + 1:02x} 00 00 00" for i in range(n)]
        code, out, _ = run(capsys, "dump", "id", str(pc.id), "-j")
        assert json.loads(out)[0]["values"][0] == {"cpu": 0, "value": ["0x01", "0x00", "0x00", "0x00"]}


def test_lookup_update_delete(capsys: pytest.CaptureFixture[str], counts: Map) -> None:
    mid = str(counts.id)
    code, out, _ = run(capsys, "lookup", "id", mid, "key", "1")
    assert (code, out.strip()) == (0, "key: 01 00 00 00  value: 07 00 00 00 00 00 00 00")
    code, out, _ = run(capsys, "lookup", "id", mid, "key", "hex", "02", "00", "00", "00", "-j")
    assert json.loads(out)["value"][:2] == ["0x02", "0x01"]
    code, out, _ = run(capsys, "update", "id", mid, "key", "3", "0", "0", "0", "value", "0x10", "noexist")
    assert code == 0 and counts[3] == 16
    code, _, err = run(capsys, "update", "id", mid, "key", "3", "value", "1", "noexist")
    assert code == 1 and "EEXIST" in err
    code, _, _ = run(capsys, "update", "name", "cli_counts", "key", "3", "value", "hex", "ff" * 8, "exist")
    assert code == 0 and counts[3] == 2**64 - 1
    code, _, _ = run(capsys, "delete", "id", mid, "key", "3")
    assert code == 0 and 3 not in counts
    code, _, err = run(capsys, "lookup", "id", mid, "key", "3")
    assert code == 1 and "not found" in err
    code, _, err = run(capsys, "lookup", "id", mid, "key", "1", "2")
    assert code == 1 and "cannot read" in err
    code, _, err = run(capsys, "lookup", "id", mid)
    assert code == 1 and "key DATA" in err
    code, _, err = run(capsys, "update", "id", mid, "key", "1", "value", "99999999999999999999")
    assert code == 1 and "out of range" in err


def test_pin_and_freeze(capsys: pytest.CaptureFixture[str], counts: Map) -> None:
    require("pinning")
    path = f"/sys/fs/bpf/bpfkit-test-cli-{os.getpid()}"
    try:
        code, _, _ = run(capsys, "pin", "id", str(counts.id), path)
        assert code == 0 and os.path.exists(path)
        code, out, _ = run(capsys, "dump", "pinned", path)
        assert "Found 2 elements" in out
    finally:
        if os.path.exists(path):
            os.unlink(path)
    code, out, _ = run(capsys, "freeze", "id", str(counts.id), "--json")
    assert code == 0 and json.loads(out) == {"id": counts.id, "action": "freeze", "ok": True}
    assert counts.info().frozen is True
    code, out, _ = run(capsys, "show", "id", str(counts.id))
    assert out.splitlines()[1].split()[-1] == "yes"
    code, _, err = run(capsys, "update", "id", str(counts.id), "key", "1", "value", "1")
    assert code == 1 and "EPERM" in err


def test_selection_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "dump", "name", "no_such_map_xyz")
    assert code == 1 and "no map is named" in err
    code, _, err = run(capsys, "dump", "id", "2147483000")
    assert code == 1 and "ENOENT" in err
    code, _, err = run(capsys, "dump", "pinned", "/sys/fs/bpf/bpfkit-no-such-pin")
    assert code == 1 and "/sys/fs/bpf/bpfkit-no-such-pin" in err
    code, _, err = run(capsys, "dump", "ident", "3")
    assert code == 1 and "id N" in err
    with Map.create("hash", key_size=4, value_size=4, max_entries=1, name="cli_twin") as a, \
         Map.create("hash", key_size=4, value_size=4, max_entries=1, name="cli_twin") as b:
        code, _, err = run(capsys, "lookup", "name", "cli_twin", "key", "1")
        assert code == 1 and str(a.id) in err and str(b.id) in err
        code, out, _ = run(capsys, "dump", "name", "cli_twin")
        assert code == 0 and out.count("Found 0 elements") == 2
    with Map.create("queue", value_size=4, max_entries=2, name="cli_q") as q:
        code, _, err = run(capsys, "dump", "id", str(q.id))
        assert code == 1 and "no keys" in err


def test_console_entry_point() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-m", "bpfkit", "map", "list", "-j"], capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0 and isinstance(json.loads(r.stdout), list)
