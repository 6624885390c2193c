"""Bases for small records: fields in ``__slots__``, value equality and a readable repr.

A ``@dataclass`` costs its module the import of dataclasses (which pulls inspect, ast,
dis and tokenize) and generates and compiles its methods when the module is imported.
The internal records of the load path (ELF headers, relocations, CO-RE accessors ...)
use the bases :class:`Record` and :class:`FrozenRecord` and write their own ``__init__``;
public value classes use :func:`record`, which makes what ``@dataclass`` makes (same
``__init__``, repr, eq, hash, ``__match_args__``) and still works with ``dataclasses.fields``,
``replace``, ``asdict`` and ``is_dataclass``: their ``__dataclass_fields__`` are built on
first use.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from types import CodeType, FunctionType

from ._typing import cast
from .errors import BpfTypeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, TypeVar

    from typing_extensions import dataclass_transform
    _F = TypeVar("_F")
    _C = TypeVar("_C", bound=type)
    _T = TypeVar("_T")
    _C2 = TypeVar("_C2", bound=type)
else:  # only type checkers read it (typing has it from Python 3.11)

    def dataclass_transform(**kwargs: Any) -> Callable[[_F], _F]:
        return lambda f: f

__all__ = ["FrozenRecord", "Record", "field", "record", "replace", "value_methods"]


class Record:
    """Equality and repr over the fields named in ``_fields`` (in order; also the subclass's ``__slots__``).

    Unhashable, like a dataclass with ``eq=True``.
    """

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields)
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields)

    __hash__ = None  # type: ignore[assignment]


class FrozenRecord(Record):
    """A :class:`Record` whose fields cannot change after ``__init__`` (which sets them with ``_set``); hashable."""

    __slots__ = ()

    def _set(self, **fields: Any) -> None:
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of {type(self).__qualname__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of {type(self).__qualname__}")

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(getattr(self, n) for n in self._fields))


def value_methods(cls: _C) -> _C:
    """Add to a ``@dataclass(repr=False, eq=False)`` the ``__repr__``, ``__eq__`` and ``__hash__`` that
    ``@dataclass`` would have generated (same output, same rules), without compiling code for each class.

    Apply it on top of the ``@dataclass`` decorator. Methods the class defines itself are kept;
    ``__hash__`` follows dataclass's rule for ``eq=True``: from the compared fields when frozen,
    else None (unhashable), unless the class defines its own.
    """
    import dataclasses

    fields = dataclasses.fields(cls)
    shown = tuple(f.name for f in fields if f.repr)
    compared = tuple(f.name for f in fields if f.compare)
    hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))

    frozen: bool = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    return _add_value_methods(cls, shown, compared, hashed, frozen)


def _add_value_methods(cls: _C, shown: tuple[str, ...], compared: tuple[str, ...], hashed: tuple[str, ...],
                       frozen: bool) -> _C:
    """Set the ``__repr__``/``__eq__``/``__hash__`` of ``@dataclass(eq=True)`` on ``cls``, keeping its own."""

    @reprlib.recursive_repr()
    def __repr__(self: Any) -> str:
        return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            return tuple(getattr(self, n) for n in compared) == tuple(getattr(other, n) for n in compared)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(tuple(getattr(self, n) for n in hashed))

    for fn in (__repr__, __eq__, __hash__):
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
        fn.__module__ = cls.__module__
    own = cls.__dict__
    # as @dataclass: a method the class defines itself stays; __hash__ by the rule for eq=True
    explicit_hash = "__hash__" in own and not (own["__hash__"] is None and "__eq__" in own)
    methods: dict[str, Any] = {"__repr__": __repr__, "__eq__": __eq__}
    if not explicit_hash:
        methods["__hash__"] = __hash__ if frozen else None
    for name, value in methods.items():
        if name == "__hash__" or name not in own:
            setattr(cls, name, value)
    return cls


class _Missing:
    """The default of a field without one."""

    __slots__ = ()


_MISSING: Any = _Missing()


class _Factory:
    """A field default made per instance by calling ``factory`` (what :func:`field` returns)."""

    __slots__ = ("factory",)

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory

    def __repr__(self) -> str:
        return "<factory>"  # as dataclasses shows it in a signature


def field(*, default_factory: Callable[[], _T]) -> _T:
    """A :func:`record` field whose default is ``default_factory()``, called for each instance."""
    return cast("_T", _Factory(default_factory))


class _DataclassFields:
    """``__dataclass_fields__`` and ``__dataclass_params__`` of a record, built through dataclasses on first use."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: object, owner: type) -> Any:
        import dataclasses

        spec: list[tuple[str, Any, Any]] = []
        for name, typ, default in owner.__record_fields__:  # type: ignore[attr-defined]
            if isinstance(default, _Factory):
                spec.append((name, typ, dataclasses.field(default_factory=default.factory)))
            elif default is _MISSING:
                spec.append((name, typ, dataclasses.field()))
            else:
                spec.append((name, typ, dataclasses.field(default=default)))
        shadow = dataclasses.make_dataclass(owner.__name__, spec, frozen=owner.__record_frozen__)  # type: ignore[attr-defined]
        for attr in ("__dataclass_fields__", "__dataclass_params__"):
            type.__setattr__(owner, attr, getattr(shadow, attr))
        return getattr(owner, self.attr)


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _slots_getstate(self: Any) -> list[Any]:
    return [getattr(self, n) for n, _, _ in self.__record_fields__]


def _slots_setstate(self: Any, state: list[Any]) -> None:
    for (name, _, _), value in zip(self.__record_fields__, state, strict=True):
        object.__setattr__(self, name, value)


Shape = tuple[int, tuple[int, ...], bool, bool]
"""What an ``__init__``'s code depends on: number of fields, indexes of the factory fields, frozen, __post_init__.
(Defaults are the function's, not its code's.)"""

_INIT_CODE: dict[Shape, CodeType] = {}


def init_source(shape: Shape) -> str:
    """The source of the ``__init__`` of ``shape``, with parameters ``a0``... (renamed per class afterwards)."""
    n, factories, frozen, post_init = shape
    body = []
    for i in range(n):
        value = f"_d{i}.factory() if a{i} is _d{i} else a{i}" if i in factories else f"a{i}"
        body.append(f"_set(self, 'a{i}', {value})" if frozen else f"self.a{i} = {value}")
    if post_init:
        body.append("self.__post_init__()")
    params = "".join(f", a{i}" for i in range(n))
    return f"def __init__(self{params}):\n    " + "\n    ".join(body or ["pass"]) + "\n"


def _init_code(shape: Shape) -> CodeType:
    """The code of the ``__init__`` of ``shape``: precompiled in _record_inits for the shapes bpfkit's own
    records have (compiling costs ~0.7 ms the first time in a process, then ~0.1 ms a shape), else compiled once."""
    code = _INIT_CODE.get(shape)
    if code is None:
        from ._record_inits import TEMPLATES

        template = TEMPLATES.get(shape)
        if template is not None:
            code = template.__code__
        else:
            module = compile(init_source(shape), "<record>", "exec")
            code = next(c for c in module.co_consts if isinstance(c, CodeType))
        _INIT_CODE[shape] = code
    return code


def shape_of(cls: type, fields: tuple[tuple[str, str, Any], ...], frozen: bool) -> Shape:
    """The :data:`Shape` of the ``__init__`` of the record ``cls`` with ``fields``."""
    factories = tuple(i for i, (_, _, d) in enumerate(fields) if isinstance(d, _Factory))
    return (len(fields), factories, frozen, hasattr(cls, "__post_init__"))


def _make_init(cls: type, fields: tuple[tuple[str, str, Any], ...], frozen: bool) -> Callable[..., None]:
    """The ``__init__`` @dataclass would write: fields in order, defaults, factories, then ``__post_init__``."""
    names = [name for name, _, _ in fields]
    defaults = [default for _, _, default in fields]
    first_default = next((i for i, d in enumerate(defaults) if d is not _MISSING), len(fields))
    if any(d is _MISSING for d in defaults[first_default:]):
        raise BpfTypeError(f"{cls.__qualname__}: a field without a default follows one with a default")
    factories = tuple(i for i, d in enumerate(defaults) if isinstance(d, _Factory))
    code = _init_code(shape_of(cls, fields, frozen))
    rename = {f"a{i}": name for i, name in enumerate(names)}
    code = code.replace(
        co_varnames=tuple(rename.get(v, v) for v in code.co_varnames),
        co_names=tuple(rename.get(v, v) for v in code.co_names),
        co_consts=tuple(rename.get(c, c) if isinstance(c, str) else c for c in code.co_consts),
    )
    env = {"_set": object.__setattr__, **{f"_d{i}": defaults[i] for i in factories}}
    init: Callable[..., None] = FunctionType(code, env, "__init__", tuple(defaults[first_default:]))
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__annotations__ = {**{name: typ for name, typ, _ in fields}, "return": None}
    return init


class _DeferredInit:
    """The ``__init__`` of a :func:`record` class until first looked up: then :func:`_make_init` builds it
    (renaming the code of its shape) and replaces this placeholder in the class, so a module defining many
    records pays only for the ones a program instantiates or inspects (issue 18)."""

    __slots__ = ("cls", "fields", "frozen")

    def __init__(self, cls: type, fields: tuple[tuple[str, str, Any], ...], frozen: bool) -> None:
        self.cls, self.fields, self.frozen = cls, fields, frozen

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        init: Any = self.cls.__dict__.get("__init__")
        if init is self:
            init = _make_init(self.cls, self.fields, self.frozen)
            type.__setattr__(self.cls, "__init__", init)
        return init if obj is None else init.__get__(obj, owner)


@dataclass_transform(field_specifiers=(field,))
def record(*, frozen: bool = False, slots: bool = False) -> Callable[[_C2], _C2]:
    """Make ``cls`` what ``@dataclass(frozen=frozen, slots=slots)`` would, without importing dataclasses.

    Fields are the class's own annotations but ``ClassVar``; a method the class defines itself stays.
    """

    def wrap(cls: _C2) -> _C2:
        ns = cls.__dict__
        fields = tuple(
            (name, typ, ns.get(name, _MISSING))
            for name, typ in ns.get("__annotations__", {}).items()
            if not (isinstance(typ, str) and typ.startswith(("ClassVar", "typing.ClassVar")))
        )
        names = tuple(name for name, _, _ in fields)
        if slots:  # __slots__ only takes effect at class creation: make the class again, as @dataclass does
            body = {k: v for k, v in ns.items() if k not in names and k not in ("__dict__", "__weakref__")}
            body["__slots__"] = names
            qualname = cls.__qualname__
            cls = type(cls)(cls.__name__, cls.__bases__, body)
            cls.__qualname__ = qualname
        else:
            for name, _, default in fields:
                if isinstance(default, _Factory):
                    delattr(cls, name)
        own = cls.__dict__
        extra: dict[str, Any] = {
            "__record_fields__": fields,
            "__record_frozen__": frozen,
            "__match_args__": names,
            "__dataclass_fields__": _DataclassFields("__dataclass_fields__"),
            "__dataclass_params__": _DataclassFields("__dataclass_params__"),
        }
        if "__init__" not in own:
            extra["__init__"] = _DeferredInit(cls, fields, frozen)
        if frozen:
            extra["__setattr__"] = _frozen_setattr
            extra["__delattr__"] = _frozen_delattr
            if slots:
                extra["__getstate__"] = _slots_getstate
                extra["__setstate__"] = _slots_setstate
        for k, v in extra.items():
            if k not in own:
                type.__setattr__(cls, k, v)
        return _add_value_methods(cls, names, names, names, frozen)

    return wrap


def replace(obj: _T, **changes: Any) -> _T:
    """A copy of the :func:`record` ``obj`` with ``changes``, as ``dataclasses.replace`` (fields copied shallow)."""
    for name, _, _ in obj.__record_fields__:  # type: ignore[attr-defined]
        if name not in changes:
            changes[name] = getattr(obj, name)
    return obj.__class__(**changes)
