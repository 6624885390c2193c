"""The generated uapi enums: names, string lookup, and the generator's --check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bpfkit._uapi import AttachType, Cmd, HelperId, MapFlags, MapType, ProgType, UpdateFlags, kernel_name

ROOT = Path(__file__).resolve().parents[2]


def test_known_values() -> None:
    assert MapType.HASH == 1 and MapType.RINGBUF == 27 and MapType.USER_RINGBUF == 31
    assert ProgType.SYSCALL == 31 and ProgType.XDP == 6
    assert Cmd.MAP_CREATE == 0 and Cmd.PROG_LOAD == 5 and Cmd.LINK_CREATE == 28
    assert HelperId.map_lookup_elem == 1 and HelperId.ringbuf_reserve == 131
    assert AttachType.TRACE_FENTRY == 24
    assert UpdateFlags.ANY == 0 and UpdateFlags.NOEXIST == 1 and UpdateFlags.EXIST == 2 and UpdateFlags.F_LOCK == 4
    assert MapFlags.NO_PREALLOC == 1 and MapFlags.MMAPABLE == 1024


@pytest.mark.parametrize("text", ["hash", "HASH", "BPF_MAP_TYPE_HASH", "bpf_map_type_hash"])
def test_string_lookup(text: str) -> None:
    assert MapType(text) is MapType.HASH


def test_lru_percpu_and_kernel_name() -> None:
    assert MapType("lru_percpu_hash") is MapType.LRU_PERCPU_HASH
    assert kernel_name(MapType.LRU_PERCPU_HASH) == "BPF_MAP_TYPE_LRU_PERCPU_HASH"
    with pytest.raises(ValueError):
        MapType("no_such_map")


def test_generator_check_passes() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_uapi.py"), "--check"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_lazy_enums_match_the_generator_and_load_on_first_use() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_uapi
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    import bpfkit._uapi as uapi
    import bpfkit._uapi._generated_lazy as lazy

    assert uapi._LAZY == gen_uapi.LAZY
    assert all(getattr(uapi, n) is getattr(lazy, n) for n in gen_uapi.LAZY)
    code = ("import sys, bpfkit, bpfkit._uapi as u\n"
            "assert 'bpfkit._uapi._generated_lazy' not in sys.modules\n"
            "assert bpfkit.HelperId.map_lookup_elem == 1 and u.kernel_name(u.XdpFlags.SKB_MODE) == 'XDP_FLAGS_SKB_MODE'\n")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(ROOT / "src")})
    with pytest.raises(AttributeError):
        _ = uapi.NoSuchEnum  # type: ignore[attr-defined]
