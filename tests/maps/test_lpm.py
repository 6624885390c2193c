"""LPM trie maps with ipaddress keys, on the real kernel."""

from __future__ import annotations

import ipaddress

import pytest

import bpfkit
from bpfkit.maps import LpmKey, LpmTrieMap, Map

pytestmark = pytest.mark.kernel


def test_ipv4_longest_prefix_match() -> None:
    with Map.create("lpm_trie", key_size=8, value_size=4, max_entries=16, name="routes") as t:
        assert isinstance(t, LpmTrieMap)
        assert t.flags & bpfkit.MapFlags.NO_PREALLOC
        t["10.0.0.0/8"] = 1
        t[ipaddress.ip_network("10.1.0.0/16")] = 2
        t[(24, bytes([10, 1, 2, 0]))] = 3
        assert t["10.9.9.9"] == 1
        assert t[ipaddress.ip_address("10.1.7.7")] == 2
        assert t["10.1.2.200"] == 3
        assert "11.0.0.1" not in t
        assert t.get("192.168.0.1") is None
        assert sorted(t.items(), key=lambda kv: kv[1]) == [
            (ipaddress.ip_network("10.0.0.0/8"), 1),
            (ipaddress.ip_network("10.1.0.0/16"), 2),
            (ipaddress.ip_network("10.1.2.0/24"), 3),
        ]
        del t["10.1.0.0/16"]
        assert t["10.1.7.7"] == 1
        with pytest.raises(KeyError):
            del t["10.1.0.0/16"]


def test_ipv6_and_raw_keys() -> None:
    with Map.create("lpm_trie", key_size=20, value_size=8, max_entries=4, name="r6") as t:
        t["2001:db8::/32"] = 6
        assert t["2001:db8::1"] == 6
        raw = (128).to_bytes(4, "little") + ipaddress.ip_address("::1").packed
        t[raw] = 1
        assert t["::1"] == 1
        with pytest.raises(ValueError):
            t["10.0.0.0/8"] = 1  # an IPv4 network in an IPv6 trie


def test_other_data_sizes_decode_as_lpmkey() -> None:
    with Map.create("lpm_trie", key_size=6, value_size=4, max_entries=4, name="r2") as t:
        t[(12, b"\xab\xc0")] = 5
        assert t[(16, b"\xab\xcd")] == 5
        assert list(t.keys()) == [LpmKey(12, b"\xab\xc0")]
        with pytest.raises(ValueError):
            t[(17, b"\x00\x00")] = 1
