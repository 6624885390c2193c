"""``bpfkit btf``: dump BTF as a C header (vmlinux.h) or a raw listing; list the kernel's BTF."""

from __future__ import annotations

import argparse
import io
import os
import sys

from ..btf import Btf
from ..errors import ObjectFormatError
from ..host import VMLINUX_BTF_PATH, module_btf_names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

__all__ = ["load_btf_file", "register"]

_ELF_MAGIC = b"\x7fELF"


def register(subparsers: Any) -> None:
    """Add ``btf dump`` and ``btf list`` to the ``bpfkit`` parser."""
    parser = subparsers.add_parser("btf", help="dump or list BTF", description="Inspect BPF Type Format data.")
    sub = parser.add_subparsers(dest="btf_command", metavar="SUBCOMMAND")
    dump = sub.add_parser(
        "dump",
        help="write BTF as a C header or a raw type listing",
        description="Write BTF as a C header that BPF programs compile against (like bpftool's vmlinux.h), "
        "or as bpftool's raw listing. FILE is a raw BTF blob, a kernel module's /sys/kernel/btf/<name> "
        "(split BTF on vmlinux) or an ELF object with a .BTF section.",
    )
    dump.add_argument("file", nargs="?", default=VMLINUX_BTF_PATH, metavar="FILE", help=f"default {VMLINUX_BTF_PATH}")
    dump.add_argument("-f", "--format", choices=("c", "raw"), default="c", help="output format (default c)")
    dump.add_argument("-B", "--base", metavar="BASE", help="base BTF of a split BTF FILE (default: vmlinux for kernel modules)")
    dump.add_argument("-o", "--output", metavar="OUT", help="write here instead of standard output")
    dump.add_argument("--no-kfuncs", action="store_true", help="C format: leave out the kfunc prototypes")
    dump.set_defaults(func=_dump)
    lst = sub.add_parser("list", help="names of the running kernel's BTF objects (/sys/kernel/btf)")
    lst.set_defaults(func=_list)

    def _help(ns: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    parser.set_defaults(func=_help)


def _btf_bytes(path: str) -> bytes:
    """The BTF of ``path``: the file itself, or the .BTF section of an ELF object."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != _ELF_MAGIC:
        return data
    from elftools.elf.elffile import ELFFile

    try:
        sec = ELFFile(io.BytesIO(data)).get_section_by_name(".BTF")
        blob = None if sec is None else bytes(sec.data())
    except Exception as exc:  # pyelftools raises assorted exceptions on malformed files
        raise ObjectFormatError(f"{path}: malformed ELF object: {exc}") from None
    if blob is None:
        raise ObjectFormatError(f"{path}: ELF object has no .BTF section", section=".BTF")
    return blob


def load_btf_file(path: str, base: str | None = None) -> Btf:
    """Parse ``path`` as BTF; kernel module BTF under /sys/kernel/btf is split on vmlinux."""
    if base is None:
        btf_dir = os.path.dirname(VMLINUX_BTF_PATH)
        real = os.path.realpath(path)
        if os.path.dirname(real) == btf_dir and real != VMLINUX_BTF_PATH:
            base = VMLINUX_BTF_PATH
    base_btf = load_btf_file(base) if base is not None else None
    return Btf.from_bytes(_btf_bytes(path), base=base_btf)


def _write(btf: Btf, fmt: str, fp: TextIO, kfuncs: bool) -> None:
    from ..btf import format as btf_format

    if fmt == "raw":
        btf_format.write_raw(btf, fp)
    else:
        btf_format.write_c(btf, fp, kfuncs=kfuncs)


def _dump(ns: argparse.Namespace) -> int:
    try:
        btf = load_btf_file(ns.file, ns.base)
    except OSError as exc:
        print(f"bpfkit: cannot read BTF: {exc}", file=sys.stderr)
        return 1
    kfuncs = not ns.no_kfuncs
    if ns.output:
        # a regular file is replaced whole, so a failed dump leaves the old one;
        # anything else (/dev/stdout, a pipe) is written in place
        atomic = not os.path.exists(ns.output) or (os.path.isfile(ns.output) and not os.path.islink(ns.output))
        dest = f"{ns.output}.tmp{os.getpid()}" if atomic else ns.output
        try:
            with open(dest, "w", encoding="utf-8") as f:
                _write(btf, ns.format, f, kfuncs)
            if atomic:
                os.replace(dest, ns.output)
        except OSError as exc:
            print(f"bpfkit: cannot write {ns.output}: {exc}", file=sys.stderr)
            return 1
        finally:
            if atomic and os.path.exists(dest):
                os.unlink(dest)
        return 0
    try:
        _write(btf, ns.format, sys.stdout, kfuncs)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (| head): silence the flush at exit too
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0


def _list(ns: argparse.Namespace) -> int:
    names = module_btf_names()
    if os.path.exists(VMLINUX_BTF_PATH):
        names = ["vmlinux", *names]
    for name in names:
        print(name)
    return 0
