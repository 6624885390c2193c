"""Oracles for the obj/ tests: what bpftool and llvm-objdump say about an object file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path


def btf_json(path: Path) -> dict[int, dict[str, object]]:
    """`bpftool btf dump file X -j` as {id: type}."""
    out = subprocess.run(["bpftool", "-j", "btf", "dump", "file", str(path)], check=True, capture_output=True, text=True).stdout
    return {t["id"]: t for t in json.loads(out)["types"]}


def objdump(path: Path, *args: str) -> str:
    """The text llvm-objdump prints for the object."""
    tool = shutil.which("llvm-objdump") or "llvm-objdump"
    return subprocess.run([tool, *args, str(path)], check=True, capture_output=True, text=True).stdout


def objdump_symbols(path: Path) -> dict[str, tuple[int, int, str, str]]:
    """Symbols from `llvm-objdump -t`: name -> (value, size, flags, section)."""
    out = {}
    for line in objdump(path, "-t").splitlines():
        parts = line.split()
        if len(parts) < 4 or not all(c in "0123456789abcdef" for c in parts[0]) or len(parts[0]) != 16:
            continue
        value = int(parts[0], 16)
        # "<value> <flags...> <section>\t<size> <name>"
        head, _, tail = line.partition("\t")
        size_s, _, name = tail.strip().partition(" ")
        fields = head.split()
        section = fields[-1]
        flags = " ".join(fields[1:-1])
        if name:
            out[name.strip()] = (value, int(size_s, 16), flags, section)
    return out


def objdump_relocs(path: Path) -> dict[str, list[tuple[int, str, str]]]:
    """Relocations from `llvm-objdump -r`: section -> [(offset, type, symbol)]."""
    out: dict[str, list[tuple[int, str, str]]] = {}
    cur: list[tuple[int, str, str]] | None = None
    for line in objdump(path, "-r").splitlines():
        if line.startswith("RELOCATION RECORDS FOR ["):
            cur = out.setdefault(line[len("RELOCATION RECORDS FOR [") : line.rindex("]")], [])
            continue
        parts = line.split()
        if cur is not None and len(parts) == 3 and len(parts[0]) == 16:
            try:
                cur.append((int(parts[0], 16), parts[1], parts[2]))
            except ValueError:
                pass
    return out


def objdump_sections(path: Path) -> dict[str, int]:
    """Section name -> size from `llvm-objdump -h`."""
    out = {}
    for line in objdump(path, "-h").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].isdigit():
            if len(parts) >= 4 or not parts[1].startswith("0"):
                name, size = parts[1], parts[2]
                try:
                    out[name] = int(size, 16)
                except ValueError:
                    continue
    return out


def btf_size(types: dict[int, dict[str, object]], tid: int) -> int:
    """Byte size of a type in bpftool's JSON dump (an oracle independent of bpfkit.btf)."""
    t = types[tid]
    kind = t["kind"]
    if kind in ("INT", "STRUCT", "UNION", "ENUM", "ENUM64", "FLOAT", "DATASEC"):
        return int(t["size"])  # type: ignore[call-overload]
    if kind == "PTR":
        return 8
    if kind == "ARRAY":
        return int(t["nr_elems"]) * btf_size(types, int(t["type_id"]))  # type: ignore[call-overload]
    if kind in ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG", "VAR"):
        return btf_size(types, int(t["type_id"]))  # type: ignore[call-overload]
    raise ValueError(f"no size for {kind}")


def btf_maps(path: Path) -> dict[str, dict[str, int]]:
    """Map definitions read from `bpftool btf dump` alone: name -> attributes (sizes and BTF ids)."""
    types = btf_json(path)
    out: dict[str, dict[str, int]] = {}
    sec = next(t for t in types.values() if t["kind"] == "DATASEC" and t["name"] == ".maps")
    for vs in sec["vars"]:  # type: ignore[attr-defined]
        var = types[vs["type_id"]]
        t = types[int(var["type_id"])]  # type: ignore[call-overload]
        while t["kind"] in ("TYPEDEF", "CONST", "VOLATILE"):
            t = types[int(t["type_id"])]  # type: ignore[call-overload]
        attrs: dict[str, int] = {}
        for m in t["members"]:  # type: ignore[attr-defined]
            ptr = types[m["type_id"]]
            if m["name"] in ("key", "value"):
                attrs[f"{m['name']}_type_id"] = int(ptr["type_id"])  # type: ignore[call-overload]
                attrs[f"{m['name']}_size"] = btf_size(types, int(ptr["type_id"]))  # type: ignore[call-overload]
            elif m["name"] == "values":
                attrs["values"] = 1
            else:
                arr = types[int(ptr["type_id"])]  # type: ignore[call-overload]
                attrs[m["name"]] = int(arr["nr_elems"])  # type: ignore[call-overload]
        out[str(var["name"])] = attrs
    return out
