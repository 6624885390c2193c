"""ObjectSpec: one BPF ELF object, decoded and linked; the entry point of the pure object reader.

Apart from spec.py (the specs of its parts) so that the reader, which builds those
parts, and this class, which calls the reader, do not import each other.
"""

from __future__ import annotations

import os

from .._record import field, record, replace
from ..btf import Btf, Int, Ptr
from ..btf import Enum as BtfEnum
from ..btf import Enum64 as BtfEnum64
from ..btf._ext import BtfExt
from ..errors import BpfKeyError, BpfTypeError, BpfValueError
from ._spec import ExternSpec, MapKind, MapSpec, ProgramSpec, VariableSpec

__all__ = ["ObjectSpec"]


@record()
class ObjectSpec:
    """Everything in one BPF ELF object, decoded and linked (pure: no kernel access)."""

    name: str
    maps: dict[str, MapSpec] = field(default_factory=dict)
    programs: dict[str, ProgramSpec] = field(default_factory=dict)
    variables: dict[str, VariableSpec] = field(default_factory=dict)
    externs: list[ExternSpec] = field(default_factory=list)
    btf: Btf | None = None
    btf_ext: BtfExt | None = None
    license: str = ""
    kernel_version: int = 0
    byteorder: str = "little"
    kconfig_map: str | None = None

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "") -> ObjectSpec:
        """Parse an object from memory; ``name`` prefixes internal map names as libbpf's object name does."""
        from ._reader import read_object  # the ELF reader (pyelftools) loads when first needed

        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise BpfTypeError(f"ObjectSpec.from_bytes takes the object's bytes, not {type(data).__name__}")
        return read_object(bytes(data), name, cls)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, name: str | None = None) -> ObjectSpec:
        """Parse an object file; its name defaults to the file name up to the first dot (as libbpf)."""
        p = os.fspath(path)
        if name is None:
            name = os.path.basename(p.rstrip("/")).split(".", 1)[0]
        with open(p, "rb") as f:
            return cls.from_bytes(f.read(), name=name)

    def copy(self) -> ObjectSpec:
        """An independent copy of maps, programs, variables and externs (BTF is shared, read-only)."""
        return replace(
            self,
            maps={k: m.copy() for k, m in self.maps.items()},
            programs={k: p.copy() for k, p in self.programs.items()},
            variables={k: v.copy() for k, v in self.variables.items()},
            externs=[e.copy() for e in self.externs],
        )

    # ---- variables ---------------------------------------------------------

    def _variable(self, name: str) -> tuple[VariableSpec, MapSpec]:
        try:
            var = self.variables[name]
        except KeyError:
            raise BpfKeyError(f"object {self.name!r} has no variable {name!r}") from None
        m = self.maps.get(var.map)
        if m is None:
            raise BpfKeyError(f"variable {name!r} lives in map {var.map!r}, which the spec no longer has")
        return var, m

    def get_variable(self, name: str) -> bytes:
        """The initial bytes of a global variable."""
        var, m = self._variable(name)
        data = m.data if m.data is not None else bytes(m.value_size)
        return data[var.offset : var.offset + var.size]

    def set_variable(self, name: str, value: bytes | bytearray | memoryview | int | bool) -> None:
        """Set a variable's initial value (before load); ints are encoded by the variable's size and BTF signedness."""
        var, m = self._variable(name)
        if m.kind is MapKind.KCONFIG:
            raise BpfValueError(f"variable {name!r} is a __kconfig extern; its value comes from the kernel config")
        if isinstance(value, (bool, int)):
            raw = self._encode_int(var, int(value))
        elif isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
        else:
            raise BpfTypeError(f"value for variable {name!r} must be bytes or int, not {type(value).__name__}")
        if len(raw) != var.size:
            raise BpfValueError(f"variable {name!r} is {var.size} bytes, value is {len(raw)}")
        data = bytearray(m.data if m.data is not None else bytes(m.value_size))
        data[var.offset : var.offset + var.size] = raw
        m.data = bytes(data)

    def _encode_int(self, var: VariableSpec, value: int) -> bytes:
        """An int as the variable's bytes: its size, the spec's byte order, signed as its BTF type says."""
        signed = False
        if var.type_id is not None and self.btf is not None:
            t = self.btf[self.btf.skip_modifiers(var.type_id)]
            if isinstance(t, (Int, BtfEnum, BtfEnum64)):
                signed = t.signed
            elif not isinstance(t, Ptr):
                raise BpfTypeError(f"variable {var.name!r} is a {t.kind.name.lower()}; set it from bytes")
        if var.size not in (1, 2, 4, 8):
            raise BpfTypeError(f"variable {var.name!r} of {var.size} bytes cannot be set from an int")
        try:
            return value.to_bytes(var.size, self.byteorder, signed=signed)  # type: ignore[arg-type]
        except OverflowError:
            kind = "signed" if signed else "unsigned"
            raise BpfValueError(f"{value} does not fit variable {var.name!r} ({kind}, {var.size} bytes)") from None
