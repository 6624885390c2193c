"""The Map base class: one kernel map, owned through its fd, with the kernel's operations by name.

Subclasses (one module per family) add the Python protocol the map type's
semantics allow; :meth:`Map.create`, :meth:`Map.from_fd`, :meth:`Map.from_pin`
and :meth:`Map.from_id` return the subclass registered for the map's type.

Element operations on the hot path (``lookup``/``update``/``delete`` and the
protocols built on them) reuse per-map key/value buffers and a prebuilt
``bpf_attr``; a token (taken without blocking) keeps concurrent threads from
sharing those buffers, and a contended or re-entrant call simply takes the
slow path with fresh buffers.

An fd number is never used after :meth:`Map.close` may have released it: the
slow paths borrow the fd (:meth:`Fd.borrow`), and close() swaps the hot path's
calls for ones that raise, then takes the token for good (waiting for the one
operation that may hold it), so a thread still holding the old calls finds no
token and goes to the slow path, which sees the map closed.
"""

from __future__ import annotations

import builtins
import ctypes
import errno as E
import functools
import operator
import os
import struct
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import chain, repeat
from operator import itemgetter
from types import TracebackType

from .. import host
from .. import token as _token  # noqa: F401  (installs the ambient BPF token for creations without token=)
from .._record import record
from .._registry import MAP_TYPES, facts_of
from .._sys import Fd
from .._sys import commands as C
from .._sys.attrs import MapBatchAttr, MapElemAttr
from .._sys.fd import adopt_fd, fd_of
from .._sys.syscall import ENOTSUPP, error_for, last_errno
from .._uapi import MAP_MIN_KERNEL, Cmd, MapFlags, MapType, UpdateFlags
from .._uapi._base import import_module
from ..btf import Btf
from ..errors import (
    BpfError,
    BpfOverflowError,
    BpfTypeError,
    BpfValueError,
    KernelError,
    MapIterationError,
    MapKeyError,
    NotSupportedError,
    retyped,
)
from ._codec import Codec, CodecSpec, CtypesCodec, FloatCodec, IntCodec, PerCpuCodec, make_codec, require_numpy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    from ..obj._spec import MapSpec
    from ..token import Token
    _M = TypeVar("_M", bound="Map")

__all__ = [
    "Map",
    "MapInfo",
    "MapIterationError",
    "SupportsFd",
    "fd_of",
    "map_ids",
]

if TYPE_CHECKING:
    SupportsFd = Any
    """An int fd, or an object with ``fileno()`` or an int ``.fd`` (Map, Program, socket, file)."""
else:
    SupportsFd = object  # what type checkers read is above; typing is not imported at run time (issue 18)

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.")


def _valid_name(name: object) -> bool:
    """Whether ``name`` is a kernel object name: at most 15 of A-Z, a-z, 0-9, '_' and '.'."""
    return isinstance(name, str) and len(name) <= 15 and _NAME_CHARS.issuperset(name)
_UNSUPPORTED_ERRNOS = (ENOTSUPP, E.EOPNOTSUPP)
_HASH_TYPES = frozenset({int(MapType.HASH), int(MapType.PERCPU_HASH), int(MapType.LRU_HASH), int(MapType.LRU_PERCPU_HASH)})
_BATCH_MIN_ENTRIES = 256  # items()/values() use batch ops at or above this max_entries
_BATCH_BYTES = 1 << 20  # target size of one batch's key+value buffers


def _check_uint(v: Any, bits: int, what: str, desc: str) -> None:
    """Refuse a flag word or field that is not an int of ``bits`` bits (the kernel's attr would drop the rest)."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise BpfTypeError(f"{what} of {desc} must be an int, not {type(v).__name__}")
    if not 0 <= v < 1 << bits:
        raise BpfOverflowError(f"{what} {v:#x} of {desc} does not fit the kernel's u{bits} field")


def map_ids() -> list[int]:
    """Ids of every map on the system (BPF_MAP_GET_NEXT_ID)."""
    return list(C.ids_of(Cmd.MAP_GET_NEXT_ID))


def _type_name(t: int) -> str:
    try:
        return MapType(t).name.lower().removesuffix("_deprecated")
    except ValueError:
        return f"type {t}"


@record(frozen=True)
class MapInfo:
    """What the kernel reports about a map (struct bpf_map_info), plus ``frozen`` from fdinfo."""

    type: MapType | int
    id: int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: MapFlags
    map_extra: int = 0
    btf_id: int = 0
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    btf_vmlinux_value_type_id: int = 0
    ifindex: int = 0
    frozen: bool | None = None

    @property
    def type_name(self) -> str:
        """Lowercase type name (``"hash"``) or ``"type N"`` for types bpfkit does not know."""
        return _type_name(int(self.type))


def _to_type(t: int) -> MapType | int:
    try:
        return MapType(t)
    except ValueError:
        return t


def _read_frozen(fd: int) -> bool | None:
    try:
        with open(f"/proc/self/fdinfo/{fd}") as f:
            for line in f:
                if line.startswith("frozen:"):
                    return line.split()[1] != "0"
    except OSError:
        return None
    return None


def _info_of_fd(fd: int, target: str | None = None) -> MapInfo:
    kind = C.obj_kind(fd)
    if kind != "bpf-map":
        raise BpfValueError(f"fd {fd} is {'a ' + kind if kind else 'not a BPF object'}, not a BPF map")
    raw = C.map_info(fd, target=target)
    return MapInfo(
        type=_to_type(raw.type),
        id=int(raw.id),
        name=raw.name.decode(errors="replace"),
        key_size=int(raw.key_size),
        value_size=int(raw.value_size),
        max_entries=int(raw.max_entries),
        flags=MapFlags(raw.map_flags),
        map_extra=int(raw.map_extra),
        btf_id=int(raw.btf_id),
        btf_key_type_id=int(raw.btf_key_type_id),
        btf_value_type_id=int(raw.btf_value_type_id),
        btf_vmlinux_value_type_id=int(raw.btf_vmlinux_value_type_id),
        ifindex=int(raw.ifindex),
        frozen=_read_frozen(fd),
    )


def _resolve_type(t: MapType | str | int) -> MapType | int:
    if isinstance(t, MapType):
        return t
    if isinstance(t, str):
        try:
            return MapType(t)  # type: ignore[arg-type]  # names resolve through _missing_
        except ValueError:
            key = t.strip().upper().replace("-", "_").removeprefix("BPF_MAP_TYPE_")
            if key in MAP_MIN_KERNEL:
                raise NotSupportedError(
                    f"map type {t!r} is newer than this bpfkit's kernel tables",
                    feature=f"map type {key.lower()}",
                    min_kernel=MAP_MIN_KERNEL[key],
                ) from None
            raise BpfValueError(f"unknown map type {t!r}") from None
    if isinstance(t, int):
        return _to_type(int(t))
    raise BpfTypeError(f"map type must be a MapType, a name or an int, not {type(t).__name__}")


_CLASSES: dict[int, type[Map]] = {}
_NO_BATCH: set[tuple[int, int]] = set()  # (map type, batch command) the kernel refused


def _class_for(t: int) -> type[Map]:
    """The class of map type ``t``: its family's module (from the registry) is imported on first use."""
    klass = _CLASSES.get(int(t))
    if klass is None:
        facts = facts_of(t)
        if facts is None or facts.module is None:
            return Map
        import_module(f"{__package__}.{facts.module}")  # its classes register in _CLASSES
        klass = _CLASSES.get(int(t), Map)
    return klass


def _closed_op(desc: str) -> Callable[[], int]:
    def closed() -> int:
        raise BpfValueError(f"{desc} is closed")

    return closed


class Map:
    """A BPF map owned through its fd. Use :meth:`create`, :meth:`from_spec`, :meth:`from_fd`, :meth:`from_pin`
    or :meth:`from_id`; calling ``Map(...)`` itself is internal and refuses anything but an owned fd.

    Attributes: ``type`` (MapType), ``name``, ``key_size``, ``value_size``,
    ``max_entries``, ``flags`` (MapFlags), ``map_extra``, ``key_codec``,
    ``value_codec``, ``pinned_path``.
    """

    map_types: ClassVar[tuple[MapType, ...]] = ()
    default_key_size: ClassVar[int | None] = None
    default_value_size: ClassVar[int | None] = None
    default_max_entries: ClassVar[int | None] = None
    required_flags: ClassVar[MapFlags] = MapFlags(0)
    element_ops_hold_gil: ClassVar[bool] = True  # False where the kernel may sleep in update/delete

    type: MapType | int
    name: str
    key_size: int
    value_size: int
    max_entries: int
    flags: MapFlags
    map_extra: int
    key_codec: Codec
    value_codec: Codec
    pinned_path: str | None
    btf: Btf | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        types = cls.__dict__.get("map_types", ())
        for t in types:
            _CLASSES[int(t)] = cls
        if len(types) == 1 and (facts := facts_of(types[0])) is not None:
            # the sizes, max_entries and flags the type fixes come from the registry, not the class
            flags = functools.reduce(operator.or_, (MapFlags[f] for f in facts.flags), MapFlags(0))
            for attr, value in (("default_key_size", facts.key_size), ("default_value_size", facts.value_size),
                                ("default_max_entries", facts.max_entries), ("required_flags", flags)):
                if getattr(cls, attr) != value:
                    setattr(cls, attr, value)

    # ---- construction ---------------------------------------------------

    def __init__(
        self,
        fd: Fd,
        info: MapInfo,
        *,
        key_type: CodecSpec = None,
        value_type: CodecSpec = None,
        btf: Btf | None = None,
    ) -> None:
        """Wrap an owned map fd: internal, reached only through :meth:`create`, :meth:`from_spec` and the
        ``from_*`` constructors, which check the map and build the right subclass."""
        if not isinstance(fd, Fd) or not isinstance(info, MapInfo):
            raise BpfTypeError(
                f"{type(self).__name__}(...) is not how a map is made: use {type(self).__name__}.create(type, "
                "key_size=..., value_size=..., max_entries=...) for a new map, or from_spec/from_fd/from_pin/from_id"
            )
        self._fd = fd
        self._info = info if info.id else None
        self.type = info.type
        self.name = info.name
        self.key_size = info.key_size
        self.value_size = info.value_size
        self.max_entries = info.max_entries
        self.flags = info.flags
        self.map_extra = info.map_extra
        self.pinned_path = None
        self.btf = btf
        self._desc = _map_desc(self.name, self.type, self.key_size, self.value_size)
        fd.what = self._desc
        if key_type is None and btf is not None and info.btf_key_type_id:
            key_type = (btf, info.btf_key_type_id)
        if value_type is None and btf is not None and info.btf_value_type_id:
            value_type = (btf, info.btf_value_type_id)
        try:
            self.key_codec = self._make_key_codec(key_type)
            self.value_codec = self._make_value_codec(value_type)
        except (TypeError, ValueError) as exc:
            raise retyped(exc, f"{self._desc}: {exc}") from None
        self._setup_fast_path()

    def _make_key_codec(self, spec: CodecSpec) -> Codec:
        return make_codec(spec, self.key_size, what="key")

    def _make_value_codec(self, spec: CodecSpec) -> Codec:
        return make_codec(spec, self.value_size, what="value")

    def _setup_fast_path(self) -> None:
        fd = self._fd.fd
        ks = self.key_size
        vs = self.value_codec.size
        self._kbuf = bytearray(max(ks, 1))
        self._vbuf = bytearray(max(vs, 1))
        self._pbuf = bytearray(max(ks, 1))  # previous key of get_next_key
        self._nbuf = bytearray(max(ks, 1))  # next key of get_next_key
        refs = [ctypes.c_char.from_buffer(b) for b in (self._kbuf, self._vbuf, self._pbuf, self._nbuf)]
        self._bufrefs = refs
        kaddr, vaddr, paddr, naddr = (ctypes.addressof(r) for r in refs)
        self._attr = MapElemAttr(map_fd=fd, key=kaddr if ks else 0, value=vaddr if vs else 0)
        self._dattr = MapElemAttr(map_fd=fd, key=kaddr if ks else 0)  # DELETE_ELEM wants zeros after key
        self._nattr = MapElemAttr(map_fd=fd, key=paddr, value=naddr)
        self._nattr_first = MapElemAttr(map_fd=fd, key=0, value=naddr)
        gil = self.element_ops_hold_gil
        self._c_lookup = C.map_elem_bound(Cmd.MAP_LOOKUP_ELEM, self._attr, hold_gil=gil)
        self._c_update = C.map_elem_bound(Cmd.MAP_UPDATE_ELEM, self._attr, hold_gil=gil)
        self._c_delete = C.map_elem_bound(Cmd.MAP_DELETE_ELEM, self._dattr, hold_gil=gil)
        self._c_next = C.map_elem_bound(Cmd.MAP_GET_NEXT_KEY, self._nattr, hold_gil=gil)
        self._c_first = C.map_elem_bound(Cmd.MAP_GET_NEXT_KEY, self._nattr_first, hold_gil=gil)
        # One token guards the shared buffers: list.pop/append are atomic under the GIL and cost
        # far less than a Lock; an empty list sends the caller to the slow path (never blocks).
        tokens = [True]
        self._take = tokens.pop
        self._give = tokens.append
        self._kpack = self.key_codec.pack_into
        self._vpack = self.value_codec.pack_into
        self._vunpack = self.value_codec.unpack_from
        # Plain int and float keys/values go through one-item memoryviews of the buffers: an item
        # store or load is cheaper than a struct call. None where the codec needs its own code.
        kcode, vcode = _scalar_code(self.key_codec), _scalar_code(self.value_codec)
        self._kview: memoryview | None = None
        self._vview: memoryview | None = None
        if kcode and len(self._kbuf) == self.key_codec.size:
            self._kview = memoryview(self._kbuf).cast(kcode)  # type: ignore[call-overload]
        if vcode and len(self._vbuf) == self.value_codec.size:
            self._vview = memoryview(self._vbuf).cast(vcode)  # type: ignore[call-overload]
        self._bundle_ops()

    def _bundle_ops(self) -> None:
        """The hot paths' per-map state as tuples: one attribute load and an unpack per call."""
        take, give = self._take, self._give
        kv, kpack, kbuf = self._kview, self._kpack, self._kbuf
        self._ops_get = (take, give, self._c_lookup, kv, kpack, kbuf, self._vview, self._vunpack, self._vbuf)
        self._ops_set = (take, give, self._c_update, kv, kpack, kbuf, self._vview, self._vpack, self._vbuf)
        self._ops_del = (take, give, self._c_delete, kv, kpack, kbuf)

    @classmethod
    def create(
        cls: builtins.type[_M],
        type: MapType | str | int | None = None,
        key_size: int | None = None,
        value_size: int | None = None,
        max_entries: int | None = None,
        *,
        name: str = "",
        flags: MapFlags | int = 0,
        numa_node: int | None = None,
        inner_map: SupportsFd | None = None,
        map_extra: int = 0,
        key_type: CodecSpec = None,
        value_type: CodecSpec = None,
        btf: Btf | None = None,
        btf_fd: SupportsFd | None = None,
        btf_key_type_id: int = 0,
        btf_value_type_id: int = 0,
        btf_vmlinux_value_type_id: int = 0,
        ifindex: int = 0,
        token: Token | str | os.PathLike[str] | None = None,
    ) -> _M:
        """BPF_MAP_CREATE; returns the Map subclass for ``type`` (a MapType, ``"hash"`` or an int).

        Sizes default from ``key_type``/``value_type`` or the type's fixed sizes;
        ``btf`` (a :class:`Btf` built in Python) is loaded for the map when
        ``btf_fd`` is not given; ``inner_map`` is the template of map-in-map types.
        An unsupported type raises NotSupportedError naming the minimum Linux.
        ``token`` (a :class:`~bpfkit.token.Token` or the path of a delegated
        bpffs) creates the map, and its BTF, through a BPF token (Linux 6.9).
        """
        if type is None:
            if len(cls.map_types) != 1:
                raise BpfTypeError(f"{cls.__name__}.create() needs the map type")
            type = cls.map_types[0]
        t = _resolve_type(type)
        klass = _class_for(int(t))
        if not issubclass(klass, cls):
            raise BpfTypeError(f"{_type_name(int(t))} maps are {klass.__name__}, not {cls.__name__}")
        if not _valid_name(name):
            raise BpfValueError(f"map name {name!r} must be at most 15 characters of A-Z, a-z, 0-9, '_' and '.'")
        desc = f"map {name!r} ({_type_name(int(t))})"
        _check_uint(flags, 32, "flags (map_flags)", desc)
        _check_uint(map_extra, 64, "map_extra", desc)
        for what, v in (("numa_node", numa_node), ("ifindex", ifindex), ("btf_key_type_id", btf_key_type_id),
                        ("btf_value_type_id", btf_value_type_id),
                        ("btf_vmlinux_value_type_id", btf_vmlinux_value_type_id)):
            if v is not None:
                _check_uint(v, 32, what, desc)
        args = _CreateArgs(
            type=t, key_size=key_size, value_size=value_size, max_entries=max_entries, name=name,
            flags=MapFlags(int(flags)), numa_node=numa_node, inner_map=inner_map, map_extra=map_extra,
            key_type=key_type, value_type=value_type, btf=btf, btf_fd=btf_fd, btf_key_type_id=btf_key_type_id,
            btf_value_type_id=btf_value_type_id, btf_vmlinux_value_type_id=btf_vmlinux_value_type_id, ifindex=ifindex,
        )
        from ..token import token_fd_of

        args.token_fd, owned = token_fd_of(token)
        try:
            klass._prepare_create(args)
            return klass._create(args)  # type: ignore[return-value]
        finally:
            if owned is not None:
                owned.close()

    @classmethod
    def _prepare_create(cls, a: _CreateArgs) -> None:
        """Fill defaults the map type implies and check what the kernel would refuse unclearly."""
        if a.key_size is None:
            a.key_size = cls.default_key_size
        if a.key_size is None and a.key_type is not None:
            a.key_size = make_codec(a.key_type, what="key").size
        if a.value_size is None:
            a.value_size = cls.default_value_size
        if a.value_size is None and a.value_type is not None:
            a.value_size = make_codec(a.value_type, what="value").size
        if a.max_entries is None:
            a.max_entries = cls.default_max_entries
        for what in ("key_size", "value_size", "max_entries"):
            v = getattr(a, what)
            if v is None:
                raise BpfValueError(f"{_type_name(int(a.type))} map needs {what}=")
            if not isinstance(v, int) or v < 0 or v > 0xFFFFFFFF:
                raise BpfValueError(f"{what} must be an int in 0..2**32-1, not {v!r}")
        if a.max_entries == 0 and cls.default_max_entries != 0:
            raise BpfValueError(
                f"{_type_name(int(a.type))} map {a.name!r} needs max_entries >= 1 (the kernel refuses 0)"
            )
        a.flags |= cls.required_flags
        if a.numa_node is not None:
            a.flags |= MapFlags.NUMA_NODE

    @classmethod
    def _create(cls, a: _CreateArgs) -> Map:
        assert a.key_size is not None and a.value_size is not None and a.max_entries is not None
        btf_owned: Fd | None = None
        btf_fd = 0
        if a.btf_fd is not None:
            btf_fd = fd_of(a.btf_fd)
        elif a.btf is not None and (a.btf_key_type_id or a.btf_value_type_id):
            from .._kbtf import load_btf

            btf_owned = load_btf(a.btf, token_fd=a.token_fd)
            btf_fd = btf_owned.fd
        try:
            fd = _create_fd(
                a.type, a.key_size, a.value_size, a.max_entries, name=a.name, flags=int(a.flags),
                inner_map_fd=fd_of(a.inner_map) if a.inner_map is not None else 0, numa_node=a.numa_node or 0,
                ifindex=a.ifindex, map_extra=a.map_extra, btf_fd=btf_fd, btf_key_type_id=a.btf_key_type_id,
                btf_value_type_id=a.btf_value_type_id, btf_vmlinux_value_type_id=a.btf_vmlinux_value_type_id,
                token_fd=a.token_fd,
            )
        finally:
            if btf_owned is not None:
                btf_owned.close()
        info = MapInfo(
            type=a.type, id=0, name=a.name, key_size=a.key_size, value_size=a.value_size,
            max_entries=a.max_entries, flags=a.flags, map_extra=a.map_extra,
            btf_key_type_id=a.btf_key_type_id if btf_fd else 0, btf_value_type_id=a.btf_value_type_id if btf_fd else 0,
        )
        decode_btf = a.btf
        if btf_fd and decode_btf is None and a.key_type is None and a.value_type is None:
            decode_btf = _btf_or_none(fd.fd)
        try:
            return cls(fd, info, key_type=a.key_type, value_type=a.value_type, btf=decode_btf)
        except BaseException:
            fd.close()
            raise

    @classmethod
    def from_spec(
        cls: builtins.type[_M],
        spec: MapSpec,
        *,
        btf_fd: SupportsFd | None = None,
        pin_path: str | os.PathLike[str] | None = None,
        key_type: CodecSpec = None,
        value_type: CodecSpec = None,
        token: Token | str | os.PathLike[str] | None = None,
    ) -> _M:
        """Create the map a :class:`~bpfkit.MapSpec` describes (what :func:`bpfkit.load` does for each map).

        As libbpf does: a ring buffer's size is rounded up to a power-of-2 multiple of the page size, a
        perf event array of 0 entries gets one per possible CPU, BPF_F_MMAPABLE is dropped where arrays
        lack it, and a map the kernel refuses with the spec's BTF is created without it. ``btf_fd`` is
        the loaded BTF that ``key_type_id``/``value_type_id`` index; an inner map spec is created as the
        template and closed. ``data`` is written to key 0 and the map frozen when the spec says so. With
        ``pin_path``, a map already pinned there is opened (and must match the spec) instead of
        created, else the new map is pinned there.
        """
        from ..token import token_fd_of

        token_fd, owned = token_fd_of(token)
        try:
            if pin_path is not None and os.path.exists(pin_path):
                path = os.fspath(pin_path)
                fd = Fd(C.obj_get(path, target=f"pinned map {path!r}"), f"map {spec.name}")
                m = cls._wrap(check_spec_compatible(fd, spec, f"pinned map {path!r}"), key_type, value_type)
                m.pinned_path = path
                return m
            fd = _fd_from_spec(spec, btf_fd, token_fd)
            try:
                _populate(fd.fd, spec, pin_path)
            except BaseException:
                fd.close()
                raise
            m = cls._wrap(fd, key_type, value_type)
            if pin_path is not None:
                m.pinned_path = os.fspath(pin_path)
            return m
        finally:
            if owned is not None:
                owned.close()

    @classmethod
    def from_fd(
        cls: builtins.type[_M], fd: SupportsFd, *, dup: bool = False, key_type: CodecSpec = None, value_type: CodecSpec = None
    ) -> _M:
        """Wrap an existing map fd.

        An int fd or an :class:`~bpfkit._sys.Fd` is taken over (closed by
        :meth:`close`) unless ``dup=True``; any other object with ``fileno()``/``.fd``
        (another Map, say) is always duplicated, so its owner keeps its own fd.
        If the fd is not a map, nothing is taken: the error leaves it open.
        """
        return cls._wrap(adopt_fd(fd, dup=dup, what="map", check=_info_of_fd), key_type, value_type)

    @classmethod
    def from_pin(
        cls: builtins.type[_M], path: str, *, flags: int = 0, key_type: CodecSpec = None, value_type: CodecSpec = None
    ) -> _M:
        """Open the map pinned at ``path`` (BPF_OBJ_GET; ``flags`` BPF_F_RDONLY/WRONLY)."""
        fd = Fd(C.obj_get(os.fspath(path), flags, target=f"pinned map {os.fspath(path)!r}"), "map")
        m = cls._wrap(fd, key_type, value_type)
        m.pinned_path = os.fspath(path)
        return m

    @classmethod
    def from_id(cls: builtins.type[_M], map_id: int, *, flags: int = 0, key_type: CodecSpec = None, value_type: CodecSpec = None) -> _M:
        """Open the map with this id (BPF_MAP_GET_FD_BY_ID; needs CAP_SYS_ADMIN)."""
        fd = Fd(C.map_get_fd_by_id(map_id, flags), f"map id {map_id}")
        return cls._wrap(fd, key_type, value_type)

    @staticmethod
    def info_by_id(map_id: int) -> MapInfo:
        """The MapInfo of any map by id, without building a Map (no BTF fetched)."""
        with Fd(C.map_get_fd_by_id(map_id), f"map id {map_id}") as fd:
            return _info_of_fd(fd.fd, f"map id {map_id}")

    @classmethod
    def _wrap(cls: builtins.type[_M], fd: Fd, key_type: CodecSpec, value_type: CodecSpec) -> _M:
        try:
            info = _info_of_fd(fd.fd)
            klass = _class_for(int(info.type))
            if not issubclass(klass, cls):
                raise BpfTypeError(f"{info.type_name} maps are {klass.__name__}, not {cls.__name__}")
            btf = None
            if info.btf_id and (info.btf_key_type_id or info.btf_value_type_id) and (key_type is None or value_type is None):
                btf = _btf_or_none(fd.fd, info.btf_id)
            return klass(fd, info, key_type=key_type, value_type=value_type, btf=btf)
        except BaseException:
            fd.close()
            raise

    # ---- the object -------------------------------------------------------

    @property
    def fd(self) -> int:
        """The map's fd; ValueError once closed."""
        return self._fd.fileno()

    def fileno(self) -> int:
        """The map's fd (so a Map can go wherever an fd can)."""
        return self._fd.fileno()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._fd.closed

    @property
    def id(self) -> int:
        """The kernel's id of this map."""
        return self.info().id if self._info is None else self._info.id

    def info(self) -> MapInfo:
        """BPF_OBJ_GET_INFO_BY_FD: type, id, name, sizes, flags, map_extra, BTF ids (and frozen)."""
        with self._fd.borrow() as fd:
            info = _info_of_fd(fd, self._desc)
        self._info = info
        return info

    def close(self) -> None:
        """Close the fd (idempotent); further operations raise ValueError naming the map.

        Safe against other threads' operations on this map: those in flight end
        before the fd is released, later ones raise. (Closing the map from inside
        its own element operation, e.g. from a codec, would wait forever.)
        """
        if self._fd.closed:
            return
        closed = _closed_op(self._desc)
        self._c_lookup = self._c_update = self._c_delete = self._c_next = self._c_first = closed
        self._bundle_ops()
        # Keep the hot path's token for good: a thread holding the old calls then finds none.
        spins = 0
        while True:
            try:
                self._take()
                break
            except IndexError:
                if self._fd.closed:  # another thread's close() got the token
                    return
                spins += 1
                time.sleep(0 if spins < 100 else 0.0002)
        self._fd.close()

    def __enter__(self: _M) -> _M:
        return self

    def __exit__(
        self, exc_type: builtins.type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd.fd}"
        return (
            f"<{type(self).__name__} {self.name!r} {_type_name(int(self.type))} key={self.key_size} "
            f"value={self.value_size} max_entries={self.max_entries} {state}>"
        )

    def pin(self, path: str) -> None:
        """BPF_OBJ_PIN at ``path`` (on a bpf filesystem, mounted at /sys/fs/bpf when missing)."""
        with self._fd.borrow() as fd:
            C.obj_pin(fd, os.fspath(path), target=self._desc)
        self.pinned_path = os.fspath(path)

    def unpin(self, path: str | os.PathLike[str] | None = None) -> None:
        """Remove the pin at ``path`` (default: where this map was pinned or opened from); no-op when none.

        The same rule for Map, Program and Link: a pin already gone is not an error.
        """
        self.pinned_path = C.obj_unpin(path, self.pinned_path, self._desc)

    def freeze(self) -> None:
        """BPF_MAP_FREEZE: user space can no longer write the map (programs still can)."""
        with self._fd.borrow() as fd:
            C.map_freeze(fd, target=self._desc)

    def mmap(self) -> Any:
        """Map the map's memory (arrays created with BPF_F_MMAPABLE, arenas); close the result yourself."""
        raise BpfTypeError(f"{self._desc} cannot be memory-mapped")

    # ---- element operations (kernel names) ---------------------------------

    def _encode_key(self, key: Any, buf: bytearray) -> None:
        try:
            self.key_codec.encode_into(buf, 0, key)
        except Exception as exc:  # a codec's error of any kind: a bpfkit error naming the map
            raise retyped(exc, f"key of {self._desc}: {exc}") from None

    def _encode_value(self, value: Any, buf: bytearray) -> None:
        try:
            self.value_codec.encode_into(buf, 0, value)
        except Exception as exc:  # a codec's error of any kind: a bpfkit error naming the map
            raise retyped(exc, f"value of {self._desc}: {exc}") from None

    def _fail(self, cmd: int, key: Any, flags: int, err: int | None = None) -> KernelError | MapKeyError:
        err = last_errno() if err is None else err
        if err == E.ENOENT and cmd in (Cmd.MAP_LOOKUP_ELEM, Cmd.MAP_DELETE_ELEM, Cmd.MAP_LOOKUP_AND_DELETE_ELEM):
            return MapKeyError(key, map_name=self.name)
        parts = [] if key is _NO_KEY or not self.key_size else [f"key {key!r}"]
        if flags:
            try:
                parts.append("with " + str(UpdateFlags(flags).name or flags))
            except ValueError:
                parts.append(f"with flags {flags:#x}")
        exc = error_for(err, cmd, self._desc)
        if parts:
            exc = error_for(err, cmd, self._desc, detail=" ".join(parts) + (f": {exc.detail}" if exc.detail else ""))
        return exc

    # The element operations below share one shape: take the token (else the slow path with
    # fresh buffers), write the key (memoryview item or codec; any failure gets the codec's
    # checked encoder, which raises the real error or handles exact-size bytes), make the
    # call, read the value, give the token back. delete, _getitem, _setitem, _has and _get_or
    # (del m[k], m[k], m[k] = v, in, get) inline that shape: a shared helper would add a Python
    # frame to every call (measurable in bench B2); the rarer paths share the helpers below.

    def lookup(self, key: Any, flags: int = 0) -> Any:
        """BPF_MAP_LOOKUP_ELEM; MapKeyError (a KeyError) when absent. ``flags=F_LOCK`` for spin-locked values."""
        if not flags:
            return self._getitem(key)
        return self._flagged(Cmd.MAP_LOOKUP_ELEM, key, None, flags)

    def update(self, key: Any, value: Any, flags: int = 0) -> None:
        """BPF_MAP_UPDATE_ELEM with ANY (default), NOEXIST, EXIST, optionally | F_LOCK."""
        if not flags:
            self._setitem(key, value)
            return
        self._flagged(Cmd.MAP_UPDATE_ELEM, key, value, flags)

    def _flagged(self, cmd: int, key: Any, value: Any, flags: int) -> Any:
        """A lookup (returns the value) or update with ``flags`` on the shared buffers and attr."""
        _check_uint(flags, 64, "flags", self._desc)
        is_lookup = cmd == Cmd.MAP_LOOKUP_ELEM
        try:
            self._take()
        except IndexError:  # buffers in use: another thread or a re-entrant call
            raw = self._slow(cmd, key, value, flags)
            return self.value_codec.decode(raw) if is_lookup else None
        try:
            try:
                self._kpack(self._kbuf, 0, key)
            except Exception:
                self._encode_key(key, self._kbuf)
            if not is_lookup:
                try:
                    self._vpack(self._vbuf, 0, value)
                except Exception:
                    self._encode_value(value, self._vbuf)
            self._attr.flags = flags
            try:
                rc = self._c_lookup() if is_lookup else self._c_update()
            finally:
                self._attr.flags = 0
            if rc < 0:
                raise self._fail(cmd, key, flags)
            return self._vunpack(self._vbuf)[0] if is_lookup else None
        finally:
            self._give(True)

    def _slow_lookup(self, key: Any, value: Any = None) -> bytes | None:
        """The value bytes of ``key`` looked up with fresh buffers, or None when absent (contended paths)."""
        try:
            return self._slow(Cmd.MAP_LOOKUP_ELEM, key, value, 0)
        except MapKeyError:
            return None

    def _raise_unless_absent(self, cmd: int, key: Any) -> None:
        """After a failed element call: return when the kernel said ENOENT, else raise its error."""
        err = last_errno()
        if err != E.ENOENT:
            raise self._fail(cmd, key, 0, err)

    def delete(self, key: Any) -> None:
        """BPF_MAP_DELETE_ELEM; MapKeyError when absent."""
        take, give, call, kv, kpack, kbuf = self._ops_del
        try:
            take()
        except IndexError:  # buffers in use: another thread or a re-entrant call
            self._slow(Cmd.MAP_DELETE_ELEM, key, None, 0)
            return
        try:
            try:
                if kv is not None:
                    kv[0] = key
                else:
                    kpack(kbuf, 0, key)
            except Exception:
                self._encode_key(key, kbuf)
            if call() < 0:
                raise self._fail(Cmd.MAP_DELETE_ELEM, key, 0)
        finally:
            give(True)

    def _getitem(self, key: Any) -> Any:
        """``m[key]``: :meth:`lookup` without flags."""
        take, give, call, kv, kpack, kbuf, vv, vunpack, vbuf = self._ops_get
        try:
            take()
        except IndexError:  # buffers in use: another thread or a re-entrant call
            return self.value_codec.decode(self._slow(Cmd.MAP_LOOKUP_ELEM, key, None, 0))
        try:
            try:
                if kv is not None:
                    kv[0] = key
                else:
                    kpack(kbuf, 0, key)
            except Exception:
                self._encode_key(key, kbuf)
            if call() < 0:
                raise self._fail(Cmd.MAP_LOOKUP_ELEM, key, 0)
            return vv[0] if vv is not None else vunpack(vbuf)[0]
        finally:
            give(True)

    def _setitem(self, key: Any, value: Any) -> None:
        """``m[key] = value``: :meth:`update` with BPF_ANY."""
        take, give, call, kv, kpack, kbuf, vv, vpack, vbuf = self._ops_set
        try:
            take()
        except IndexError:  # buffers in use: another thread or a re-entrant call
            self._slow(Cmd.MAP_UPDATE_ELEM, key, value, 0)
            return
        try:
            try:
                if kv is not None:
                    kv[0] = key
                else:
                    kpack(kbuf, 0, key)
            except Exception:
                self._encode_key(key, kbuf)
            try:
                if vv is not None:
                    vv[0] = value
                else:
                    vpack(vbuf, 0, value)
            except Exception:
                self._encode_value(value, vbuf)
            if call() < 0:
                raise self._fail(Cmd.MAP_UPDATE_ELEM, key, 0)
        finally:
            give(True)

    def _has(self, key: Any) -> bool:
        """True when a lookup of ``key`` succeeds (``in``)."""
        take, give, call, kv, kpack, kbuf, _, _, _ = self._ops_get
        try:
            take()
        except IndexError:  # buffers in use: another thread or a re-entrant call
            return self._slow_lookup(key) is not None
        try:
            try:
                if kv is not None:
                    kv[0] = key
                else:
                    kpack(kbuf, 0, key)
            except Exception:
                self._encode_key(key, kbuf)
            if call() >= 0:
                return True
            self._raise_unless_absent(Cmd.MAP_LOOKUP_ELEM, key)
            return False
        finally:
            give(True)

    def _get_or(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when absent (``get``)."""
        take, give, call, kv, kpack, kbuf, vv, vunpack, vbuf = self._ops_get
        try:
            take()
        except IndexError:  # buffers in use: another thread or a re-entrant call
            raw = self._slow_lookup(key)
            return default if raw is None else self.value_codec.decode(raw)
        try:
            try:
                if kv is not None:
                    kv[0] = key
                else:
                    kpack(kbuf, 0, key)
            except Exception:
                self._encode_key(key, kbuf)
            if call() >= 0:
                return vv[0] if vv is not None else vunpack(vbuf)[0]
            self._raise_unless_absent(Cmd.MAP_LOOKUP_ELEM, key)
            return default
        finally:
            give(True)

    def lookup_raw(self, key: Any, flags: int = 0) -> bytes:
        """Like :meth:`lookup` but returns the value's bytes undecoded (per-CPU: all CPUs)."""
        return self._slow(Cmd.MAP_LOOKUP_ELEM, key, None, flags)

    def lookup_and_delete(self, key: Any = None, flags: int = 0) -> Any:
        """BPF_MAP_LOOKUP_AND_DELETE_ELEM: the value, removed (hash maps since 5.14; pop for queue/stack)."""
        try:
            return self.value_codec.decode(self._slow(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, key, None, flags))
        except KernelError as exc:
            if exc.errno in _UNSUPPORTED_ERRNOS and int(self.type) in _HASH_TYPES:
                raise NotSupportedError(
                    f"lookup_and_delete on {self._desc}: this kernel ({'.'.join(map(str, host.kernel_version()))}) "
                    "has no BPF_MAP_LOOKUP_AND_DELETE_ELEM for hash maps",
                    feature="lookup_and_delete on hash maps", min_kernel="5.14",
                ) from exc
            raise

    def _slow(self, cmd: int, key: Any, value: Any, flags: int) -> bytes:
        """One element command with fresh buffers (contention, rare commands); returns the value buffer."""
        if flags:
            _check_uint(flags, 64, "flags", self._desc)
        kb = bytearray(max(self.key_size, 1))
        if self.key_size:
            self._encode_key(key, kb)
        vb = bytearray(max(self.value_codec.size, 1))
        if value is not None:
            self._encode_value(value, vb)
        kref = ctypes.c_char.from_buffer(kb)
        vref = ctypes.c_char.from_buffer(vb)
        has_value = self.value_codec.size and cmd != Cmd.MAP_DELETE_ELEM
        try:
            with self._fd.borrow() as fd:
                C.map_elem(cmd, fd, ctypes.addressof(kref) if self.key_size else 0,
                           ctypes.addressof(vref) if has_value else 0, flags, target=self._desc)
        except KernelError as exc:
            raise self._fail(cmd, key if self.key_size else _NO_KEY, flags, exc.errno) from None
        finally:
            del kref, vref
        return bytes(vb[: self.value_codec.size])

    # ---- iteration ------------------------------------------------------------

    def get_next_key(self, key: Any = None) -> Any:
        """BPF_MAP_GET_NEXT_KEY: the key after ``key`` (the first key when None or absent); None at the end."""
        raw = self._next_raw(None if key is None else self.key_codec.encode(key))
        return None if raw is None else self.key_codec.decode(raw)

    def _next_raw(self, prev: bytes | None) -> bytes | None:
        try:
            self._take()
        except IndexError:  # buffers in use: another thread or a re-entrant call
            return self._next_raw_slow(prev)
        try:
            if prev is None:
                rc = self._c_first()
            else:
                self._pbuf[:] = prev
                rc = self._c_next()
            if rc < 0:
                self._raise_unless_absent(Cmd.MAP_GET_NEXT_KEY, _NO_KEY)
                return None
            return bytes(self._nbuf)
        finally:
            self._give(True)

    def _next_raw_slow(self, prev: bytes | None) -> bytes | None:
        nb = ctypes.create_string_buffer(max(self.key_size, 1))
        pb = ctypes.create_string_buffer(prev, len(prev)) if prev is not None else None
        with self._fd.borrow() as fd:
            ok = C.map_get_next_key(fd, ctypes.addressof(pb) if pb is not None else 0, ctypes.addressof(nb),
                                    target=self._desc)
        return nb.raw[: self.key_size] if ok else None

    def _lookup_raw_or_none(self, kraw: bytes) -> bytes | None:
        """The value bytes of a raw key, or None if it vanished."""
        try:
            self._take()
        except IndexError:  # buffers in use: another thread or a re-entrant call
            return self._slow_lookup(kraw)
        try:
            self._kbuf[:] = kraw
            if self._c_lookup() < 0:
                self._raise_unless_absent(Cmd.MAP_LOOKUP_ELEM, kraw)
                return None
            return bytes(self._vbuf)
        finally:
            self._give(True)

    def _iter_raw_keys(self) -> Iterator[bytes]:
        """Every key once, surviving concurrent deletes.

        When the current key vanishes the kernel restarts from the first key; the
        walk then resumes after the latest key it yielded that still exists (or
        skips already-yielded keys), and gives up with MapIterationError only when
        the map churns faster than it can advance.
        """
        seen: set[bytes] = set()
        recent: list[bytes] = []
        prev: bytes | None = None
        stalled = 0
        while True:
            nk = self._next_raw(prev)
            if nk is None:
                return
            if nk not in seen:
                seen.add(nk)
                recent.append(nk)
                if len(recent) > 32:
                    del recent[:16]
                stalled = 0
                yield nk
                prev = nk
                continue
            stalled += 1
            if stalled > 2 * len(seen) + 16:
                raise MapIterationError(
                    f"{self._desc} changed too fast to iterate: no new key after {stalled} steps "
                    f"({len(seen)} keys seen)"
                )
            if prev is not None and recent and prev == recent[-1]:
                # the walk went back to a key already seen: prev vanished. Resume after the
                # newest yielded key that still exists instead of re-walking from the start.
                resumed = False
                for cand in reversed(recent[:-1]):
                    if self._lookup_raw_or_none(cand) is not None:
                        prev = cand
                        resumed = True
                        break
                recent.clear()
                if resumed:
                    continue
            prev = nk

    def _decode_keys(self, raws: Iterable[bytes]) -> Iterator[Any]:
        dec = self.key_codec.decode
        for r in raws:
            yield dec(r)

    def keys(self) -> Iterator[Any]:
        """Iterate the keys (get_next_key; robust to concurrent deletes)."""
        return self._decode_keys(self._iter_raw_keys())

    def items(self, *, batch: bool | None = None, raw: bool = False) -> Iterator[tuple[Any, Any]]:
        """Iterate (key, value) pairs; batch syscalls by default for maps of >= 256 entries when supported.

        ``raw=True`` yields undecoded bytes. Keys deleted during the walk are skipped.
        When a map holds more than one batch, the next batch is read on a helper
        thread (through its own duplicate of the fd) while this one is decoded.
        """
        use_batch = batch if batch is not None else self.max_entries >= _BATCH_MIN_ENTRIES
        if use_batch and self._batch_ok(Cmd.MAP_LOOKUP_BATCH):
            return self._iter_batch(Cmd.MAP_LOOKUP_BATCH, None, raw)
        return self._iter_items_elementwise(raw)

    def values(self, *, batch: bool | None = None) -> Iterator[Any]:
        """Iterate the values (see :meth:`items`)."""
        return map(_SECOND, self.items(batch=batch))

    def _iter_items_elementwise(self, raw: bool) -> Iterator[tuple[Any, Any]]:
        kdec = self.key_codec.decode
        vdec = self.value_codec.decode
        for kr in self._iter_raw_keys():
            vr = self._lookup_raw_or_none(kr)
            if vr is None:
                continue
            yield (kr, vr) if raw else (kdec(kr), vdec(vr))

    # ---- batch operations ---------------------------------------------------------

    def _batch_ok(self, cmd: int) -> bool:
        return (int(self.type), cmd) not in _NO_BATCH and self.key_size > 0

    def _batch_refused(self, cmd: int, exc: KernelError) -> bool:
        """True (and remembered) when ``exc`` says the kernel has no batch ``cmd`` for this map type.

        The kernel then leaves ``count`` as it was given (nothing was done), so callers must not
        read it as the number of elements processed.
        """
        if exc.errno in _UNSUPPORTED_ERRNOS:
            _NO_BATCH.add((int(self.type), cmd))
            return True
        if exc.errno == E.EINVAL:
            from ..features import have_batch_ops

            if not have_batch_ops():
                _NO_BATCH.add((int(self.type), cmd))
                return True
        return False

    def _batch_size(self, batch_size: int | None) -> int:
        if batch_size is not None:
            if batch_size < 1:
                raise BpfValueError(f"batch_size must be >= 1, not {batch_size}")
            return batch_size
        per = self.key_size + self.value_codec.size
        return max(16, min(self.max_entries or 1, _BATCH_BYTES // max(per, 1)))

    def _iter_batch(self, cmd: int, batch_size: int | None, raw: bool) -> Iterator[tuple[Any, Any]]:
        """(key, value) pairs read by batch ``cmd``; each batch is decoded into lists at once and the
        pairs come out of C-level iterators (no Python frame per item)."""
        return chain.from_iterable(self._batch_pairs(cmd, batch_size, raw))

    def _batch_pairs(self, cmd: int, batch_size: int | None, raw: bool) -> Iterator[Iterable[tuple[Any, Any]]]:
        """One iterable of decoded (key, value) pairs per batch (or the element-wise walk if refused)."""
        ks, vs = self.key_size, self.value_codec.size
        kc, vc = self.key_codec, self.value_codec
        chunks = self._batch_chunks(cmd, batch_size, prefetch=True)
        for kmv, vmv, count in chunks:
            if count < 0:  # the kernel has no such batch command for this map type
                if cmd == Cmd.MAP_LOOKUP_AND_DELETE_BATCH:
                    yield self._drain_elementwise(raw)
                else:
                    yield self._iter_items_elementwise(raw)
                return
            if raw:
                yield zip(_split_raw(kmv, ks, count), _split_raw(vmv, vs, count), strict=True)
            else:
                yield zip(_decode_many(kc, kmv, count), _decode_many(vc, vmv, count), strict=True)

    def _batch_chunks(
        self, cmd: int, batch_size: int | None, *, prefetch: bool = False
    ) -> Iterator[tuple[memoryview, memoryview, int]]:
        """(keys, values, count) per batch call, as views of buffers the next calls reuse.

        A count of -1 (first item only) means the kernel refused the command for
        this map type. Buffers double when a hash bucket holds more than one batch.
        With ``prefetch`` (lookups of maps bigger than one batch) a helper thread
        makes the next call, which releases the GIL, while the caller decodes this
        batch; it works on a duplicate of the map's fd, so closing the map meanwhile
        cannot send the call to another object.
        """
        n = self._batch_size(batch_size)
        ks, vs = self.key_size, self.value_codec.size
        tok = ctypes.create_string_buffer(max(ks, 8))  # in and out token: the kernel reads it before writing it
        ahead = prefetch and cmd == Cmd.MAP_LOOKUP_BATCH and self.max_entries > n
        # Batch calls run on a duplicate of the fd (closed at the end), so a concurrent close() of the
        # map cannot release the number under them.
        own = self._fd.dup()
        fd = own.fd
        bufs = [_BatchBuf(cmd, fd, n, ks, vs, tok) for _ in range(2 if ahead else 1)]
        cur = bufs[0]
        first = True
        try:
            cur.call(True)
            while True:
                rc = cur.rc
                if rc < 0 and rc != -E.ENOENT:
                    err = -rc
                    if err == E.ENOSPC and cur.attr.count == 0:  # a hash bucket holds more entries than one batch
                        n *= 2
                        bufs = [_BatchBuf(cmd, fd, n, ks, vs, tok) for _ in bufs]
                        cur = bufs[0]
                        cur.call(first)
                        continue
                    if err == E.EINTR:
                        cur.call(first)
                        continue
                    exc = error_for(err, cmd, self._desc)
                    if first and self._batch_refused(cmd, exc):
                        yield cur.kmv, cur.vmv, -1
                        return
                    raise exc
                done = rc < 0  # ENOENT: the end, possibly with a last few entries
                count = int(cur.attr.count)
                first = False
                nxt = bufs[1] if len(bufs) > 1 and bufs[0] is cur else bufs[0]
                if not done and nxt is not cur:
                    nxt.start()
                if count:
                    yield cur.kmv[: count * ks], cur.vmv[: count * vs], count
                if done:
                    return
                if nxt is cur:
                    cur.call(False)
                else:
                    nxt.join()
                    cur = nxt
        finally:
            for b in bufs:
                b.join()
            own.close()

    def _drain_elementwise(self, raw: bool) -> Iterator[tuple[Any, Any]]:
        kdec = self.key_codec.decode
        vdec = self.value_codec.decode
        for kr in list(self._iter_raw_keys()):
            try:
                vr = self._slow(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, kr, None, 0)
            except MapKeyError:
                continue
            except KernelError as exc:
                if exc.errno not in (*_UNSUPPORTED_ERRNOS, E.EINVAL):
                    raise
                found = self._lookup_raw_or_none(kr)  # no lookup-and-delete for this type: lookup, then delete
                if found is None:
                    continue
                vr = found
                try:
                    self._slow(Cmd.MAP_DELETE_ELEM, kr, None, 0)
                except MapKeyError:
                    continue
            yield (kr, vr) if raw else (kdec(kr), vdec(vr))

    def lookup_batch(self, *, batch_size: int | None = None, raw: bool = False) -> list[tuple[Any, Any]]:
        """Every (key, value) with BPF_MAP_LOOKUP_BATCH, falling back to element ops where the kernel has none."""
        if not self._batch_ok(Cmd.MAP_LOOKUP_BATCH):
            return list(self._iter_items_elementwise(raw))
        return list(self._iter_batch(Cmd.MAP_LOOKUP_BATCH, batch_size, raw))

    def items_numpy(self, *, batch_size: int | None = None) -> tuple[Any, Any]:
        """Every (key, value) as two NumPy arrays ``(keys, values)``, read by BPF_MAP_LOOKUP_BATCH into them.

        dtypes come from the codecs (:meth:`Codec.numpy_dtype`): ints by size,
        structs as structured dtypes (record arrays), per-CPU values as
        ``(entries, CPUs)`` arrays. Maps without batch lookups are read element
        by element. ``batch_size`` caps the entries per syscall. Needs NumPy
        (ModuleNotFoundError without it).
        """
        np = require_numpy(f"{type(self).__name__}.items_numpy()")
        if not self.key_size:
            raise BpfTypeError(f"{self._desc} has no keys: items_numpy() reads keyed maps")
        if batch_size is not None and batch_size < 1:
            raise BpfValueError(f"batch_size must be >= 1, not {batch_size}")
        kdt = _slot_dtype(np, self.key_codec, self.key_size)
        vdt = _slot_dtype(np, self.value_codec, self.value_codec.size)
        keys = vals = None
        if type(self).items is Map.items and self._batch_ok(Cmd.MAP_LOOKUP_BATCH):
            got = self._numpy_batch(np, kdt, vdt, batch_size)
            if got is not None:
                keys, vals = got
        if keys is None or vals is None:  # no batch lookup here: the map's own items(), as raw bytes
            pairs = list(self.items(batch=False, raw=True))
            keys = np.ndarray((len(pairs),), kdt, bytearray(b"".join(k for k, _ in pairs)))
            vals = np.ndarray((len(pairs),), vdt, bytearray(b"".join(v for _, v in pairs)))
        return _finish_array(np, keys, self.key_codec), _finish_array(np, vals, self.value_codec)

    def _numpy_batch(self, np: Any, kdt: Any, vdt: Any, batch_size: int | None) -> tuple[Any, Any] | None:
        """(keys, values) arrays filled by lookup batches; None when the kernel refuses them for this map."""
        ks, vs = self.key_size, self.value_codec.size
        per = ks + vs
        per_call = batch_size or max(1024, _NP_CALL_BYTES // per)
        cap = max(1, min(max(self.max_entries, 1), max(1024, _NP_CHUNK_BYTES // per)))
        tok = ctypes.create_string_buffer(max(ks, 8))
        with self._fd.borrow() as fd:
            return self._numpy_batch_calls(np, kdt, vdt, fd, tok, cap, per_call)

    def _numpy_batch_calls(
        self, np: Any, kdt: Any, vdt: Any, fd: int, tok: Any, cap: int, per_call: int
    ) -> tuple[Any, Any] | None:
        """The lookup batch calls of :meth:`_numpy_batch` on the borrowed ``fd``."""
        ks, vs = self.key_size, self.value_codec.size
        done_parts: list[tuple[Any, Any]] = []
        karr, varr = np.empty(cap, kdt), np.empty(cap, vdt)
        pos = 0
        want = 1  # the fewest entries the next call must have room for (a whole hash bucket)
        attr = MapBatchAttr(out_batch=ctypes.addressof(tok), map_fd=fd)
        first = True
        while True:
            if cap - pos < want:  # this chunk is full: keep it, continue in a new one
                done_parts.append((karr[:pos], varr[:pos]))
                cap = max(cap, want)
                karr, varr = np.empty(cap, kdt), np.empty(cap, vdt)
                pos = 0
            count = max(min(cap - pos, per_call), want)
            attr.in_batch = 0 if first else attr.out_batch
            attr.keys = karr.ctypes.data + pos * ks
            attr.values = varr.ctypes.data + pos * vs if vs else 0
            attr.count = count
            try:
                C.map_batch(Cmd.MAP_LOOKUP_BATCH, attr, target=self._desc)
            except KernelError as exc:
                if exc.errno == E.ENOENT:
                    pos += int(attr.count)
                    break
                if exc.errno == E.ENOSPC and attr.count == 0:
                    want = count * 2  # a hash bucket holds more entries than fit
                    continue
                if first and self._batch_refused(Cmd.MAP_LOOKUP_BATCH, exc):
                    return None
                raise
            pos += int(attr.count)
            want = 1
            first = False
        if not done_parts:
            if pos * 2 < cap:  # mostly empty: do not keep the whole chunk alive
                return karr[:pos].copy(), varr[:pos].copy()
            return karr[:pos], varr[:pos]
        done_parts.append((karr[:pos], varr[:pos]))
        return np.concatenate([k for k, _ in done_parts]), np.concatenate([v for _, v in done_parts])

    def lookup_and_delete_batch(self, *, batch_size: int | None = None, raw: bool = False) -> list[tuple[Any, Any]]:
        """Remove and return every (key, value) with BPF_MAP_LOOKUP_AND_DELETE_BATCH (or element ops)."""
        if not self._batch_ok(Cmd.MAP_LOOKUP_AND_DELETE_BATCH):
            return list(self._drain_elementwise(raw))
        return list(self._iter_batch(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, batch_size, raw))

    def update_batch(self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]], flags: int = 0) -> int:
        """Write many entries with BPF_MAP_UPDATE_BATCH (or element ops); returns how many were written.

        Entries are written in order; on a failure the ones before it stay written and the
        error names the failing key. NOEXIST/EXIST always use element ops (the kernel's
        batch update accepts only F_LOCK).
        """
        _check_uint(flags, 64, "flags", self._desc)
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        for i, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise BpfTypeError(
                    f"update_batch on {self._desc}: item #{i} must be a (key, value) pair, not {pair!r}"
                )
        if not pairs:
            return 0
        ks, vs = self.key_size, self.value_codec.size
        keys = bytearray(len(pairs) * ks)
        vals = bytearray(len(pairs) * vs)
        kenc, venc = self.key_codec.encode_into, self.value_codec.encode_into
        for i, (k, v) in enumerate(pairs):
            try:
                kenc(keys, i * ks, k)
            except Exception as exc:  # a codec's error of any kind: a bpfkit error naming the map
                raise retyped(exc, f"key #{i} of {self._desc}: {exc}") from None
            try:
                venc(vals, i * vs, v)
            except Exception as exc:  # a codec's error of any kind: a bpfkit error naming the map
                raise retyped(exc, f"value #{i} of {self._desc}: {exc}") from None
        # the kernel's batch update takes only BPF_F_LOCK; NOEXIST/EXIST go element by element
        if self._batch_ok(Cmd.MAP_UPDATE_BATCH) and not flags & ~int(UpdateFlags.F_LOCK):
            kb = (ctypes.c_char * len(keys)).from_buffer(keys)
            vb = (ctypes.c_char * max(len(vals), 1)).from_buffer(vals) if vals else None
            attr = MapBatchAttr(keys=ctypes.addressof(kb), values=ctypes.addressof(vb) if vb is not None else 0,
                                count=len(pairs), elem_flags=flags)
            try:
                with self._fd.borrow() as fd:
                    attr.map_fd = fd
                    C.map_batch(Cmd.MAP_UPDATE_BATCH, attr, target=self._desc)
                return int(attr.count)
            except KernelError as exc:
                done = int(attr.count)
                if not self._batch_refused(Cmd.MAP_UPDATE_BATCH, exc):
                    key = pairs[done][0] if done < len(pairs) else _NO_KEY
                    raise self._fail(Cmd.MAP_UPDATE_BATCH, key, flags, exc.errno) from None
            finally:
                del kb, vb
        for i, (k, _) in enumerate(pairs):
            self.update(k, vals[i * vs : (i + 1) * vs], flags)
        return len(pairs)

    def delete_batch(self, keys: Iterable[Any]) -> int:
        """Delete many keys with BPF_MAP_DELETE_BATCH (or element ops); MapKeyError names the first absent key."""
        klist = list(keys)
        if not klist:
            return 0
        ks = self.key_size
        buf = bytearray(len(klist) * ks)
        for i, k in enumerate(klist):
            try:
                self.key_codec.encode_into(buf, i * ks, k)
            except Exception as exc:  # a codec's error of any kind: a bpfkit error naming the map
                raise retyped(exc, f"key #{i} of {self._desc}: {exc}") from None
        if self._batch_ok(Cmd.MAP_DELETE_BATCH):
            kb = (ctypes.c_char * len(buf)).from_buffer(buf)
            attr = MapBatchAttr(keys=ctypes.addressof(kb), count=len(klist))
            try:
                with self._fd.borrow() as fd:
                    attr.map_fd = fd
                    C.map_batch(Cmd.MAP_DELETE_BATCH, attr, target=self._desc)
                return int(attr.count)
            except KernelError as exc:
                done = int(attr.count)
                if not self._batch_refused(Cmd.MAP_DELETE_BATCH, exc):
                    if exc.errno == E.ENOENT and done < len(klist):
                        raise MapKeyError(klist[done], map_name=self.name) from None
                    raise
            finally:
                del kb
        for k in klist:
            self.delete(k)
        return len(klist)


class _BatchBuf:
    """Key and value buffers of one batch call and its attr; the call runs here or on a helper thread."""

    def __init__(self, cmd: int, fd: int, n: int, ks: int, vs: int, tok: ctypes.Array[ctypes.c_char]) -> None:
        self.kbuf = bytearray(n * ks)
        self.vbuf = bytearray(max(n * vs, 1))
        self._refs = (ctypes.c_char.from_buffer(self.kbuf), ctypes.c_char.from_buffer(self.vbuf))
        self.kmv = memoryview(self.kbuf)
        self.vmv = memoryview(self.vbuf)
        self.tok = ctypes.addressof(tok)
        self.n = n
        self.cmd = cmd
        self.attr = MapBatchAttr(out_batch=self.tok, map_fd=fd, keys=ctypes.addressof(self._refs[0]),
                                 values=ctypes.addressof(self._refs[1]))
        self._addr = ctypes.addressof(self.attr)
        self._size = ctypes.sizeof(self.attr)
        self.rc = 0
        self._thread: Any = None

    def call(self, first: bool) -> None:
        """One batch call (the GIL is released during it); the result, or -errno, lands in ``rc``."""
        self.attr.in_batch = 0 if first else self.tok
        self.attr.count = self.n
        self.rc = C.map_batch_unchecked(self.cmd, self._addr, self._size)

    def start(self) -> None:
        """Make the next (not first) call on a helper thread; :meth:`join` waits for it."""
        import threading

        self._thread = threading.Thread(target=self.call, args=(False,), name="bpfkit-batch", daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait for a call started by :meth:`start` (no-op if none)."""
        t = self._thread
        if t is not None:
            t.join()
            self._thread = None


_NP_CALL_BYTES = 4 << 20  # items_numpy(): key+value bytes asked of the kernel per batch call
_NP_CHUNK_BYTES = 256 << 20  # ... and per preallocated chunk (maps bigger than this are read in chunks)


def _slot_dtype(np: Any, codec: Codec, size: int) -> Any:
    """The dtype of one key or value slot as the kernel writes it (per-CPU: all CPUs, padded to 8 bytes)."""
    if type(codec) is PerCpuCodec or isinstance(codec, PerCpuCodec):
        inner = _slot_dtype(np, codec.inner, codec.inner.size)
        if inner.itemsize != codec.stride:
            inner = np.dtype({"names": ["v"], "formats": [inner], "offsets": [0], "itemsize": codec.stride})
        return np.dtype((inner, (codec.ncpus,)))
    try:
        dt = codec.numpy_dtype()
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt.itemsize != size:
        return np.dtype((np.void, size))
    return dt


def _finish_array(np: Any, arr: Any, codec: Codec) -> Any:
    """The public form of a filled array: per-CPU padding removed, structured arrays as record arrays."""
    if isinstance(codec, PerCpuCodec) and arr.dtype.names == ("v",) and arr.dtype.fields["v"][1] == 0:
        arr = np.ascontiguousarray(arr["v"])
    if arr.dtype.names is not None:
        arr = arr.view(np.recarray)
    return arr


def _split_raw(mv: memoryview, size: int, count: int) -> list[bytes]:
    """``count`` bytes objects of ``size`` bytes each, cut from ``mv`` by a C-level iterator."""
    if size == 0:
        return [b""] * count
    return list(map(_FIRST, struct.iter_unpack(f"{size}s", mv)))


_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_CAST_CODES = frozenset("BHIQbhiqfd")
_NATIVE = "<" if sys.byteorder == "little" else ">"


def _scalar_code(codec: Codec) -> str | None:
    """The memoryview cast code of an int or float codec that decodes plainly; None for others."""
    if type(codec).decode is IntCodec.decode or type(codec).decode is FloatCodec.decode:
        fmt = codec._st.format  # type: ignore[attr-defined]
        if len(fmt) == 2 and fmt[0] in ("=", "@", _NATIVE) and fmt[1] in _CAST_CODES:
            return str(fmt[1])
    return None


def _decode_many(codec: Codec, mv: memoryview, count: int) -> list[Any]:
    """Decode ``count`` consecutive values from ``mv`` into a list (the list owns no view of ``mv``)."""
    code = _scalar_code(codec)
    if code is not None:
        out: list[Any] = mv.cast(code).tolist()  # type: ignore[call-overload]
        return out
    s = codec.size
    if type(codec) is PerCpuCodec:
        inner = codec.inner
        icode = _scalar_code(inner)
        if icode is not None and codec.stride % inner.size == 0:
            step = codec.stride // inner.size
            flat = mv.cast(icode).tolist()  # type: ignore[call-overload]
            if step > 1:
                flat = flat[::step]
            return list(map(list, zip(*[iter(flat)] * codec.ncpus, strict=True)))
    if type(codec) is CtypesCodec:
        return list(map(codec.ctype.from_buffer_copy, repeat(mv), range(0, count * s, s)))
    data = bytes(mv)  # an unknown decoder might keep a slice of what it is given: give it bytes
    return list(map(codec.decode, repeat(data), range(0, count * s, s)))


class _NoKey:
    def __repr__(self) -> str:
        return "<no key>"


_NO_KEY: Any = _NoKey()


@record()
class _CreateArgs:
    """Everything Map.create passes to BPF_MAP_CREATE, filled in by the class's _prepare_create."""

    type: MapType | int
    key_size: int | None
    value_size: int | None
    max_entries: int | None
    name: str
    flags: MapFlags
    numa_node: int | None
    inner_map: SupportsFd | None
    map_extra: int
    key_type: CodecSpec
    value_type: CodecSpec
    btf: Btf | None
    btf_fd: SupportsFd | None
    btf_key_type_id: int
    btf_value_type_id: int
    btf_vmlinux_value_type_id: int
    ifindex: int
    token_fd: int | None = None


def _btf_or_none(map_fd: int, btf_id: int | None = None) -> Btf | None:
    """The BTF a map was created with, for decoding; None when it cannot be had."""
    from .._kbtf import kernel_btf

    try:
        if btf_id is None:
            btf_id = C.map_info(map_fd).btf_id
        return kernel_btf(int(btf_id)) if btf_id else None
    except (KernelError, BpfError, ValueError):
        return None


def _map_desc(name: str, t: MapType | int, key_size: int, value_size: int) -> str:
    """How errors name a map, whichever path created or opened it."""
    return f"map {name!r} ({_type_name(int(t))}, key {key_size} B, value {value_size} B)"


_CREATE_REFUSALS = (E.EINVAL, E.E2BIG, E.EPERM, *_UNSUPPORTED_ERRNOS)
_BTF_RETRY_ERRNOS = (E.EINVAL, E.EOPNOTSUPP, *_UNSUPPORTED_ERRNOS)


def _create_fd(
    t: MapType | int,
    key_size: int,
    value_size: int,
    max_entries: int,
    *,
    name: str,
    flags: int,
    inner_map_fd: int = 0,
    numa_node: int = 0,
    ifindex: int = 0,
    map_extra: int = 0,
    btf_fd: int = 0,
    btf_key_type_id: int = 0,
    btf_value_type_id: int = 0,
    btf_vmlinux_value_type_id: int = 0,
    token_fd: int | None = None,
    btf_optional: bool = False,
) -> Fd:
    """BPF_MAP_CREATE, the one call of it behind Map.create and Map.from_spec.

    A refusal the features say means a missing or refused map type is NotSupportedError; with
    ``btf_optional`` (an object's map, as libbpf does) a map refused with BTF is created without it.
    """
    desc = _map_desc(name, t, key_size, value_size)
    use_btf = bool(btf_fd)
    while True:
        try:
            raw = C.map_create(
                int(t), key_size, value_size, max_entries, map_flags=flags, name=name, inner_map_fd=inner_map_fd,
                numa_node=numa_node, map_ifindex=ifindex, btf_fd=btf_fd if use_btf else 0,
                btf_key_type_id=btf_key_type_id if use_btf else 0,
                btf_value_type_id=btf_value_type_id if use_btf else 0,
                btf_vmlinux_value_type_id=btf_vmlinux_value_type_id, map_extra=map_extra, target=desc,
                token_fd=token_fd,
            )
            return Fd(raw, desc)
        except KernelError as exc:
            if exc.errno in _CREATE_REFUSALS:
                _raise_if_unsupported(t, exc)
            if not (use_btf and btf_optional and exc.errno in _BTF_RETRY_ERRNOS):
                raise
            use_btf = False


# map types whose BTF the kernel refuses (or ignores): an object's map of these is created without it
_NO_BTF_TYPES = frozenset(MapType[f.name] for f in MAP_TYPES if not f.btf)


def _spec_entries_and_flags(spec: MapSpec) -> tuple[int, int]:
    """max_entries and map_flags to create ``spec`` with: the adjustments libbpf makes, made here only."""
    n = spec.max_entries
    if spec.type in (MapType.RINGBUF, MapType.USER_RINGBUF):
        size = host.page_size()
        while size < n:
            size <<= 1
        n = size
    elif spec.type == MapType.PERF_EVENT_ARRAY and n == 0:
        n = host.possible_cpus()
    elif n == 0 and _class_for(int(spec.type)).default_max_entries != 0:
        raise BpfValueError(
            f"{_map_desc(spec.name, spec.type, spec.key_size, spec.value_size)} has max_entries 0: the object leaves "
            f"its size to user space; set it on the ObjectSpec before loading, spec.maps[{spec.name!r}].max_entries "
            f"= N (spec = bpfkit.ObjectSpec.from_file(...); bpfkit.load(spec))"
        )
    flags = int(spec.flags)
    if flags & MapFlags.MMAPABLE and not _mmapable_ok():
        flags &= ~MapFlags.MMAPABLE
    return n, flags


def _mmapable_ok() -> bool:
    if host.kernel_version() >= (5, 5):
        return True  # arrays take BPF_F_MMAPABLE since 5.5: no probe needed
    from ..features import have_mmapable_arrays

    return bool(have_mmapable_arrays())


def _fd_from_spec(spec: MapSpec, btf_fd: SupportsFd | None, token_fd: int | None) -> Fd:
    """A new map for ``spec`` (its inner map spec created as the template, then closed)."""
    max_entries, flags = _spec_entries_and_flags(spec)
    inner: Fd | None = _fd_from_spec(spec.inner, btf_fd, token_fd) if spec.inner is not None else None
    kid, vid = spec.key_type_id or 0, spec.value_type_id or 0
    use_btf = btf_fd is not None and bool(kid or vid) and spec.type not in _NO_BTF_TYPES
    try:
        return _create_fd(
            spec.type, spec.key_size, spec.value_size, max_entries, name=spec.name, flags=flags,
            inner_map_fd=inner.fd if inner is not None else 0, numa_node=spec.numa_node, map_extra=spec.map_extra,
            btf_fd=fd_of(btf_fd) if use_btf else 0, btf_key_type_id=kid, btf_value_type_id=vid,
            token_fd=token_fd, btf_optional=True,
        )
    finally:
        if inner is not None:
            inner.close()


def _populate(fd: int, spec: MapSpec, pin_path: str | os.PathLike[str] | None) -> None:
    """Write a new map's initial data (key 0), freeze it and pin it, as its spec says."""
    from ..obj._spec import MapKind

    desc = _map_desc(spec.name, spec.type, spec.key_size, spec.value_size)
    if spec.data is not None and (any(spec.data) or spec.kind is not MapKind.BSS):  # a zero .bss is as created
        key = ctypes.c_uint32(0)
        buf = ctypes.create_string_buffer(spec.data, len(spec.data))
        C.map_update_elem(fd, ctypes.addressof(key), ctypes.addressof(buf), target=desc)
    if spec.freeze or spec.kind in (MapKind.RODATA, MapKind.KCONFIG):
        C.map_freeze(fd, target=desc)
    if pin_path is not None:
        from .._sys.mounts import ensure_bpffs_for

        path = os.fspath(pin_path)
        ensure_bpffs_for(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        C.obj_pin(fd, path, target=desc)


def check_spec_compatible(fd: Fd, spec: MapSpec, where: str) -> Fd:
    """``fd`` when the map it holds matches ``spec`` (type, sizes, max_entries), as libbpf checks a pinned or
    reused map; else ``fd`` is closed and the mismatch raised."""
    try:
        kind = C.obj_kind(fd.fd)
        if kind != "bpf-map":
            raise BpfValueError(
                f"{where} for map {spec.name!r} is {'a ' + kind if kind else 'not a BPF object'}, not a BPF map"
            )
        info = _info_of_fd(fd.fd, where)
        want = (int(spec.type), spec.key_size, spec.value_size)
        have = (int(info.type), info.key_size, info.value_size)
        if have != want or (spec.max_entries and info.max_entries != spec.max_entries and spec.type not in
                            (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY)):
            raise BpfError(
                f"{where} does not match map {spec.name!r} of the object: type/key/value/max_entries "
                f"{(*have, info.max_entries)} vs {(*want, spec.max_entries)}"
            )
    except BaseException:
        fd.close()
        raise
    return fd


def _raise_if_unsupported(t: MapType | int, exc: KernelError) -> None:
    """Turn a MAP_CREATE failure into NotSupportedError (saying why) when the kernel lacks or refuses the map type.

    A missing capability keeps the kernel's BpfPermissionError: granting it is the fix.
    """
    from ..features import Cause, check

    if not isinstance(t, MapType):
        return  # a type bpfkit does not know: no probe can tell; keep the kernel's answer
    s = check(t)
    if s or s.cause in (Cause.CAPABILITY, Cause.UNKNOWN):
        return
    raise s.error() from exc
