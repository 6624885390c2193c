"""The element fast paths (memoryview items for plain int/float codecs) accept and refuse what the codecs do."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import bpfkit
from bpfkit.maps import Map

pytestmark = pytest.mark.kernel


def test_int_keys_and_values_through_the_fast_path() -> None:
    with Map.create("hash", 4, 8, 16, name="fpi") as m:
        m[True] = 5  # bool is an int
        m[np.uint32(7)] = np.int64(9)  # anything with __index__
        m[(3).to_bytes(4, "little")] = (1 << 64) - 1  # exact-size bytes bypass the codec
        assert m[1] == 5 and m[7] == 9 and m[3] == (1 << 64) - 1
        assert m.get(8) is None and 7 in m and 8 not in m
        with pytest.raises(OverflowError):
            m[-1] = 0
        with pytest.raises(OverflowError):
            m[1] = 1 << 64
        with pytest.raises(TypeError):
            m[1.0] = 1
        with pytest.raises(TypeError):
            m[1] = "x"
        with pytest.raises(ValueError):
            m[b"\x01"] = 1
        with pytest.raises(KeyError):
            m[8]
        del m[7]
        with pytest.raises(KeyError):
            del m[7]
        assert dict(m.items()) == {1: 5, 3: (1 << 64) - 1}


def test_float_and_signed_values() -> None:
    with Map.create("array", 4, 8, 4, name="fpf", value_type="double") as a:
        a[0] = 1.5
        a[1] = 2  # ints are accepted as doubles, as by the codec
        assert (a[0], a[1], a[-1]) == (1.5, 2.0, 0.0)
        with pytest.raises(TypeError):
            a[2] = "1.0"
    with Map.create("hash", 2, 1, 4, name="fps", key_type="s16", value_type="s8") as m:
        m[-300] = -128
        assert m[-300] == -128
        with pytest.raises(OverflowError):
            m[-300] = 128


def test_array_indexes_outside_the_fast_path() -> None:
    with Map.create("array", 4, 4, 8, name="fpa") as a:
        a[-1] = 3
        assert a[7] == 3 and a[np.int64(7)] == 3 and a[6:] == [0, 3]
        with pytest.raises(IndexError):
            a[8]
        with pytest.raises(IndexError):
            a[8] = 1
        with pytest.raises(TypeError):
            a["1"]
        with pytest.raises(TypeError):
            a[1.0] = 1
        with pytest.raises(IndexError):
            a[1 << 32]
        with pytest.raises(IndexError):
            a[-9] = 1
        a[True] = 5  # bool is an int
        assert a[1] == 5 and a[True] == 5
        with pytest.raises(OverflowError):
            a[0] = -1
    with Map.create("percpu_array", 4, 4, 2, name="fppa") as pa:  # values through the codec, not a memoryview
        pa[1] = 7
        assert pa[1] == [7] * pa.ncpus and pa[-2] == [0] * pa.ncpus
        with pytest.raises(IndexError):
            pa[2]


def test_struct_format_values_keep_their_padding_rules() -> None:
    with Map.create("hash", 4, 16, 4, name="fpfmt", value_type="16s") as m:
        m[1] = b"short"  # struct pads "16s", as before
        m.update(2, b"kthreadd", flags=bpfkit.NOEXIST)
        assert m[1] == b"short".ljust(16, b"\0") and m[2] == b"kthreadd".ljust(16, b"\0")


def test_threads_share_a_map() -> None:
    with Map.create("hash", 4, 8, 4096, name="fpth") as m:
        errors: list[BaseException] = []

        def work(base: int) -> None:
            try:
                for i in range(2000):
                    k = base + i
                    m[k] = k * 2
                    if m[k] != k * 2:
                        raise AssertionError(k)
                    del m[k]
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(b * 100000,)) for b in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and not m
