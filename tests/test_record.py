"""record and value_methods give public classes exactly what @dataclass generates; internal records behave."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pickle
from typing import Any, ClassVar

import pytest

from bpfkit._record import FrozenRecord, Record, field, record, replace, value_methods

MODULES = ["bpfkit.btf._types", "bpfkit.obj._spec", "bpfkit.obj._object", "bpfkit.btf._ext", "bpfkit.programs", "bpfkit.obj._sections",
           "bpfkit.btf.core", "bpfkit.links._base", "bpfkit.maps._base", "bpfkit.asm._instruction"]


def converted() -> list[type]:
    out = []
    for name in MODULES:
        mod = importlib.import_module(name)
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == name and ("__record_fields__" in cls.__dict__ or (
                    dataclasses.is_dataclass(cls) and not cls.__dataclass_params__.eq)):
                out.append(cls)
    return out


def sample(f: dataclasses.Field[Any], k: int) -> Any:
    t = str(f.type)
    if "ClassVar" in t:
        raise AssertionError(f"ClassVar {f.name} taken for a field")
    for key, value in (("bool", bool(k % 2)), ("int", 3 + k), ("str", f"s{k}"), ("bytes", bytes([k])),
                       ("list", [k]), ("dict", {k: k}), ("tuple", (k,))):
        if t.startswith(key) or t.startswith(key.capitalize()):
            return value
    if f.default is not dataclasses.MISSING:
        return f.default
    return None


def make(cls: type, k: int) -> Any:
    kwargs = {f.name: sample(f, k) for f in dataclasses.fields(cls) if f.init}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, AttributeError):
        return cls(**{n: v for n, v in kwargs.items() if v is not None})


def reference(cls: type) -> type:
    """The same fields through plain @dataclass, which generates its methods."""
    fields = []
    for f in dataclasses.fields(cls):
        g = dataclasses.field(repr=f.repr, compare=f.compare, hash=f.hash)
        fields.append((f.name, Any, g))
    ref = dataclasses.make_dataclass(cls.__name__, fields, frozen=cls.__dataclass_params__.frozen)
    ref.__qualname__ = cls.__qualname__
    return ref


def as_ref(ref: type, obj: Any) -> Any:
    return ref(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})


def test_the_public_dataclasses_are_converted() -> None:
    names = {c.__qualname__ for c in converted()}
    assert {"Int", "Struct", "Member", "MapSpec", "ProgramSpec", "ObjectSpec", "LineInfo", "CoreRelo", "ProgramInfo",
            "TestRunResult", "SectionDef", "ProgramSection", "CoreFixup", "LinkInfo", "MapInfo", "Instruction"} <= names
    assert len(names) >= 43


@pytest.mark.parametrize("cls", converted(), ids=lambda c: c.__qualname__)
def test_same_repr_eq_hash_as_dataclass(cls: type) -> None:
    ref = reference(cls)
    a, a2, b = make(cls, 1), make(cls, 1), make(cls, 2)
    ra, ra2, rb = as_ref(ref, a), as_ref(ref, a2), as_ref(ref, b)
    own_repr = cls.__repr__.__module__ != "bpfkit._record"  # Instruction writes its own
    assert own_repr or repr(a) == repr(ra)
    assert own_repr or repr(b) == repr(rb)
    assert (a == a2) == (ra == ra2) and a == a2
    assert (a == b) == (ra == rb)
    assert (a != b) == (ra != rb)
    assert a != object() and a.__eq__(object()) is NotImplemented
    assert a != ra  # another class, even with the same fields
    hashable = ref.__hash__ is not None
    assert (cls.__hash__ is not None) == hashable
    if hashable:
        assert hash(a) == hash(ra) and hash(a) == hash(a2)
    else:
        with pytest.raises(TypeError):
            hash(a)
    assert cls.__repr__.__qualname__ == f"{cls.__qualname__}.__repr__"


def test_methods_a_class_defines_are_kept() -> None:
    @value_methods
    @dataclasses.dataclass(repr=False, eq=False)
    class Own:
        x: int

        def __repr__(self) -> str:
            return "own"

    assert repr(Own(1)) == "own" and Own(1) == Own(1) and Own.__hash__ is None


def test_recursive_repr() -> None:
    @value_methods
    @dataclasses.dataclass(repr=False, eq=False)
    class Node:
        child: Any = None

    n = Node()
    n.child = n
    assert repr(n) == "test_recursive_repr.<locals>.Node(child=...)"


class _Point(Record):
    _fields = ("x", "y")
    __slots__ = _fields

    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y


class _Frozen(FrozenRecord):
    _fields = ("x", "y")
    __slots__ = _fields

    def __init__(self, x: int, y: int) -> None:
        self._set(x=x, y=y)


def test_records() -> None:
    p = _Point(1, 2)
    assert repr(p) == "_Point(x=1, y=2)" and p == _Point(1, 2) and p != _Point(1, 3) and p != (1, 2)
    p.y = 5
    assert p.y == 5
    with pytest.raises(TypeError):
        hash(p)
    f = _Frozen(1, 2)
    assert f == _Frozen(1, 2) and hash(f) == hash(_Frozen(1, 2)) and repr(f) == "_Frozen(x=1, y=2)"
    with pytest.raises(AttributeError):
        f.x = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del f.x
    assert not hasattr(f, "__dict__")


@record(frozen=True, slots=True)
class _Rec:
    """A frozen slotted record with a default, a factory and a ClassVar."""

    tag: ClassVar[str] = "t"
    x: int
    y: int = 2
    z: list[int] = field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class _Rec_:
    """The same through @dataclass."""

    tag: ClassVar[str] = "t"
    x: int
    y: int = 2
    z: list[int] = dataclasses.field(default_factory=list)


def test_record_is_what_dataclass_makes() -> None:
    assert str(inspect.signature(_Rec)) == str(inspect.signature(_Rec_))
    assert _Rec.__match_args__ == _Rec_.__match_args__ and _Rec.__slots__ == _Rec_.__slots__
    a = _Rec(1)
    assert a == _Rec(1, 2, []) and a != _Rec(2) and a.z is not _Rec(1).z
    assert repr(a) == "_Rec(x=1, y=2, z=[])" and _Rec.tag == "t"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.x = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del a.x  # type: ignore[misc]
    assert not hasattr(a, "__dict__")
    assert pickle.loads(pickle.dumps(a)) == a


def test_record_works_with_dataclasses_functions() -> None:
    a = _Rec(1, 5, [3])
    assert dataclasses.is_dataclass(_Rec) and dataclasses.is_dataclass(a)
    assert [f.name for f in dataclasses.fields(a)] == ["x", "y", "z"]
    assert dataclasses.asdict(a) == {"x": 1, "y": 5, "z": [3]} and dataclasses.astuple(a) == (1, 5, [3])
    assert dataclasses.replace(a, y=7) == _Rec(1, 7, [3]) == replace(a, y=7)
    assert _Rec.__dataclass_params__.frozen


def test_record_post_init_and_own_methods() -> None:
    @record()
    class P:
        a: int
        b: int = -1

        def __post_init__(self) -> None:
            if self.b < 0:
                self.b = self.a

        def __repr__(self) -> str:
            return "own"

    assert P(3).b == 3 and P(3, 4).b == 4 and repr(P(1)) == "own" and P(1) == P(1, 1) and P.__hash__ is None
    p = P(1)
    p.a = 2
    assert p.a == 2 and "a" in vars(p)
