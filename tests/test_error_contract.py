"""The error contract of errors.py, enforced: the public API called with wrong arguments raises only
BpfError subclasses, TypeError (Python's own, for calls that do not match a signature), AttributeError,
or OSError from opening a path the caller named (issue 13, "must exist" 4)."""

from __future__ import annotations

import enum
import errno
import inspect
import json
from collections.abc import Callable
from typing import Any

import pytest

import bpfkit

pytestmark = pytest.mark.kernel

WRONG: list[tuple[Any, ...]] = [
    (),
    (None,),
    ("nope",),
    (-1,),
    (2**70,),
    (1.5,),
    (object(),),
    (b"\xff\x00\xff",),
    ("nope", "nope"),
    (-1, -1),
    (None, None, None),
    (2**70, 2**70, 2**70, 2**70),
]
# calls that would change the host or wait: not part of the walk
SKIP = {"close", "detach", "poll", "consume", "__iter__", "aiter", "pin", "unpin", "freeze", "read_batch",
        "wait", "main"}


def _allowed(exc: BaseException) -> bool:
    if isinstance(exc, bpfkit.BpfError):
        return True
    if type(exc) in (TypeError, AttributeError):
        return True  # Python's own: the call does not match the signature, or no such attribute
    return type(exc) in (FileNotFoundError, IsADirectoryError, NotADirectoryError)  # a path the caller named


def _walk(fn: Callable[..., Any], where: str, bad: list[str]) -> None:
    for args in WRONG:
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - classifying is the point
            if not _allowed(exc):
                bad.append(f"{where}{args!r}: {type(exc).__module__}.{type(exc).__qualname__}: {exc}")
            continue
        close = getattr(result, "close", None)
        if callable(close) and not isinstance(result, type):
            try:
                close()
            except BaseException as exc:  # noqa: BLE001
                if not _allowed(exc):
                    bad.append(f"{where}{args!r} then close(): {type(exc).__qualname__}: {exc}")


def _public_callables() -> list[tuple[str, Callable[..., Any]]]:
    out = []
    for name in bpfkit.__all__:
        obj = getattr(bpfkit, name)
        if isinstance(obj, type) and (issubclass(obj, (BaseException, enum.Enum))):
            continue
        if callable(obj) and name not in SKIP:
            out.append((name, obj))
    return out


def test_top_level_callables_raise_only_contract_errors() -> None:
    bad: list[str] = []
    for name, fn in _public_callables():
        _walk(fn, f"bpfkit.{name}", bad)
        if isinstance(fn, type):  # the class's own constructors (create, from_*)
            for attr, member in inspect.getmembers(fn):
                if attr.startswith(("create", "from_", "load")) and callable(member):
                    _walk(member, f"bpfkit.{name}.{attr}", bad)
    assert bad == []


SUBPACKAGES = ("bpfkit.btf", "bpfkit.asm", "bpfkit.obj", "bpfkit.maps", "bpfkit.links", "bpfkit.features",
               "bpfkit.host", "bpfkit.ringbuf", "bpfkit.perf", "bpfkit.programs", "bpfkit.collection")


def test_subpackage_callables_raise_only_contract_errors() -> None:
    import importlib

    bad: list[str] = []
    for modname in SUBPACKAGES:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if isinstance(obj, type) and issubclass(obj, (BaseException, enum.Enum)):
                continue
            if callable(obj) and name not in SKIP and not name.startswith(("attach", "mount", "ensure")):
                _walk(obj, f"{modname}.{name}", bad)  # attach_*/mount/ensure_*: they change the host
    assert bad == []


def _methods(obj: object) -> list[tuple[str, Callable[..., Any]]]:
    return [
        (n, getattr(obj, n)) for n in dir(obj)
        if not n.startswith("_") and n not in SKIP and callable(getattr(obj, n, None))
        and not isinstance(getattr(type(obj), n, None), type)
        and not inspect.isclass(getattr(obj, n))
    ]


@pytest.mark.parametrize("kind", ["hash", "array", "percpu_hash", "lpm_trie", "queue", "bloom_filter"])
def test_map_methods_raise_only_contract_errors(kind: str) -> None:
    from bpfkit.testing import require

    require(f"map:{kind}")  # bloom_filter came in Linux 5.16
    sizes = {"lpm_trie": (8, 8), "queue": (0, 8), "bloom_filter": (0, 8)}.get(kind, (4, 8))
    flags = bpfkit.MapFlags.NO_PREALLOC if kind == "lpm_trie" else 0
    bad: list[str] = []
    with bpfkit.Map.create(kind, sizes[0], sizes[1], 8, flags=flags) as m:
        for name, fn in _methods(m):
            if name in ("create", "from_fd", "from_pin", "from_id", "info_by_id"):
                continue
            _walk(fn, f"{kind} Map.{name}", bad)
        ops: list[Callable[[Any], Any]] = [lambda k: k in m]
        if hasattr(m, "__getitem__"):
            ops.append(lambda k: m[k])
        if hasattr(m, "__setitem__"):
            ops.append(lambda k: m.__setitem__(k, k))
        if hasattr(m, "__delitem__"):
            ops.append(m.__delitem__)
        for op in ops:
            for args in WRONG:
                if len(args) == 1:
                    try:
                        op(args[0])
                    except BaseException as exc:  # noqa: BLE001
                        if not _allowed(exc):
                            bad.append(f"{kind} item op {args!r}: {type(exc).__qualname__}: {exc}")
    assert bad == []


def _instances() -> list[tuple[str, Any]]:
    """One instance of each public class that owns or describes a kernel object (closed by the caller)."""
    from contextlib import ExitStack
    from pathlib import Path

    from bpfkit.asm import exit_insn, mov64_imm
    from bpfkit.links import attach_raw_tracepoint

    boot = Path(__file__).resolve().parents[1] / "src" / "bpfkit" / "tools" / "bootstrap.bpf.o"
    spec = bpfkit.ObjectSpec.from_file(boot)
    with ExitStack() as made:  # closed here only if making one of them fails
        col = made.enter_context(bpfkit.load(boot))
        rb_map = made.enter_context(bpfkit.Map.create("ringbuf", 0, 0, 4096))
        perf_map = made.enter_context(bpfkit.Map.create("perf_event_array", 4, 4))
        raw = made.enter_context(bpfkit.Program.load("raw_tracepoint", [*mov64_imm(0, 0), *exit_insn()]))
        link = made.enter_context(attach_raw_tracepoint(raw, "sched_process_exit"))  # a bpf_link without tracefs
        ring = made.enter_context(bpfkit.RingBuffer(rb_map, lambda rec: None))
        perf = made.enter_context(bpfkit.PerfBuffer(perf_map, lambda cpu, rec: None))
        made.pop_all()
    return [
        ("Link", link),
        ("Program", raw),
        ("ObjectSpec", spec),
        ("ProgramSpec", spec.programs["handle_exec"]),
        ("MapSpec", spec.maps["exec_start"]),
        ("Btf", spec.btf),
        ("Collection", col),
        ("RingBuffer", ring),
        ("PerfBuffer", perf),
        ("ringbuf map", rb_map),
        ("perf map", perf_map),
    ]


def test_public_objects_methods_raise_only_contract_errors() -> None:
    from bpfkit.testing import require

    require("helper:probe_read_kernel@tracepoint")  # bootstrap's BPF_CORE_READ: lockdown=confidentiality refuses it
    require("perf_events")  # a PerfBuffer opens one perf event per CPU
    bad: list[str] = []
    objs = _instances()
    try:
        for what, obj in objs:
            for name, fn in _methods(obj):
                if what == "Link" and name == "update":
                    continue  # walked below: a wrong program must not replace the attached one
                if name in ("attach", "copy", "create", "from_fd", "from_pin", "from_id", "info_by_id"):
                    continue  # attach() would attach bootstrap's programs for real; the rest are walked above
                _walk(fn, f"{what}.{name}", bad)
        link = objs[0][1]
        for args in WRONG[1:]:
            if len(args) == 1:
                try:
                    link.update(args[0])
                except BaseException as exc:  # noqa: BLE001
                    if not isinstance(exc, bpfkit.BpfError):  # a wrong program is a wrong type: bpfkit's error
                        bad.append(f"Link.update{args!r}: {type(exc).__qualname__}: {exc}")
    finally:
        for _, obj in reversed(objs):
            close = getattr(obj, "close", None)
            if callable(close):
                close()
    assert bad == []


def _as_capabilities_only_user(code: str) -> Any:
    """What ``code`` printed as JSON, run as uid 65534 with CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN only."""
    from hostenv import CAPS_ONLY, run_as

    r = run_as(CAPS_ONLY, ["-c", code])
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    return json.loads(r.stdout)


def test_a_verifier_rejection_is_a_verifier_error_for_a_capabilities_only_user() -> None:
    """The verifier's EACCES is its verdict for any user, with the log (a missing capability is EPERM)."""
    code = ("import errno, json, bpfkit\n"
            "from bpfkit.asm import exit_insn, ldx_mem\n"
            "try:\n"
            "    bpfkit.Program.load('socket_filter', [*ldx_mem(8, 0, 2, 0), *exit_insn()], name='bad')\n"
            "except bpfkit.BpfError as exc:\n"
            "    print(json.dumps([type(exc).__name__, exc.errno, 'R2' in getattr(exc, 'log', '')]))\n")
    assert _as_capabilities_only_user(code) == ["VerifierError", errno.EACCES, True]


def test_a_uprobe_refused_to_a_capabilities_only_user_names_cap_sys_admin() -> None:
    """Kernels with the fix that took uprobe perf events back from CAP_PERFMON refuse them with EACCES: the
    error names CAP_SYS_ADMIN, not the capabilities the user already has; an older kernel attaches."""
    code = ("import json, os, bpfkit\n"
            "from bpfkit.asm import exit_insn, mov64_imm\n"
            "from bpfkit import features\n"
            "from bpfkit.links import attach_uprobe\n"
            "from bpfkit._sys.perf_event import current_paranoid\n"
            "with open('/proc/self/exe', 'rb') as f:\n"
            "    entry = int.from_bytes(f.read(32)[24:32], 'little')  # e_entry of ELF64: an instruction on any arch\n"
            "with bpfkit.Program.load('kprobe', [*mov64_imm(0, 0), *exit_insn()], name='u') as p:\n"
            "    try:\n"
            "        attach_uprobe(p, '/proc/self/exe', address=entry, pid=os.getpid()).close()\n"
            "        got = None\n"
            "    except bpfkit.BpfError as exc:\n"
            "        got = [type(exc).__name__, getattr(exc, 'errno', None), str(exc)]\n"
            "print(json.dumps([got, current_paranoid(), features.check('uprobes').available]))\n")
    got, paranoid, probe = _as_capabilities_only_user(code)
    assert probe is (got is None)  # the uprobes probe answers what the attach found
    if got is None:
        return  # a kernel from before the fix: CAP_PERFMON attaches uprobes
    assert got[0] == "BpfPermissionError" and "CAP_SYS_ADMIN" in got[2], got
    if got[1] == errno.EACCES and (paranoid is None or paranoid <= 2):
        assert "uprobe perf events only for CAP_SYS_ADMIN" in got[2], got
