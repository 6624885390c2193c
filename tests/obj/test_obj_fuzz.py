"""Fuzzing ObjectSpec.from_bytes: a spec or an ObjectFormatError, never another exception or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpfkit.asm import encode
from bpfkit.errors import ObjectFormatError
from bpfkit.obj import ObjectSpec
from bpfkit.obj._elf import SHT_REL, SHT_SYMTAB, ElfFile

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
OBJECTS = ["bootstrap.bpf.c", "maps.bpf.c", "calls.bpf.c", "externs.bpf.c", "legacy.bpf.c", "globals.bpf.c"]


def parse(data: bytes) -> None:
    try:
        spec = ObjectSpec.from_bytes(data)
    except ObjectFormatError:
        return
    # a spec that came out must be usable: copy it and encode its programs
    c = spec.copy()
    for p in c.programs.values():
        encode(p.instructions, c.byteorder)
        for r in p.map_refs:
            assert r.map in c.maps
    for v in c.variables.values():
        assert v.map in c.maps


@pytest.fixture(scope="module")
def corpus(compile_bpf) -> list[tuple[bytes, list[tuple[int, int]]]]:  # type: ignore[no-untyped-def]
    """Real objects with the byte ranges worth mutating (headers, symbols, relocations, BTF, .maps)."""
    out = []
    for name in OBJECTS:
        data = Path(compile_bpf(name)).read_bytes()
        elf = ElfFile(data)
        shoff = int.from_bytes(data[0x28:0x30], "little")
        regions = [(0, 64), (shoff, 64 * len(elf.sections))]
        for s in elf.sections:
            if s.type in (SHT_SYMTAB, SHT_REL) and not s.name.startswith(".rel.debug") or s.name in (
                ".BTF",
                ".BTF.ext",
                ".maps",
                "maps",
            ):
                regions.append((s.offset, s.size))
            elif s.is_exec:
                regions.append((s.offset, min(s.size, 256)))
        out.append((data, [(o, n) for o, n in regions if n > 0]))
    return out


@FUZZ
@given(st.data())
def test_mutated_objects(corpus, data) -> None:  # type: ignore[no-untyped-def]
    raw, regions = data.draw(st.sampled_from(corpus))
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        start, size = data.draw(st.sampled_from(regions))
        pos = start + data.draw(st.integers(0, size - 1))
        if pos < len(buf):
            buf[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        buf = buf[: data.draw(st.integers(0, len(buf)))]
    parse(bytes(buf))


@FUZZ
@given(st.data())
def test_mutated_words(corpus, data) -> None:  # type: ignore[no-untyped-def]
    """Whole little-endian words replaced by boundary values: sizes, offsets, indexes, type ids."""
    raw, regions = data.draw(st.sampled_from(corpus))
    buf = bytearray(raw)
    start, size = data.draw(st.sampled_from(regions))
    pos = start + 4 * data.draw(st.integers(0, max(0, size // 4 - 1)))
    value = data.draw(st.sampled_from([0, 1, 7, 8, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, len(raw), len(raw) + 8]))
    if pos + 4 <= len(buf):
        buf[pos : pos + 4] = value.to_bytes(4, "little")
    parse(bytes(buf))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    parse(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=512))
def test_random_bytes_behind_an_elf_header(tail: bytes) -> None:
    parse(b"\x7fELF\x02\x01\x01" + bytes(9) + tail)
