"""BPF_MAP_TYPE_INSN_ARRAY (Linux 6.19): the map type added through the registry of per-type facts."""

from __future__ import annotations

import pytest

import bpfkit
from bpfkit import features
from bpfkit.errors import BpfValueError, KernelError, NotSupportedError
from bpfkit.maps._insn_array import InsnArrayMap, InsnArrayValue

pytestmark = pytest.mark.kernel


def test_value_struct_matches_the_kernel_layout() -> None:
    v = InsnArrayValue(orig_off=3)
    assert bytes(v) == (3).to_bytes(4, "little") + bytes(12)
    assert v._asdict() == {"orig_off": 3, "xlated_off": 0, "jitted_off": 0}


def test_create_write_read_freeze_or_refuse() -> None:
    """Where the probe finds the type: create, write orig_off, read back, freeze; elsewhere a clear refusal."""
    if not features.check("map:insn_array").available:
        with pytest.raises(NotSupportedError) as ei:
            bpfkit.Map.create("insn_array", max_entries=4, name="jt")
        assert ei.value.min_kernel == "6.19"
        return
    with bpfkit.Map.create("insn_array", max_entries=4, name="jt") as m:
        assert isinstance(m, InsnArrayMap) and (m.key_size, m.value_size) == (4, 16)
        m[0] = InsnArrayValue(orig_off=7)
        m[3] = {"orig_off": 2}
        assert m[0] == InsnArrayValue(orig_off=7)
        assert [v.orig_off for v in m.values()] == [7, 0, 0, 2]
        with pytest.raises(KernelError):
            m.update(1, InsnArrayValue(orig_off=1, xlated_off=1))  # only orig_off is user space's
        with pytest.raises(KernelError):
            m.delete(0)
        m.freeze()
        with pytest.raises(KernelError):
            m[1] = {"orig_off": 1}


def test_fixed_sizes_come_from_the_registry() -> None:
    assert (InsnArrayMap.default_key_size, InsnArrayMap.default_value_size) == (4, 16)
    with pytest.raises(BpfValueError):
        bpfkit.Map.create("insn_array", max_entries=0, name="jt")  # refused before any syscall
