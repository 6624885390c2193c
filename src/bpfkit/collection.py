"""load(): an object file (path, bytes or ObjectSpec) -> Collection of live maps and programs.

The steps follow what libbpf does for a skeleton: set constants in the spec,
load the object's BTF (sanitized for the running kernel), create maps (global
data written and .rodata frozen, pinned maps reused), resolve externs, apply
CO-RE relocations against the kernel's BTF, patch map references, load the
programs with func/line info, then fill static prog arrays and maps of maps.
"""

from __future__ import annotations

import errno as E
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType

from . import host
from ._record import FrozenRecord
from ._registry import MAP_TYPES
from ._sys import Fd
from ._sys import commands as C
from ._uapi import AttachType, MapType, ProgType, PseudoSrc
from ._verifier_log import insn_line
from .btf import Btf, BtfKind, BtfType, Datasec, Var
from .btf._ext import LineInfo, encode_func_info, encode_line_info
from .errors import (
    BpfError,
    BpfKeyError,
    BpfTypeError,
    BpfValueError,
    KernelError,
    ObjectFormatError,
    RelocationError,
    VerifierError,
)
from .obj import ExternKind, MapKind, MapRefKind, MapSpec, ObjectSpec, Pinning, ProgramSpec
from .token import Token, TokenSource, token_for_load

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .links import Link
    from .maps import Map
    from .programs import Program

__all__ = ["Collection", "Variables", "load"]

POISON_IMM = 0xBAD2310
DEFAULT_PIN_ROOT = "/sys/fs/bpf"


def load(
    obj: str | os.PathLike[str] | bytes | bytearray | ObjectSpec,
    *,
    constants: Mapping[str, Any] | None = None,
    kernel_btf: Btf | str | bytes | None = None,
    pin_path: str | None = None,
    programs: Iterable[str] | None = None,
    reuse_maps: Mapping[str, Any] | None = None,
    log_level: int = 0,
    token: TokenSource = None,
) -> Collection:
    """Load a BPF object into the kernel and return its maps and programs.

    ``constants`` set global variables (``const volatile`` ones above all)
    before load; ``kernel_btf`` overrides the BTF CO-RE relocates against
    (default: the running kernel's); ``pin_path`` is where maps marked
    LIBBPF_PIN_BY_NAME are pinned (default /sys/fs/bpf); ``programs`` limits
    which programs load (default: every autoload program); ``reuse_maps``
    maps names of the object's maps to existing maps (anything with an fd, a
    Map of another Collection for instance) used instead of new ones, so that
    several loads can share state (libbpf's bpf_map__reuse_fd). ``token`` is
    the BPF token (Linux 6.9) its BTF, maps and programs are created through: a
    :class:`~bpfkit.token.Token` or the path of a delegated bpffs; by default
    ``$BPFKIT_BPF_TOKEN_PATH`` / ``$LIBBPF_BPF_TOKEN_PATH`` ("" disables), else
    /sys/fs/bpf when it delegates (see :mod:`bpfkit.token`).
    """
    if isinstance(obj, ObjectSpec):
        spec = obj.copy()
    elif isinstance(obj, (bytes, bytearray)):
        spec = ObjectSpec.from_bytes(bytes(obj))
    else:
        spec = ObjectSpec.from_file(obj)
    for name, value in (constants or {}).items():
        _set_constant(spec, name, value)
    only = _program_names(spec, programs)
    reuse = _reuse_fds(spec, reuse_maps)
    targets: Sequence[Btf] = host.kernel_btfs() if kernel_btf is None else [_target_btf(kernel_btf)]
    tok, owned = token_for_load(token)
    loader = _Loader(spec, targets, pin_path or DEFAULT_PIN_ROOT, log_level, reuse, tok)
    try:
        return loader.run(only)
    except BaseException:
        loader.cleanup()
        raise
    finally:
        if owned and tok is not None:
            tok.close()


def _refuse_unknown_section(spec: ObjectSpec, prog: ProgramSpec) -> None:
    """ObjectFormatError for a program whose section name selects no program type (a typo, most often)."""
    from .obj._sections import close_section_names

    close = close_section_names(prog.section)
    hint = f"; close known names: {', '.join(close)}" if close else ""
    raise ObjectFormatError(
        f"program {prog.name!r} of object {spec.name!r}: section name {prog.section!r} is not a recognised "
        f"program section, so its program type is unknown{hint}",
        section=prog.section,
    )


def _program_names(spec: ObjectSpec, programs: Iterable[str] | None) -> set[str] | None:
    """The set of program names ``load(programs=...)`` asks for, checked against the object."""
    if programs is None:
        return None
    if isinstance(programs, (str, bytes)):
        raise BpfTypeError(
            f"load(programs=...) takes a list of program names, not a single {type(programs).__name__} "
            f"({programs!r}); write programs=[{programs!r}]"
        )
    try:
        names = set(programs)
    except TypeError:
        raise BpfTypeError(
            f"load(programs=...) takes an iterable of program names, not {type(programs).__name__}"
        ) from None
    odd = sorted(repr(n) for n in names if not isinstance(n, str))
    if odd:
        raise BpfTypeError(f"load(programs=...): program names are str, not {', '.join(odd)}")
    unknown = names - set(spec.programs)
    if unknown:
        raise BpfKeyError(
            f"object {spec.name!r} has no program(s) {sorted(unknown)} (it has: {sorted(spec.programs)})"
        )
    return names


def _reuse_fds(spec: ObjectSpec, reuse_maps: Mapping[str, Any] | None) -> dict[str, Any]:
    """``reuse_maps`` checked: names of the object's maps, each to an int fd or an object with one."""
    if reuse_maps is None:
        return {}
    if not isinstance(reuse_maps, Mapping):
        raise BpfTypeError(f"load(reuse_maps=...) takes a mapping of map names to maps, not {type(reuse_maps).__name__}")
    unknown = set(reuse_maps) - set(spec.maps)
    if unknown:
        raise BpfKeyError(
            f"object {spec.name!r} has no map(s) {sorted(map(str, unknown))} to reuse (it has: {sorted(spec.maps)})"
        )
    for name, given in reuse_maps.items():
        ok = (isinstance(given, int) and not isinstance(given, bool)) or callable(getattr(given, "fileno", None)) \
            or isinstance(getattr(given, "fd", None), int)
        if not ok:
            raise BpfTypeError(
                f"load(reuse_maps={{{name!r}: ...}}): expected a Map, an object with fileno() or an int fd, "
                f"not {type(given).__name__}"
            )
    return dict(reuse_maps)


def _dup_reused(given: Any, ms: MapSpec) -> Fd:
    """A duplicate of the fd given in ``reuse_maps`` for map ``ms`` (a Map's fd borrowed against its close)."""
    from ._sys.fd import dup_fd
    from .maps import fd_of

    owned = getattr(given, "_fd", None)
    if isinstance(owned, Fd):
        mine = owned.dup()
        mine.what = f"map {ms.name}"
        return mine
    raw = fd_of(given)
    try:
        return dup_fd(raw, f"map {ms.name}")
    except OSError as exc:
        raise KernelError(exc.errno or E.EBADF, command="F_DUPFD_CLOEXEC",
                          target=f"fd {raw} given for map {ms.name!r} in reuse_maps") from None


def _target_btf(kernel_btf: Btf | str | bytes | None) -> Btf:
    if kernel_btf is None:
        return host.vmlinux_btf()
    if isinstance(kernel_btf, Btf):
        return kernel_btf
    if isinstance(kernel_btf, (bytes, bytearray)):
        return Btf.from_bytes(bytes(kernel_btf))
    with open(kernel_btf, "rb") as f:
        return Btf.from_bytes(f.read())


def _set_constant(spec: ObjectSpec, name: str, value: Any) -> None:
    if name not in spec.variables:
        known = ", ".join(sorted(spec.variables)) or "none"
        raise BpfKeyError(f"object {spec.name!r} has no global variable {name!r} (it has: {known})")
    var = spec.variables[name]
    if isinstance(value, str):
        if not _is_char_array(spec, var.type_id):
            raise BpfTypeError(
                f"constant {name!r} of object {spec.name!r} is not a char array; a str sets only those "
                f"(give an int for a number, bytes for raw contents), not {value!r}"
            )
        raw = value.encode()
        if len(raw) > var.size:
            raise BpfValueError(f"string for {name!r} is {len(raw)} bytes, the variable holds {var.size}")
        value = raw.ljust(var.size, b"\0")
    elif isinstance(value, (bytes, bytearray, memoryview)) and len(value) < var.size and _is_char_array(spec, var.type_id):
        value = bytes(value).ljust(var.size, b"\0")
    spec.set_variable(name, value)


def _is_char_array(spec: ObjectSpec, type_id: int | None) -> bool:
    from .btf import Array

    if type_id is None or spec.btf is None:
        return False
    t = spec.btf[spec.btf.skip_modifiers(type_id)]
    return isinstance(t, Array) and spec.btf.size_of(t.type) == 1


class _Loader:
    """One load: owns what it created until it hands it to the Collection."""

    def __init__(self, spec: ObjectSpec, targets: Sequence[Btf], pin_root: str, log_level: int,
                 reuse: dict[str, Any], token: Token | None = None) -> None:
        self.reuse = reuse
        self.token = token
        self.token_fd = token.fd if token is not None else C.NO_TOKEN  # token_for_load did the lookup
        self.token_arg: Token | str = token if token is not None else ""  # for Map/Program: the same answer
        self.spec = spec
        self.targets = targets
        self.pin_root = pin_root
        self.log_level = log_level
        self.btf_fd: Fd | None = None
        self.btf_strings: Any = None
        self.btf_blob: bytes | None = None
        self.map_fds: dict[str, Fd] = {}
        # program name -> its poisoned CO-RE fixups, looked up if the verifier reaches one; lives and
        # dies with this load (never keyed by id(): ids are reused once a spec is freed)
        self.poisoned: dict[str, list[Any]] = {}
        self.pinned_here: list[str] = []
        self.maps: dict[str, Map] = {}
        self.progs: dict[str, Program] = {}

    @property
    def kbtf(self) -> Btf:
        """The kernel's BTF, read (and indexed) only when a relocation, extern or attach target needs it."""
        return self.targets[0]

    def cleanup(self) -> None:
        for p in self.progs.values():
            p.close()
        for m in self.maps.values():
            m.close()
        for fd in self.map_fds.values():
            fd.close()
        for path in self.pinned_here:
            try:
                os.unlink(path)
            except OSError:
                pass
        if self.btf_fd is not None:
            self.btf_fd.close()

    # ---- the steps ------------------------------------------------------

    def run(self, only: set[str] | None) -> Collection:
        spec = self.spec
        wanted = [p for p in spec.programs.values() if (p.autoload if only is None else p.name in only)]
        from .programs import _older_than_type, _refuse_unknown_type

        for p in wanted:
            if p.type == ProgType.UNSPEC:
                _refuse_unknown_section(spec, p)

        for ptype in sorted({int(p.type) for p in wanted}):
            if _older_than_type(ptype):  # a program type the kernel may lack: say so before anything is created
                _refuse_unknown_type(ptype)
        self._load_btf(wanted)
        self._resolve_kconfig()
        self._create_maps()
        for prog in wanted:
            self._relocate(prog)
        rodata = [n for n, m in spec.maps.items() if m.kind is MapKind.RODATA]
        for prog in wanted:
            loaded = self.progs[prog.name] = self._load_program(prog)
            if rodata:
                # as libbpf does: keep .rodata (and its bpf_metadata_* variables) bound to every program
                try:
                    C.prog_bind_map(loaded.fd, self.map_fds[rodata[-1]].fd)
                except KernelError:
                    pass
        self._fill_static_contents()

        loaded_btf: Btf | None = None
        for name in list(self.map_fds):
            ms = spec.maps[name]
            del self.map_fds[name]  # the Map in self.maps owns it
            m = self.maps[name]
            info = getattr(m, "_info", None)
            if m.btf is None and self.btf_blob is not None and ms.kind in _DATA_KINDS and info is not None \
                    and info.btf_id and info.btf_value_type_id:
                # what wrapping the map used to read back from the kernel: the BTF loaded above
                if loaded_btf is None:
                    loaded_btf = Btf.from_bytes(self.btf_blob)
                m.btf = loaded_btf
        for name, m in self.maps.items():  # the ring buffer loss counter convention (see RingBuffer)
            counter = self.maps.get(f"{name}_lost")
            if m.type == MapType.RINGBUF and counter is not None:
                m.lost_counter = counter  # type: ignore[attr-defined]
        col = Collection(spec, dict(self.maps), dict(self.progs), self.btf_fd, self.pinned_here)
        self.maps.clear()
        self.progs.clear()
        self.btf_fd = None
        return col

    def _codec_types(self, ms: MapSpec) -> tuple[Any, Any]:
        """Key and value types of a map from the object's BTF, so values decode as the program sees them."""
        btf = self.spec.btf
        if btf is None:
            return None, None
        if ms.kind in (MapKind.DATA, MapKind.BSS, MapKind.RODATA, MapKind.KCONFIG):
            from .maps._codec import make_codec

            vid = _datasec_id(btf, ms.section)
            # the key is the index 0 (the codec the map would make itself): given, so that
            # wrapping the map does not read its BTF back from the kernel
            return make_codec(None, ms.key_size, what="key"), ((btf, vid) if vid else None)
        kt = (btf, ms.key_type_id) if ms.key_type_id else None
        vt = (btf, ms.value_type_id) if ms.value_type_id and ms.type not in _FD_VALUE_TYPES else None
        return kt, vt

    # BTF ----------------------------------------------------------------

    def _load_btf(self, wanted: list[ProgramSpec]) -> None:
        from .btf._marshal import encode_with_strings

        spec_btf = self.spec.btf
        if spec_btf is None:
            return
        fixes = _datasec_fixes(spec_btf, self.spec)
        # the object's own blob with a few records patched: no re-encoding, and the
        # string offsets that line info carries stay valid (None: re-encode instead)
        blob = _raw_btf_blob(spec_btf, fixes, wanted)
        strings = None
        extra: list[str] = []
        btf: Btf | None = None
        if blob is None:
            btf = _apply_fixes(spec_btf, fixes)
            extra = [s for p in wanted for li in p.line_info for s in (li.file_name, li.line)]
            blob, strings = encode_with_strings(btf, extra)
        try:
            # a kernel that knows every kind the object uses takes it as it is: no feature probes
            fd, _ = C.btf_load(blob, target=f"BTF of object {self.spec.name!r}", token_fd=self.token_fd)
        except KernelError as first:
            from .btf._sanitize import needs_sanitizing, sanitize
            from .features import btf_features

            feats = btf_features()
            if btf is None:
                btf = _apply_fixes(spec_btf, fixes)
                extra = [s for p in wanted for li in p.line_info for s in (li.file_name, li.line)]
            try:
                if not needs_sanitizing(btf, feats):
                    raise first
                blob, strings = encode_with_strings(sanitize(btf, feats), extra)
                fd, _ = C.btf_load(blob, target=f"BTF of object {self.spec.name!r}", token_fd=self.token_fd)
            except KernelError as exc:
                if not feats.func:
                    return  # a kernel without BTF func info: load without BTF, as libbpf does
                raise BpfError(f"loading the BTF of object {self.spec.name!r} failed: {exc}") from exc
        self.btf_fd = Fd(fd, f"BTF of {self.spec.name}")
        self.btf_strings = strings
        self.btf_blob = blob

    # kconfig / ksyms ----------------------------------------------------------

    def _resolve_kconfig(self) -> None:
        spec = self.spec
        if not spec.kconfig_map:
            return
        from .obj._kconfig import parse_kernel_config, resolve_kconfig

        text = host.kernel_config_text() or ""
        config = parse_kernel_config(text)
        extra = {"LINUX_HAS_SYSCALL_WRAPPER": 1}
        if any(e.name == "LINUX_HAS_BPF_COOKIE" for e in spec.externs):
            from .links._usdt import bpf_cookie_support  # probed: the USDT spec lookup of usdt.bpf.h depends on it

            extra["LINUX_HAS_BPF_COOKIE"] = int(bpf_cookie_support())
        spec.maps[spec.kconfig_map].data = resolve_kconfig(spec, config, host.kernel_version_code(), extra=extra)

    # maps ----------------------------------------------------------------------

    def _create_maps(self) -> None:
        for name, ms in self.spec.maps.items():
            self.map_fds[name] = self._create_map(ms)

    def _create_map(self, ms: MapSpec) -> Fd:
        """The map of ``ms`` through Map.from_spec (or the map reused for it); kept in self.maps, its fd returned."""
        from .maps import Map
        from .maps._base import check_spec_compatible

        key_type, value_type = self._codec_types(ms)
        if ms.name in self.reuse:
            dup = check_spec_compatible(_dup_reused(self.reuse[ms.name], ms), ms, f"reused map {ms.name!r}")
            m = Map._wrap(dup, key_type, value_type)
        else:
            pin = _pin_file(self.pin_root, ms) if ms.pinning == Pinning.BY_NAME else None
            existed = pin is not None and os.path.exists(pin)
            if ms.kind in _DATA_KINDS and self.spec.btf is not None:  # a global data map's value is its DATASEC
                ms = ms.copy()
                ms.key_type_id, ms.value_type_id = 0, _datasec_id(self.spec.btf, ms.section) or 0
            m = Map.from_spec(ms, btf_fd=self.btf_fd, pin_path=pin, key_type=key_type, value_type=value_type,
                              token=self.token_arg)
            if pin is not None and not existed:
                self.pinned_here.append(pin)
        self.maps[ms.name] = m
        return m._fd

    # relocation -------------------------------------------------------------------

    def _relocate(self, prog: ProgramSpec) -> None:
        from .btf import core

        spec = self.spec
        insns = prog.instructions
        if prog.core_relos:
            if spec.btf is None:
                raise RelocationError("CO-RE relocations without BTF in the object", program=prog.name)
            relos = prog.core_relos
            fixups = core.relocate(relos, spec.btf, self.targets, insns, program=prog.name,
                                   line_of=_line_lookup(prog.line_info))
            core.apply(fixups, insns)
            prog_fixups = [f for f in fixups if f.poison]
            self.poisoned[prog.name] = prog_fixups
        for ref in prog.map_refs:
            fd = self.map_fds.get(ref.map)
            if fd is None:
                raise RelocationError(f"reference to unknown map {ref.map!r}", program=prog.name, insn=ref.insn)
            ins = insns[ref.insn]
            if ref.kind is MapRefKind.FD:
                ins.src_reg = PseudoSrc.MAP_FD
                ins.imm = fd.fd
            else:
                ins.src_reg = PseudoSrc.MAP_VALUE
                ins.imm = fd.fd
                insns[ref.insn + 1].imm = ref.offset
        for eref in prog.extern_refs:
            self._resolve_extern(prog, eref.insn, eref.name, eref.kind)

    def _resolve_extern(self, prog: ProgramSpec, idx: int, name: str, kind: ExternKind) -> None:
        ext = next((e for e in self.spec.externs if e.name == name), None)
        if ext is None:
            raise RelocationError(f"unknown extern {name!r}", program=prog.name, insn=idx)
        insns = prog.instructions
        if kind is ExternKind.KCONFIG:
            return  # a map value reference to .kconfig, patched with the map refs
        if kind is ExternKind.KFUNC:
            ids = self.kbtf.find(ext.essential_name, BtfKind.FUNC)
            if not ids:
                if ext.weak:
                    return
                raise RelocationError(f"kfunc {name!r} is not in the kernel's BTF", program=prog.name, insn=idx)
            insns[idx].imm = ids[0]
            insns[idx].off = 0
            return
        if ext.type_id:  # typed ksym: a BTF VAR of the kernel
            ids = self.kbtf.find(ext.essential_name, BtfKind.VAR)
            if ids:
                insns[idx].src_reg = PseudoSrc.BTF_ID
                insns[idx].imm = ids[0]
                insns[idx + 1].imm = 0
                return
            if not ext.weak:
                raise RelocationError(f"typed __ksym {name!r} is not a variable in the kernel's BTF",
                                      program=prog.name, insn=idx)
            addr = 0
        else:
            addr = host.ksym_address(ext.essential_name) or 0
            if not addr and not ext.weak:
                hidden = host.kallsyms_hidden() if ext.essential_name in host.kallsyms() else None
                where = f"has no address for this process: {hidden}" if hidden else "is not in /proc/kallsyms"
                raise RelocationError(f"__ksym {name!r} {where}", program=prog.name, insn=idx)
        insns[idx].src_reg = 0
        insns[idx].set_imm64(insns[idx + 1], addr)

    # programs ------------------------------------------------------------------------

    def _load_program(self, prog: ProgramSpec) -> Program:
        from .programs import Program

        attach_btf_id = 0
        if prog.type in (ProgType.TRACING, ProgType.LSM):
            attach_btf_id = self._attach_btf_id(prog)
        func_info = b""
        line_info = b""
        if self.btf_fd is not None:
            func_info = encode_func_info(prog.func_info)
            if self.btf_strings is not None:
                st = self.btf_strings
                line_info = encode_line_info(
                    [_reoff(li, st.add(li.file_name), st.add(li.line)) for li in prog.line_info]
                )
            else:  # the object's own string section was loaded: its offsets hold (checked)
                line_info = encode_line_info(prog.line_info)
        try:
            return Program.from_spec(
                prog, license=prog.license or self.spec.license, kern_version=prog.kernel_version or
                self.spec.kernel_version, attach_btf_id=attach_btf_id, btf_fd=self.btf_fd.fd if self.btf_fd else 0,
                func_info=func_info, line_info=line_info, log_level=self.log_level, token=self.token_arg,
            )
        except VerifierError as exc:
            poisoned = self.poisoned.get(prog.name, [])
            hit = _poisoned_insn(exc.log)
            if hit is not None and self.spec.btf is not None:
                from .btf.core import relocation_error

                for f in poisoned:
                    if f.insn_index == hit:
                        raise relocation_error(f, self.spec.btf) from exc
            where = _source_of_failure(exc.log, prog)
            if where is None or exc.source_line is not None:
                raise
            raise VerifierError(exc.errno or E.EINVAL, command=exc.command, target=exc.target, log=exc.log,
                                source_line=where) from None

    def _attach_btf_id(self, prog: ProgramSpec) -> int:
        target = prog.attach_target
        eat = prog.expected_attach_type
        if eat == AttachType.TRACE_RAW_TP:
            name, kind = f"btf_trace_{target}", BtfKind.TYPEDEF
        elif eat == AttachType.TRACE_ITER:
            name, kind = f"bpf_iter_{target}", BtfKind.FUNC
        elif eat in (AttachType.LSM_MAC, AttachType.LSM_CGROUP):
            name, kind = f"bpf_lsm_{target}", BtfKind.FUNC
        else:
            name, kind = target.split(":")[-1], BtfKind.FUNC
        ids = self.kbtf.find(name, kind)
        if not ids:
            raise RelocationError(
                f"attach target {name!r} ({kind.name.lower()}) of section {prog.section!r} is not in the kernel's BTF",
                program=prog.name,
            )
        return ids[0]

    def _fill_static_contents(self) -> None:
        for name, ms in self.spec.maps.items():
            if not ms.contents:
                continue
            fd = self.map_fds[name]
            for index, ref in sorted(ms.contents.items()):
                if ms.type == MapType.PROG_ARRAY:
                    prog = self.progs.get(ref)
                    if prog is None:
                        continue  # a program that was not loaded (autoload off)
                    value = prog.fd
                else:
                    inner = self.map_fds.get(ref)
                    if inner is None:
                        raise RelocationError(f"map {name!r} slot {index} names unknown map {ref!r}")
                    value = inner.fd
                _update_u32(fd.fd, index, value, f"map {name!r}")


_DATA_KINDS = frozenset({MapKind.DATA, MapKind.BSS, MapKind.RODATA, MapKind.KCONFIG})

# map types whose values are fds/ids of other objects: their BTF value type does not describe what user space reads
_FD_VALUE_TYPES = frozenset(MapType[f.name] for f in MAP_TYPES if f.value == "fd")

def _reoff(li: LineInfo, file_off: int, line_off: int) -> LineInfo:
    return LineInfo(li.insn_off, li.file_name, li.line, li.line_num, li.col, file_off, line_off)


def _line_lookup(lines: list[LineInfo]) -> Any:
    ordered = sorted(lines, key=lambda li: li.insn_off)

    def line_of(idx: int) -> str | None:
        best = None
        for li in ordered:
            if li.insn_off > idx:
                break
            best = li
        if best is None:
            return None
        return f"{os.path.basename(best.file_name)}:{best.line_num}: {best.line.strip()}"

    return line_of


def _source_of_failure(log: str, prog: ProgramSpec) -> str | None:
    """``file.c:N: source`` of the instruction the verifier stopped at, from the object's line info."""
    from .errors import _failing_insn

    idx = _failing_insn(log)
    if idx is None or not prog.line_info:
        return None
    return _line_lookup(prog.line_info)(idx)  # type: ignore[no-any-return]


def _poisoned_insn(log: str) -> int | None:
    for line in log.splitlines():
        insn = insn_line(line)
        if insn is not None and insn[1].startswith("(85) call unknown#195896080"):
            return insn[0]
    at = log.find("invalid func unknown#195896080")
    if at >= 0:
        for line in reversed(log[:at].rstrip().splitlines()):
            insn = insn_line(line)
            if insn is not None:
                return insn[0]
    return None


def _datasec_fixes(btf: Btf, spec: ObjectSpec) -> dict[int, Datasec]:
    """DATASECs with the sizes and variable offsets clang leaves at zero filled in (as libbpf does), by id."""
    sizes: dict[str, int] = {}
    for ms in spec.maps.values():
        if ms.section and ms.kind in (MapKind.DATA, MapKind.BSS, MapKind.RODATA, MapKind.KCONFIG):
            sizes[ms.section] = ms.value_size
    offsets = {(v.section, v.name): v.offset for v in spec.variables.values()}
    for e in spec.externs:
        if e.kind is ExternKind.KCONFIG:
            offsets[(".kconfig", e.name)] = e.offset
    out: dict[int, Datasec] = {}
    for tid in btf.own_ids():
        if btf.kind_of(tid) != BtfKind.DATASEC:
            continue
        t = btf[tid]
        if isinstance(t, Datasec) and (t.size == 0 or t.name in sizes):
            size = sizes.get(t.name, t.size)
            new_vars = []
            for v in t.vars:
                var = btf[v.type]
                off = offsets.get((t.name, var.name), v.offset) if isinstance(var, Var) else v.offset
                new_vars.append(type(v)(v.type, off, v.size))
            if size == 0 and new_vars:
                size = max(v.offset + v.size for v in new_vars)
            if size != t.size or new_vars != t.vars:
                out[tid] = Datasec(t.name, size, new_vars)
    return out


def _apply_fixes(btf: Btf, fixes: Mapping[int, Datasec]) -> Btf:
    """``btf`` with the DATASECs of ``fixes`` replaced (a new Btf; ``btf`` itself when there are none)."""
    if not fixes:
        return btf
    return Btf.from_types([fixes.get(tid, btf[tid]) for tid in btf.own_ids()], base=btf.base)


def _raw_btf_blob(btf: Btf, fixes: Mapping[int, Datasec], wanted: list[ProgramSpec]) -> bytes | None:
    """The object's .BTF bytes with its fixed-up records patched in, or None when they must be re-encoded.

    Re-encoding is needed when a record changed size or names a new string, and when line
    info refers to strings by offsets the object's string section does not back.
    """
    from .btf._rawpatch import edited_types, patch_records

    changed: dict[int, BtfType] = edited_types(btf)
    changed.update(fixes)
    blob = patch_records(btf, changed)
    if blob is None:
        return None
    seen: dict[int, str] = {}
    try:
        for p in wanted:
            for li in p.line_info:
                for off, text in ((li.file_name_off, li.file_name), (li.line_off, li.line)):
                    if seen.get(off) != text:
                        if btf.string(off) != text:
                            return None
                        seen[off] = text
    except (IndexError, ValueError, BpfError):
        return None
    return blob


def _datasec_id(btf: Btf, section: str) -> int | None:
    ids = btf.find(section, BtfKind.DATASEC)
    return ids[0] if ids else None


def _pin_file(root: str, ms: MapSpec) -> str:
    """Where a LIBBPF_PIN_BY_NAME map is pinned: a file named after the map right under ``root``.

    The name comes from the object: one with a '/' (or '.', '..', NUL) would pin, reuse or create
    directories elsewhere, so it is refused.
    """
    if not ms.name or "/" in ms.name or "\0" in ms.name or ms.name in (".", ".."):
        raise ObjectFormatError(f"map {ms.name!r} is pinned by name, but its name is not a file name", section=ms.section or None)
    return os.path.join(root, ms.name)


def _update_u32(fd: int, index: int, value: int, target: str) -> None:
    import ctypes

    key = ctypes.c_uint32(index)
    val = ctypes.c_uint32(value)
    C.map_update_elem(fd, ctypes.addressof(key), ctypes.addressof(val), target=target)


# ---- the Collection -----------------------------------------------------------


class Collection:
    """The maps, programs and global variables of a loaded object; closing releases them all."""

    def __init__(
        self,
        spec: ObjectSpec,
        maps: dict[str, Map],
        programs: dict[str, Program],
        btf_fd: Fd | None,
        pinned: list[str],
    ) -> None:
        self.spec = spec
        self._maps = maps
        self._programs = programs
        self._btf_fd = btf_fd
        self.pinned = list(pinned)
        self.maps: Mapping[str, Map] = _Named(maps, "map", spec.name)
        self.programs: Mapping[str, Program] = _Named(programs, "program", spec.name)
        self.variables = Variables(self)
        for p in programs.values():
            p.object_maps = self.maps  # USDT attach fills the object's spec maps
        self.links: list[Link] = []
        self._closed = False

    @property
    def btf_fd(self) -> int | None:
        """The fd of the object's BTF loaded in the kernel (None if it has none)."""
        return None if self._btf_fd is None else self._btf_fd.fd

    def attach(self, *names: str) -> list[Link]:
        """Attach every program that can attach on its own (or the ``names`` given); returns the links."""
        from .links import attach_program, can_auto_attach, close_links

        chosen = [self.programs[n] for n in names] if names else [
            p for p in self._programs.values() if can_auto_attach(p) and _auto(p)
        ]
        made: list[Link] = []
        try:
            for p in chosen:
                made.append(attach_program(p))
        except BaseException:
            close_links(reversed(made))
            raise
        self.links.extend(made)
        return made

    def detach(self) -> None:
        """Close every link made by :meth:`attach`, concurrently (:func:`close_links`): each close of a
        tracepoint or probe link waits in the kernel for an RCU grace period, and those waits overlap."""
        links, self.links = self.links, []
        if links:
            from .links import close_links

            close_links(reversed(links))

    def unpin(self) -> None:
        """Remove the pins this load created for LIBBPF_PIN_BY_NAME maps."""
        for path in self.pinned:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.pinned = []

    def close(self) -> None:
        """Detach links, close programs and maps (pinned maps stay pinned), release the BTF."""
        if self._closed:
            return
        self._closed = True
        self.detach()
        for p in self._programs.values():
            p.close()
        for m in self._maps.values():
            m.close()
        if self._btf_fd is not None:
            self._btf_fd.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Collection {self.spec.name!r} maps={sorted(self._maps)} programs={sorted(self._programs)}>"


def _auto(p: Program) -> bool:
    spec = p.spec
    return bool(getattr(spec, "auto_attach", True)) if spec is not None else True


class _Named(Mapping[str, "Any"]):
    """A read-only mapping whose KeyError names what exists."""

    def __init__(self, items: dict[str, Any], what: str, obj: str) -> None:
        self._items = items
        self._what = what
        self._obj = obj

    def __getitem__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise BpfKeyError(f"object {self._obj!r} has no {self._what} {name!r} (it has: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class _VarInfo(FrozenRecord):
    _fields = ("name", "map", "offset", "size", "type_id", "readonly")
    __slots__ = _fields
    name: str
    map: str
    offset: int
    size: int
    type_id: int | None
    readonly: bool

    def __init__(self, name: str, map: str, offset: int, size: int, type_id: int | None, readonly: bool) -> None:
        self._set(name=name, map=map, offset=offset, size=size, type_id=type_id, readonly=readonly)


class Variables(Mapping[str, "Any"]):
    """Global variables of a loaded object, read and written through their data maps by name.

    Values decode by their BTF type as map values do (ints, enums as ints,
    structs as readable records, char arrays as bytes); exact-size bytes are
    always accepted.  Writing a .rodata variable after load fails: the map is frozen.
    """

    def __init__(self, col: Collection) -> None:
        self._col = col
        spec = col.spec
        self._vars = {
            n: _VarInfo(v.name, v.map, v.offset, v.size, v.type_id, v.readonly)
            for n, v in spec.variables.items()
            if v.map in col._maps
        }
        self._codecs: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        v = self._info(name)
        raw = self._col._maps[v.map].lookup_raw(0)[v.offset : v.offset + v.size]
        return self._decode(v, raw)

    def __setitem__(self, name: str, value: Any) -> None:
        v = self._info(name)
        m = self._col._maps[v.map]
        raw = bytearray(m.lookup_raw(0))
        raw[v.offset : v.offset + v.size] = self._encode(v, value)
        m.update(0, bytes(raw))

    def raw(self, name: str) -> bytes:
        """The variable's bytes."""
        v = self._info(name)
        return bytes(self._col._maps[v.map].lookup_raw(0)[v.offset : v.offset + v.size])

    def _info(self, name: str) -> _VarInfo:
        try:
            return self._vars[name]
        except KeyError:
            known = ", ".join(sorted(self._vars)) or "none"
            raise BpfKeyError(f"object {self._col.spec.name!r} has no variable {name!r} (it has: {known})") from None

    def _codec(self, v: _VarInfo) -> Any:
        codec = self._codecs.get(v.name)
        if codec is None:
            from .maps._codec import make_codec

            btf = self._col.spec.btf
            spec = (btf, v.type_id) if v.type_id is not None and btf is not None else None
            codec = self._codecs[v.name] = make_codec(spec, v.size, what=f"variable {v.name!r}")
        return codec

    def _decode(self, v: _VarInfo, raw: bytes) -> Any:
        return self._codec(v).decode(raw)

    def _encode(self, v: _VarInfo, value: Any) -> bytes:
        return bytes(self._codec(v).encode(value))

    def __iter__(self) -> Iterator[str]:
        return iter(self._vars)

    def __len__(self) -> int:
        return len(self._vars)


