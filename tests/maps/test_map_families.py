"""Map families load on first use: the registry's type -> module column is complete and right, names resolve lazily."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

from bpfkit._registry import MAP_TYPES
from bpfkit._uapi import MapType
from bpfkit.maps._base import Map

FAMILIES = {MapType[f.name]: f.module for f in MAP_TYPES if f.module is not None}


def run(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_table_matches_what_each_family_declares() -> None:
    declared: dict[int, str] = {}
    for module in sorted(set(FAMILIES.values())):
        mod = importlib.import_module(f"bpfkit.maps.{module}")
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if issubclass(cls, Map) and cls.__module__ == mod.__name__:
                for t in cls.__dict__.get("map_types", ()):
                    declared[int(t)] = module
    assert declared == {int(t): m for t, m in FAMILIES.items()}


def test_each_type_finds_its_class_in_a_fresh_process() -> None:
    out = run(
        "import sys\n"
        "from bpfkit.maps._base import _class_for\n"
        "from bpfkit._registry import MAP_TYPES\n"
        "from bpfkit._uapi import MapType\n"
        "FAMILIES = [MapType[f.name] for f in MAP_TYPES if f.module]\n"
        "bad = [t.name for t in FAMILIES if int(t) not in [int(x) for x in _class_for(int(t)).__dict__.get('map_types', ())]]\n"
        "print(bad, _class_for(0x7fff).__name__)\n"
    )
    assert out == "[] Map"


def test_package_imports_families_on_first_use() -> None:
    out = run(
        "import sys, bpfkit.maps as m\n"
        "fam = lambda: sorted(k.rsplit('.', 1)[1] for k in sys.modules if k.startswith('bpfkit.maps.') and k != 'bpfkit.maps._exports')\n"
        "a = fam(); h = m.HashMap; b = fam(); p = m.PerCpuHashMap; c = fam()\n"
        "print(a, b, c, h.__name__, p.__name__, 'HashMap' in dir(m))\n"
    )
    assert out == ("[] ['_base', '_codec', '_hash'] ['_array', '_base', '_codec', '_hash', '_percpu'] HashMap PerCpuHashMap True")
