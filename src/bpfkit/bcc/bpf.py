"""``BPF``: BCC's Python API over bpfkit (compile at run time, cached; attach with kprobe fallbacks).

``BPF(text=...)`` rewrites the BCC C into CO-RE C, compiles it with clang
against a vmlinux.h of the running kernel (cached on disk), creates the maps,
and auto-attaches the functions whose names say where (``kprobe__``,
``tracepoint__``...).  Programs are loaded when Python says how they attach
(``attach_*``, ``load_func``), with the program type that use needs.

``attach_kprobe``/``attach_kretprobe`` use kprobes when the kernel has them;
otherwise fentry/fexit on the same function; otherwise, for a system call
function (``get_syscall_fnname("execve")``), the ``syscalls:sys_enter_*`` /
``sys_exit_*`` tracepoint, where BCC's ``syscall__`` arguments and the
``PT_REGS_*`` macros read the tracepoint's arguments.  Each fallback is
announced in one line on stderr.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import os
import re
import select
import sys
import time
import weakref
from collections.abc import Callable, Iterator

from .._uapi import AttachType, ProgType
from ..errors import (
    AccessError,
    CompileError,
    KernelError,
    NotSupportedError,
    RelocationError,
    VerifierError,
)
from . import table as _table
from ._compile import arch as _arch
from ._compile import compile_c
from ._ctypes import btf_to_ctype, ctype_from_c_name
from ._kernel import HostKernel, tracefs_root, uprobe_refusal
from ._loader import LoadedObject, Reader, perf_reader, ring_reader
from ._rewriter import FuncKind, FunctionDecl, Mode, RewriteResult, rewrite
from ._syms import UserSymbols, kernel_symbols
from ._tracepoints import syscall_arg_count

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..features import Support
    from ..trace_pipe import TracePipe

__all__ = ["BPF", "Function"]

TraceFields = tuple[bytes, int, int, bytes, float, bytes]

DEBUG_LLVM_IR = 0x1
DEBUG_BPF = 0x2
DEBUG_PREPROCESSOR = 0x4
DEBUG_SOURCE = 0x8
DEBUG_BPF_REGISTER_STATE = 0x10
DEBUG_BTF = 0x20

_SYSCALL_PREFIXES = ("__x64_sys_", "__x32_compat_sys_", "__ia32_compat_sys_", "__ia32_sys_", "__arm64_sys_",
                     "__s390x_sys_", "__s390_sys_", "__riscv_sys_", "__se_sys_", "__do_sys_", "sys_")


def _s(v: str | bytes | None) -> str:
    """BCC takes str or bytes everywhere."""
    if v is None:
        return ""
    return v.decode() if isinstance(v, (bytes, bytearray)) else str(v)


def _note(line: str) -> None:
    print(f"bpfkit.bcc: {line}", file=sys.stderr, flush=True)


class Function:
    """A loaded program, as BCC's ``BPF.Function``: ``name`` and ``fd`` (and the bpfkit ``program``)."""

    def __init__(self, bpf: BPF, name: str, fd: int, program: Any = None) -> None:
        self.bpf = bpf
        self.name = name.encode()
        self.fd = fd
        self.program = program
        self.sock: Any = None

    def __repr__(self) -> str:
        return f"<BPF.Function {self.name.decode()!r} fd={self.fd}>"


def _syscall_name(event: str) -> str | None:
    """The system call a kernel function name stands for (``__x64_sys_execve`` -> ``execve``), or None."""
    for p in _SYSCALL_PREFIXES:
        if event.startswith(p) and len(event) > len(p):
            return event[len(p):]
    return None


_Fn = Function


class _Ctx:
    """Collected kernel objects of one BPF instance (closed in reverse order by cleanup)."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, ...], Any] = {}
        self.readers: dict[str, Reader] = {}
        self.stand_ins: dict[tuple[str, str, str], tuple[str, ...]] = {}  # (symbol, syscall, phase) -> link key


class BPF:
    """A BCC program: ``BPF(text=...)`` or ``BPF(src_file=...)``, its tables by ``b["name"]``."""

    SOCKET_FILTER = int(ProgType.SOCKET_FILTER)
    KPROBE = int(ProgType.KPROBE)
    SCHED_CLS = int(ProgType.SCHED_CLS)
    SCHED_ACT = int(ProgType.SCHED_ACT)
    TRACEPOINT = int(ProgType.TRACEPOINT)
    XDP = int(ProgType.XDP)
    PERF_EVENT = int(ProgType.PERF_EVENT)
    CGROUP_SKB = int(ProgType.CGROUP_SKB)
    CGROUP_SOCK = int(ProgType.CGROUP_SOCK)
    LWT_IN = int(ProgType.LWT_IN)
    LWT_OUT = int(ProgType.LWT_OUT)
    LWT_XMIT = int(ProgType.LWT_XMIT)
    SOCK_OPS = int(ProgType.SOCK_OPS)
    SK_SKB = int(ProgType.SK_SKB)
    CGROUP_DEVICE = int(ProgType.CGROUP_DEVICE)
    SK_MSG = int(ProgType.SK_MSG)
    RAW_TRACEPOINT = int(ProgType.RAW_TRACEPOINT)
    CGROUP_SOCK_ADDR = int(ProgType.CGROUP_SOCK_ADDR)
    CGROUP_SOCKOPT = int(ProgType.CGROUP_SOCKOPT)
    TRACING = int(ProgType.TRACING)
    LSM = int(ProgType.LSM)

    XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
    XDP_FLAGS_SKB_MODE = 1 << 1
    XDP_FLAGS_DRV_MODE = 1 << 2
    XDP_FLAGS_HW_MODE = 1 << 3
    XDP_FLAGS_REPLACE = 1 << 4

    Function = Function
    Table = staticmethod(_table.Table)

    _syscall_prefix: str | None = None

    def __init__(
        self,
        src_file: str | bytes = "",
        hdr_file: str | bytes = "",
        text: str | bytes | None = None,
        debug: int = 0,
        cflags: list[str] | tuple[str, ...] = (),
        usdt_contexts: list[Any] | tuple[Any, ...] = (),
        allow_rlimit: bool = True,
        device: Any = None,
        attach_usdt_ignore_pid: bool = False,
    ) -> None:
        self._ctx = _Ctx()
        self._closed = False
        self.debug = debug
        self.funcs: dict[str, _Fn] = {}
        self.tables: dict[str, _table.TableBase] = {}
        self.tracefile: TracePipe | None = None
        self._trace_nonblocking = False
        self._obj: LoadedObject | None = None
        self._programs: dict[tuple[Any, ...], Any] = {}
        self._kprobe_count = 0
        src = _s(src_file)
        src_text = _s(text) if text is not None else ""
        if src and src_text:
            raise ValueError("give either src_file or text, not both")
        if device is not None:
            raise NotSupportedError("offloading programs to a device is not supported by bpfkit.bcc",
                                    feature="offload")
        include_dirs: list[str] = []
        filename = "<text>"
        if src:
            path = src if os.path.exists(src) else os.path.join(os.path.dirname(os.path.abspath(sys.argv[0])), src)
            with open(path) as f:
                src_text = f.read()
            filename = os.path.abspath(path)
            include_dirs.append(os.path.dirname(filename))
        hdr = _s(hdr_file)
        if hdr:
            with open(hdr) as f:
                src_text = f.read() + "\n" + src_text
        self._finalizer = weakref.finalize(self, _cleanup_ctx, self._ctx, None)
        atexit.register(_cleanup_ref, weakref.ref(self))
        self.kernel = HostKernel()
        for attempt in (1, 2):
            self.rewritten: RewriteResult = rewrite(src_text, filename=filename, kernel=self.kernel, arch=_arch())
            if debug & (DEBUG_PREPROCESSOR | DEBUG_SOURCE):
                print(self.rewritten.source, file=sys.stderr)
            source = self.rewritten.source
            if usdt_contexts or "bpf_usdt_readarg" in src_text:
                from .usdt import USDT_C_TEXT  # the spec maps and bpf_usdt_readarg(), before the user's text

                source = source.replace('#include "bcc_compat.h"\n', '#include "bcc_compat.h"\n' + USDT_C_TEXT, 1)
            try:
                self.compiled = compile_c(source, cflags=list(cflags), include_dirs=include_dirs, filename=filename,
                                          module=self.kernel.module)
                break
            except CompileError as exc:
                # a type only a loaded module's BTF has, which the rewriter did not look up: again with that module
                m = _INCOMPLETE_RE.search(str(exc))
                if attempt == 2 or m is None or not self.kernel.use_module_for(m.group(1), m.group(2)):
                    raise _missing_type(exc, self.kernel) or exc from None
        log_level = 2 if debug & DEBUG_BPF_REGISTER_STATE else (1 if debug & DEBUG_BPF else 0)
        self._obj = LoadedObject(self.compiled.elf, name="bcc", log_level=log_level)
        self.btf = self._obj.btf
        present = set(self._obj.spec.programs)
        for name, decl in list(self.rewritten.functions.items()):  # drop what #if/#ifdef compiled out
            decl.symbols = {m: s for m, s in decl.symbols.items() if s in present}
            if not decl.symbols:
                del self.rewritten.functions[name]
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup_ctx, self._ctx, self._obj)
        try:
            for u in usdt_contexts:
                u.attach_uprobes(self, attach_usdt_ignore_pid)
            self._trace_autoload()
        except BaseException:
            self.cleanup()  # the caller gets no object to clean up: release what the constructor made
            raise

    # ---- programs -----------------------------------------------------------------

    def _decl(self, fn_name: str) -> FunctionDecl:
        decl = self.rewritten.functions.get(fn_name)
        if decl is None:
            known = ", ".join(sorted(self.rewritten.functions)) or "none"
            raise ValueError(f"no BPF function named {fn_name!r} in the program (functions: {known})")
        return decl

    def _symbol(self, decl: FunctionDecl, mode: Mode) -> str:
        sym = decl.symbols.get(mode)
        if sym is None:
            sym = decl.symbols[Mode.KPROBE]  # reads no registers: the plain entry point runs anywhere
        return sym

    def _load(self, fn_name: str, prog_type: int, mode: Mode = Mode.KPROBE, *,
              attach_type: AttachType | None = None, target: str = "") -> Any:
        """Load (once) the entry point of ``fn_name`` for ``mode`` as ``prog_type``."""
        if self._obj is None:
            raise ValueError("this BPF object was cleaned up")
        decl = self._decl(fn_name)
        symbol = self._symbol(decl, mode)
        key = (symbol, int(prog_type), int(attach_type) if attach_type is not None else -1, target)
        prog = self._programs.get(key)
        if prog is not None:
            return prog
        try:
            prog = self._obj.program(symbol, ProgType(prog_type), expected_attach_type=attach_type,
                                     attach_target=target, name=fn_name)
        except VerifierError as exc:
            raise _with_hint(exc) from None
        self._programs[key] = prog
        vlog = str(getattr(prog, "verifier_log", "") or "")
        if self.debug & DEBUG_BPF and vlog:
            print(vlog, file=sys.stderr)
        return prog

    def load_func(self, func_name: str | bytes, prog_type: int, device: Any = None,
                  attach_type: int = -1) -> _Fn:
        """Load function ``func_name`` as a program of ``prog_type`` (BPF.KPROBE, BPF.XDP ...); ``.fd``."""
        name = _s(func_name)
        if device is not None:
            raise NotSupportedError("offloading programs to a device is not supported by bpfkit.bcc",
                                    feature="offload")
        fn = self.funcs.get(name)
        if fn is not None:
            return fn
        at = AttachType(attach_type) if attach_type is not None and attach_type >= 0 else None
        prog = self._load(name, prog_type, attach_type=at)
        fn = _Fn(self, name, prog.fd, prog)
        self.funcs[name] = fn
        return fn

    def load_funcs(self, prog_type: int = KPROBE) -> list[_Fn]:
        """Load every function of the program as ``prog_type``."""
        return [self.load_func(n, prog_type) for n in self.rewritten.functions]

    # ---- auto attach ----------------------------------------------------------------

    def _trace_autoload(self) -> None:
        for name, decl in self.rewritten.functions.items():
            sec = decl.section
            if name.startswith("kprobe__") and decl.kind is FuncKind.PROGRAM:
                self.attach_kprobe(event=self.fix_syscall_fnname(name[len("kprobe__"):]), fn_name=name)
            elif name.startswith("kretprobe__") and decl.kind is FuncKind.PROGRAM:
                self.attach_kretprobe(event=self.fix_syscall_fnname(name[len("kretprobe__"):]), fn_name=name)
            elif decl.kind is not FuncKind.FIXED:
                continue
            elif sec.startswith(("tracepoint/", "tp/")):
                cat_ev = sec.split("/", 1)[1].replace("/", ":")
                self.attach_tracepoint(tp=cat_ev, fn_name=name)
            elif sec.startswith(("raw_tracepoint/", "raw_tp/")):
                self.attach_raw_tracepoint(tp=sec.split("/", 1)[1], fn_name=name)
            elif sec.startswith("fentry/"):
                self.attach_kfunc(fn_name=name)
            elif sec.startswith("fexit/"):
                self.attach_kretfunc(fn_name=name)
            elif sec.startswith("lsm/"):
                self.attach_lsm(fn_name=name)

    # ---- syscalls -----------------------------------------------------------------------

    def get_syscall_prefix(self) -> bytes:
        """The prefix of system call functions on this kernel (b'__x64_sys_' on x86_64)."""
        if BPF._syscall_prefix is None:
            from .._uapi import BtfKind

            btf = getattr(self.kernel, "btf", None)  # the syscall functions are in the kernel's BTF: no kallsyms scan
            found = None if btf is None else next(
                (p for p in ("sys_", *_SYSCALL_PREFIXES) if btf.find(p + "bpf", BtfKind.FUNC)), None)
            if found is None:
                with open("/proc/kallsyms") as f:
                    text = f.read()
                found = next((p for p in ("sys_", *_SYSCALL_PREFIXES) if f" {p}bpf\n" in text), None)
            if found is None:
                from ..arch import arch

                found = arch().syscall_prefix
            BPF._syscall_prefix = found
        return BPF._syscall_prefix.encode()

    def get_syscall_fnname(self, name: str | bytes) -> bytes:
        """The kernel function of system call ``name`` (b'__x64_sys_execve' for 'execve')."""
        return self.get_syscall_prefix() + _s(name).encode()

    def fix_syscall_fnname(self, name: str | bytes) -> bytes:
        """A system call function name with this kernel's prefix (sys_clone -> __x64_sys_clone)."""
        n = _s(name)
        for p in _SYSCALL_PREFIXES:
            if n.startswith(p):
                return self.get_syscall_fnname(n[len(p):])
        return n.encode()

    # ---- kprobes (with fallbacks) ------------------------------------------------------

    @staticmethod
    def get_kprobe_functions(event_re: str | bytes) -> list[bytes]:
        """Kernel functions whose whole name matches ``event_re`` and that kprobes may attach to, as BCC.

        Text symbols of /proc/kallsyms, without those that can never be probed (_kbl_addr_*, perf, __SCT__,
        .cold parts, the kprobes blacklist), restricted to available_filter_functions when it can be read.
        """
        rx = re.compile(_s(event_re).encode())
        try:
            with open(os.path.join(tracefs_root(), "available_filter_functions"), "rb") as f:
                avail: set[bytes] | None = {line.split()[0] for line in f if line.strip()}
        except (OSError, NotSupportedError):
            avail = None  # unreadable (lockdown): every text symbol is a candidate
        blacklist: set[bytes] = set()
        for path in ("/sys/kernel/debug/kprobes/blacklist",):
            try:
                with open(path, "rb") as f:
                    blacklist = {line.split()[1] for line in f if len(line.split()) > 1}
            except OSError:
                pass
        out: list[bytes] = []
        for name in kernel_symbols()._by_name:
            fn = name.encode()
            if fn.startswith((b"_kbl_addr_", b"__perf", b"perf_", b"__SCT__")) or re.match(rb".*\.cold(\.\d+)?$", fn):
                continue
            if rx.fullmatch(fn) and fn not in blacklist and (avail is None or fn in avail):
                out.append(fn)
        return out

    def attach_kprobe(self, event: str | bytes = b"", event_off: int = 0, fn_name: str | bytes = b"",
                      event_re: str | bytes = b"") -> BPF:
        """Run ``fn_name`` when kernel function ``event`` is entered (kprobe, else fentry, else syscall tracepoint)."""
        return self._attach_probes(event, event_off, fn_name, event_re, retprobe=False)

    def attach_kretprobe(self, event: str | bytes = b"", fn_name: str | bytes = b"", event_re: str | bytes = b"",
                         maxactive: int = 0) -> BPF:
        """Run ``fn_name`` when kernel function ``event`` returns (kretprobe, else fexit, else syscall tracepoint)."""
        return self._attach_probes(event, 0, fn_name, event_re, retprobe=True)

    def _attach_probes(self, event: str | bytes, off: int, fn_name: str | bytes, event_re: str | bytes,
                       retprobe: bool) -> BPF:
        fn = _s(fn_name)
        if _s(event_re):
            matches = self.get_kprobe_functions(event_re)
            failures: list[str] = []
            for m in matches:
                try:
                    self._attach_probe(m.decode(), 0, fn, retprobe)
                except (NotSupportedError, KernelError, OSError) as exc:
                    failures.append(f"{m.decode()}: {exc}")
            if not matches or len(failures) == len(matches):
                detail = failures[0] if failures else "no function matches"
                raise NotSupportedError(f"cannot attach {fn!r} to any of the {len(matches)} functions matching "
                                        f"{_s(event_re)!r}; the first: {detail}", feature="kprobe")
            return self
        self._attach_probe(_s(event), off, fn, retprobe)
        return self

    def _attach_probe(self, event: str, off: int, fn: str, retprobe: bool) -> None:
        from ..links import attach_kprobe, attach_tracepoint, attach_trampoline

        kind = "kretprobe" if retprobe else "kprobe"
        key: tuple[str, ...] = (kind, event, fn)
        n = 1
        while key in self._ctx.links:  # attached again (nfsdist does): BCC makes a second probe, so do we
            n += 1
            key = (kind, event, fn, f"#{n}")
        decl = self._decl(fn)
        reasons: list[str] = []
        kprobes = _kprobes()
        if kprobes:
            prog = self._load(fn, BPF.KPROBE)
            try:
                self._ctx.links[key] = attach_kprobe(prog, event, offset=off, retprobe=retprobe)
                self._kprobe_count += 1
                return
            except NotSupportedError as exc:
                reasons.append(f"kprobe refused ({exc})")
            except KernelError as exc:
                if exc.errno in (errno.ENOENT, errno.EINVAL) and not _kernel_has_function(event):
                    raise NotSupportedError(
                        f"cannot attach {fn!r} to {kind} {event}: the kernel has no function {event!r} (not in "
                        "/proc/kallsyms: the module that has it is not loaded, or this kernel lacks it)",
                        feature="kprobe") from None
                raise
        else:
            reasons.append(f"no kprobes ({kprobes.reason})")
        tramp = "fexit" if retprobe else "fentry"
        if off:
            reasons.append(f"{tramp} cannot take an offset")
        elif not _probe_trampolines():
            reasons.append(f"{tramp} refused ({_TRAMPOLINES[1]})")
        else:
            mode = Mode.FEXIT if retprobe else Mode.FENTRY
            try:
                at = AttachType.TRACE_FEXIT if retprobe else AttachType.TRACE_FENTRY
                prog = self._load(fn, BPF.TRACING, mode, attach_type=at, target=event)
                link = attach_trampoline(prog)
            except RelocationError:
                reasons.append(f"no {tramp}: {event} is not a function in the kernel's BTF")
            except (NotSupportedError, KernelError) as exc:
                reasons.append(f"{tramp} refused ({_short_reason(exc)})")
            else:
                self._ctx.links[key] = link
                self._kprobe_count += 1
                _note(f"{kind} {event} for {fn!r}: {'; '.join(reasons)}; attached as {tramp} instead")
                return
        sc = _syscall_name(event)
        phase = "exit" if retprobe else "enter"
        if sc is not None:
            tracefs = _tracefs()
            if not tracefs:
                raise NotSupportedError(
                    f"cannot attach {fn!r} to {kind} {event}: {'; '.join(reasons)}; and the tracepoint "
                    f"syscalls:sys_{phase}_{sc} cannot stand in: {tracefs.reason}", feature="kprobe",
                    cause=None if tracefs.cause is None else tracefs.cause.value)
            sc = self._syscall_event(sc, phase)
        fmt = self.kernel.tracepoint_format("syscalls", f"sys_{phase}_{sc}") if sc else None
        if sc is None or fmt is None:
            why = "it is not a system call" if sc is None else f"there is no tracepoint syscalls:sys_{phase}_{sc}"
            raise NotSupportedError(
                f"cannot attach {fn!r} to {kind} {event}: {'; '.join(reasons)}; and no tracepoint can stand in "
                f"({why}); use TRACEPOINT_PROBE or attach_tracepoint/attach_raw_tracepoint instead",
                feature="kprobe")
        if not retprobe and decl.extra_args:
            nargs = syscall_arg_count(self.kernel.tracepoint_format("syscalls", f"sys_enter_{sc}") or "")
            if decl.extra_args > nargs:
                raise ValueError(f"{fn!r} declares {decl.extra_args} syscall arguments but {sc}() has {nargs}")
        mode = Mode.SYSCALL_EXIT if retprobe else Mode.SYSCALL_ENTER
        prog = self._load(fn, BPF.TRACEPOINT, mode)
        stand_in = (self._symbol(decl, mode), sc, phase)
        shared = self._ctx.stand_ins.get(stand_in)
        if shared is not None and shared in self._ctx.links:  # stat and newstat: the program runs there once
            self._ctx.links[key] = _SharedLink(shared)
        else:
            self._ctx.links[key] = attach_tracepoint(prog, "syscalls", f"sys_{phase}_{sc}")
            self._ctx.stand_ins[stand_in] = key
        self._kprobe_count += 1
        _note(f"{kind} {event} for {fn!r}: {'; '.join(reasons)}; attached to tracepoint syscalls:sys_{phase}_{sc} "
              "instead")

    def _syscall_event(self, sc: str, phase: str) -> str:
        """The name of the syscalls:sys_<phase>_* tracepoint of system call ``sc``.

        The tracepoints are named after the kernel's SYSCALL_DEFINE, which differs from the name in the syscall
        table for some calls: stat, lstat, fstat and uname are newstat ... (the 'new' ABI), umount2 is umount.
        """
        for cand in (sc, f"new{sc}", sc.rstrip("0123456789")):
            if cand and self.kernel.tracepoint_format("syscalls", f"sys_{phase}_{cand}") is not None:
                return cand
        return sc

    def _detach(self, key: tuple[str, ...]) -> None:
        link = self._ctx.links.pop(key, None)
        if link is None:
            raise ValueError(f"{key[0]} {key[1]} is not attached" + (f" to {key[2]!r}" if len(key) > 2 else ""))
        link.close()

    def detach_kprobe(self, event: str | bytes, fn_name: str | bytes | None = None) -> None:
        """Detach ``fn_name`` (or every function) from kprobe ``event``."""
        self._detach_probe("kprobe", _s(event), fn_name)

    def detach_kretprobe(self, event: str | bytes, fn_name: str | bytes | None = None) -> None:
        """Detach ``fn_name`` (or every function) from kretprobe ``event``."""
        self._detach_probe("kretprobe", _s(event), fn_name)

    def _detach_probe(self, kind: str, event: str, fn_name: str | bytes | None) -> None:
        keys = [k for k in self._ctx.links if k[0] == kind and k[1] == event and (fn_name is None or k[2] == _s(fn_name))]
        if not keys:
            raise ValueError(f"{kind} {event} is not attached")
        for k in keys:
            self._detach(k)
            self._kprobe_count -= 1

    def num_open_kprobes(self) -> int:
        """How many kprobes (and the fentry/tracepoint stand-ins of kprobes) are attached."""
        return self._kprobe_count

    def num_open_uprobes(self) -> int:
        """How many uprobes are attached."""
        return sum(1 for k in self._ctx.links if k[0] in ("uprobe", "uretprobe"))

    def num_open_tracepoints(self) -> int:
        """How many tracepoints are attached."""
        return sum(1 for k in self._ctx.links if k[0] == "tracepoint")

    # ---- tracepoints ---------------------------------------------------------------------

    @staticmethod
    def tracepoint_exists(category: str | bytes, event: str | bytes) -> bool:
        """Whether tracepoint ``category:event`` exists and this process can attach to it.

        False where this process cannot use tracefs (as in BCC, whose tools then take their kprobe path, which
        a capabilities-only user may have); attaching to it says why.
        """
        if not _tracefs():
            return False
        root = tracefs_root(f"tracepoint_exists({_s(category)}:{_s(event)})")
        return os.path.exists(os.path.join(root, "events", _s(category), _s(event), "id"))

    @staticmethod
    def get_tracepoints(tp_re: str | bytes) -> list[bytes]:
        """'category:event' of the tracepoints matching ``tp_re``."""
        rx = re.compile(_s(tp_re))
        root = os.path.join(tracefs_root(f"get_tracepoints({_s(tp_re)!r})"), "events")
        out = []
        for cat in sorted(os.listdir(root)):
            d = os.path.join(root, cat)
            if not os.path.isdir(d):
                continue
            for ev in sorted(os.listdir(d)):
                name = f"{cat}:{ev}"
                if os.path.isdir(os.path.join(d, ev)) and rx.match(name):
                    out.append(name.encode())
        return out

    def attach_tracepoint(self, tp: str | bytes = b"", tp_re: str | bytes = b"", fn_name: str | bytes = b"") -> BPF:
        """Run ``fn_name`` on tracepoint ``tp`` ('category:event')."""
        from ..links import attach_tracepoint

        fn = _s(fn_name)
        tps = [t.decode() for t in self.get_tracepoints(tp_re)] if _s(tp_re) else [_s(tp)]
        for t in tps:
            cat, sep, ev = t.partition(":")
            if not sep or not cat or not ev:
                raise ValueError(f"a tracepoint is 'category:event', got {t!r}")
            key = ("tracepoint", t, fn)
            if key in self._ctx.links:
                raise ValueError(f"{fn!r} is already attached to tracepoint {t}")
            prog = self._load(fn, BPF.TRACEPOINT)
            self._ctx.links[key] = attach_tracepoint(prog, cat, ev)
        return self

    def detach_tracepoint(self, tp: str | bytes = b"") -> None:
        """Detach every function from tracepoint ``tp``."""
        keys = [k for k in self._ctx.links if k[0] == "tracepoint" and k[1] == _s(tp)]
        if not keys:
            raise ValueError(f"tracepoint {_s(tp)} is not attached")
        for k in keys:
            self._detach(k)

    def attach_raw_tracepoint(self, tp: str | bytes = b"", fn_name: str | bytes = b"") -> BPF:
        """Run ``fn_name`` on raw tracepoint ``tp`` (e.g. sys_enter)."""
        from ..links import attach_raw_tracepoint

        t, fn = _s(tp), _s(fn_name)
        key = ("raw_tracepoint", t)
        if key in self._ctx.links:
            raise ValueError(f"raw tracepoint {t} is already attached")
        prog = self._load(fn, BPF.RAW_TRACEPOINT)
        try:
            self._ctx.links[key] = attach_raw_tracepoint(prog, t)
        except KernelError as exc:
            if exc.errno != errno.ENOENT:
                raise
            raise NotSupportedError(f"cannot attach {fn!r}: this kernel has no raw tracepoint {t!r}",
                                    feature=f"raw_tracepoint {t}") from None
        return self

    def detach_raw_tracepoint(self, tp: str | bytes = b"") -> None:
        """Detach raw tracepoint ``tp``."""
        self._detach(("raw_tracepoint", _s(tp)))

    @staticmethod
    def kernel_struct_has_field(struct_name: str | bytes, field_name: str | bytes) -> int:
        """1 if kernel struct ``struct_name`` has member ``field_name``, 0 if not, -1 if there is no such struct."""
        facts = HostKernel()
        ref = facts.record("struct", _s(struct_name))
        if ref is None:
            return -1
        return int(facts.member(ref, _s(field_name)) is not None)

    @staticmethod
    def kernel_enum_has_val(enum_name: str | bytes, value_name: str | bytes) -> int:
        """1 if kernel enum ``enum_name`` has ``value_name``, 0 if not, -1 if there is no such enum."""
        from .._uapi import BtfKind
        from ..btf import Enum, Enum64

        btf = HostKernel().btf
        ids = btf.find(_s(enum_name), BtfKind.ENUM) + btf.find(_s(enum_name), BtfKind.ENUM64)
        if not ids:
            return -1
        t = btf[ids[0]]
        assert isinstance(t, (Enum, Enum64))
        return int(any(v.name == _s(value_name) for v in t.values))

    @staticmethod
    def support_raw_tracepoint() -> bool:
        """Raw tracepoints exist (Linux 4.17)."""
        from ..host import kernel_version

        return kernel_version() >= (4, 17, 0)

    # ---- fentry / lsm ---------------------------------------------------------------------

    def _attach_trampoline(self, kind: str, fn: str, prog_type: int, at: AttachType) -> BPF:
        from ..links import attach_trampoline

        decl = self._decl(fn)
        target = decl.section.split("/", 1)[1] if "/" in decl.section else ""
        key = (kind, fn)
        if key in self._ctx.links:
            raise ValueError(f"{fn!r} is already attached")
        what = {"kfunc": "fentry", "kretfunc": "fexit", "fmod_ret": "fmod_ret", "lsm": "lsm"}.get(kind, kind)
        if not _probe_trampolines():
            raise NotSupportedError(f"cannot attach {fn!r} as {what} program on {target or '?'}: this kernel refuses "
                                    f"BPF trampoline programs (fentry/fexit/fmod_ret/lsm: {_TRAMPOLINES[1]})",
                                    feature="trampoline")
        try:
            prog = self._load(fn, prog_type, attach_type=at, target=target)
            self._ctx.links[key] = attach_trampoline(prog)
        except RelocationError as exc:
            raise NotSupportedError(f"cannot attach {fn!r} as {what} program: {target} is not a function in the "
                                    f"kernel's BTF ({exc})", feature="trampoline") from None
        return self

    def attach_fmod_ret(self, fn_name: str | bytes = b"") -> BPF:
        """Attach a KMOD_RET (fmod_ret) function: it may change the return value of the kernel function."""
        return self._attach_trampoline("fmod_ret", _add_prefix("kmod_ret__", fn_name), BPF.TRACING,
                                       AttachType.MODIFY_RETURN)

    def detach_fmod_ret(self, fn_name: str | bytes = b"") -> None:
        """Detach a KMOD_RET function."""
        self._detach(("fmod_ret", _add_prefix("kmod_ret__", fn_name)))

    @staticmethod
    def support_fmod_ret() -> bool:
        """Whether the kernel knows fmod_ret programs (BPF_MODIFY_RETURN in its enum bpf_attach_type), as BCC."""
        return BPF.kernel_enum_has_val("bpf_attach_type", "BPF_MODIFY_RETURN") == 1

    def attach_kfunc(self, fn_name: str | bytes = b"") -> BPF:
        """Attach a KFUNC_PROBE (fentry) function."""
        return self._attach_trampoline("kfunc", _add_prefix("kfunc__", fn_name), BPF.TRACING, AttachType.TRACE_FENTRY)

    def attach_kretfunc(self, fn_name: str | bytes = b"") -> BPF:
        """Attach a KRETFUNC_PROBE (fexit) function."""
        return self._attach_trampoline("kretfunc", _add_prefix("kretfunc__", fn_name), BPF.TRACING,
                                       AttachType.TRACE_FEXIT)

    def attach_lsm(self, fn_name: str | bytes = b"") -> BPF:
        """Attach an LSM_PROBE function."""
        return self._attach_trampoline("lsm", _add_prefix("lsm__", fn_name), BPF.LSM, AttachType.LSM_MAC)

    def detach_kfunc(self, fn_name: str | bytes = b"") -> None:
        """Detach a KFUNC_PROBE function."""
        self._detach(("kfunc", _add_prefix("kfunc__", fn_name)))

    def detach_kretfunc(self, fn_name: str | bytes = b"") -> None:
        """Detach a KRETFUNC_PROBE function."""
        self._detach(("kretfunc", _add_prefix("kretfunc__", fn_name)))

    def detach_lsm(self, fn_name: str | bytes = b"") -> None:
        """Detach an LSM_PROBE function."""
        self._detach(("lsm", _add_prefix("lsm__", fn_name)))

    @staticmethod
    def support_kfunc() -> bool:
        """Whether fentry programs can load here (probed once)."""
        return _probe_trampolines()

    @staticmethod
    def support_lsm() -> bool:
        """Whether LSM programs can load here (trampolines and the bpf LSM)."""
        if not _probe_trampolines():
            return False
        try:
            with open("/sys/kernel/security/lsm") as f:
                return "bpf" in f.read().split(",")
        except OSError:
            return False

    # ---- files and symbols of user programs -------------------------------------------------

    @staticmethod
    def find_library(libname: str | bytes, pid: int = 0) -> bytes | None:
        """Path of shared library ``lib{libname}`` (among those process ``pid`` maps when given), or None."""
        from ..links._probes import find_library

        name = _s(libname)
        if pid:
            base = name[3:] if name.startswith("lib") else name
            rx = re.compile(rf"lib{re.escape(base)}[.-]")
            try:
                with open(f"/proc/{int(pid)}/maps") as f:
                    for line in f:
                        path = line.split(None, 5)[5].strip() if len(line.split(None, 5)) == 6 else ""
                        if path.startswith("/") and rx.match(os.path.basename(path)):
                            return path.encode()
            except OSError:
                return None
            return None
        found = find_library(name)
        return None if found is None else found.encode()

    @staticmethod
    def find_exe(bin_path: str | bytes) -> bytes | str | None:
        """The first executable ``bin_path`` in $PATH (or the path itself when it has a '/'), or None."""
        name = _s(bin_path)
        if os.sep in name:
            found = name if os.path.isfile(name) and os.access(name, os.X_OK) else None
        else:
            import shutil

            found = shutil.which(name)
        if found is None:
            return None
        return found.encode() if isinstance(bin_path, bytes) else found

    _auto_includes = {"linux/time.h": ["time"], "linux/fs.h": ["fs", "file"], "linux/blkdev.h": ["bio", "request"],
                      "linux/slab.h": ["alloc"], "linux/netdevice.h": ["sk_buff", "net_device"]}

    @classmethod
    def generate_auto_includes(cls, program_words: list[str]) -> str:
        """#include lines for the kernel headers whose types the words name (BCC's heuristic; vmlinux.h has them all)."""
        headers = ""
        for header, keywords in cls._auto_includes.items():
            if any(k in w for k in keywords for w in program_words) and header not in headers:
                headers += f"#include <{header}>\n"
        return headers

    @staticmethod
    def get_probe_limit() -> int:
        """How many probes a tool may attach ($BCC_PROBE_LIMIT, default 1000), as BCC."""
        env = os.environ.get("BCC_PROBE_LIMIT", "")
        return int(env) if env.isdigit() else 1000

    @staticmethod
    def get_user_functions_and_addresses(name: str | bytes, sym_re: str | bytes) -> list[tuple[bytes, int]]:
        """(name, address) of the functions of binary or library ``name`` whose names match ``sym_re``."""
        from ._syms import elf_functions

        path = _user_binary(name)
        rx = re.compile(_s(sym_re).encode())
        out: list[tuple[bytes, int]] = []
        for addr, fname in elf_functions(path):
            b = fname.encode()
            if rx.match(b):
                out.append((b, addr))
        return out

    @staticmethod
    def get_user_functions(name: str | bytes, sym_re: str | bytes) -> set[bytes]:
        """Names of the functions of ``name`` matching ``sym_re``."""
        return {n for n, _ in BPF.get_user_functions_and_addresses(name, sym_re)}

    @staticmethod
    def get_user_addresses(name: str | bytes, sym_re: str | bytes) -> set[int]:
        """Addresses of the functions of ``name`` matching ``sym_re``."""
        return {a for _, a in BPF.get_user_functions_and_addresses(name, sym_re)}

    @staticmethod
    def add_module(modname: str | bytes) -> None:
        """Read the symbols of library or executable ``modname`` now (BCC's build-id symbol cache), for sym()."""
        from ._syms import elf_functions

        try:
            elf_functions(_user_binary(modname))
        except (OSError, ValueError) as exc:
            print(f"Error adding module to build sym cache {exc}", file=sys.stderr)

    # ---- uprobes ---------------------------------------------------------------------------

    def attach_uprobe(self, name: str | bytes = b"", sym: str | bytes = b"", sym_re: str | bytes = b"",
                      addr: int | None = None, fn_name: str | bytes = b"", pid: int = -1, sym_off: int = 0) -> BPF:
        """Run ``fn_name`` when function ``sym`` of binary or library ``name`` is entered."""
        return self._attach_uprobe(name, sym, sym_re, addr, fn_name, pid, sym_off, False)

    def attach_uretprobe(self, name: str | bytes = b"", sym: str | bytes = b"", sym_re: str | bytes = b"",
                         addr: int | None = None, fn_name: str | bytes = b"", pid: int = -1) -> BPF:
        """Run ``fn_name`` when function ``sym`` of binary or library ``name`` returns."""
        return self._attach_uprobe(name, sym, sym_re, addr, fn_name, pid, 0, True)

    def _attach_uprobe(self, name: str | bytes, sym: str | bytes, sym_re: str | bytes, addr: int | None,
                       fn_name: str | bytes, pid: int, sym_off: int, ret: bool) -> BPF:
        from ..links import attach_uprobe

        binary, fn = _s(name), _s(fn_name)
        if _s(sym_re):
            names = sorted({n.decode() for n, _ in self.get_user_functions_and_addresses(binary, sym_re)})
            if not names:
                raise ValueError(f"no function of {binary} matches {_s(sym_re)!r}")
            for n in names:
                self._attach_uprobe(name, n, b"", None, fn_name, pid, sym_off, ret)
            return self
        symbol = _s(sym) or None
        kind = "uretprobe" if ret else "uprobe"
        key = (kind, binary, symbol or hex(addr or 0), fn, str(pid))
        if key in self._ctx.links:
            raise ValueError(f"{fn!r} is already attached to {kind} {binary}:{symbol}")
        prog = self._load(fn, BPF.KPROBE)
        with uprobe_refusal(f"{kind} {binary}:{symbol or hex(addr or 0)} for {fn!r}"):
            self._ctx.links[key] = attach_uprobe(prog, binary, symbol, offset=sym_off, address=addr, retprobe=ret,
                                                 pid=pid)
        return self

    def detach_uprobe(self, name: str | bytes = b"", sym: str | bytes = b"", addr: int | None = None,
                      pid: int = -1, sym_off: int = 0) -> None:
        """Detach uprobes on ``name``:``sym``."""
        self._detach_uprobes("uprobe", _s(name), _s(sym) or hex(addr or 0), pid)

    def detach_uretprobe(self, name: str | bytes = b"", sym: str | bytes = b"", addr: int | None = None,
                         pid: int = -1) -> None:
        """Detach uretprobes on ``name``:``sym``."""
        self._detach_uprobes("uretprobe", _s(name), _s(sym) or hex(addr or 0), pid)

    def _detach_uprobes(self, kind: str, binary: str, where: str, pid: int) -> None:
        keys = [k for k in self._ctx.links if k[:3] == (kind, binary, where) and k[4] == str(pid)]
        if not keys:
            raise ValueError(f"{kind} {binary}:{where} is not attached")
        for k in keys:
            self._detach(k)

    # ---- perf events, xdp, sockets -----------------------------------------------------------

    def attach_perf_event(self, ev_type: int = -1, ev_config: int = -1, fn_name: str | bytes = b"",
                          sample_period: int = 0, sample_freq: int = 0, pid: int = -1, cpu: int = -1,
                          group_fd: int = -1) -> BPF:
        """Run ``fn_name`` on a sampling perf event on every CPU (or ``cpu``)."""
        from ..links import attach_perf_event

        fn = _s(fn_name)
        prog = self._load(fn, BPF.PERF_EVENT)
        cpus = [cpu] if cpu >= 0 else None
        link = attach_perf_event(prog, type=ev_type, config=ev_config,
                                 sample_freq=sample_freq or None, sample_period=None if sample_freq else sample_period,
                                 cpus=cpus, pid=pid)
        self._ctx.links[("perf_event", str(ev_type), str(ev_config), fn)] = link
        return self

    def detach_perf_event(self, ev_type: int = -1, ev_config: int = -1) -> None:
        """Detach the perf event of type/config."""
        keys = [k for k in self._ctx.links if k[:3] == ("perf_event", str(ev_type), str(ev_config))]
        if not keys:
            raise ValueError("perf event is not attached")
        for k in keys:
            self._detach(k)

    def attach_xdp(self, dev: str | bytes, fn: _Fn, flags: int = 0) -> None:
        """Attach an XDP Function (load_func(..., BPF.XDP)) to interface ``dev``."""
        from ..links import attach_xdp

        mode = "skb" if flags & BPF.XDP_FLAGS_SKB_MODE else "drv" if flags & BPF.XDP_FLAGS_DRV_MODE else \
            "hw" if flags & BPF.XDP_FLAGS_HW_MODE else ""
        self._ctx.links[("xdp", _s(dev))] = attach_xdp(fn.program, _s(dev), mode=mode)

    def remove_xdp(self, dev: str | bytes, flags: int = 0) -> None:
        """Detach the XDP program this object attached to ``dev``."""
        self._detach(("xdp", _s(dev)))

    def attach_raw_socket(self, fn: _Fn, dev: str | bytes) -> None:
        """Open a raw socket on ``dev`` with socket filter ``fn``; the socket is ``fn.sock``."""
        import socket

        from ..links import attach_socket_filter

        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.htons(3))
        except PermissionError:
            raise AccessError(f"attach_raw_socket of {fn.name.decode()!r} on {_s(dev)}: the kernel refuses this "
                              f"process (uid {os.getuid()}) a raw packet socket (AF_PACKET needs CAP_NET_RAW in the "
                              "network namespace's user namespace)",
                              fix="run as root or grant CAP_NET_RAW") from None
        try:
            sock.bind((_s(dev), 0))
            self._ctx.links[("socket", _s(dev), fn.name.decode())] = attach_socket_filter(fn.program, sock)
        except BaseException:
            sock.close()
            raise
        fn.sock = sock

    # ---- tables ------------------------------------------------------------------------------

    def get_table(self, name: str | bytes, keytype: Any = None, leaftype: Any = None,
                  reducer: Callable[[Any, Any], Any] | None = None) -> _table.TableBase:
        """The table (map) ``name`` with ctypes ``Key``/``Leaf`` types from BTF (or the ones given)."""
        n = _s(name)
        if self._obj is None:
            raise ValueError("this BPF object was cleaned up")
        m = self._obj.maps.get(n)
        decl = self.rewritten.maps.get(n)
        if m is None:
            raise KeyError(n)
        if keytype is None and int(m.key_size) == 0:
            keytype = None  # queues, stacks and ring buffers have no keys
        elif keytype is None:
            keytype = self._ctype(decl.key_typedef if decl else None, decl.key_type if decl else None,
                                  int(m.key_size), f"key of {n!r}")
        if leaftype is None and int(m.value_size) == 0:
            leaftype = None  # ring buffers carry records, not values
        elif leaftype is None:
            leaftype = self._ctype(decl.leaf_typedef if decl else None, decl.leaf_type if decl else None,
                                   int(m.value_size), f"value of {n!r}")
        t = _table.Table(self, m, n, keytype, leaftype, reducer)
        if isinstance(t, _table._EventTable):
            td = self.rewritten.event_types.get(n)
            if td is not None:
                t._event_class = self._ctype(td, None, 0, f"events of {n!r}")
        return t

    def _ctype(self, typedef: str | None, c_text: str | None, size: int, what: str) -> Any:
        """ctypes type of a map's key/value: from the object's BTF typedef, else the C type name, else bytes."""
        if typedef is not None and self.btf is not None:
            from .._uapi import BtfKind

            ids = self.btf.find(typedef, BtfKind.TYPEDEF)
            if ids:
                return btf_to_ctype(self.btf, ids[0])
        if c_text is not None:
            ct = ctype_from_c_name(c_text)
            if ct is not None and (not size or ctypes.sizeof(ct) == size):
                return ct
            if " ".join(c_text.split()) == "struct bpf_stacktrace":
                return type("bpf_stacktrace", (ctypes.Structure,), {"_fields_": [("ip", ctypes.c_ulonglong * 127)]})
        if size in (1, 2, 4, 8):
            return {1: ctypes.c_ubyte, 2: ctypes.c_ushort, 4: ctypes.c_uint, 8: ctypes.c_ulonglong}[size]
        if size:
            return ctypes.c_ubyte * size
        raise TypeError(f"bpfkit.bcc cannot tell the type of the {what}")

    def __getitem__(self, key: str | bytes) -> _table.TableBase:
        k = _s(key)
        if k not in self.tables:
            self.tables[k] = self.get_table(k)
        return self.tables[k]

    def __setitem__(self, key: str | bytes, leaf: _table.TableBase) -> None:
        self.tables[_s(key)] = leaf

    def __len__(self) -> int:
        return len(self.tables)

    def __delitem__(self, key: str | bytes) -> None:
        del self.tables[_s(key)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tables)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, (str, bytes)) and self._obj is not None and _s(key) in self._obj.maps

    # ---- perf and ring buffers ------------------------------------------------------------

    def _open_perf_buffer(self, t: _table.TableBase, callback: Callable[..., Any], page_cnt: int,
                          lost_cb: Callable[[int], Any] | None, wakeup_events: int) -> None:
        if t.name in self._ctx.readers:
            raise ValueError(f"a perf buffer is already open on {t.name!r}")

        def on_sample(cpu: int, data: Any) -> None:
            raw = bytes(data)
            buf = ctypes.create_string_buffer(raw, len(raw))
            callback(cpu, ctypes.cast(buf, ctypes.c_void_p), len(raw))

        def on_lost(cpu: int, count: int) -> None:
            if lost_cb is not None:
                lost_cb(count)

        self._ctx.readers[t.name] = perf_reader(t.map, on_sample, on_lost, page_cnt, wakeup_events)

    def _close_perf_buffer(self, t: _table.TableBase) -> None:
        r = self._ctx.readers.pop(t.name, None)
        if r is not None:
            r.close()

    def _open_ring_buffer(self, t: _table.TableBase, callback: Callable[..., Any], ctx: Any) -> None:
        key = f"ringbuf:{t.name}"
        if key in self._ctx.readers:
            raise ValueError(f"a ring buffer reader is already open on {t.name!r}")

        def on_record(data: Any) -> int:
            raw = bytes(data)
            buf = ctypes.create_string_buffer(raw, len(raw))
            rc = callback(ctx, ctypes.cast(buf, ctypes.c_void_p), len(raw))
            return int(rc) if isinstance(rc, int) else 0

        self._ctx.readers[key] = ring_reader(t.map, on_record)

    def _poll(self, readers: list[Reader], timeout_ms: int) -> int:
        if not readers:
            raise ValueError("no buffer is open: call open_perf_buffer/open_ring_buffer first")
        timeout = None if timeout_ms is None or timeout_ms < 0 else timeout_ms / 1000.0
        if len(readers) == 1:
            return readers[0].poll(timeout)
        fds = [r.fileno() for r in readers]
        if all(fd is not None for fd in fds):
            p = select.poll()
            for fd in fds:
                assert fd is not None
                p.register(fd, select.POLLIN)
            p.poll(None if timeout is None else timeout * 1000)
            return sum(r.consume() for r in readers)
        # readers without fds: share the timeout between them
        total = 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for r in readers:
                total += r.poll(0)
            if total or (deadline is not None and time.monotonic() >= deadline):
                return total
            time.sleep(0.01)

    def perf_buffer_poll(self, timeout: int = -1) -> int:
        """Wait up to ``timeout`` ms (-1: forever) for perf events and run the callbacks."""
        return self._poll([r for k, r in self._ctx.readers.items() if not k.startswith("ringbuf:")], timeout)

    def kprobe_poll(self, timeout: int = -1) -> int:
        """BCC's old name of perf_buffer_poll."""
        return self.perf_buffer_poll(timeout)

    def perf_buffer_consume(self) -> int:
        """Run the callbacks for the perf events already there."""
        return sum(r.consume() for k, r in self._ctx.readers.items() if not k.startswith("ringbuf:"))

    def ring_buffer_poll(self, timeout: int = -1) -> int:
        """Wait up to ``timeout`` ms (-1: forever) for ring buffer records and run the callbacks."""
        return self._poll([r for k, r in self._ctx.readers.items() if k.startswith("ringbuf:")], timeout)

    def ring_buffer_consume(self) -> int:
        """Run the callbacks for the ring buffer records already there."""
        return sum(r.consume() for k, r in self._ctx.readers.items() if k.startswith("ringbuf:"))

    # ---- trace_pipe -------------------------------------------------------------------------

    def trace_open(self, nonblocking: bool = False) -> TracePipe:
        """Open the kernel's trace_pipe (once); ``nonblocking`` makes reads return at once when it is empty."""
        if self.tracefile is None:
            from .. import TracePipe

            self.tracefile = TracePipe()
            self._trace_nonblocking = nonblocking
        return self.tracefile

    def _trace_line(self, nonblocking: bool) -> bytes | None:
        tp = self.trace_open(nonblocking)
        line = tp.readline(0 if self._trace_nonblocking or nonblocking else None)
        return None if line is None else line.encode()

    def trace_readline(self, nonblocking: bool = False) -> bytes:
        """One line of trace_pipe as bytes (as BCC); b'' when non-blocking and nothing is there."""
        return self._trace_line(nonblocking) or b""

    def trace_fields(self, nonblocking: bool = False) -> TraceFields | tuple[None, ...]:
        """(task, pid, cpu, flags, ts, msg) of the next bpf_trace_printk line, task/flags/msg as bytes (as BCC)."""
        from ..trace_pipe import parse_line

        while True:
            line = self._trace_line(nonblocking)
            if line is None:
                return (None,) * 6
            try:
                e = parse_line(line)
            except ValueError:
                continue  # lost-event notes and blank lines
            return e.task.encode(), e.pid, e.cpu, e.flags.encode(), e.timestamp, e.message.encode()

    def trace_print(self, fmt: str | None = None) -> None:
        """Print trace_pipe lines forever (formatted with ``fmt`` over trace_fields when given)."""
        while True:
            if fmt:
                fields = self.trace_fields(nonblocking=False)
                shown = [f.decode(errors="replace") if isinstance(f, bytes) else f for f in fields]
                line = fmt.format(*shown)
            else:
                line = self.trace_readline(nonblocking=False).decode(errors="replace")
            print(line, flush=True)

    # ---- symbols ------------------------------------------------------------------------------

    @staticmethod
    def ksym(addr: int, show_module: bool = False, show_offset: bool = False) -> bytes:
        """The kernel function containing ``addr`` (b'[unknown]' if none)."""
        hit = kernel_symbols().resolve(int(addr))
        if hit is None:
            return b"[unknown]"
        name, off, module = hit
        text = name + (f"+{off:#x}" if show_offset else "") + (f" [{module}]" if show_module else "")
        return text.encode()

    @staticmethod
    def ksymname(name: str | bytes) -> int:
        """The address of kernel function ``name`` (-1 if unknown).

        AccessError when /proc/kallsyms hides the addresses from this process (rather than a -1 that would say
        the kernel lacks the function).
        """
        syms = kernel_symbols()
        a = syms.address(_s(name))
        if a is None and syms.hidden:
            from ..host import kallsyms_hidden

            why = kallsyms_hidden() or f"/proc/kallsyms shows this process (uid {os.getuid()}) no kernel addresses"
            raise AccessError(f"ksymname({_s(name)!r}): {why}", path="/proc/kallsyms",
                              fix="run as root or grant CAP_SYSLOG (or set kernel.kptr_restrict=0 and "
                                  "kernel.perf_event_paranoid=1)")
        return -1 if a is None else a

    @staticmethod
    def sym(addr: int, pid: int, show_module: bool = False, show_offset: bool = False, demangle: bool = True) -> bytes:
        """The function containing user address ``addr`` in process ``pid`` (kernel if pid < 0)."""
        if pid < 0:
            return BPF.ksym(addr, show_module, show_offset)
        hit = _user_syms(pid).resolve(int(addr))
        if hit is None:
            return b"[unknown]"
        name, off, module = hit
        text = name + (f"+{off:#x}" if show_offset else "") + (f" [{os.path.basename(module)}]" if show_module else "")
        return text.encode()

    @staticmethod
    def monotonic_time() -> int:
        """CLOCK_MONOTONIC in ns (what bpf_ktime_get_ns reads)."""
        return time.monotonic_ns()

    # ---- lifecycle ------------------------------------------------------------------------------

    def cleanup(self) -> None:
        """Detach everything, close programs, maps, buffers and the trace pipe (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.tracefile is not None:
            self.tracefile.close()
            self.tracefile = None
        self.tables.clear()
        self.funcs.clear()
        self._programs.clear()
        obj, self._obj = self._obj, None
        self._finalizer.detach()
        _cleanup_ctx(self._ctx, obj)

    close = cleanup

    def __enter__(self) -> BPF:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def donothing(self) -> None:
        """BCC compatibility (a no-op)."""


class _SharedLink:
    """A kprobe whose stand-in tracepoint link another kprobe of the same program already holds."""

    def __init__(self, owner: tuple[str, ...]) -> None:
        self.owner = owner
        self.closed = False

    def close(self) -> None:
        """Nothing to release: the owner's link is closed with the owner."""
        self.closed = True


def _cleanup_ctx(ctx: _Ctx, obj: LoadedObject | None) -> None:
    errors: list[BaseException] = []
    for r in list(ctx.readers.values()):
        try:
            r.close()
        except Exception as exc:
            errors.append(exc)
    ctx.readers.clear()
    from ..links import close_links

    try:
        close_links(reversed(list(ctx.links.values())))  # uprobe detaches overlap (memleak -p: dozens of them)
    except Exception as exc:
        errors.append(exc)
    ctx.links.clear()
    if obj is not None:
        try:
            obj.close()
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


def _cleanup_ref(ref: weakref.ref[BPF]) -> None:
    b = ref()
    if b is not None:
        b.cleanup()


def _kernel_has_function(name: str) -> bool:
    """Whether /proc/kallsyms names ``name`` (a text symbol, addresses hidden or not); True when unreadable."""
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                if name in line:
                    parts = line.split()
                    if len(parts) >= 3 and parts[2] == name and parts[1] in ("t", "T", "w", "W"):
                        return True
    except OSError:
        return True
    return False


def _short_reason(exc: BaseException) -> str:
    """EPERM, EINVAL ... of a refusal, or its first clause."""
    name = getattr(exc, "errno_name", None)
    if name:
        return str(name)
    m = re.search(r"\(([A-Z][A-Z0-9]+)\)", str(exc))
    return m.group(1) if m else str(exc).split(":")[0][:80]


def _add_prefix(prefix: str, name: str | bytes) -> str:
    n = _s(name)
    return n if n.startswith(prefix) else prefix + n


_TRAMPOLINES: list[Any] = []  # [works, why not]


def _kprobes() -> Support:
    """Whether this process may create kprobes here, and if not why (bpfkit.features' cached probe)."""
    from .. import features

    return features.check("kprobes")


def _tracefs() -> Support:
    """Whether this process can use tracefs events here, and if not why (bpfkit.features' cached probe)."""
    from .. import features

    return features.check("tracefs")


def _probe_trampolines() -> bool:
    """Whether fentry programs load and attach here: bpfkit.features' probe (a load alone is not enough: an
    arm64 kernel without ftrace direct calls loads them and refuses the attach), asked once per process."""
    if not _TRAMPOLINES:
        from ..features import check

        s = check("trampolines")
        _TRAMPOLINES[:] = [s.available, s.reason]
    return bool(_TRAMPOLINES[0])


_USER_SYMS: dict[int, UserSymbols] = {}


def _user_binary(name: str | bytes) -> str:
    """The file of binary or library ``name`` ('c', 'libc.so.6', '/bin/bash', 'bash')."""
    n = _s(name)
    if os.sep in n:
        if not os.path.exists(n):
            raise FileNotFoundError(f"no such binary or library: {n}")
        return n
    found = BPF.find_library(n) or BPF.find_exe(n)
    if found is None:
        raise FileNotFoundError(f"no binary or shared library named {n!r} found")
    return _s(found)


def _user_syms(pid: int) -> UserSymbols:
    s = _USER_SYMS.get(pid)
    if s is None:
        s = _USER_SYMS[pid] = UserSymbols(pid)
    return s


_INCOMPLETE_RE = re.compile(r"incomplete (?:definition of )?type '(struct|union) (\w+)'")


def _missing_type(exc: CompileError, kernel: HostKernel) -> NotSupportedError | None:
    """A refusal naming the kernel type a program needs when clang says it is incomplete and BTF lacks it."""
    m = _INCOMPLETE_RE.search(str(exc))
    if m is None or kernel.has_type(m.group(1), m.group(2)):
        return None
    where = f"{exc.filename}:{exc.line}: " if exc.line is not None else ""
    return NotSupportedError(f"{where}{m.group(1)} {m.group(2)} is not in the running kernel's BTF: the module that "
                             "defines it is not loaded, or this kernel lacks it", feature=f"{m.group(1)} {m.group(2)}")


def _with_hint(exc: VerifierError) -> VerifierError:
    """Add what to do when the verifier refused a BCC-style plain dereference of a kernel pointer."""
    log = exc.log or ""
    if re.search(r"invalid mem access '(scalar|inv)'", log):
        exc.strerror = (str(exc.strerror) + "\nhint: the program dereferences a kernel pointer directly (the "
                        "source line is above). bpfkit.bcc rewrites 'ptr->a->b' into BPF_CORE_READ(ptr, a, b) only "
                        "for variables declared as 'struct <kernel type> *'; read other pointers with "
                        "bpf_probe_read_kernel(&dst, sizeof(dst), &ptr->field) or BPF_CORE_READ")
    return exc
