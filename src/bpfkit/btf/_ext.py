""".BTF.ext: per-section func_info, line_info and CO-RE relocation records.

Record offsets in an ELF object's .BTF.ext are byte offsets into the ELF
section; :func:`parse_ext` keeps them as given (``insn_off`` in bytes) so the
object layer can convert them when it splits and links programs.  Strings
(section names, file names, source lines, access strings) are resolved against
the object's .BTF string table.
"""

from __future__ import annotations

import struct

from .._record import field, record
from .._uapi import CoreReloKind
from ..errors import ObjectFormatError
from ._parse import BTF_MAGIC, Btf

__all__ = [
    "BtfExt",
    "CoreRelo",
    "FuncInfo",
    "LineInfo",
    "encode_core_relos",
    "encode_func_info",
    "encode_line_info",
    "parse_ext",
]

FUNC_INFO_SIZE = 8
LINE_INFO_SIZE = 16
CORE_RELO_SIZE = 16


@record(slots=True)
class FuncInfo:
    """bpf_func_info: the BTF FUNC describing the function at ``insn_off``."""

    insn_off: int
    type_id: int


@record(slots=True)
class LineInfo:
    """bpf_line_info: source ``file_name`` line ``line`` column ``col`` for ``insn_off``."""

    insn_off: int
    file_name: str
    line: str
    line_num: int
    col: int
    file_name_off: int = 0
    line_off: int = 0


@record(slots=True)
class CoreRelo:
    """bpf_core_relo: relocate the instruction at ``insn_off`` as ``kind`` demands."""

    insn_off: int
    type_id: int
    access: str
    kind: CoreReloKind
    access_str_off: int = 0


@record()
class BtfExt:
    """Parsed .BTF.ext, keyed by ELF section name."""

    func_info: dict[str, list[FuncInfo]] = field(default_factory=dict)
    line_info: dict[str, list[LineInfo]] = field(default_factory=dict)
    core_relos: dict[str, list[CoreRelo]] = field(default_factory=dict)
    func_info_rec_size: int = FUNC_INFO_SIZE
    line_info_rec_size: int = LINE_INFO_SIZE
    core_relo_rec_size: int = CORE_RELO_SIZE


def _sections(
    data: bytes, p: str, start: int, length: int, min_rec: int, what: str
) -> tuple[int, list[tuple[int, int, int]]]:
    """Walk one info block: (rec_size, [(sec_name_off, first record offset, count)])."""
    if length == 0:
        return min_rec, []
    end = start + length
    if start < 0 or end > len(data) or length < 4:
        raise ObjectFormatError(f".BTF.ext {what} block out of bounds", section=".BTF.ext", offset=start)
    (rec_size,) = struct.unpack_from(p + "I", data, start)
    if rec_size < min_rec or rec_size % 4:
        raise ObjectFormatError(f".BTF.ext {what} record size {rec_size} is invalid", section=".BTF.ext", offset=start)
    pos = start + 4
    out = []
    while pos < end:
        if pos + 8 > end:
            raise ObjectFormatError(f".BTF.ext {what} section header truncated", section=".BTF.ext", offset=pos)
        sec_off, num = struct.unpack_from(p + "II", data, pos)
        pos += 8
        if num == 0:
            raise ObjectFormatError(f".BTF.ext {what} section with no records", section=".BTF.ext", offset=pos - 8)
        if pos + num * rec_size > end:
            raise ObjectFormatError(f".BTF.ext {what} records run past their block", section=".BTF.ext", offset=pos)
        out.append((sec_off, pos, num))
        pos += num * rec_size
    return rec_size, out


def parse_ext(data: bytes, btf: Btf) -> BtfExt:
    """Parse a .BTF.ext blob whose strings live in ``btf``."""
    if len(data) < 24:
        raise ObjectFormatError(".BTF.ext shorter than its header", section=".BTF.ext", offset=0)
    if struct.unpack_from("<H", data, 0)[0] == BTF_MAGIC:
        p = "<"
    elif struct.unpack_from(">H", data, 0)[0] == BTF_MAGIC:
        p = ">"
    else:
        raise ObjectFormatError("bad .BTF.ext magic", section=".BTF.ext", offset=0)
    _, version, _flags, hdr_len = struct.unpack_from(p + "HBBI", data, 0)
    if version != 1:
        raise ObjectFormatError(f"unsupported .BTF.ext version {version}", section=".BTF.ext", offset=2)
    if hdr_len < 24 or hdr_len > len(data):
        raise ObjectFormatError(f"bad .BTF.ext header length {hdr_len}", section=".BTF.ext", offset=4)
    fi_off, fi_len, li_off, li_len = struct.unpack_from(p + "IIII", data, 8)
    cr_off = cr_len = 0
    if hdr_len >= 32:
        cr_off, cr_len = struct.unpack_from(p + "II", data, 24)
    ext = BtfExt()

    def name(off: int, where: int) -> str:
        try:
            return btf.string(off)
        except ObjectFormatError:
            raise ObjectFormatError(f".BTF.ext string offset {off} out of range", section=".BTF.ext", offset=where) from None

    rec, secs = _sections(data, p, hdr_len + fi_off, fi_len, FUNC_INFO_SIZE, "func_info")
    ext.func_info_rec_size = rec
    for sec_off, pos, num in secs:
        recs = ext.func_info.setdefault(name(sec_off, pos - 8), [])
        for k in range(num):
            insn_off, type_id = struct.unpack_from(p + "II", data, pos + k * rec)
            recs.append(FuncInfo(insn_off, type_id))

    rec, secs = _sections(data, p, hdr_len + li_off, li_len, LINE_INFO_SIZE, "line_info")
    ext.line_info_rec_size = rec
    for sec_off, pos, num in secs:
        lrecs = ext.line_info.setdefault(name(sec_off, pos - 8), [])
        for k in range(num):
            at = pos + k * rec
            insn_off, file_off, line_off, line_col = struct.unpack_from(p + "IIII", data, at)
            lrecs.append(
                LineInfo(insn_off, name(file_off, at), name(line_off, at), line_col >> 10, line_col & 0x3FF, file_off, line_off)
            )

    rec, secs = _sections(data, p, hdr_len + cr_off, cr_len, CORE_RELO_SIZE, "core_relo")
    ext.core_relo_rec_size = rec
    for sec_off, pos, num in secs:
        crecs = ext.core_relos.setdefault(name(sec_off, pos - 8), [])
        for k in range(num):
            at = pos + k * rec
            insn_off, type_id, access_off, kind = struct.unpack_from(p + "IIII", data, at)
            try:
                ckind = CoreReloKind(kind)
            except ValueError:
                raise ObjectFormatError(f"unknown CO-RE relocation kind {kind}", section=".BTF.ext", offset=at) from None
            crecs.append(CoreRelo(insn_off, type_id, name(access_off, at), ckind, access_off))
    return ext


def encode_func_info(recs: list[FuncInfo]) -> bytes:
    """Records in the kernel's bpf_func_info layout (insn_off in instructions)."""
    return b"".join(struct.pack("<II", r.insn_off, r.type_id) for r in recs)


def encode_line_info(recs: list[LineInfo]) -> bytes:
    """Records in the kernel's bpf_line_info layout (string offsets into the loaded BTF)."""
    return b"".join(
        struct.pack("<IIII", r.insn_off, r.file_name_off, r.line_off, (r.line_num << 10) | (r.col & 0x3FF))
        for r in recs
    )


def encode_core_relos(recs: list[CoreRelo]) -> bytes:
    """Records in the kernel's bpf_core_relo layout."""
    return b"".join(struct.pack("<IIII", r.insn_off, r.type_id, r.access_str_off, int(r.kind)) for r in recs)
