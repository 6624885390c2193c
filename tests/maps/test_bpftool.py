"""Cross-checks with an independent tool: bpftool reads what bpfkit wrote, bpfkit reads what bpftool wrote."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from bpfkit import host
from bpfkit.btf import Btf, Int, IntEncoding, Member, Struct
from bpfkit.maps import HashMap, Map
from bpfkit.testing import require, require_libbpf

pytestmark = pytest.mark.kernel

BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


def bpftool(*args: str) -> str:
    if not os.path.exists(BPFTOOL):
        pytest.fail("bpftool is not installed (make test installs it)")
    return subprocess.run([BPFTOOL, *args], check=True, capture_output=True, text=True).stdout


def hexbytes(b: bytes) -> list[str]:
    return [f"0x{x:02x}" for x in b]


def test_bpftool_dumps_what_bpfkit_wrote() -> None:
    require("object_ids")  # bpftool opens the map by id
    with Map.create("hash", key_size=4, value_size=8, max_entries=16, name="fromkit") as m:
        data = {i: i * 1000 + 7 for i in range(10)}
        m.update_batch(data)
        dump = json.loads(bpftool("map", "dump", "id", str(m.id), "-j"))
        got = {int.from_bytes(bytes(int(x, 16) for x in e["key"]), "little"):
               int.from_bytes(bytes(int(x, 16) for x in e["value"]), "little") for e in dump}
        assert got == data
        shown = json.loads(bpftool("map", "show", "id", str(m.id), "-j"))
        assert (shown["name"], shown["type"], shown["bytes_key"], shown["bytes_value"], shown["max_entries"]) == (
            "fromkit", "hash", 4, 8, 16)


def test_bpftool_reads_percpu_values_and_btf_from_bpfkit() -> None:
    require("object_ids")  # bpftool opens the maps by id
    n = host.possible_cpus()
    with Map.create("percpu_array", key_size=4, value_size=4, max_entries=2, name="kitpc") as a:
        a[1] = list(range(100, 100 + n))
        dump = json.loads(bpftool("map", "dump", "id", str(a.id), "-j"))
        entry = next(e for e in dump if e["key"] == hexbytes((1).to_bytes(4, "little")))
        assert [int.from_bytes(bytes(int(x, 16) for x in c["value"][:4]), "little") for c in entry["values"]] == \
            list(range(100, 100 + n))
    btf = Btf.from_types([Int("int", 4, IntEncoding.SIGNED), Struct("pair", 8, [Member("a", 1, 0), Member("b", 1, 32)])])
    with Map.create("hash", key_size=4, value_size=8, max_entries=4, name="kitbtf", btf=btf,
                    btf_key_type_id=1, btf_value_type_id=2) as m:
        m[-3] = {"a": 5, "b": -6}
        dump = json.loads(bpftool("map", "dump", "id", str(m.id), "-j"))
        assert dump[0]["formatted"] == {"key": -3, "value": {"a": 5, "b": -6}}


def test_bpfkit_reads_what_bpftool_wrote() -> None:
    require("pinning")  # bpftool hands its map over by a pin
    require_libbpf("bpftool map create")
    path = f"/sys/fs/bpf/bpfkit-test-bpftool-{os.getpid()}"
    bpftool("map", "create", path, "type", "hash", "key", "4", "value", "8", "entries", "8", "name", "m")
    try:
        bpftool("map", "update", "pinned", path, "key", "hex", "01", "00", "00", "00",
                "value", "hex", "2a", "00", "00", "00", "00", "00", "00", "00")
        bpftool("map", "update", "pinned", path, "key", "hex", "02", "00", "00", "00",
                "value", "hex", "ff", "ff", "ff", "ff", "ff", "ff", "ff", "ff")
        with Map.from_pin(path) as m:
            assert isinstance(m, HashMap)
            assert (m.name, m.key_size, m.value_size, m.max_entries) == ("m", 4, 8, 8)
            assert dict(m.items()) == {1: 42, 2: 2**64 - 1}
            m[3] = 3  # and bpftool sees bpfkit's write to its map
            out = json.loads(bpftool("map", "lookup", "pinned", path, "key", "hex", "03", "00", "00", "00", "-j"))
            assert out["value"] == hexbytes((3).to_bytes(8, "little"))
    finally:
        os.unlink(path)
