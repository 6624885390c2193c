"""``bpfkit run OBJ``: load any clang-built object, set its constants, attach it, print its events and maps.

- ``--set NAME=VALUE``: a ``const volatile`` (or other) global before load, typed by
  its BTF: ints (decimal or 0x), bools (true/false/1/0), strings for char arrays,
  enums by enumerator name (or number).
- ``--attach all`` (default) attaches every program that can attach by its section
  name; ``--attach PROG ...`` only those; ``--attach none`` loads only.
- ``--events MAP[=TYPE]``: print every record of a ring buffer or perf event array
  decoded as BTF type TYPE. Without ``--events`` every ring buffer and perf event
  array of the object is read. Without ``=TYPE`` the record type is found by
  convention: the first struct (or typedef of one) of the object's BTF named
  MAP, MAP without a trailing 's', MAP_t, MAP_event, ``event``, ``event_t`` or
  ``data_t``; failing that, the one struct whose size is the record's size;
  failing that, the record is printed as hex.
- ``--print-maps[=INTERVAL]``: print the object's hash and array maps on exit
  (or every INTERVAL seconds): tables of key and value; a map whose value is a
  ``slots`` array of ints (``struct hist { u32 slots[N]; }``), or an array map of
  ints whose name ends in ``hist``, is a log2 histogram drawn like bpftrace's.
- ``--json``: one JSON object per line: ``{"event": MAP, "data": {...}}`` and
  ``{"map": NAME, "entries": [...]}`` / ``{"map": NAME, "histogram": [...]}``.

Ctrl+C, SIGTERM or the end of ``--duration`` detach everything, print the maps
and exit with status 0.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import bpfkit

from .._uapi import MapType
from ..btf import Btf
from ..btf._types import Array, Const, Enum, Enum64, Int, IntEncoding, Struct, Typedef, Volatile
from ..maps import as_plain
from ..obj import ObjectSpec
from ..tools._common import Session, seconds
from ._common import CliError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["decode_value", "parse_constant", "register"]

_EVENT_MAPS = (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY)
_TABLE_MAPS = (MapType.HASH, MapType.ARRAY, MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_HASH,
               MapType.LRU_PERCPU_HASH, MapType.LPM_TRIE)


def register(subparsers: Any) -> None:
    """Add the ``run`` command."""
    p = subparsers.add_parser("run", help="load, attach and watch any BPF object: its events and maps",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("object", metavar="OBJ", help="a BPF ELF object built by clang -target bpf -g")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="set a global before load")
    p.add_argument("--attach", nargs="+", default=["all"], metavar="PROG",
                   help="'all' (default), 'none', or the programs to attach")
    p.add_argument("--events", action="append", default=None, metavar="MAP[=TYPE]",
                   help="a ring buffer / perf event array to print, with its record's BTF type")
    p.add_argument("--print-maps", nargs="?", const=0.0, default=None, type=seconds, metavar="INTERVAL",
                   help="print the maps on exit, or every INTERVAL seconds")
    p.add_argument("--duration", type=_duration, metavar="SECONDS",
                   help="stop after this many seconds (0: load, attach, print the maps and stop)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=_cmd_run)


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


# ---- --set ---------------------------------------------------------------------


def _resolve(btf: Btf, type_id: int) -> Any:
    t = btf[type_id]
    while isinstance(t, (Const, Volatile, Typedef)):
        t = btf[t.type]
    return t


def parse_constant(spec: ObjectSpec, name: str, text: str) -> Any:
    """The value of ``--set NAME=TEXT`` for the object's global ``name``, typed by its BTF."""
    var = spec.variables.get(name)
    if var is None:
        known = ", ".join(sorted(spec.variables)) or "none"
        raise CliError(f"object {spec.name!r} has no global variable {name!r} (it has: {known})")
    t = _resolve(spec.btf, var.type_id) if spec.btf is not None and var.type_id is not None else None
    if isinstance(t, Int) and t.encoding & IntEncoding.BOOL:
        word = text.strip().lower()
        if word not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise CliError(f"{name} is a bool: give true or false, not {text!r}")
        return word in ("true", "1", "yes", "on")
    if isinstance(t, (Enum, Enum64)):
        for v in t.values:
            if v.name == text:
                return v.value
        try:
            return int(text, 0)
        except ValueError:
            names = ", ".join(v.name for v in t.values)
            raise CliError(f"{name} is enum {t.name or '(anonymous)'}: give one of {names} or a number") from None
    if isinstance(t, Array) and spec.btf is not None and spec.btf.size_of(t.type) == 1:
        if len(text.encode()) > var.size:
            raise CliError(f"{name} holds {var.size} bytes; {text!r} is longer")
        return text
    try:
        value = int(text, 0)
    except ValueError:
        raise CliError(f"{name} is a number: can't parse {text!r}") from None
    if isinstance(t, Int):
        bits = t.size * 8
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if t.encoding & IntEncoding.SIGNED else (0, (1 << bits) - 1)
        if not lo <= value <= hi:
            raise CliError(f"{name} ({t.name}) holds {lo}..{hi}; {value} is out of range")
    return value


# ---- events --------------------------------------------------------------------


def _named_types(btf: Btf) -> dict[str, int]:
    out: dict[str, int] = {}
    for tid, t in btf.items():
        name = getattr(t, "name", "")
        if name and isinstance(t, (Struct, Typedef)) and name not in out:
            out[name] = tid
    return out


def event_type(spec: ObjectSpec, map_name: str, type_name: str | None) -> int | None:
    """The BTF type id of ``map_name``'s records: ``type_name`` if given, else the documented convention."""
    if spec.btf is None:
        if type_name:
            raise CliError(f"object {spec.name!r} has no BTF: can't decode --events {map_name}={type_name}")
        return None
    named = _named_types(spec.btf)
    if type_name:
        tid = named.get(type_name.removeprefix("struct "))
        if tid is None:
            raise CliError(f"object {spec.name!r} has no struct or typedef named {type_name!r}")
        return tid
    base = map_name.rstrip("s") if map_name.endswith("s") else map_name
    for cand in (map_name, base, f"{map_name}_t", f"{base}_event", f"{map_name}_event", "event", "event_t", "data_t"):
        tid = named.get(cand)
        if tid is not None and isinstance(_resolve(spec.btf, tid), Struct):
            return tid
    return None


def decode_value(btf: Btf | None, type_id: int | None, data: bytes) -> Any:
    """A record decoded by its BTF type (plain dicts, lists, ints, strings); hex when it can't be."""
    if btf is None or type_id is None:
        return data.hex()
    from ..maps._codec import make_codec

    size = btf.size_of(type_id)
    codec = make_codec((btf, type_id), size, what="event")
    return _plain(as_plain(codec.decode(data[:size].ljust(size, b"\0"))))


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        s = bytes(v).split(b"\0", 1)[0]
        try:
            return s.decode()
        except UnicodeDecodeError:
            return bytes(v).hex()
    if v is None or isinstance(v, (int, float, str, bool)):
        return v
    return str(v)


def _text(v: Any) -> str:
    if isinstance(v, dict):
        return " ".join(f"{k}={_text(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ",".join(_text(x) for x in v) + "]"
    return str(v)


def _by_size(spec: ObjectSpec) -> dict[int, int]:
    """size -> the one struct of that size (sizes with several structs are left out)."""
    seen: dict[int, list[int]] = {}
    if spec.btf is not None:
        for tid, t in spec.btf.items():
            if isinstance(t, Struct) and t.name:
                seen.setdefault(t.size, []).append(tid)
    return {size: ids[0] for size, ids in seen.items() if len(ids) == 1}


# ---- maps ----------------------------------------------------------------------


def _histogram_slots(value: Any) -> list[int] | None:
    if isinstance(value, dict) and "slots" in value and isinstance(value["slots"], list):
        value = value["slots"]
    if isinstance(value, list) and value and all(isinstance(x, int) for x in value):
        return value
    return None


def _bound(n: int) -> str:
    for unit, shift in (("P", 50), ("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def histogram_rows(slots: list[int]) -> list[dict[str, int]]:
    """log2 buckets as [low, high) ranges: slot 0 is [0, 1), slot i is [2^(i-1), 2^i); zero ends trimmed."""
    nz = [i for i, c in enumerate(slots) if c]
    if not nz:
        return []
    rows = []
    for i in range(nz[0], nz[-1] + 1):
        low = 0 if i == 0 else 1 << (i - 1)
        rows.append({"low": low, "high": 1 << i if i else 1, "count": slots[i]})
    return rows


def histogram_text(name: str, rows: list[dict[str, int]]) -> str:
    """A histogram drawn as bpftrace draws its log2 maps."""
    lines = [f"@{name}:"]
    top = max((r["count"] for r in rows), default=0) or 1
    for r in rows:
        label = f"[{_bound(r['low'])}]" if r["high"] - r["low"] == 1 else f"[{_bound(r['low'])}, {_bound(r['high'])})"
        bar = "@" * (r["count"] * 52 // top)
        lines.append(f"{label:<20}{r['count']:>8} |{bar:<52}|")
    return "\n".join(lines)


def _map_entries(m: Any) -> list[tuple[Any, Any]]:
    return [(_plain(as_plain(k)), _plain(as_plain(v))) for k, v in m.items()]


def _is_hist(name: str, mtype: int, entries: list[tuple[Any, Any]]) -> bool:
    if entries and all(_histogram_slots(v) is not None and isinstance(v, dict) for _, v in entries):
        return True
    return mtype == MapType.ARRAY and name.endswith("hist") and all(isinstance(v, int) for _, v in entries)


def print_maps(col: Any, names: list[str], session: Session) -> None:
    """Every map of ``names``: histograms drawn, the others as key/value tables, or JSON lines."""
    for name in names:
        m = col.maps[name]
        entries = _map_entries(m)
        if _is_hist(name, int(m.type), entries):
            if isinstance(entries[0][1], dict) if entries else False:
                for key, value in entries:
                    rows = histogram_rows(_histogram_slots(value) or [])
                    label = name if len(entries) == 1 else f"{name}[{_text(key)}]"
                    session.record({"map": name, "key": key, "histogram": rows}, histogram_text(label, rows))
            else:
                rows = histogram_rows([v for _, v in sorted(entries, key=lambda kv: kv[0])])
                session.record({"map": name, "histogram": rows}, histogram_text(name, rows))
            continue
        session.record({"map": name, "entries": [{"key": k, "value": v} for k, v in entries]},
                       _table(name, entries))


def _table(name: str, entries: list[tuple[Any, Any]]) -> str:
    if not entries:
        return f"@{name}: (empty)"
    entries = sorted(entries, key=lambda kv: (str(type(kv[1])), kv[1] if isinstance(kv[1], int) else 0))
    rows = [(_text(k), _text(v)) for k, v in entries]
    width = max(len(k) for k, _ in rows)
    return "\n".join([f"@{name}:"] + [f"  {k:<{width}}  {v}" for k, v in rows])


# ---- the command ---------------------------------------------------------------


def _cmd_run(ns: argparse.Namespace) -> int:
    try:
        spec = ObjectSpec.from_file(ns.object)
    except FileNotFoundError:
        raise CliError(f"no such object file: {ns.object}") from None
    constants: dict[str, Any] = {}
    for item in ns.set:
        name, eq, text = item.partition("=")
        if not eq:
            raise CliError(f"--set takes NAME=VALUE, not {item!r}")
        constants[name.strip()] = parse_constant(spec, name.strip(), text)
    internal = {v.map for v in spec.variables.values()} | ({spec.kconfig_map} if spec.kconfig_map else set())
    if ns.events is None:
        wanted = {n: None for n, ms in spec.maps.items() if ms.type in _EVENT_MAPS}
    else:
        wanted = {}
        for item in ns.events:
            mname, _, tname = item.partition("=")
            ms = spec.maps.get(mname)
            if ms is None or ms.type not in _EVENT_MAPS:
                kinds = ", ".join(n for n, s in spec.maps.items() if s.type in _EVENT_MAPS) or "none"
                raise CliError(f"--events {mname}: not a ring buffer or perf event array of the object (it has: "
                               f"{kinds})")
            wanted[mname] = tname or None
    types = {n: event_type(spec, n, t) for n, t in wanted.items()}
    by_size = _by_size(spec)
    table_maps = [n for n, ms in spec.maps.items() if ms.type in _TABLE_MAPS and n not in internal]
    attach = ns.attach
    with Session(json_output=ns.json, duration=ns.duration) as session:
        col = bpfkit.load(spec, constants=constants)
        with col:
            if attach == ["none"]:
                pass
            elif attach == ["all"]:
                col.attach()
            else:
                col.attach(*attach)
            readers = [_reader(col, n, types[n], by_size, spec.btf, session) for n in wanted]
            try:
                session.ready(f"Running {spec.name}: {len(col.links)} program(s) attached, "
                              f"{len(readers)} event buffer(s)")
                interval = ns.print_maps
                due = time.monotonic() + interval if interval else None
                for wait in session.ticks():
                    share = wait / max(1, len(readers))
                    for poll, _ in readers:
                        poll(share)
                    if not readers:
                        session.wait_readable(None, wait)
                    if due is not None and time.monotonic() >= due:
                        print_maps(col, table_maps, session)
                        due = time.monotonic() + (interval or 0)
                for poll, _ in readers:
                    poll(0)
                if ns.print_maps is not None:
                    print_maps(col, table_maps, session)
            finally:
                for _, close in readers:
                    close()
    return 0


def _reader(col: Any, name: str, type_id: int | None, by_size: dict[int, int], btf: Btf | None,
            session: Session) -> tuple[Callable[[float], None], Callable[[], None]]:
    """(poll(timeout), close) of one event buffer printing its records."""

    def show(data: Any) -> None:
        raw = bytes(data)
        tid = type_id
        if tid is None:
            tid = by_size.get(len(raw)) or by_size.get(_trimmed(raw, by_size))
        value = decode_value(btf, tid, raw)
        session.record({"event": name, "data": value}, f"{name}: {_text(value)}")

    m = col.maps[name]
    if m.type == MapType.RINGBUF:
        rb = bpfkit.RingBuffer(m, callback=show)
        return _poller(session, rb), rb.close
    lost = [0]

    def on_lost(cpu: int, count: int) -> None:
        lost[0] += count
        session.note(f"{name}: lost {count} records on CPU {cpu}")

    pb = bpfkit.PerfBuffer(m, callback=lambda cpu, data: show(data), lost_callback=on_lost)
    return _poller(session, pb), pb.close


def _poller(session: Session, buf: bpfkit.RingBuffer | bpfkit.PerfBuffer) -> Callable[[float], None]:
    """poll(timeout) of a ring or perf buffer whose wait a stop ends at once (Session.wait_readable)."""

    def poll(timeout: float) -> None:
        if session.wait_readable(buf, timeout):
            buf.poll(timeout=0)

    return poll


def _trimmed(raw: bytes, by_size: dict[int, int]) -> int:
    """A perf record carries up to 7 bytes of padding: the largest known struct size it can hold."""
    fits = [s for s in by_size if len(raw) - 7 <= s <= len(raw)]
    return max(fits) if fits else -1

