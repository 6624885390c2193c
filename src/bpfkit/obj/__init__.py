"""obj: BPF ELF objects as pure specs (maps, programs, variables, externs); no kernel access.

``ObjectSpec.from_file("prog.bpf.o")`` parses a clang-built object, links its
programs and describes its maps; the loader turns the spec into kernel objects.
"""

from __future__ import annotations

from ._maps import internal_map_name as internal_map_name
from ._object import ObjectSpec as ObjectSpec
from ._sections import ProgramSection as ProgramSection
from ._sections import SectionDef as SectionDef
from ._sections import find_section_def as find_section_def
from ._sections import parse_section as parse_section
from ._spec import ExternKind as ExternKind
from ._spec import ExternReference as ExternReference
from ._spec import ExternSpec as ExternSpec
from ._spec import KconfigType as KconfigType
from ._spec import MapKind as MapKind
from ._spec import MapReference as MapReference
from ._spec import MapRefKind as MapRefKind
from ._spec import MapSpec as MapSpec
from ._spec import Pinning as Pinning
from ._spec import ProgramSpec as ProgramSpec
from ._spec import VariableSpec as VariableSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._kconfig import parse_kernel_config as parse_kernel_config
    from ._kconfig import resolve_kconfig as resolve_kconfig
    from ._sections import SECTION_DEFS as SECTION_DEFS


def __getattr__(name: str) -> Any:
    if name == "SECTION_DEFS":  # every section table row as a SectionDef: made on first use
        from . import _sections

        value = globals()[name] = _sections.SECTION_DEFS
        return value
    # the kconfig helpers load on first use: an object without __kconfig externs never needs them
    if name in ("parse_kernel_config", "resolve_kconfig"):
        from . import _kconfig as kconfig

        value = getattr(kconfig, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SECTION_DEFS",
    "ExternKind",
    "ExternReference",
    "ExternSpec",
    "KconfigType",
    "MapKind",
    "MapRefKind",
    "MapReference",
    "MapSpec",
    "ObjectSpec",
    "Pinning",
    "ProgramSection",
    "ProgramSpec",
    "SectionDef",
    "VariableSpec",
    "find_section_def",
    "internal_map_name",
    "parse_kernel_config",
    "parse_section",
    "resolve_kconfig",
]
