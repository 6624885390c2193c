"""BPF_MAP_TYPE_RHASH (resizable hash, checked in Linux 7.2): a map type added through the registry."""

from __future__ import annotations

import pytest

import bpfkit
from bpfkit import features
from bpfkit.errors import MapKeyError, NotSupportedError
from bpfkit.maps._hash import RHashMap

pytestmark = pytest.mark.kernel


def test_rhash_behaves_as_a_hash_map_or_is_refused() -> None:
    """Where the probe finds the type: the mapping protocol; elsewhere a clear refusal naming the release."""
    if not features.check("map:rhash").available:
        with pytest.raises(NotSupportedError) as ei:
            bpfkit.Map.create("rhash", key_size=4, value_size=8, max_entries=64, name="rh")
        assert ei.value.min_kernel == "7.2"
        return
    with bpfkit.Map.create("rhash", key_size=4, value_size=8, max_entries=64, name="rh") as m:
        assert isinstance(m, RHashMap) and m.flags & bpfkit.MapFlags.NO_PREALLOC
        for k in range(40):
            m[k] = k * k
        assert m[7] == 49 and len(dict(m.items())) == 40
        del m[7]
        with pytest.raises(MapKeyError):
            m[7]
        with pytest.raises(KeyError):
            m.delete(7)
        assert sorted(m.keys()) == [k for k in range(40) if k != 7]
