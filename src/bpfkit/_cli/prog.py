"""``bpfkit prog list|show|dump xlated|jited|pin|run``: any program of the system, like bpftool.

A program is named as bpftool names it: ``id N``, ``pinned PATH``, ``tag HEX``
or ``name NAME`` (tag and name may match several programs). ``-j``/``-p``
print bpftool's JSON (same field names and types). The xlated dump is bpfkit's
own disassembler over the kernel's rewritten instructions, with the program's
BTF function prototypes and source lines.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import host
from .._sys import commands as C
from .._uapi import HelperId
from ..asm import Instruction, decode
from ..asm._disasm import format_insn
from ..btf._ext import LineInfo
from ..btf._types import Func, FuncProto
from ..btf.format import type_decl
from ..programs import Program, ProgramInfo, program_ids
from ._common import (
    CliError,
    add_object_command,
    boot_time_to_unix,
    emit_json,
    fdinfo_int,
    format_time,
    int_arg,
    pinned_paths,
    scan_ids,
    split_ref,
    wants_json,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["open_programs", "program_json", "register"]

_KINDS = ("id", "pinned", "tag", "name")
_NAME_LEN = 15  # BPF_OBJ_NAME_LEN - 1: a name this long may be cut; the BTF name is the full one


def register(subparsers: Any) -> None:
    """Add the ``prog`` command and its subcommands."""
    made = add_object_command(
        subparsers, "prog", "inspect, dump, pin and test-run the system's BPF programs",
        "Inspect any BPF program of the system, as bpftool prog does.",
        "PROG is 'id N', 'pinned PATH', 'tag HEX' or 'name NAME'",
        [("list", "", "list every program", _cmd_show),
         ("show", "[PROG]", "show one program (or every program)", _cmd_show),
         ("dump", "{xlated|jited} PROG [opcodes] [linum] [file FILE]",
          "disassemble the kernel's instructions (xlated) or print the JIT's machine code (jited)", _cmd_dump),
         ("pin", "PROG FILE", "pin a program on a bpf filesystem", _cmd_pin),
         ("run", "PROG [data_in FILE] [data_out FILE] [data_size_out L] [ctx_in FILE] [ctx_out FILE] "
                 "[ctx_size_out M] [repeat N]", "run a program once on given input (BPF_PROG_TEST_RUN)", _cmd_run)])
    run = made["run"]
    run.add_argument("--data", "--data-in", dest="data_in", metavar="FILE", help="packet data ('-': stdin)")
    run.add_argument("--ctx", "--ctx-in", dest="ctx_in", metavar="FILE", help="context ('-': stdin)")
    run.add_argument("--data-out", metavar="FILE", help="where the output data goes ('-': printed)")
    run.add_argument("--ctx-out", metavar="FILE", help="where the output context goes ('-': printed)")
    run.add_argument("--repeat", type=int, metavar="N", help="run N times; the duration is the mean")


# ---- naming programs -------------------------------------------------------------


def _parse_tag(text: str) -> str:
    tag = text.replace(":", "").replace(" ", "").lower()
    if len(tag) != 16 or any(c not in "0123456789abcdef" for c in tag):
        raise CliError(f"can't parse {text!r} as a program tag (16 hex digits)")
    return tag


def full_name(prog: Program, info: ProgramInfo) -> str:
    """The program's name; a 15-character kernel name is completed from its BTF (as bpftool does)."""
    if len(info.name) == _NAME_LEN and info.btf_id:
        funcs = prog.func_info()
        if funcs and funcs[0][1].startswith(info.name):
            return funcs[0][1]
    return info.name


def open_programs(ref: Sequence[str]) -> list[Program]:
    """The programs ``ref`` names: ``(id, N)``, ``(pinned, PATH)``, ``(tag, HEX)`` or ``(name, NAME)``."""
    kind, what = ref
    if kind == "id":
        return [Program.from_id(int_arg(what, "a program id"))]
    if kind == "pinned":
        return [Program.from_pin(what)]
    tag = _parse_tag(what) if kind == "tag" else None
    found: list[Program] = []
    for prog in scan_ids(program_ids(), Program.from_id):
        info = prog.info()
        if (info.tag == tag) if tag is not None else what in (info.name, full_name(prog, info)):
            found.append(prog)
        else:
            prog.close()
    if not found:
        raise CliError(f"no program has {kind} {what!r}")
    return found


def _open_one(ref: Sequence[str]) -> Program:
    progs = open_programs(ref)
    if len(progs) > 1:
        ids = ", ".join(str(p.info().id) for p in progs)
        for p in progs:
            p.close()
        raise CliError(f"{len(progs)} programs have {ref[0]} {ref[1]!r} (ids {ids}); use 'id N'")
    return progs[0]


# ---- show ------------------------------------------------------------------------


def program_json(prog: Program, pins: dict[int, list[str]] | None = None) -> dict[str, Any]:
    """One program as ``bpftool prog show -j`` prints it (same keys, same order, same types)."""
    info = prog.info()
    out: dict[str, Any] = {"id": info.id, "type": _type_name(info.type)}
    name = full_name(prog, info)
    if name:
        out["name"] = name
    out["tag"] = info.tag
    out["gpl_compatible"] = info.gpl_compatible
    if info.run_time_ns:
        out["run_time_ns"] = info.run_time_ns
        out["run_cnt"] = info.run_cnt
    if info.recursion_misses:
        out["recursion_misses"] = info.recursion_misses
    if info.load_time_ns:
        out["loaded_at"] = boot_time_to_unix(info.load_time_ns)
        out["uid"] = info.created_by_uid
    out["bytes_xlated"] = info.xlated_len
    out["jited"] = bool(info.jited_len)
    if info.jited_len:
        out["bytes_jited"] = info.jited_len
    memlock = fdinfo_int(C.fdinfo(prog.fd), "memlock")
    if memlock is not None:
        out["bytes_memlock"] = memlock
    if info.map_ids:
        out["map_ids"] = list(info.map_ids)
    if info.btf_id:
        out["btf_id"] = info.btf_id
    if pins is not None:
        out["pinned"] = pins.get(info.id, [])
    return out


def _type_name(t: Any) -> Any:
    return t.name.lower() if hasattr(t, "name") else int(t)


def _show_text(j: dict[str, Any]) -> str:
    ptype = j["type"] if isinstance(j["type"], str) else f"type {j['type']}"
    head = f"{j['id']}: {ptype}  "
    if "name" in j:
        head += f"name {j['name']}  "
    head += f"tag {j['tag']}  " + ("gpl  " if j["gpl_compatible"] else "")
    if "run_time_ns" in j:
        head += f"run_time_ns {j['run_time_ns']} run_cnt {j['run_cnt']}  "
    if "recursion_misses" in j:
        head += f"recursion_misses {j['recursion_misses']}  "
    lines = [head.rstrip()]
    if "loaded_at" in j:
        lines.append(f"\tloaded_at {format_time(j['loaded_at'])}  uid {j['uid']}")
    sizes = f"\txlated {j['bytes_xlated']}B  " + (f"jited {j['bytes_jited']}B  " if j["jited"] else "not jited  ")
    if "bytes_memlock" in j:
        sizes += f"memlock {j['bytes_memlock']}B  "
    if "map_ids" in j:
        sizes += "map_ids " + ",".join(str(i) for i in j["map_ids"])
    lines.append(sizes.rstrip())
    if "btf_id" in j:
        lines.append(f"\tbtf_id {j['btf_id']}")
    for path in j.get("pinned", []):
        lines.append(f"\tpinned {path}")
    return "\n".join(lines)


def _cmd_show(ns: argparse.Namespace) -> int:
    args = list(ns.args)
    pins = pinned_paths("prog") if getattr(ns, "bpffs", False) else None
    if ns.prog_command == "list" and args:
        raise CliError("prog list takes no program; use 'prog show PROG'")
    if args:
        ref, rest = split_ref(args, _KINDS, "program", "show")
        if rest:
            raise CliError(f"prog show: unexpected {' '.join(rest)!r}")
        progs = open_programs(ref)
        single = len(progs) == 1
    else:
        progs = list(scan_ids(program_ids(), Program.from_id))
        single = False
    try:
        shown = [program_json(p, pins) for p in progs]
    finally:
        for p in progs:
            p.close()
    if wants_json(ns):
        emit_json(ns, shown[0] if single else shown)
    else:
        for j in shown:
            print(_show_text(j))
    return 0


# ---- dump ------------------------------------------------------------------------


def _helper_names(insns: Sequence[Instruction]) -> dict[int, str]:
    """Names of the helpers an xlated program calls: its call imms are offsets from __bpf_call_base."""
    calls = {i.imm for i in insns if i.is_helper_call}
    names: dict[int, str] = {}
    for imm in list(calls):
        try:  # an id the verifier left alone (bpf_tail_call): the kernel's disassembler names it from its table
            names[imm] = "bpf_" + HelperId(imm).name
            calls.discard(imm)
        except ValueError:
            pass
    if not calls:
        return names
    try:
        syms = host.kallsyms()
    except OSError:
        syms = {}
    base = syms.get("__bpf_call_base", 0)
    if base:
        by_addr = {addr: name for name, addr in syms.items() if addr}
        for imm in calls:
            addr = (base + imm) & 0xFFFFFFFFFFFFFFFF
            names[imm] = by_addr.get(addr) or f"0x{addr:x}"
    else:
        names.update({imm: "unknown" for imm in calls})
    return names


def _proto(btf: Any, name: str) -> str | None:
    ids = btf.find(name)
    for tid in ids:
        t = btf[tid]
        if isinstance(t, Func):
            proto = btf[t.type]
            if isinstance(proto, FuncProto):
                params = ", ".join(_param(btf, p.type, p.name) for p in proto.params) or "void"
                return f"{_param(btf, proto.return_type, '')}{name}({params})"
    return None


def _param(btf: Any, type_id: int, name: str) -> str:
    decl = type_decl(btf, type_id, "") if type_id else "void"
    return f"{decl} {name}" if name else (decl + ("" if decl.endswith("*") else " "))


def _insns(raw: bytes) -> list[tuple[int, Instruction, Instruction | None, bytes]]:
    """(slot, instruction, LD_IMM64 second half, its bytes) of an xlated program."""
    insns = decode(raw, section="xlated")
    out = []
    i = 0
    while i < len(insns):
        second = insns[i + 1] if insns[i].is_ld_imm64 and i + 1 < len(insns) else None
        width = 2 if second is not None else 1
        out.append((i, insns[i], second, raw[i * 8 : (i + width) * 8]))
        i += width
    return out


def _opcodes_json(b: bytes) -> dict[str, Any]:
    return {
        "code": f"0x{b[0]:02x}",
        "src_reg": f"0x{b[1] >> 4:x}",
        "dst_reg": f"0x{b[1] & 0xF:x}",
        "off": [f"0x{x:02x}" for x in b[2:4]],
        "imm": [f"0x{x:02x}" for x in (b[4:16] if len(b) == 16 else b[4:8])],
    }


def xlated_listing(prog: Program, *, linum: bool = False, opcodes: bool = False) -> list[dict[str, Any]]:
    """The xlated dump as bpftool's JSON records: proto/src/file/line_num/line_col/disasm/opcodes per insn."""
    raw = prog.xlated()
    if not raw:
        raise CliError(f"program {prog.name!r}: the kernel gives no instructions (kernel.bpf_stats or lockdown?)")
    slots = _insns(raw)
    helpers = _helper_names([s[1] for s in slots])
    funcs = dict(prog.func_info())
    lines: dict[int, list[LineInfo]] = {}
    for li in prog.line_info():
        lines.setdefault(li.insn_off, []).append(li)
    btf = prog.btf() if funcs else None
    syms = prog.function_symbols()
    out: list[dict[str, Any]] = []
    for slot, insn, second, b in slots:
        rec: dict[str, Any] = {}
        if slot in funcs and btf is not None:
            proto = _proto(btf, funcs[slot])
            if proto:
                rec["proto"] = proto
        for li in lines.get(slot, [])[:1]:
            rec["src"] = li.line.strip()
            if linum:
                rec["file"] = li.file_name
                if li.line_num:
                    rec["line_num"] = li.line_num
                if li.col:
                    rec["line_col"] = li.col
        text = format_insn(insn, second, helper_names=helpers, map_ref="id")
        if insn.opcode == 0x85 and insn.src_reg == 1 and syms:
            # after JIT the kernel keeps the call's pc offset in off and the callee's subprogram index in imm
            text = f"call pc{insn.off:+d}#{syms[insn.imm]}" if 0 <= insn.imm < len(syms) else f"call pc{insn.imm:+d}"
        if second is not None and insn.src_reg == 0:
            text = text.removesuffix(" ll")  # bpftool prints a 64-bit constant without clang's suffix
        rec["disasm"] = f"({insn.opcode:02x}) {text}"
        if opcodes:
            rec["opcodes"] = _opcodes_json(b)
        rec["_slot"] = slot
        rec["_bytes"] = b
        out.append(rec)
    return out


def _xlated_text(recs: list[dict[str, Any]], *, linum: bool, opcodes: bool) -> str:
    lines: list[str] = []
    for rec in recs:
        if "proto" in rec:
            lines.append(f"{rec['proto']}:")
        if "src" in rec:
            src = f"; {rec['src']}"
            if linum:
                src += f" [file:{rec['file']} line_num:{rec.get('line_num', 0)} line_col:{rec.get('line_col', 0)}]"
            lines.append(src)
        lines.append(f"{rec['_slot']:4d}: {rec['disasm']}")
        if opcodes:
            lines.append("       " + " ".join(f"{x:02x}" for x in rec["_bytes"]))
    return "\n".join(lines)


def _public(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


def _jited(prog: Program, ns: argparse.Namespace, info: ProgramInfo) -> Any:
    code = prog.jited()
    if not code:
        raise CliError(f"program {info.name!r} has no JIT image (not JITed, or the kernel hides it)")
    name = full_name(prog, info)
    if wants_json(ns):
        return {"name": name, "bytes_jited": len(code), "opcodes": [f"0x{x:02x}" for x in code]}
    rows = [f"{name}:"]
    rows += [f"{off:4x}:\t" + " ".join(f"{x:02x}" for x in code[off : off + 16]) for off in range(0, len(code), 16)]
    return "\n".join(rows)


def _cmd_dump(ns: argparse.Namespace) -> int:
    args = list(ns.args)
    if not args or args[0] not in ("xlated", "jited"):
        raise CliError("prog dump: say 'xlated' or 'jited', then the program")
    what, args = args[0], args[1:]
    ref, rest = split_ref(args, _KINDS, "program", "dump")
    linum = opcodes = False
    out_file: str | None = None
    while rest:
        word = rest.pop(0)
        if word == "linum":
            linum = True
        elif word == "opcodes":
            opcodes = True
        elif word == "file" and rest:
            out_file = rest.pop(0)
        elif word == "visual":
            raise CliError("prog dump: 'visual' (a DOT control-flow graph) is not supported by bpfkit")
        else:
            raise CliError(f"prog dump: unexpected {word!r}")
    progs = open_programs(ref)
    try:
        if out_file is not None:
            if len(progs) > 1:
                raise CliError(f"prog dump: {len(progs)} programs match; 'file' takes one")
            data = progs[0].xlated() if what == "xlated" else progs[0].jited()
            with open(out_file, "wb") as f:
                f.write(data)
            if wants_json(ns):
                emit_json(ns, None)
            return 0
        results: list[Any] = []
        for prog in progs:
            if what == "xlated":
                recs = xlated_listing(prog, linum=linum, opcodes=opcodes)
                results.append([_public(r) for r in recs] if wants_json(ns)
                               else _xlated_text(recs, linum=linum, opcodes=opcodes))
            else:
                results.append(_jited(prog, ns, prog.info()))
    finally:
        for p in progs:
            p.close()
    if wants_json(ns):
        emit_json(ns, results[0] if len(results) == 1 else results)
    else:
        print("\n\n".join(results))
    return 0


# ---- pin, run --------------------------------------------------------------------


def _cmd_pin(ns: argparse.Namespace) -> int:
    ref, rest = split_ref(list(ns.args), _KINDS, "program", "pin")
    if len(rest) != 1:
        raise CliError("prog pin: give the program, then the path to pin it at")
    prog = _open_one(ref)
    try:
        C.obj_pin(prog.fd, rest[0], target=f"program {prog.name!r}")
    finally:
        prog.close()
    if wants_json(ns):
        emit_json(ns, None)
    return 0


def _read_input(path: str | None) -> bytes | None:
    if path is None:
        return None
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _write_output(ns: argparse.Namespace, path: str | None, data: bytes, key: str, out: dict[str, Any]) -> None:
    if path is None:
        return
    if path == "-":
        if wants_json(ns):
            out[key] = [f"0x{x:02x}" for x in data]
        else:
            print(f"{key.replace('_', ' ')}:")
            for off in range(0, len(data), 16):
                print(" ".join(f"{x:02x}" for x in data[off : off + 16]))
        return
    with open(path, "wb") as f:
        f.write(data)


def _cmd_run(ns: argparse.Namespace) -> int:
    ref, rest = split_ref(list(ns.args), _KINDS, "program", "run")
    opts: dict[str, str] = {}
    keywords = ("data_in", "data_out", "data_size_out", "ctx_in", "ctx_out", "ctx_size_out", "repeat")
    long_opts = {"--data": "data_in", "--data-in": "data_in", "--ctx": "ctx_in", "--ctx-in": "ctx_in",
                 "--data-out": "data_out", "--ctx-out": "ctx_out", "--repeat": "repeat"}
    words: list[str] = []
    for word in rest:  # the --options given after PROG, spelled as bpftool's keywords
        name, eq, value = word.partition("=")
        words += [long_opts[name], value] if eq and name in long_opts else [long_opts.get(word, word)]
    rest = words
    while rest:
        word = rest.pop(0)
        if word not in keywords or not rest:
            raise CliError(f"prog run: unexpected {word!r} (keywords: {', '.join(keywords)}, each with a value)")
        opts[word] = rest.pop(0)
    data_in = ns.data_in or opts.get("data_in")
    ctx_in = ns.ctx_in or opts.get("ctx_in")
    if data_in == "-" and ctx_in == "-":
        raise CliError("prog run: data_in and ctx_in can't both be read from stdin")
    data_out = ns.data_out or opts.get("data_out")
    ctx_out = ns.ctx_out or opts.get("ctx_out")
    repeat = ns.repeat if ns.repeat is not None else int_arg(opts.get("repeat", "1"), "a repeat count")
    if repeat < 1:
        raise CliError("prog run: repeat must be at least 1")
    data_size = int_arg(opts["data_size_out"], "a size") if "data_size_out" in opts else None
    ctx_size = int_arg(opts["ctx_size_out"], "a size") if "ctx_size_out" in opts else None
    prog = _open_one(ref)
    try:
        res = prog.test_run(ctx=_read_input(ctx_in), data=_read_input(data_in), repeat=repeat,
                            data_out_size=data_size, ctx_out_size=ctx_size)
    finally:
        prog.close()
    out: dict[str, Any] = {"retval": res.retval, "duration": res.duration_ns}
    _write_output(ns, data_out, res.data, "data_out", out)
    _write_output(ns, ctx_out, res.ctx, "ctx_out", out)
    if wants_json(ns):
        emit_json(ns, out)
    else:
        avg = " (average)" if repeat > 1 else ""
        print(f"Return value: {res.retval}, duration{avg}: {res.duration_ns}ns")
    return 0

