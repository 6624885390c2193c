"""Specs: pure descriptions of an object's maps, programs, variables and externs.

An :class:`ObjectSpec` is what a clang-built BPF ELF object says, decoded and
linked, with no kernel involved: nothing here opens a file under /sys or makes
a syscall.  The loader turns specs into kernel objects; a spec can be copied
cheaply and edited first (``constants=`` sets ``const volatile`` variables).

Instructions of a :class:`ProgramSpec` are already linked the way libbpf links
them (used subprograms appended, bpf-to-bpf calls and callback addresses fixed)
and normalized for the loader:

* every map reference is an LD_IMM64 whose first slot has ``src_reg`` set to
  BPF_PSEUDO_MAP_FD (1) or BPF_PSEUDO_MAP_VALUE (2) and ``imm`` 0, the second
  slot's ``imm`` holding the value offset; the loader puts the map fd in
  ``instructions[ref.insn].imm`` for each :class:`MapReference`;
* a kfunc call has ``src_reg`` BPF_PSEUDO_KFUNC_CALL (2) and ``imm`` 0; the
  loader sets ``imm`` (BTF id) and ``off`` (BTF fd index);
* a ``__ksym`` variable load is left as compiled; the loader makes it a
  BPF_PSEUDO_BTF_ID load (typed) or loads the address from kallsyms (untyped).
"""

from __future__ import annotations

from enum import Enum

from .._record import field, record, replace
from .._uapi import AttachType, MapFlags, MapType, ProgFlags, ProgType
from ..asm import Instruction
from ..btf._ext import CoreRelo, FuncInfo, LineInfo
from ._sections import SectionDef

TYPE_CHECKING = False
if TYPE_CHECKING:
    from enum import IntEnum
else:  # Pinning's class statement returns the IntEnum make_enum builds (issue 18)
    from .._uapi._base import EnumBodyPlainInt as IntEnum

__all__ = [
    "ExternKind",
    "ExternReference",
    "ExternSpec",
    "KconfigType",
    "MapKind",
    "MapRefKind",
    "MapReference",
    "MapSpec",
    "Pinning",
    "ProgramSpec",
    "VariableSpec",
]


class Pinning(IntEnum):
    """``__uint(pinning, ...)`` of a BTF map: LIBBPF_PIN_NONE / LIBBPF_PIN_BY_NAME."""

    NONE = 0
    BY_NAME = 1


class MapKind(str, Enum):
    """Where a map comes from in the object."""

    BTF = "btf"  # SEC(".maps") BTF-defined map
    LEGACY = "legacy"  # SEC("maps") struct bpf_map_def
    DATA = "data"  # .data / .data.*
    RODATA = "rodata"  # .rodata / .rodata.*
    BSS = "bss"  # .bss / .bss.*
    KCONFIG = "kconfig"  # the .kconfig externs


class MapRefKind(str, Enum):
    """What an LD_IMM64 map reference loads: the map itself or an address in its value."""

    FD = "fd"  # BPF_PSEUDO_MAP_FD
    VALUE = "value"  # BPF_PSEUDO_MAP_VALUE, at MapReference.offset


class ExternKind(str, Enum):
    """Kinds of ``extern`` declarations a BPF object can make."""

    KCONFIG = "kconfig"  # extern ... __kconfig (CONFIG_*, LINUX_*)
    KSYM = "ksym"  # extern variable ... __ksym (typed or untyped)
    KFUNC = "kfunc"  # extern function ... __ksym, called with BPF_PSEUDO_KFUNC_CALL


class KconfigType(str, Enum):
    """How a __kconfig extern's value is stored (libbpf's kcfg types)."""

    BOOL = "bool"
    TRISTATE = "tristate"
    CHAR = "char"
    INT = "int"
    CHAR_ARRAY = "char_array"


@record()
class MapSpec:
    """A map to create: attributes of BPF_MAP_CREATE plus what the object says to put in it.

    ``contents`` are static initial values: slot index -> program name for a
    PROG_ARRAY, slot index -> map name for a map of maps.  ``data`` is the
    initial value of a global data map (one element, key 0).  ``readonly``
    maps (.rodata, .kconfig) carry BPF_F_RDONLY_PROG and are to be frozen
    after their data is written when ``freeze`` is set.  ``key_type_id`` and
    ``value_type_id`` index ``ObjectSpec.btf``; ``max_entries`` of ring
    buffers is as written (the loader rounds it to the page size).
    """

    name: str
    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: MapFlags = MapFlags(0)
    numa_node: int = 0
    map_extra: int = 0
    pinning: Pinning = Pinning.NONE
    key_type_id: int | None = None
    value_type_id: int | None = None
    inner: MapSpec | None = None
    contents: dict[int, str] = field(default_factory=dict)
    data: bytes | None = None
    readonly: bool = False
    freeze: bool = False
    section: str = ""
    kind: MapKind = MapKind.BTF
    offset: int = 0
    extra: bytes = b""

    def copy(self) -> MapSpec:
        """An independent copy (inner spec and contents copied too)."""
        return replace(self, inner=self.inner.copy() if self.inner is not None else None, contents=dict(self.contents))


@record()
class MapReference:
    """Instruction ``insn`` (an LD_IMM64) of a linked program refers to map ``map``."""

    insn: int
    map: str
    kind: MapRefKind
    offset: int = 0
    symbol: str = ""


@record()
class ExternReference:
    """Instruction ``insn`` of a linked program uses extern ``name`` (an LD_IMM64, or a call for kfuncs)."""

    insn: int
    name: str
    kind: ExternKind


@record()
class ProgramSpec:
    """One entry-point program, linked with the subprograms it uses.

    ``func_info``, ``line_info`` and ``core_relos`` are copies of the .BTF.ext
    records of every part of the program with ``insn_off`` in instructions of
    the linked program (not bytes).  ``expected_attach_type`` None means none
    (0 at load).  ``attach_target`` is the part of the section name after the
    prefix (``sched/sched_process_exec`` for ``tp/sched/sched_process_exec``).
    """

    name: str
    section: str
    type: ProgType
    instructions: list[Instruction]
    expected_attach_type: AttachType | None = None
    attach_target: str = ""
    flags: ProgFlags = ProgFlags(0)
    section_def: SectionDef | None = None
    autoload: bool = True
    auto_attach: bool = False
    license: str = ""
    kernel_version: int = 0
    func_info: list[FuncInfo] = field(default_factory=list)
    line_info: list[LineInfo] = field(default_factory=list)
    core_relos: list[CoreRelo] = field(default_factory=list)
    map_refs: list[MapReference] = field(default_factory=list)
    extern_refs: list[ExternReference] = field(default_factory=list)
    btf_func_type_id: int | None = None
    subprograms: list[str] = field(default_factory=list)

    @property
    def sleepable(self) -> bool:
        """Whether the program loads with BPF_F_SLEEPABLE."""
        return bool(self.flags & ProgFlags.SLEEPABLE)

    def copy(self) -> ProgramSpec:
        """An independent copy: instruction slots and records are copied."""
        return replace(
            self,
            instructions=[i.copy() for i in self.instructions],
            func_info=[replace(r) for r in self.func_info],
            line_info=[replace(r) for r in self.line_info],
            core_relos=[replace(r) for r in self.core_relos],
            map_refs=[replace(r) for r in self.map_refs],
            extern_refs=[replace(r) for r in self.extern_refs],
            subprograms=list(self.subprograms),
        )


@record()
class VariableSpec:
    """A global variable: ``size`` bytes at ``offset`` of the value of map ``map``.

    ``type_id`` is the VAR's type in ``ObjectSpec.btf`` (None without BTF);
    ``const_volatile`` marks the ``const volatile`` globals of .rodata that
    user space sets before load.  ``is_global`` is False for static and
    hidden variables (libbpf's skeletons do not expose them).
    """

    name: str
    map: str
    section: str
    offset: int
    size: int
    type_id: int | None = None
    readonly: bool = False
    const_volatile: bool = False
    is_global: bool = True

    def copy(self) -> VariableSpec:
        """A copy."""
        return replace(self)


@record()
class ExternSpec:
    """An ``extern`` the object declares; the loader resolves it against the kernel.

    ``btf_id`` is the extern's VAR (or FUNC for kfuncs) in ``ObjectSpec.btf``.
    ``type_id``: for kconfig the value's type; for ksym the referenced type with
    modifiers skipped (0 for an untyped ``extern const void x __ksym``); for a
    kfunc its FUNC_PROTO.  ``offset``/``size`` place a kconfig value in the
    .kconfig map.  ``references`` lists (program, instruction) uses.
    """

    name: str
    kind: ExternKind
    weak: bool
    btf_id: int
    type_id: int
    essential_name: str
    kconfig_type: KconfigType | None = None
    signed: bool = False
    offset: int = 0
    size: int = 0
    references: list[tuple[str, int]] = field(default_factory=list)

    def copy(self) -> ExternSpec:
        """A copy."""
        return replace(self, references=list(self.references))
