"""``bpfkit map list|show|dump|lookup|update|delete|pin|freeze``: any map of the system, like bpftool.

A map is named by ``id N``, ``pinned PATH`` or ``name NAME``. Keys and values
on the command line are ``hex 01 00 00 00``, one token per byte (``1 0 0 0``),
a decimal (or 0x) int for int-sized fields, a string for char arrays, or JSON
for structs. ``--json`` everywhere; hex bytes like bpftool when the map has no
BTF, decoded values from the map's own BTF when it has.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
from collections.abc import Callable, Iterator, Sequence

from .._sys import commands as C
from .._uapi import MapType, ProgType
from ..errors import CliError, KernelError
from ..maps import Map, MapInfo, as_plain, map_ids
from ..maps._codec import CharArrayCodec, Codec, IntCodec, PerCpuCodec, StructFormatCodec
from ..maps._lpm import LpmKeyCodec
from ._common import bpftool_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register"]

_FLAG_WORDS = {"any": 0, "noexist": 1, "exist": 2}
_SELECTORS = ("id", "pinned", "name")


def register(subparsers: Any) -> None:
    """Add the ``map`` command and its subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not undo 'bpfkit map -j dump ...'
    common.add_argument("-j", "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    common.add_argument("-p", "--pretty", action="store_true", default=argparse.SUPPRESS, help="print indented JSON")
    p = subparsers.add_parser("map", help="inspect and edit the system's BPF maps",
                              description="Inspect and edit any BPF map of the system (by id, pinned path or name).")
    p.add_argument("-j", "--json", action="store_true", default=False, help="print JSON")
    p.add_argument("-p", "--pretty", action="store_true", default=False, help="print indented JSON")
    sub = p.add_subparsers(dest="map_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda ns: (p.print_help(), 2)[1])
    ref = "MAP is 'id N', 'pinned PATH' or 'name NAME'"
    data = "DATA is 'hex 01 00 ..', one token per byte, an int, a string or JSON"
    for name, args, helptext, func in (
        ("list", None, "list every map", _cmd_list),
        ("show", "[MAP]", "show one map (or every map)", _cmd_show),
        ("dump", "MAP", "print every entry", _cmd_dump),
        ("lookup", "MAP key DATA", "print one entry", _cmd_lookup),
        ("update", "MAP key DATA value DATA [any|noexist|exist]", "write one entry", _cmd_update),
        ("delete", "MAP key DATA", "delete one entry", _cmd_delete),
        ("pin", "MAP PATH", "pin a map on a bpf filesystem", _cmd_pin),
        ("freeze", "MAP", "make a map read-only to user space", _cmd_freeze),
    ):
        sp = sub.add_parser(name, help=helptext, parents=[common], description=f"{helptext}. {ref}. {data}.",
                            usage=f"bpfkit map {name} [-j] {args or ''}".rstrip())
        if args is not None:
            sp.add_argument("args", nargs="*", help=argparse.SUPPRESS)
        sp.set_defaults(func=_user_errors(func))


_PRETTY = [False]


def _out(value: Any) -> None:
    """JSON as bpftool prints it: compact with -j, indented with -p."""
    print(bpftool_json(value, pretty=_PRETTY[0]))


def _user_errors(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report bad keys and values from the command line as usage errors, not tracebacks."""

    def run(ns: argparse.Namespace) -> int:
        _PRETTY[0] = bool(getattr(ns, "pretty", False))
        if _PRETTY[0]:
            ns.json = True
        try:
            return func(ns)
        except (ValueError, TypeError, OverflowError) as exc:
            raise CliError(str(exc)) from None

    return run


# ---- selecting maps -------------------------------------------------------------


def _split_ref(args: Sequence[str], cmd: str) -> tuple[list[str], list[str]]:
    if len(args) < 2 or args[0] not in _SELECTORS:
        raise CliError(f"map {cmd}: name the map with 'id N', 'pinned PATH' or 'name NAME'")
    return list(args[:2]), list(args[2:])


def _open(ref: Sequence[str]) -> list[Map]:
    kind, what = ref
    if kind == "id":
        try:
            return [Map.from_id(int(what, 0))]
        except ValueError:
            raise CliError(f"map id must be a number, not {what!r}") from None
    if kind == "pinned":
        return [Map.from_pin(what)]
    found = []
    for map_id in map_ids():
        try:
            info = Map.info_by_id(map_id)
        except KernelError as exc:
            if exc.errno == errno.ENOENT:
                continue  # gone meanwhile
            raise
        if info.name == what:
            try:
                found.append(Map.from_id(map_id))
            except KernelError as exc:
                if exc.errno != errno.ENOENT:
                    raise
    if not found:
        raise CliError(f"no map is named {what!r}")
    return found


def _open_one(ref: Sequence[str]) -> Map:
    maps = _open(ref)
    if len(maps) > 1:
        ids = ", ".join(str(m.id) for m in maps)
        for m in maps:
            m.close()
        raise CliError(f"{len(maps)} maps are named {ref[1]!r} (ids {ids}); use 'id N'")
    return maps[0]


# ---- formatting -----------------------------------------------------------------


def _hex(b: bytes) -> str:
    return " ".join(f"{x:02x}" for x in b)


def _hexlist(b: bytes) -> list[str]:
    return [f"0x{x:02x}" for x in b]


def _jsonable(v: Any) -> Any:
    v = as_plain(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        try:
            s = bytes(v).decode()
            if s.isprintable():
                return s
        except UnicodeDecodeError:
            pass
        return "0x" + bytes(v).hex()
    if isinstance(v, (ipaddress.IPv4Network, ipaddress.IPv6Network, ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(v)
    if v is None or isinstance(v, (int, float, str, bool)):
        return v
    return str(v)


def _formatted(m: Map) -> bool:
    return m.btf is not None


def _entry_json(m: Map, kraw: bytes, vraw: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {"key": _hexlist(kraw)}
    vc = m.value_codec
    if isinstance(vc, PerCpuCodec):
        out["values"] = [{"cpu": i, "value": _hexlist(b)} for i, b in enumerate(vc.split(vraw))]
    else:
        out["value"] = _hexlist(vraw)
    if _formatted(m):
        out["formatted"] = {"key": _jsonable(m.key_codec.decode(kraw)), "value": _jsonable(vc.decode(vraw))}
    return out


def _entry_text(m: Map, kraw: bytes, vraw: bytes) -> str:
    vc = m.value_codec
    if _formatted(m):
        key = json.dumps(_jsonable(m.key_codec.decode(kraw)))
        if isinstance(vc, PerCpuCodec):
            vals = [json.dumps(_jsonable(x)) for x in vc.decode(vraw)]
            return f"key: {key}\n" + "\n".join(f"  cpu{i}: {v}" for i, v in enumerate(vals))
        return f"key: {key}  value: {json.dumps(_jsonable(vc.decode(vraw)))}"
    if isinstance(vc, PerCpuCodec):
        return f"key: {_hex(kraw)}\n" + "\n".join(f"  cpu{i}: {_hex(b)}" for i, b in enumerate(vc.split(vraw)))
    return f"key: {_hex(kraw)}  value: {_hex(vraw)}"


def _info_json(info: MapInfo, fdinfo: dict[str, str]) -> dict[str, Any]:
    """One map as ``bpftool map show -j`` prints it (same keys, order and types); fdinfo gives memlock etc."""
    out: dict[str, Any] = {"id": info.id, "type": info.type_name if isinstance(info.type, MapType) else int(info.type)}
    if info.name:
        out["name"] = info.name
    out.update({"flags": int(info.flags), "bytes_key": info.key_size, "bytes_value": info.value_size,
                "max_entries": info.max_entries})
    if "memlock" in fdinfo:
        out["bytes_memlock"] = int(fdinfo["memlock"])
    if "owner_prog_type" in fdinfo:
        owner = int(fdinfo["owner_prog_type"])
        try:
            out["owner_prog_type"] = ProgType(owner).name.lower()
        except ValueError:
            out["owner_prog_type"] = owner
        out["owner_jited"] = bool(int(fdinfo.get("owner_jited", "0")))
    if "frozen" in fdinfo:
        out["frozen"] = int(fdinfo["frozen"])
    if info.btf_id:
        out["btf_id"] = info.btf_id
    return out


def _fdinfo_by_id(map_id: int) -> dict[str, str]:
    try:
        fd = C.map_get_fd_by_id(map_id)
    except KernelError:
        return {}
    try:
        return C.fdinfo(fd)
    finally:
        os.close(fd)


def _table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _print_infos(infos: list[MapInfo], as_json: bool, *, single: bool = False) -> None:
    if as_json:
        shown = [_info_json(i, _fdinfo_by_id(i.id)) for i in infos]
        _out(shown[0] if single else shown)
        return
    rows = [["ID", "TYPE", "NAME", "KEY", "VALUE", "MAX_ENTRIES", "FLAGS", "BTF", "FROZEN"]]
    for i in infos:
        rows.append([str(i.id), i.type_name, i.name or "-", str(i.key_size), str(i.value_size), str(i.max_entries),
                     f"{int(i.flags):#x}", str(i.btf_id) if i.btf_id else "-",
                     "-" if i.frozen is None else ("yes" if i.frozen else "no")])
    print(_table(rows, right={0, 3, 4, 5}))


# ---- parsing keys and values ------------------------------------------------------


def _parse_data(tokens: Sequence[str], codec: Codec, what: str) -> Any:
    if not tokens:
        raise CliError(f"{what} needs data")
    inner = codec.inner if isinstance(codec, PerCpuCodec) else codec
    sizes = {codec.size, inner.size}
    if tokens[0] == "hex":
        text = "".join(t.removeprefix("0x").removeprefix("0X") for t in tokens[1:])
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise CliError(f"{what}: bad hex bytes {' '.join(tokens[1:])!r}") from None
        if len(raw) not in sizes:
            raise CliError(f"{what}: {len(raw)} bytes given, the map's {what} is {codec.size} bytes")
        return raw
    if len(tokens) == 1:
        tok = tokens[0]
        if isinstance(inner, (IntCodec, StructFormatCodec)) or inner.size == 1:
            try:
                return int(tok, 0)
            except ValueError:
                pass
        if isinstance(inner, CharArrayCodec):
            return tok
        if isinstance(inner, LpmKeyCodec):
            return tok
        if tok[:1] in "{[":
            try:
                return json.loads(tok)
            except json.JSONDecodeError as exc:
                raise CliError(f"{what}: bad JSON: {exc}") from None
    if (len(tokens) in sizes and len(tokens) > 1) or (len(tokens) == 1 and inner.size == 1):
        try:
            return bytes(int(t, 0) for t in tokens)
        except ValueError:
            raise CliError(f"{what}: byte tokens must be numbers 0..255 (or use 'hex ..')") from None
    raise CliError(f"{what}: cannot read {' '.join(tokens)!r} as {inner.name} ({codec.size} bytes); use 'hex ..'")


def _key_value(m: Map, rest: list[str], need_value: bool) -> tuple[Any, Any, int]:
    if not rest or rest[0] != "key":
        raise CliError("expected 'key DATA'")
    rest = rest[1:]
    flags = 0
    if rest and rest[-1] in _FLAG_WORDS:
        if not need_value:
            raise CliError(f"'{rest[-1]}' only goes with update")
        flags = _FLAG_WORDS[rest.pop()]
    if "value" in rest:
        i = rest.index("value")
        ktoks, vtoks = rest[:i], rest[i + 1 :]
    else:
        ktoks, vtoks = rest, []
    if need_value and not vtoks:
        raise CliError("expected 'value DATA'")
    if not need_value and vtoks:
        raise CliError("this command takes no value")
    key = _parse_data(ktoks, m.key_codec, "key")
    value = _parse_data(vtoks, m.value_codec, "value") if need_value else None
    return key, value, flags


# ---- commands ---------------------------------------------------------------------


def _all_infos() -> Iterator[MapInfo]:
    for map_id in map_ids():
        try:
            yield Map.info_by_id(map_id)
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise


def _cmd_list(ns: argparse.Namespace) -> int:
    _print_infos(list(_all_infos()), ns.json)
    return 0


def _cmd_show(ns: argparse.Namespace) -> int:
    if not ns.args:
        return _cmd_list(ns)
    ref, rest = _split_ref(ns.args, "show")
    if rest:
        raise CliError(f"map show: unexpected {' '.join(rest)!r}")
    maps = _open(ref)
    try:
        infos = [m.info() for m in maps]
    finally:
        for m in maps:
            m.close()
    _print_infos(infos, ns.json, single=ref[0] != "name")
    return 0


def _cmd_dump(ns: argparse.Namespace) -> int:
    ref, rest = _split_ref(ns.args, "dump")
    if rest:
        raise CliError(f"map dump: unexpected {' '.join(rest)!r}")
    maps = _open(ref)
    try:
        out_json: list[Any] = []
        for m in maps:
            if m.key_size == 0:
                raise CliError(f"cannot dump {m.info().type_name} map {m.name!r}: it has no keys to walk")
            try:
                entries = list(m.items(raw=True))
            except KernelError as exc:
                raise CliError(f"cannot dump map {m.name!r} (id {m.id}): {exc}") from None
            if ns.json:
                out_json.extend(_entry_json(m, k, v) for k, v in entries)
                continue
            if len(maps) > 1:
                print(f"map {m.id} ({m.name}):")
            for k, v in entries:
                print(_entry_text(m, k, v))
            print(f"Found {len(entries)} element{'s' if len(entries) != 1 else ''}")
        if ns.json:
            _out(out_json)
    finally:
        for m in maps:
            m.close()
    return 0


def _cmd_lookup(ns: argparse.Namespace) -> int:
    ref, rest = _split_ref(ns.args, "lookup")
    with _open_one(ref) as m:
        key, _, _ = _key_value(m, rest, need_value=False)
        vraw = m.lookup_raw(key)
        kraw = m.key_codec.encode(key)
        if ns.json:
            _out(_entry_json(m, kraw, vraw))
        else:
            print(_entry_text(m, kraw, vraw))
    return 0


def _done(ns: argparse.Namespace, m: Map, action: str, **extra: Any) -> None:
    if ns.json:
        _out({"id": m.id, "action": action, "ok": True, **extra})


def _cmd_update(ns: argparse.Namespace) -> int:
    ref, rest = _split_ref(ns.args, "update")
    with _open_one(ref) as m:
        key, value, flags = _key_value(m, rest, need_value=True)
        m.update(key, value, flags)
        _done(ns, m, "update")
    return 0


def _cmd_delete(ns: argparse.Namespace) -> int:
    ref, rest = _split_ref(ns.args, "delete")
    with _open_one(ref) as m:
        key, _, _ = _key_value(m, rest, need_value=False)
        m.delete(key)
        _done(ns, m, "delete")
    return 0


def _cmd_pin(ns: argparse.Namespace) -> int:
    ref, rest = _split_ref(ns.args, "pin")
    if len(rest) != 1:
        raise CliError("map pin: give one PATH")
    with _open_one(ref) as m:
        m.pin(rest[0])
        _done(ns, m, "pin", path=rest[0])
    return 0


def _cmd_freeze(ns: argparse.Namespace) -> int:
    ref, rest = _split_ref(ns.args, "freeze")
    if rest:
        raise CliError(f"map freeze: unexpected {' '.join(rest)!r}")
    with _open_one(ref) as m:
        m.freeze()
        _done(ns, m, "freeze")
    return 0

