#!/usr/bin/env python3
"""Build the BPF objects of bpfkit's ready tools (src/bpfkit/tools/<name>.bpf.o) and their manifest.

Each ``<name>.bpf.c`` is compiled with ``clang -g -O2 -target bpf`` against a
vmlinux.h that bpfkit itself generates from the kernel BTF (``--btf``, default
the running kernel's), then stripped of DWARF with ``llvm-strip -g`` (the .BTF
and .BTF.ext sections stay). Paths are remapped (``-fdebug-prefix-map``), so
the same sources, headers and clang give the same bytes on any machine.

``manifest.json`` next to the objects records, per tool, the SHA-256 of each
local input (the .bpf.c and the headers it includes from the tools directory)
and of the object, plus the toolchain: clang's version, the flags, the
vmlinux.h and the system headers (libbpf's bpf_helpers.h ...) that clang read.

  build_tools.py            rebuild every object and the manifest
  build_tools.py --check    no clang needed: every source matches the manifest and every
                            object its recorded hash (exit 1 and name what is stale)
  build_tools.py --out DIR  build into DIR instead (used to compare a rebuild with the shipped objects)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOOLS_DIR = ROOT / "src" / "bpfkit" / "tools"
MANIFEST = "manifest.json"
DEFAULT_BTF = "/sys/kernel/btf/vmlinux"
_ARCH = {"x86_64": "x86", "aarch64": "arm64", "arm64": "arm64"}
# where the remapped paths point in the object (.BTF.ext line info names the source as ./<name>.bpf.c)
_SRC_PREFIX = "."
_VMLINUX_PREFIX = "/vmlinux"


def cflags() -> list[str]:
    """The clang flags of every tool object (the -I directories and path maps are added per build)."""
    arch = _ARCH.get(platform.machine(), platform.machine())
    # -fms-extensions: the vmlinux.h of Linux 6.19+ has tagged anonymous members (``struct ns_tree;``)
    return ["-g", "-O2", "-target", "bpf", f"-D__TARGET_ARCH_{arch}", "-Wall", "-Werror",
            "-fms-extensions", "-Wno-microsoft-anon-tag"]


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tool_names(tools_dir: Path = TOOLS_DIR) -> list[str]:
    """Every tool that has a ``<name>.bpf.c`` in ``tools_dir``, sorted."""
    return sorted(p.name[: -len(".bpf.c")] for p in tools_dir.glob("*.bpf.c"))


def clang_version(clang: str) -> str:
    """The first line of ``clang --version``."""
    out = subprocess.run([clang, "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def find_llvm_strip(clang: str) -> str:
    """llvm-strip matching the clang (``llvm-strip-NN`` next to ``clang-NN``), else the one on PATH."""
    env = os.environ.get("LLVM_STRIP")
    if env:
        return env
    m = re.search(r"version (\d+)", clang_version(clang))
    for name in ([f"llvm-strip-{m.group(1)}"] if m else []) + ["llvm-strip"]:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("build_tools: llvm-strip is needed (apt-get install llvm)")


def _deps(depfile: Path) -> list[Path]:
    """The files of a clang -MD dependency file (the target and line continuations removed)."""
    text = depfile.read_text().replace("\\\n", " ")
    _, _, rest = text.partition(":")
    return [Path(p.replace("\\ ", " ")) for p in re.split(r"(?<!\\)\s+", rest.strip()) if p]


def _generate_vmlinux_h(btf_path: str, workdir: Path) -> Path:
    """bpfkit's own vmlinux.h for ``btf_path``, written under ``workdir``; returns its directory."""
    sys.path.insert(0, str(ROOT / "src"))
    from bpfkit.testing import vmlinux_header

    return vmlinux_header(btf_path, cache_dir=workdir)


@dataclass
class Built:
    """One compiled tool: where its object is and what went in."""

    name: str
    obj: Path
    local_inputs: dict[str, str]
    system_headers: dict[str, str]


def build(
    out_dir: Path = TOOLS_DIR,
    *,
    btf_path: str = DEFAULT_BTF,
    vmlinux_dir: Path | None = None,
    clang: str | None = None,
    tools_dir: Path = TOOLS_DIR,
    write_manifest: bool = True,
) -> dict[str, Any]:
    """Compile the tools of ``tools_dir`` into ``out_dir``; returns the manifest (also written there)."""
    clang = clang or os.environ.get("CLANG") or shutil.which("clang")
    if not clang:
        raise SystemExit("build_tools: clang is needed (apt-get install clang)")
    strip = find_llvm_strip(clang)
    names = tool_names(tools_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    flags = cflags()
    with tempfile.TemporaryDirectory(prefix="bpfkit-tools-") as tmp:
        work = Path(tmp)
        vdir = (vmlinux_dir or _generate_vmlinux_h(btf_path, work)).resolve()
        vmlinux_h = vdir / "vmlinux.h"
        src_dir = tools_dir.resolve()
        built: list[Built] = []
        for name in names:
            raw = work / f"{name}.raw.o"
            dep = work / f"{name}.d"
            cmd = [
                clang, *flags, "-I.", f"-I{vdir}",
                f"-fdebug-prefix-map={src_dir}={_SRC_PREFIX}", f"-fdebug-prefix-map={vdir}={_VMLINUX_PREFIX}",
                "-MD", "-MF", str(dep), "-c", f"{name}.bpf.c", "-o", str(raw),
            ]
            r = subprocess.run(cmd, cwd=src_dir, capture_output=True, text=True, check=False)
            if r.returncode != 0:
                raise SystemExit(f"build_tools: clang failed on {name}.bpf.c:\n{r.stderr.strip()}")
            obj = out_dir / f"{name}.bpf.o"
            tmp_obj = work / f"{name}.bpf.o"
            subprocess.run([strip, "-g", "-o", str(tmp_obj), str(raw)], check=True)
            shutil.copyfile(tmp_obj, obj)
            local: dict[str, str] = {}
            system: dict[str, str] = {}
            for path in _deps(dep):
                full = (src_dir / path).resolve() if not path.is_absolute() else path.resolve()
                if full == vmlinux_h.resolve():
                    continue
                if full.parent == src_dir:
                    local[full.name] = sha256(full)
                else:
                    system[str(full)] = sha256(full)
            built.append(Built(name, obj, dict(sorted(local.items())), dict(sorted(system.items()))))
        manifest = {
            "generator": "scripts/build_tools.py (make tools)",
            "toolchain": {
                "clang": clang_version(clang),
                "cflags": flags,
                "strip": "llvm-strip -g",
                "vmlinux_h": {"sha256": sha256(vmlinux_h), "btf_sha256": sha256(Path(btf_path))
                              if vmlinux_dir is None else None},
                "system_headers": dict(sorted({k: v for b in built for k, v in b.system_headers.items()}.items())),
            },
            "tools": {
                b.name: {"inputs": b.local_inputs, "object": f"{b.name}.bpf.o", "object_sha256": sha256(b.obj),
                         "object_size": b.obj.stat().st_size}
                for b in built
            },
        }
    if write_manifest:
        (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest


def load_manifest(tools_dir: Path = TOOLS_DIR) -> dict[str, Any]:
    """The manifest shipped next to the objects."""
    data: dict[str, Any] = json.loads((tools_dir / MANIFEST).read_text())
    return data


def stale(tools_dir: Path = TOOLS_DIR) -> list[str]:
    """Why the shipped objects are not the build of the current sources (empty: they are)."""
    try:
        manifest = load_manifest(tools_dir)
    except FileNotFoundError:
        return [f"{tools_dir / MANIFEST} is missing: run make tools"]
    problems: list[str] = []
    recorded = manifest.get("tools", {})
    names = tool_names(tools_dir)
    for name in names:
        entry = recorded.get(name)
        if entry is None:
            problems.append(f"{name}: not in the manifest (never built)")
            continue
        inputs = entry.get("inputs", {})
        if f"{name}.bpf.c" not in inputs:
            problems.append(f"{name}: the manifest does not list {name}.bpf.c as an input")
        for fname, digest in inputs.items():
            path = tools_dir / fname
            if not path.exists():
                problems.append(f"{name}: input {fname} is gone")
            elif sha256(path) != digest:
                problems.append(f"{name}: {fname} changed since the object was built")
        obj = tools_dir / entry.get("object", f"{name}.bpf.o")
        if not obj.exists():
            problems.append(f"{name}: object {obj.name} is missing")
        elif sha256(obj) != entry.get("object_sha256"):
            problems.append(f"{name}: object {obj.name} is not the one the manifest records")
    for name in sorted(set(recorded) - set(names)):
        problems.append(f"{name}: in the manifest but {name}.bpf.c is gone")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line: build (default) or --check."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="verify the shipped objects against the sources; no clang needed")
    ap.add_argument("--btf", default=DEFAULT_BTF, help=f"kernel BTF that vmlinux.h is generated from (default {DEFAULT_BTF})")
    ap.add_argument("--vmlinux-dir", type=Path, help="use the vmlinux.h in this directory instead of generating one")
    ap.add_argument("--out", type=Path, default=TOOLS_DIR, help="where the objects and manifest go (default the package)")
    ns = ap.parse_args(argv)
    if ns.check:
        problems = stale()
        for p in problems:
            print(f"stale: {p}", file=sys.stderr)
        if problems:
            print("build_tools: run `make tools` to rebuild the objects", file=sys.stderr)
            return 1
        print(f"build_tools: {len(tool_names())} tool objects match their sources")
        return 0
    manifest = build(ns.out, btf_path=ns.btf, vmlinux_dir=ns.vmlinux_dir)
    for entry in manifest["tools"].values():
        print(f"built {ns.out / entry['object']} ({entry['object_size']} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
