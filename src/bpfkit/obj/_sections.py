"""Program section names (libbpf's ``SEC()`` convention) -> program type and attach facts.

The table itself is generated (scripts/gen_sections.py writes _section_table.py);
this module turns its rows into :class:`SectionDef` values and matches names
the way libbpf does: first matching row wins; an ``exact`` row matches only
its own name; a ``plus`` row matches its name alone or ``name/<target>``.
A leading ``?`` (libbpf: do not load by default) is stripped before matching.
"""

from __future__ import annotations

from .._record import record
from .._uapi import AttachType, ProgFlags, ProgType
from ._section_table import SECTION_TABLE

__all__ = ["SECTION_DEFS", "ProgramSection", "SectionDef", "find_section_def", "parse_section"]


@record(frozen=True, slots=True)
class SectionDef:
    """One row of the section table.

    ``attach`` names the family the loader uses to auto-attach (``"tracepoint"``,
    ``"kprobe"``, ``"tracing"`` ...) or is None when programs of this kind are
    attached explicitly (xdp, tc, cgroup ...).
    """

    name: str
    match: str
    prog_type: ProgType
    attach_type: AttachType | None
    attach_type_optional: bool
    attach_btf: bool
    sleepable: bool
    xdp_frags: bool
    usdt: bool
    attach: str | None

    def matches(self, section: str) -> bool:
        """Whether this row selects ``section`` (without a leading '?')."""
        return _row_matches(self.name, self.match, section)

    def target(self, section: str) -> str:
        """The attach target in ``section``: what follows ``name/`` ('' when none)."""
        if self.match == "plus" and len(section) > len(self.name):
            return section[len(self.name) + 1 :]
        return ""

    @property
    def prog_flags(self) -> ProgFlags:
        """BPF_PROG_LOAD flags this section implies (sleepable, xdp frags)."""
        flags = ProgFlags(0)
        if self.sleepable:
            flags |= ProgFlags.SLEEPABLE
        if self.xdp_frags:
            flags |= ProgFlags.XDP_HAS_FRAGS
        return flags

    @property
    def is_return_probe(self) -> bool:
        """kretprobe/uretprobe/kretsyscall style sections (the probe fires on return)."""
        return self.name.split(".")[0] in ("kretprobe", "uretprobe", "kretsyscall")


def _row_matches(name: str, match: str, section: str) -> bool:
    """Whether the table row named ``name`` (matched as ``match``) selects ``section`` (without '?')."""
    if match == "exact":
        return section == name
    n = len(name)
    return section.startswith(name) and (len(section) == n or section[n] == "/")


_DEFS: dict[int, SectionDef] = {}  # row index -> its SectionDef, made on first use


def _def_of(index: int) -> SectionDef:
    """The :class:`SectionDef` of row ``index`` of the table (made once: a load needs a few of ~110)."""
    d = _DEFS.get(index)
    if d is None:
        name, match, ptype, atype, flags, family = SECTION_TABLE[index]
        d = _DEFS[index] = SectionDef(
            name=name,
            match=match,
            prog_type=ProgType[ptype],
            attach_type=AttachType[atype] if atype is not None else None,
            attach_type_optional="attach_optional" in flags,
            attach_btf="attach_btf" in flags,
            sleepable="sleepable" in flags,
            xdp_frags="xdp_frags" in flags,
            usdt="usdt" in flags,
            attach=family,
        )
    return d


TYPE_CHECKING = False
if TYPE_CHECKING:
    SECTION_DEFS: tuple[SectionDef, ...]


def __getattr__(name: str) -> tuple[SectionDef, ...]:
    # SECTION_DEFS, every row as a SectionDef, is made on first use (issue 18: not at every start)
    if name == "SECTION_DEFS":
        value = tuple(_def_of(i) for i in range(len(SECTION_TABLE)))
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def find_section_def(section: str) -> SectionDef | None:
    """The table row that ``section`` selects, or None for an unknown name."""
    if section.startswith("?"):
        section = section[1:]
    for i, row in enumerate(SECTION_TABLE):
        if _row_matches(row[0], row[1], section):
            return _def_of(i)
    return None


def close_section_names(section: str, n: int = 5) -> list[str]:
    """Known section names (table rows, ``name/...`` for those taking a target) closest to an unknown ``section``."""
    import difflib

    section = section.removeprefix("?")
    shown = {name: name + ("/..." if match == "plus" else "") for name, match, *_ in SECTION_TABLE}
    head = section.split("/", 1)[0]
    found = difflib.get_close_matches(section, list(shown), n=n, cutoff=0.6)
    for name in difflib.get_close_matches(head, list(shown), n=n, cutoff=0.6):
        if name not in found:
            found.append(name)
    return [shown[name] for name in found[:n]]


@record(frozen=True, slots=True)
class ProgramSection:
    """What a program's ELF section name says about it."""

    section: str
    definition: SectionDef | None
    target: str
    autoload: bool

    @property
    def prog_type(self) -> ProgType:
        """The program type (UNSPEC when the name is unknown)."""
        return self.definition.prog_type if self.definition is not None else ProgType.UNSPEC

    @property
    def auto_attach(self) -> bool:
        """Whether ``attach()`` can attach it from the section name alone (it names a target)."""
        d = self.definition
        return d is not None and d.attach is not None and bool(self.target)


def parse_section(section: str) -> ProgramSection:
    """Split an ELF section name into its definition, attach target and autoload flag."""
    autoload = not section.startswith("?")
    name = section if autoload else section[1:]
    d = find_section_def(name)
    return ProgramSection(name, d, d.target(name) if d is not None else "", autoload)
