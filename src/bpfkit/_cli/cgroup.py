"""``bpfkit cgroup tree [ROOT]`` and ``cgroup show CGROUP``: programs attached to cgroups, like bpftool cgroup.

Each cgroup directory under the cgroup2 root is asked BPF_PROG_QUERY for every
attach type; ``-j``/``-p`` print bpftool's JSON.
"""

from __future__ import annotations

import argparse
import functools
import os

from .. import host
from .._sys import commands as C
from .._uapi import AttachType
from ..errors import BpfError
from ..links._net import cgroup2_root
from ..programs import Program
from ._common import CliError, add_output_options, emit_json, user_errors, wants_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["cgroup_programs", "register"]

_F_ALLOW_OVERRIDE, _F_ALLOW_MULTI = 1, 2
_QUERY_EFFECTIVE = 1


def register(subparsers: Any) -> None:
    """Add the ``cgroup`` command (tree, show)."""
    common = argparse.ArgumentParser(add_help=False)
    add_output_options(common, suppress=True)
    p = subparsers.add_parser("cgroup", help="list the programs attached to cgroups",
                              description="List the BPF programs attached to cgroups, as bpftool cgroup does.")
    add_output_options(p, suppress=False)
    sub = p.add_subparsers(dest="cgroup_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda ns: (p.print_help(), 2)[1])
    for name, usage, helptext, func in (
        ("tree", "[CGROUP_ROOT] [effective]", "every cgroup with programs attached, under the cgroup2 root",
         _cmd_tree),
        ("show", "CGROUP [effective]", "the programs attached to one cgroup", _cmd_show),
        ("list", "CGROUP [effective]", "the programs attached to one cgroup", _cmd_show),
    ):
        sp = sub.add_parser(name, help=helptext, parents=[common], description=helptext,
                            usage=f"bpfkit cgroup {name} [-j|-p] {usage}")
        sp.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        sp.set_defaults(func=user_errors(func))


def _flags_text(flags: int) -> str:
    return {_F_ALLOW_MULTI: "multi", _F_ALLOW_OVERRIDE: "override", 0: ""}.get(flags, f"unknown({flags:x})")


def _describe(prog_id: int) -> dict[str, Any]:
    """name, attach_btf_name, attach_btf_obj_id, attach_btf_id as bpftool 7 prints them for a cgroup program."""
    try:
        with Program.from_id(prog_id) as prog:
            info = prog.info()
    except BpfError:
        return {"name": ""}
    out: dict[str, Any] = {"name": info.name}
    if _is_vmlinux(info.attach_btf_obj_id):
        try:
            out["attach_btf_name"] = host.vmlinux_btf().name_of(info.attach_btf_id)
        except (IndexError, OSError, BpfError):
            pass
    out["attach_btf_obj_id"] = info.attach_btf_obj_id
    out["attach_btf_id"] = info.attach_btf_id
    return out


@functools.cache
def _is_vmlinux(btf_obj_id: int) -> bool:
    """True for 0 (no object: bpftool looks the id up in vmlinux) and for vmlinux's own BTF object."""
    if not btf_obj_id:
        return True
    try:
        fd = C.btf_get_fd_by_id(btf_obj_id)
    except BpfError:
        return False
    try:
        _data, name, is_kernel, _ = C.btf_info(fd)
    finally:
        os.close(fd)
    return is_kernel and name == "vmlinux"


def cgroup_programs(path: str, *, effective: bool = False) -> list[dict[str, Any]]:
    """The programs attached to the cgroup at ``path``, as bpftool's JSON records (attach type order)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    out: list[dict[str, Any]] = []
    try:
        for at in AttachType:
            try:
                ids, flags = C.prog_query(fd, at, _QUERY_EFFECTIVE if effective else 0)
            except BpfError:
                continue  # not a cgroup attach type, or not on this kernel
            for prog_id in ids:
                rec: dict[str, Any] = {"id": prog_id, "attach_type": at.name.lower()}
                if not effective:
                    rec["attach_flags"] = _flags_text(flags)
                rec.update(_describe(prog_id))
                out.append(rec)
    finally:
        os.close(fd)
    return out


def _row(rec: dict[str, Any], indent: bool) -> str:
    text = f"{'    ' if indent else ''}{rec['id']:<8} {rec['attach_type']:<15}"
    if "attach_flags" in rec:
        text += f" {rec['attach_flags']:<15}"
    return (text + f" {rec['name']:<15}").rstrip()


def _split(args: list[str]) -> tuple[list[str], bool]:
    effective = "effective" in args
    return [a for a in args if a != "effective"], effective


def _cmd_tree(ns: argparse.Namespace) -> int:
    args, effective = _split(list(ns.args))
    if len(args) > 1:
        raise CliError("cgroup tree takes at most one cgroup root")
    root = args[0] if args else cgroup2_root()
    if not os.path.isdir(root):
        raise CliError(f"cgroup tree: {root!r} is not a directory")
    found: list[dict[str, Any]] = []
    for dirpath, dirs, _files in os.walk(root):
        dirs.sort()
        try:
            progs = cgroup_programs(dirpath, effective=effective)
        except OSError:
            continue  # a cgroup removed meanwhile
        if progs:
            found.append({"cgroup": dirpath, "programs": progs})
    if wants_json(ns):
        emit_json(ns, found)
        return 0
    header = "CgroupPath\nID       AttachType      " + ("" if effective else "AttachFlags     ") + "Name"
    print(header)
    for entry in found:
        print(entry["cgroup"])
        for rec in entry["programs"]:
            print(_row(rec, indent=True))
    return 0


def _cmd_show(ns: argparse.Namespace) -> int:
    args, effective = _split(list(ns.args))
    if len(args) != 1:
        raise CliError("cgroup show: give one cgroup directory")
    progs = cgroup_programs(args[0], effective=effective)
    if wants_json(ns):
        emit_json(ns, progs)
        return 0
    if progs:
        print("ID       AttachType      " + ("" if effective else "AttachFlags     ") + "Name")
    for rec in progs:
        print(_row(rec, indent=False))
    return 0
