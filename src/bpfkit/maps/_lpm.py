"""LPM trie maps (BPF_MAP_TYPE_LPM_TRIE): longest-prefix match with ``ipaddress`` networks as keys."""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

from .._uapi import MapType
from ..errors import BpfTypeError, BpfValueError
from ._codec import Codec
from ._hash import HashMap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LpmKey", "LpmKeyCodec", "LpmTrieMap"]

_PLEN = struct.Struct("=I")
_Net = (ipaddress.IPv4Network, ipaddress.IPv6Network)
_Addr = (ipaddress.IPv4Address, ipaddress.IPv6Address)


class LpmKey(NamedTuple):
    """A raw trie key: the prefix length in bits and the data bytes (network byte order)."""

    prefixlen: int
    data: bytes


class LpmKeyCodec(Codec):
    """``struct bpf_lpm_trie_key``: u32 prefixlen + data.

    Encodes ``ipaddress`` networks and addresses (an address is a full-length
    prefix), strings such as ``"10.0.0.0/8"`` or ``"fe80::1"``, ``LpmKey`` or a
    ``(prefixlen, data)`` tuple, and exact-size bytes. Decodes to an IPv4/IPv6
    network when the data is 4/16 bytes, else to an ``LpmKey``.
    """

    def __init__(self, size: int) -> None:
        if size < 5:
            raise BpfValueError(f"LPM trie keys are a 4-byte prefix length plus data, so more than 4 bytes, not {size}")
        super().__init__(size, f"lpm key ({size - 4} B of data)")
        self.data_len = size - 4

    def _encode(self, value: Any) -> bytes:
        if isinstance(value, str):
            try:
                value = ipaddress.ip_network(value, strict=False) if "/" in value else ipaddress.ip_address(value)
            except ValueError as exc:
                raise BpfValueError(f"not an IP network or address: {exc}") from None
        if isinstance(value, _Net):
            data, plen = value.network_address.packed, value.prefixlen
        elif isinstance(value, _Addr):
            data, plen = value.packed, value.max_prefixlen
        elif isinstance(value, tuple) and len(value) == 2:
            a, b = value
            if isinstance(a, (bytes, bytearray, memoryview)) and isinstance(b, int):
                a, b = b, a
            if not isinstance(a, int) or not isinstance(b, (bytes, bytearray, memoryview)):
                raise BpfTypeError("an LPM key tuple is (prefixlen: int, data: bytes)")
            plen, data = a, bytes(b)
        else:
            raise BpfTypeError(f"an LPM key is an ip network/address, a string or (prefixlen, data), not {type(value).__name__}")
        if len(data) != self.data_len:
            raise BpfValueError(f"this trie's keys hold {self.data_len} bytes of data, got {len(data)}")
        if not 0 <= plen <= 8 * self.data_len:
            raise BpfValueError(f"prefix length {plen} out of range 0..{8 * self.data_len}")
        return _PLEN.pack(plen) + data

    def decode(self, data: Any, offset: int = 0) -> Any:
        """A network (4 or 16 data bytes) or an LpmKey."""
        plen = _PLEN.unpack_from(data, offset)[0]
        raw = bytes(data[offset + 4 : offset + self.size])
        if self.data_len == 4 and plen <= 32:
            return ipaddress.IPv4Network((raw, plen), strict=False)
        if self.data_len == 16 and plen <= 128:
            return ipaddress.IPv6Network((raw, plen), strict=False)
        return LpmKey(plen, raw)

    def _numpy_dtype(self, np: Any) -> Any:
        return np.dtype([("prefixlen", "=u4"), ("data", "u1", (self.data_len,))])


class LpmTrieMap(HashMap):
    """BPF_MAP_TYPE_LPM_TRIE (Linux 4.11): ``m["10.0.0.0/8"] = v``; ``m["10.1.2.3"]`` is the longest match.

    ``in`` and ``get`` match the longest prefix too; ``del`` removes an exact prefix.
    BPF_F_NO_PREALLOC, which the kernel requires, is added for you.
    """

    map_types = (MapType.LPM_TRIE,)

    def _make_key_codec(self, spec: Any) -> Codec:
        if spec is not None and not isinstance(spec, tuple):
            from ._codec import make_codec

            return make_codec(spec, self.key_size, what="key")
        return LpmKeyCodec(self.key_size)
