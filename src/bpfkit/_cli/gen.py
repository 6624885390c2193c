"""``bpfkit gen python OBJ [-o module.py]``: a typed Python module for a BPF object (bpfkit's bpf2go/skeleton).

The module has a ctypes class for every BTF struct, union and enum the object's
maps, globals and event records use (event records are found as ``bpfkit run``
finds them), and a skeleton class ``<Name>`` whose ``maps.<name>`` are
``TypedMap[Key, Value]``, ``programs.<name>`` are ``Program`` and
``variables.<name>`` are typed properties; ``<Name>.load(...)`` takes the
``const volatile`` globals as typed keyword arguments. The output depends only
on the object's bytes: generating twice gives the same file. It imports only
ctypes and typing at import time (bpfkit itself when an object is loaded) and
is clean under ``mypy --strict``.
"""

from __future__ import annotations

import argparse
import hashlib
import keyword
import os
import re

from .. import __version__
from .._uapi import MapType
from ..btf import Btf
from ..btf._types import (
    Array,
    Const,
    Enum,
    Enum64,
    Float,
    Fwd,
    Int,
    IntEncoding,
    Ptr,
    Restrict,
    Struct,
    Typedef,
    TypeTag,
    Union_,
    Void,
    Volatile,
)
from ..obj import ObjectSpec
from ..obj._spec import MapKind
from ._common import CliError
from .run import event_type

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["generate", "register"]

_MODIFIERS = (Const, Volatile, Restrict, TypeTag)
_EVENT_MAPS = (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY)
_MAP_CLASS = {MapType.HASH: "HashMap", MapType.LRU_HASH: "LruHashMap", MapType.ARRAY: "ArrayMap",
              MapType.PERCPU_HASH: "PerCpuHashMap", MapType.PERCPU_ARRAY: "PerCpuArrayMap",
              MapType.RINGBUF: "RingBufMap", MapType.PERF_EVENT_ARRAY: "PerfEventArrayMap"}


def register(subparsers: Any) -> None:
    """Add the ``gen`` command (``gen python``)."""
    p = subparsers.add_parser("gen", help="generate typed code for a BPF object",
                              description="Generate code for a BPF object.")
    sub = p.add_subparsers(dest="gen_command", metavar="LANGUAGE")
    p.set_defaults(func=lambda ns: (p.print_help(), 2)[1])
    sp = sub.add_parser("python", help="a typed Python module (ctypes types + skeleton)", description=__doc__,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("object", metavar="OBJ", help="the BPF ELF object")
    sp.add_argument("-o", "--output", metavar="FILE", help="write the module here (default: standard output)")
    sp.add_argument("--events", action="append", default=[], metavar="MAP=TYPE",
                    help="the BTF type of a ring/perf buffer's records (default: found by convention)")
    sp.set_defaults(func=_cmd_gen)


def _ident(name: str) -> str:
    clean = re.sub(r"\W", "_", name) or "_"
    if clean[0].isdigit():
        clean = "_" + clean
    return clean + "_" if keyword.iskeyword(clean) or clean in ("self", "maps", "programs", "variables") else clean


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part) or "Object"


class _Emitter:
    """Turns BTF types into ctypes declarations, each class once, in dependency order."""

    def __init__(self, btf: Btf) -> None:
        self.btf = btf
        self.names: dict[int, str] = {}
        self.blocks: list[str] = []
        # names the module defines itself: a BTF type of the same name gets a suffix
        self.used: set[str] = {"Maps", "Programs", "Variables", "TypedMap", "from_bytes", "to_bytes", "ctypes",
                               "enum", "os", "TYPE_CHECKING", "Any", "Collection", "Map", "Program",
                               "OBJECT_SHA256", "OBJECT_FILE"}
        self.busy: set[int] = set()

    def _resolve(self, tid: int) -> int:
        t = self.btf[tid]
        while isinstance(t, _MODIFIERS):
            tid = t.type
            t = self.btf[tid]
        return tid

    def ctype(self, tid: int, hint: str = "anon") -> str:
        """The ctypes expression for BTF type ``tid`` (declaring classes as needed)."""
        tid = self._resolve(tid)
        t = self.btf[tid]
        if isinstance(t, Typedef):
            return self.ctype(t.type, t.name or hint)
        if isinstance(t, Int):
            if t.encoding & IntEncoding.BOOL and t.size == 1:
                return "ctypes.c_bool"
            if t.encoding & IntEncoding.CHAR or (t.size == 1 and t.name in ("char", "signed char")):
                return "ctypes.c_char" if t.name == "char" else "ctypes.c_int8"
            signed = bool(t.encoding & IntEncoding.SIGNED)
            if t.size in (1, 2, 4, 8):
                return f"ctypes.c_{'' if signed else 'u'}int{t.size * 8}"
            return f"(ctypes.c_uint8 * {t.size})"
        if isinstance(t, Float):
            return {4: "ctypes.c_float", 8: "ctypes.c_double"}.get(t.size, f"(ctypes.c_uint8 * {t.size})")
        if isinstance(t, (Enum, Enum64)):
            self._enum(tid, t, hint)
            return f"ctypes.c_{'' if t.signed else 'u'}int{t.size * 8}"
        if isinstance(t, (Ptr, Fwd, Void)):
            return "ctypes.c_uint64"
        if isinstance(t, Array):
            return f"({self.ctype(t.type, hint)} * {t.nelems})"
        if isinstance(t, (Struct, Union_)):
            return self._record(tid, t, hint)
        return f"(ctypes.c_uint8 * {self.btf.size_of(tid)})"

    def pytype(self, tid: int) -> str:
        """The Python type a value of BTF type ``tid`` reads as through :mod:`bpfkit.typed`."""
        tid = self._resolve(tid)
        t = self.btf[tid]
        if isinstance(t, Typedef):
            return self.pytype(t.type)
        if isinstance(t, Int):
            if t.encoding & IntEncoding.BOOL and t.size == 1:
                return "bool"
            if t.name == "char" and t.size == 1:
                return "bytes"
            return "int" if t.size in (1, 2, 4, 8) else "ctypes.Array[ctypes.c_uint8]"
        if isinstance(t, Float):
            return "float"
        if isinstance(t, (Enum, Enum64, Ptr, Fwd, Void)):
            return "int"
        if isinstance(t, Array):
            elem = self.btf[self._resolve(t.type)]
            if isinstance(elem, Int) and elem.name == "char":
                return "bytes"
            return f"ctypes.Array[{self._array_elem(t.type)}]"
        if isinstance(t, (Struct, Union_)):
            return self._record(tid, t, "anon")
        return "bytes"

    def _array_elem(self, tid: int) -> str:
        expr = self.ctype(tid)
        return "ctypes.Array[Any]" if expr.startswith("(") else expr

    def _unique(self, base: str) -> str:
        name = base
        n = 1
        while name in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name)
        return name

    def _enum(self, tid: int, t: Enum | Enum64, hint: str) -> None:
        if tid in self.names:
            return
        name = self.names[tid] = self._unique(_ident(t.name or f"{hint}_enum"))
        lines = [f"class {name}(enum.IntEnum):", f'    """enum {t.name or "(anonymous)"} of the object\'s BTF."""', ""]
        lines += [f"    {_ident(v.name)} = {v.value}" for v in t.values] or ["    pass"]
        self.blocks.append("\n".join(lines))

    def _record(self, tid: int, t: Struct | Union_, hint: str) -> str:
        if tid in self.names:
            return self.names[tid]
        name = self.names[tid] = self._unique(_ident(t.name or f"{hint}"))
        base = "ctypes.Structure" if isinstance(t, Struct) else "ctypes.Union"
        fields: list[str] = []
        hints: list[str] = []
        pos = 0
        pad = 0
        for i, m in enumerate(t.members):
            byte = m.offset // 8
            if m.bitfield_size or m.offset % 8:
                continue  # bitfields stay in the padding bytes (ctypes bitfields don't pack like C's here)
            mname = _ident(m.name) if m.name else f"_anon{i}"
            size = self.btf.size_of(m.type)
            if isinstance(t, Struct):
                if byte < pos:
                    continue
                if byte > pos:
                    fields.append(f'("_pad{pad}", ctypes.c_uint8 * {byte - pos}),')
                    pad += 1
            fields.append(f'("{mname}", {self.ctype(m.type, f"{name}_{mname}")}),')
            hints.append(f"        {mname}: {self.pytype(m.type)}")
            pos = max(pos, byte + size) if isinstance(t, Struct) else max(pos, size)
        if pos < t.size:
            fields.append(f'("_pad{pad}", ctypes.c_uint8 * {t.size - pos}),')
        kind = "struct" if isinstance(t, Struct) else "union"
        lines = [f"class {name}({base}):", f'    """{kind} {t.name or "(anonymous)"} ({t.size} bytes)."""', "",
                 "    _pack_ = 1"]
        if hints:
            lines += ["    if TYPE_CHECKING:", *hints]
        lines += ["    _fields_ = ["] + [f"        {f}" for f in fields] + ["    ]"]
        lines.append(f"\n\nassert ctypes.sizeof({name}) == {t.size}")
        self.blocks.append("\n".join(lines))
        return name


def generate(spec: ObjectSpec, data: bytes, events: dict[str, str] | None = None) -> str:
    """The module text for object ``spec`` (whose file bytes are ``data``)."""
    if spec.btf is None:
        raise CliError(f"object {spec.name!r} has no BTF: compile it with clang -g")
    em = _Emitter(spec.btf)
    cls = em._unique(_camel(spec.name))
    digest = hashlib.sha256(data).hexdigest()
    # maps
    map_lines: list[str] = []
    for mname, ms in spec.maps.items():
        if ms.kind in (MapKind.DATA, MapKind.BSS, MapKind.RODATA, MapKind.KCONFIG):
            continue
        attr = _ident(mname)
        if ms.type in (MapType.HASH, MapType.LRU_HASH, MapType.ARRAY) and ms.key_type_id and ms.value_type_id:
            kt, vt = em.ctype(ms.key_type_id, f"{mname}_key"), em.ctype(ms.value_type_id, f"{mname}_value")
            kp, vp = em.pytype(ms.key_type_id), em.pytype(ms.value_type_id)
            map_lines.append(f"        self.{attr}: TypedMap[{kp}, {vp}] = TypedMap(col.maps[{mname!r}], {kt}, {vt})")
        else:
            map_lines.append(f"        self.{attr}: Map = col.maps[{mname!r}]")
    # events
    event_lines: list[str] = []
    decoders: list[str] = []
    for mname, ms in spec.maps.items():
        if ms.type not in _EVENT_MAPS:
            continue
        tid = event_type(spec, mname, (events or {}).get(mname))
        if tid is None:
            continue
        ct = em.ctype(tid, f"{mname}_event")
        decoders.append(f"decode_{_ident(mname)}")
        event_lines += [
            "", "",
            f"def decode_{_ident(mname)}(data: bytes | memoryview) -> {em.pytype(tid)}:",
            f'    """A record of the {ms.type.name.lower()} map {mname!r}, decoded."""',
            f"    return from_bytes({ct}, bytes(data))  # type: ignore[no-any-return]",
        ]
    # programs
    prog_lines = [f"        self.{_ident(p)}: Program = col.programs[{p!r}]" for p in spec.programs]
    # variables
    var_lines: list[str] = []
    const_params: list[str] = []
    const_items: list[str] = []
    for vname, var in spec.variables.items():
        if "." in vname or var.type_id is None or not var.is_global:
            continue
        attr = _ident(vname)
        ct, pt = em.ctype(var.type_id, vname), em.pytype(var.type_id)
        var_lines += [
            "", "    @property",
            f"    def {attr}(self) -> {pt}:",
            f'        """Global {vname!r} ({var.section})."""',
            f"        return from_bytes({ct}, self._col.variables.raw({vname!r}))  # type: ignore[no-any-return]",
        ]
        if not var.readonly:
            var_lines += [
                "", f"    @{attr}.setter",
                f"    def {attr}(self, value: {pt}) -> None:",
                f"        self._col.variables[{vname!r}] = to_bytes({ct}, value)",
            ]
        if var.const_volatile or var.readonly:
            const_params.append(f"{attr}: {pt} | None = None")
            const_items.append(f"        if {attr} is not None:\n"
                               f"            constants[{vname!r}] = to_bytes({ct}, {attr})")
    obj_file = os.path.basename(spec.name + ".bpf.o")
    out = [
        f'"""Typed bindings of the BPF object {spec.name!r}: generated by bpfkit {__version__} '
        f'(bpfkit gen python); do not edit.',
        "",
        f"Object sha256 {digest}.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import ctypes",
        *(["import enum"] if any(b.startswith("class") and "(enum.IntEnum)" in b.split("\n", 1)[0] for b in em.blocks)
          else []),
        "import os",
        "",
        "from bpfkit.typed import @TYPED@",
        "",
        "TYPE_CHECKING = False  # typing is for type checkers only: not imported at run time",
        "if TYPE_CHECKING:",
        "    from typing import Any",
        "",
        "    from bpfkit.collection import Collection",
        "@MAPIMPORT@",
        "    from bpfkit.programs import Program",
        "",
        f"OBJECT_SHA256 = {digest!r}",
        f"OBJECT_FILE = {obj_file!r}",
        "",
        "__all__ = [" + ", ".join(repr(x) for x in
                                  [cls, "OBJECT_SHA256", "Maps", "Programs", "Variables", *decoders,
                                   *sorted(set(em.names.values()))]) + "]",
    ]
    for block in em.blocks:
        out += ["", "", block]
    out += event_lines
    out += ["", "", "class Maps:", f'    """The maps of {spec.name!r}, typed."""', "",
            "    def __init__(self, col: Collection) -> None:"] + (map_lines or ["        pass"])
    out += ["", "", "class Programs:", f'    """The programs of {spec.name!r}."""', "",
            "    def __init__(self, col: Collection) -> None:"] + (prog_lines or ["        pass"])
    out += ["", "", "class Variables:", f'    """The global variables of {spec.name!r}, typed."""', "",
            "    def __init__(self, col: Collection) -> None:", "        self._col = col", *var_lines]
    params = ["cls", "path: str | os.PathLike[str] | None = None", *(["*", *const_params] if const_params else [])]
    out += [
        "", "",
        f"class {cls}(Skeleton):",
        f'    """The loaded object {spec.name!r}: typed maps, programs and variables; close() releases it."""',
        "",
        "    def __init__(self, col: Collection) -> None:",
        "        self.collection = col",
        "        self.maps = Maps(col)",
        "        self.programs = Programs(col)",
        "        self.variables = Variables(col)",
        "",
        "    @classmethod",
        "    def load(",
        *[f"        {p}," for p in params],
        f"    ) -> {cls}:",
        f'        """Load the object (default: {obj_file} next to this module), its constants set first."""',
        "        import bpfkit",
        "",
        "        constants: dict[str, Any] = {}",
        *const_items,
        "        where = path if path is not None else os.path.join(os.path.dirname(__file__), OBJECT_FILE)",
        "        return cls(bpfkit.load(where, constants=constants))",
        "",
    ]
    head_end = out.index("@MAPIMPORT@")
    body = "\n".join(out[head_end + 1 :])
    typed = [n for n in ("Skeleton", "TypedMap", "from_bytes", "to_bytes") if re.search(rf"\b{n}\b", body)]
    out[head_end] = "    from bpfkit.maps import Map" if re.search(r": Map\b", body) else ""
    lines = [line for i, line in enumerate(out) if not (i == head_end and line == "")]
    joined = "\n".join(lines)
    if typed:
        return joined.replace("@TYPED@", ", ".join(typed))
    return joined.replace("from bpfkit.typed import @TYPED@\n", "").replace("\n\n\nTYPE_CHECKING = False", "\n\nTYPE_CHECKING = False")


def _cmd_gen(ns: argparse.Namespace) -> int:
    try:
        with open(ns.object, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise CliError(f"no such object file: {ns.object}") from None
    name = os.path.basename(ns.object)
    for suffix in (".bpf.o", ".o"):
        name = name.removesuffix(suffix)
    spec = ObjectSpec.from_bytes(data, name=name)
    events = {}
    for item in ns.events:
        mname, eq, tname = item.partition("=")
        if not eq:
            raise CliError(f"--events takes MAP=TYPE, not {item!r}")
        events[mname] = tname
    text = generate(spec, data, events)
    if ns.output:
        with open(ns.output, "w") as f:
            f.write(text)
    else:
        print(text, end="")
    return 0
