"""The vmlinux BTF index cached across processes: written once, reused, rebuilt silently when wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bpfkit import host
from bpfkit.btf import Btf, BtfKind

NAMES = ["task_struct", "sched_switch", "btf_trace_sched_switch", "bpf_map", "no_such_type_bpfkit", "int"]

pytestmark = pytest.mark.skipif(not os.path.exists(host.VMLINUX_BTF_PATH), reason="no kernel BTF")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private cache directory; the process-wide vmlinux_btf() cache cleared before and after."""
    monkeypatch.setenv("BPFKIT_CACHE", str(tmp_path / "cache"))
    host.vmlinux_btf.cache_clear()
    yield tmp_path / "cache" / "vmlinux.btfidx"
    host.vmlinux_btf.cache_clear()


def scanned() -> Btf:
    with open(host.VMLINUX_BTF_PATH, "rb") as f:
        return Btf.from_bytes(f.read())


def same_answers(btf: Btf, ref: Btf) -> None:
    assert btf.count == ref.count
    for name in NAMES:
        assert btf.find(name) == ref.find(name), name
    tid = ref.find_one("task_struct", BtfKind.STRUCT)
    assert btf[tid] == ref[tid]
    assert btf[ref.count - 1] == ref[ref.count - 1]


def fresh() -> Btf:
    host.vmlinux_btf.cache_clear()
    return host.vmlinux_btf()


def test_index_written_then_reused(cache: Path) -> None:
    first = host.vmlinux_btf()
    assert cache.is_file()
    written = cache.read_bytes()
    assert first._index is not None and first._index.by_name is not None
    second = fresh()
    assert second._index is not None and second._index is not first._index
    assert cache.read_bytes() == written  # reused, not rewritten
    ref = scanned()
    same_answers(first, ref)
    same_answers(second, ref)


def test_index_used_by_another_process(cache: Path) -> None:
    host.vmlinux_btf()
    code = "from bpfkit import host; b = host.vmlinux_btf(); print(type(b._offsets).__name__, b.find('task_struct'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "BPFKIT_CACHE": str(cache.parent)}).stdout.split(maxsplit=1)
    assert out[0] == "memoryview"  # a view of the mapped cache file: no scan
    assert out[1].strip() == str(scanned().find("task_struct"))


@pytest.mark.parametrize("damage", ["body", "key", "truncate", "garbage", "empty"])
def test_damaged_or_stale_cache_is_rebuilt(cache: Path, damage: str) -> None:
    host.vmlinux_btf()
    good = cache.read_bytes()
    raw = bytearray(good)
    if damage == "body":
        raw[len(raw) // 2] ^= 0xFF
    elif damage == "key":
        at = raw.index(b"boot=") + 5
        raw[at] = ord("0") if raw[at] != ord("0") else ord("1")  # another boot's index
    elif damage == "truncate":
        raw = raw[: len(raw) // 3]
    elif damage == "garbage":
        raw = bytearray(os.urandom(4096))
    else:
        raw = bytearray()
    cache.write_bytes(bytes(raw))
    btf = fresh()
    same_answers(btf, scanned())
    assert cache.read_bytes() == good  # silently rebuilt


def test_default_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BPFKIT_CACHE", "")  # empty: the default, as for bpfkit.testing's cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert host._index_file() == str(tmp_path / "xdg" / "bpfkit" / "vmlinux.btfidx")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert host._index_file() == str(tmp_path / ".cache" / "bpfkit" / "vmlinux.btfidx")


def test_unwritable_cache_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("BPFKIT_CACHE", str(blocker / "sub"))
    try:
        same_answers(fresh(), scanned())
        assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    finally:
        host.vmlinux_btf.cache_clear()


def test_no_temporary_files_left(cache: Path) -> None:
    host.vmlinux_btf()
    assert [p.name for p in cache.parent.iterdir()] == ["vmlinux.btfidx"]


def test_index_key_only_for_the_kernels_own_btf(tmp_path: Path) -> None:
    copy = tmp_path / "vmlinux"
    data = Path(host.VMLINUX_BTF_PATH).read_bytes()
    copy.write_bytes(data)
    assert host._index_key(str(copy), data) is None  # a regular file may change in place: never cached
    key = host._index_key(host.VMLINUX_BTF_PATH, data)
    assert key is not None and b"boot=" in key


def test_cache_others_can_write_is_not_trusted(cache: Path) -> None:
    host.vmlinux_btf()
    cache.chmod(0o666)
    btf = fresh()
    same_answers(btf, scanned())
    assert cache.stat().st_mode & 0o777 == 0o600  # replaced by a private one
