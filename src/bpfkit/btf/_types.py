"""BTF type records as plain values.

Each class is one BTF kind. Types refer to other types by id (``int``), the
way BTF itself does, so a type is a value that can be compared, copied and
marshalled without a graph walk; :class:`bpfkit.btf.Btf` resolves ids.
"""

from __future__ import annotations

from .._record import field, record
from .._uapi import BtfKind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from enum import IntEnum, IntFlag
    from typing import ClassVar
else:  # the class statements of the three enums below return enums built by make_enum (issue 18)
    from .._uapi._base import EnumBodyPlainFlag as IntFlag
    from .._uapi._base import EnumBodyPlainInt as IntEnum

__all__ = [
    "Array",
    "BtfKind",
    "BtfType",
    "Const",
    "Datasec",
    "DeclTag",
    "Enum",
    "Enum64",
    "EnumValue",
    "Float",
    "Func",
    "FuncLinkage",
    "FuncProto",
    "Fwd",
    "Int",
    "IntEncoding",
    "Member",
    "Param",
    "Ptr",
    "Restrict",
    "Struct",
    "TypeTag",
    "Typedef",
    "Union_",
    "Var",
    "VarLinkage",
    "VarSecinfo",
    "Void",
    "Volatile",
    "MODIFIER_KINDS",
]


class IntEncoding(IntFlag):
    """BTF_INT_SIGNED / BTF_INT_CHAR / BTF_INT_BOOL."""

    NONE = 0
    SIGNED = 1
    CHAR = 2
    BOOL = 4


class FuncLinkage(IntEnum):
    """BTF_FUNC_STATIC / GLOBAL / EXTERN."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class VarLinkage(IntEnum):
    """BTF_VAR_STATIC / GLOBAL_ALLOCATED / GLOBAL_EXTERN."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


@record(slots=True)
class Void:
    """Type id 0: void (never encoded)."""

    kind: ClassVar[BtfKind] = BtfKind.UNKN
    name: str = ""


@record(slots=True)
class Int:
    """BTF_KIND_INT: an integer of ``size`` bytes; ``bits`` and ``offset`` for old bitfields."""

    kind: ClassVar[BtfKind] = BtfKind.INT
    name: str
    size: int
    encoding: IntEncoding = IntEncoding.NONE
    offset: int = 0
    bits: int = -1

    def __post_init__(self) -> None:
        if self.bits < 0:
            self.bits = self.size * 8

    @property
    def signed(self) -> bool:
        """True for a signed integer."""
        return bool(self.encoding & IntEncoding.SIGNED)


@record(slots=True)
class Ptr:
    """BTF_KIND_PTR: a pointer to ``type``."""

    kind: ClassVar[BtfKind] = BtfKind.PTR
    type: int
    name: str = ""


@record(slots=True)
class Array:
    """BTF_KIND_ARRAY: ``nelems`` elements of ``type`` indexed by ``index_type``."""

    kind: ClassVar[BtfKind] = BtfKind.ARRAY
    type: int
    index_type: int
    nelems: int
    name: str = ""


@record(slots=True)
class Member:
    """A struct/union member: ``offset`` in bits; ``bitfield_size`` 0 unless a bitfield."""

    name: str
    type: int
    offset: int
    bitfield_size: int = 0


@record(slots=True)
class Struct:
    """BTF_KIND_STRUCT; ``kind_flag`` set means member offsets carry bitfield sizes."""

    kind: ClassVar[BtfKind] = BtfKind.STRUCT
    name: str
    size: int
    members: list[Member] = field(default_factory=list)
    kind_flag: bool = False


@record(slots=True)
class Union_:
    """BTF_KIND_UNION; same layout as :class:`Struct`."""

    kind: ClassVar[BtfKind] = BtfKind.UNION
    name: str
    size: int
    members: list[Member] = field(default_factory=list)
    kind_flag: bool = False


@record(slots=True)
class EnumValue:
    """One enumerator."""

    name: str
    value: int


@record(slots=True)
class Enum:
    """BTF_KIND_ENUM: 32-bit enumerators; ``signed`` is the kind flag (Linux 6.0)."""

    kind: ClassVar[BtfKind] = BtfKind.ENUM
    name: str
    size: int
    values: list[EnumValue] = field(default_factory=list)
    signed: bool = False


@record(slots=True)
class Enum64:
    """BTF_KIND_ENUM64: 64-bit enumerators (Linux 6.0)."""

    kind: ClassVar[BtfKind] = BtfKind.ENUM64
    name: str
    size: int
    values: list[EnumValue] = field(default_factory=list)
    signed: bool = False


@record(slots=True)
class Fwd:
    """BTF_KIND_FWD: a forward declaration of a struct (or a union if ``is_union``)."""

    kind: ClassVar[BtfKind] = BtfKind.FWD
    name: str
    is_union: bool = False


@record(slots=True)
class Typedef:
    """BTF_KIND_TYPEDEF."""

    kind: ClassVar[BtfKind] = BtfKind.TYPEDEF
    name: str
    type: int


@record(slots=True)
class Volatile:
    """BTF_KIND_VOLATILE."""

    kind: ClassVar[BtfKind] = BtfKind.VOLATILE
    type: int
    name: str = ""


@record(slots=True)
class Const:
    """BTF_KIND_CONST."""

    kind: ClassVar[BtfKind] = BtfKind.CONST
    type: int
    name: str = ""


@record(slots=True)
class Restrict:
    """BTF_KIND_RESTRICT."""

    kind: ClassVar[BtfKind] = BtfKind.RESTRICT
    type: int
    name: str = ""


@record(slots=True)
class TypeTag:
    """BTF_KIND_TYPE_TAG (Linux 5.17): ``__attribute__((btf_type_tag(name)))``."""

    kind: ClassVar[BtfKind] = BtfKind.TYPE_TAG
    name: str
    type: int
    kind_flag: bool = False


@record(slots=True)
class Func:
    """BTF_KIND_FUNC: a function whose prototype is ``type``."""

    kind: ClassVar[BtfKind] = BtfKind.FUNC
    name: str
    type: int
    linkage: FuncLinkage = FuncLinkage.STATIC


@record(slots=True)
class Param:
    """A function parameter; a trailing unnamed ``type=0`` param marks varargs."""

    name: str
    type: int


@record(slots=True)
class FuncProto:
    """BTF_KIND_FUNC_PROTO."""

    kind: ClassVar[BtfKind] = BtfKind.FUNC_PROTO
    return_type: int
    params: list[Param] = field(default_factory=list)
    name: str = ""


@record(slots=True)
class Var:
    """BTF_KIND_VAR: a global variable."""

    kind: ClassVar[BtfKind] = BtfKind.VAR
    name: str
    type: int
    linkage: VarLinkage = VarLinkage.STATIC


@record(slots=True)
class VarSecinfo:
    """Where a variable lives inside a DATASEC."""

    type: int
    offset: int
    size: int


@record(slots=True)
class Datasec:
    """BTF_KIND_DATASEC: an ELF data section and the variables in it."""

    kind: ClassVar[BtfKind] = BtfKind.DATASEC
    name: str
    size: int
    vars: list[VarSecinfo] = field(default_factory=list)


@record(slots=True)
class Float:
    """BTF_KIND_FLOAT (Linux 5.13)."""

    kind: ClassVar[BtfKind] = BtfKind.FLOAT
    name: str
    size: int


@record(slots=True)
class DeclTag:
    """BTF_KIND_DECL_TAG (Linux 5.16); ``component_idx`` -1 tags the whole type."""

    kind: ClassVar[BtfKind] = BtfKind.DECL_TAG
    name: str
    type: int
    component_idx: int = -1
    kind_flag: bool = False


BtfType = (
    Void
    | Int
    | Ptr
    | Array
    | Struct
    | Union_
    | Enum
    | Enum64
    | Fwd
    | Typedef
    | Volatile
    | Const
    | Restrict
    | TypeTag
    | Func
    | FuncProto
    | Var
    | Datasec
    | Float
    | DeclTag
)

MODIFIER_KINDS = frozenset(
    {BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG}
)
