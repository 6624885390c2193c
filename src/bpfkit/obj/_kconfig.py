"""__kconfig externs: their storage types, the kernel config text, and the .kconfig map value.

Pure: the caller reads the kernel config (``/proc/config.gz`` or
``/boot/config-$(uname -r)``, decompressing it) and passes its text and the
kernel version in; nothing here touches the running system.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..btf import Array, Btf, Enum, Enum64, Int, IntEncoding
from ..errors import ObjectFormatError, RelocationError
from ._spec import ExternKind, ExternSpec, KconfigType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._object import ObjectSpec

__all__ = ["kconfig_type_of", "parse_kernel_config", "resolve_kconfig"]

# Virtual LINUX_* externs libbpf fills in itself; the loader passes their values via ``extra``.
VIRTUAL_EXTERNS = ("LINUX_KERNEL_VERSION", "LINUX_HAS_BPF_COOKIE", "LINUX_HAS_SYSCALL_WRAPPER")


def kconfig_type_of(btf: Btf, type_id: int) -> tuple[KconfigType, bool] | None:
    """The kcfg storage type of a BTF type and whether it is signed; None when unsupported."""
    t = btf[btf.skip_modifiers(type_id)]
    if isinstance(t, Int):
        if t.encoding & IntEncoding.BOOL:
            return (KconfigType.BOOL, False) if t.size == 1 else None
        if t.size == 1:
            return KconfigType.CHAR, False
        if t.size in (2, 4, 8):
            return KconfigType.INT, t.signed
        return None
    if isinstance(t, (Enum, Enum64)):
        if t.name != "libbpf_tristate" or (isinstance(t, Enum) and t.size != 4):
            return None
        return KconfigType.TRISTATE, False
    if isinstance(t, Array):
        if t.nelems == 0:
            return None
        elem = kconfig_type_of(btf, t.type)
        if elem is None or elem[0] is not KconfigType.CHAR:
            return None
        return KconfigType.CHAR_ARRAY, False
    return None


def alignment_of(btf: Btf, type_id: int) -> int:
    """Natural alignment of a kconfig value type (ints, enums, char arrays)."""
    t = btf[btf.skip_modifiers(type_id)]
    if isinstance(t, (Int, Enum, Enum64)):
        return max(1, min(t.size, 8))
    if isinstance(t, Array):
        return alignment_of(btf, t.type)
    raise ObjectFormatError(f"cannot align BTF type {type_id} ({t.kind.name})", section=".BTF")


def parse_kernel_config(text: str) -> dict[str, str]:
    """Parse kernel config text into ``{"CONFIG_FOO": "y", ...}``; ``# ... is not set`` lines are skipped, as libbpf does."""
    out: dict[str, str] = {}
    pos = 0
    for line in text.splitlines(keepends=True):
        start = pos
        pos += len(line)
        s = line.strip()
        if not s.startswith("CONFIG_"):
            continue
        name, sep, value = s.partition("=")
        if not sep:
            raise ObjectFormatError(f"kernel config line {s!r} has no '='", section="kernel config", offset=start)
        if not value:
            raise ObjectFormatError(f"kernel config line {s!r} has no value", section="kernel config", offset=start)
        out.setdefault(name, value)
    return out


def _fail(ext: ExternSpec, why: str) -> RelocationError:
    where = f" (used by {', '.join(sorted({p for p, _ in ext.references}))})" if ext.references else ""
    return RelocationError(f"__kconfig extern {ext.name!r}: {why}{where}")


def _put_int(buf: bytearray, ext: ExternSpec, value: int, byteorder: str) -> None:
    if ext.kconfig_type not in (KconfigType.INT, KconfigType.CHAR, KconfigType.BOOL):
        raise _fail(ext, f"value {value} needs an integer, char or bool type, not {ext.kconfig_type}")
    if ext.kconfig_type is KconfigType.BOOL and value not in (0, 1):
        raise _fail(ext, f"value {value} is not a boolean")
    bits = ext.size * 8
    if ext.size == 8:
        ok = -(1 << 63) <= value < (1 << 64)
    elif ext.signed:
        ok = -(1 << (bits - 1)) <= value < (1 << (bits - 1))
    else:
        ok = 0 <= value < (1 << bits)
    if not ok:
        raise _fail(ext, f"value {value} does not fit in {ext.size} bytes")
    value &= (1 << bits) - 1
    buf[ext.offset : ext.offset + ext.size] = value.to_bytes(ext.size, byteorder)  # type: ignore[arg-type]


def _put_config(buf: bytearray, ext: ExternSpec, value: str, byteorder: str) -> None:
    kt = ext.kconfig_type
    if value in ("y", "n", "m"):
        if kt is KconfigType.BOOL:
            if value == "m":
                raise _fail(ext, "value 'm' needs a tristate or char type, not bool")
            buf[ext.offset] = 1 if value == "y" else 0
        elif kt is KconfigType.TRISTATE:
            tri = {"n": 0, "y": 1, "m": 2}[value]
            buf[ext.offset : ext.offset + 4] = tri.to_bytes(4, byteorder)  # type: ignore[arg-type]
        elif kt is KconfigType.CHAR:
            buf[ext.offset] = ord(value)
        else:
            raise _fail(ext, f"value {value!r} needs a bool, tristate or char type")
        return
    if value.startswith('"'):
        if kt is not KconfigType.CHAR_ARRAY:
            raise _fail(ext, f"string value {value!r} needs a char array type")
        if len(value) < 2 or not value.endswith('"'):
            raise _fail(ext, f"invalid string value {value!r}")
        raw = value[1:-1].encode()[: ext.size - 1]
        buf[ext.offset : ext.offset + ext.size] = raw + bytes(ext.size - len(raw))
        return
    try:
        num = int(value, 0)
    except ValueError:
        raise _fail(ext, f"value {value!r} is not a valid integer") from None
    if kt not in (KconfigType.INT, KconfigType.CHAR):
        raise _fail(ext, f"value {value!r} needs an integer type")
    _put_int(buf, ext, num, byteorder)


def resolve_kconfig(
    spec: ObjectSpec,
    config: Mapping[str, str],
    kernel_version: int,
    *,
    extra: Mapping[str, int] | None = None,
) -> bytes:
    """Build the value of the .kconfig map from a parsed kernel config and kernel facts.

    ``config`` maps CONFIG_* names to their text values (see
    :func:`parse_kernel_config`); ``kernel_version`` is KERNEL_VERSION(a, b, c)
    for LINUX_KERNEL_VERSION; ``extra`` gives other LINUX_* virtual externs
    (LINUX_HAS_BPF_COOKIE, LINUX_HAS_SYSCALL_WRAPPER) as the loader probed them.
    A value that is missing for a non-weak extern raises RelocationError;
    missing weak ones stay zero.  Returns b"" when the object has no .kconfig map.
    """
    if spec.kconfig_map is None:
        return b""
    m = spec.maps[spec.kconfig_map]
    buf = bytearray(m.value_size)
    extra = extra or {}
    for ext in spec.externs:
        if ext.kind is not ExternKind.KCONFIG:
            continue
        if ext.offset + ext.size > len(buf):
            raise _fail(ext, "lies outside the .kconfig map")
        name = ext.name
        if name.startswith("CONFIG_"):
            value = config.get(name)
            if value is None:
                if not ext.weak:
                    raise _fail(ext, "not set in the kernel config and not __weak")
                continue
            _put_config(buf, ext, value.strip(), spec.byteorder)
        elif name == "LINUX_KERNEL_VERSION":
            if kernel_version <= 0:
                raise _fail(ext, "the kernel version is unknown")
            _put_int(buf, ext, kernel_version, spec.byteorder)
        elif name in extra:
            _put_int(buf, ext, int(extra[name]), spec.byteorder)
        elif name.startswith("LINUX_") and ext.weak:
            continue
        elif name in VIRTUAL_EXTERNS:
            raise _fail(ext, "the loader did not provide its value")
        else:
            raise _fail(ext, "unrecognized virtual extern (only CONFIG_* and LINUX_* are supported)")
    return bytes(buf)
