"""Program: a loaded BPF program (owns its fd): load with a verifier log, test_run, info, pin."""

from __future__ import annotations

import ctypes
import errno as E
import os
import struct
from collections.abc import Mapping, Sequence
from types import TracebackType

from . import token as _token  # noqa: F401  (installs the ambient BPF token for loads without token=)
from ._record import record
from ._sys import Fd
from ._sys import attrs as A
from ._sys import commands as C
from ._sys.fd import adopt_fd
from ._uapi import AttachType, ProgFlags, ProgType, coerce
from .errors import BpfPermissionError, BpfTypeError, BpfValueError, KernelError, NotSupportedError, VerifierError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .asm import Instruction
    from .btf import Btf
    from .btf._ext import LineInfo
    from .links import Link
    from .obj._spec import ProgramSpec
    from .token import Token

__all__ = ["Program", "ProgramInfo", "TestRunResult", "program_ids"]

_LOG_MIN = 1 << 16
_LOG_MAX = (1 << 30) - 1  # the kernel's limit (UINT_MAX >> 2)
_TRAMPOLINE_TYPES = (ProgType.TRACING, ProgType.LSM, ProgType.EXT)
# program types whose test run takes a ctx but gives none back (syscall programs write into ctx_in)
_CTX_IN_ONLY = (ProgType.SYSCALL, ProgType.RAW_TRACEPOINT, ProgType.RAW_TRACEPOINT_WRITABLE, ProgType.TRACING,
                ProgType.LSM, ProgType.STRUCT_OPS)


@record(frozen=True)
class TestRunResult:
    """Outcome of BPF_PROG_TEST_RUN: return value, mean run time, and output buffers."""

    retval: int
    duration_ns: int
    data: bytes
    ctx: bytes

    __test__ = False  # not a pytest test class


@record(frozen=True)
class ProgramInfo:
    """What the kernel reports about a program (BPF_OBJ_GET_INFO_BY_FD)."""

    type: ProgType | int
    id: int
    name: str
    tag: str
    map_ids: tuple[int, ...]
    btf_id: int
    xlated_len: int
    jited_len: int
    load_time_ns: int
    created_by_uid: int
    run_time_ns: int
    run_cnt: int
    verified_insns: int
    gpl_compatible: bool
    recursion_misses: int = 0
    attach_btf_obj_id: int = 0
    attach_btf_id: int = 0


def _insn_bytes(insns: bytes | bytearray | memoryview | Sequence[Instruction]) -> bytes:
    if isinstance(insns, (bytes, bytearray, memoryview)):
        data = bytes(insns)
    else:
        from .asm import encode

        data = encode(insns)
    if not data or len(data) % 8:
        raise BpfValueError(f"a BPF program must be a non-empty multiple of 8 bytes, got {len(data)}")
    return data


def _size(b: bytes | bytearray | memoryview | None) -> str:
    return "none" if b is None else f"{len(b)} bytes"


def _describe(ptype: ProgType | int, name: str) -> str:
    try:
        tname = ProgType(ptype).name.lower()
    except ValueError:
        tname = f"type {ptype}"
    return f"program {name!r} ({tname})" if name else f"program ({tname})"


class Program:
    """A BPF program loaded into the kernel; closing it unloads it unless pinned or attached."""

    def __init__(
        self,
        fd: Fd,
        *,
        name: str = "",
        prog_type: ProgType | int = ProgType.UNSPEC,
        expected_attach_type: AttachType | int | None = None,
        section: str = "",
        attach_target: str = "",
        log: str = "",
        spec: ProgramSpec | None = None,
    ) -> None:
        """Wrap an owned program fd: internal, reached only through :meth:`load`, :meth:`from_spec` and the
        ``from_*`` constructors."""
        if not isinstance(fd, Fd):
            raise BpfTypeError("Program(...) is not how a program is made: use Program.load(type, instructions), "
                               "Program.from_spec(spec), or Program.from_fd/from_pin/from_id")
        self._fd = fd
        self.name = name
        self.type = prog_type
        self.expected_attach_type = expected_attach_type
        self.section = section
        self.attach_target = attach_target
        self.verifier_log = log
        self.spec = spec
        self.object_maps: Mapping[str, Any] = {}  # the maps of the object it was loaded from (USDT spec maps)
        self._pinned: str | None = None

    # ---- loading --------------------------------------------------------

    @classmethod
    def load(
        cls,
        prog_type: ProgType | int | str,
        insns: bytes | bytearray | memoryview | Sequence[Instruction],
        *,
        license: str = "GPL",
        name: str = "",
        expected_attach_type: AttachType | int | str | None = None,
        attach_btf_id: int = 0,
        attach_btf_obj_fd: int = 0,
        attach_prog_fd: int = 0,
        flags: ProgFlags | int = 0,
        kern_version: int = 0,
        btf_fd: int = 0,
        func_info: bytes = b"",
        func_info_rec_size: int = 8,
        line_info: bytes = b"",
        line_info_rec_size: int = 16,
        fd_array: Sequence[int] = (),
        log_level: int = 0,
        section: str = "",
        attach_target: str = "",
        spec: ProgramSpec | None = None,
        token: Token | str | os.PathLike[str] | None = None,
    ) -> Program:
        """BPF_PROG_LOAD; on rejection retry with a verifier log and raise VerifierError.

        ``token`` (a :class:`~bpfkit.token.Token` or the path of a delegated bpffs)
        loads it through a BPF token (Linux 6.9).
        """
        from .token import token_fd_of

        token_fd, owned = token_fd_of(token)
        try:
            return cls._load(prog_type, insns, license=license, name=name, expected_attach_type=expected_attach_type,
                             attach_btf_id=attach_btf_id, attach_btf_obj_fd=attach_btf_obj_fd,
                             attach_prog_fd=attach_prog_fd, flags=flags, kern_version=kern_version, btf_fd=btf_fd,
                             func_info=func_info, func_info_rec_size=func_info_rec_size, line_info=line_info,
                             line_info_rec_size=line_info_rec_size, fd_array=fd_array, log_level=log_level,
                             section=section, attach_target=attach_target, spec=spec, token_fd=token_fd)
        finally:
            if owned is not None:
                owned.close()

    @classmethod
    def from_spec(
        cls,
        spec: ProgramSpec,
        *,
        license: str = "",
        kern_version: int = 0,
        btf_fd: int = 0,
        func_info: bytes = b"",
        line_info: bytes = b"",
        attach_btf_id: int = 0,
        attach_prog_fd: int = 0,
        fd_array: Sequence[int] = (),
        log_level: int = 0,
        token: Token | str | os.PathLike[str] | None = None,
    ) -> Program:
        """BPF_PROG_LOAD of a :class:`~bpfkit.ProgramSpec` (what :func:`bpfkit.load` does for each program).

        Type, instructions, name, expected attach type, flags, section and attach target come from the
        spec; ``license`` and ``kern_version`` default to the spec's (then GPL and the running kernel's).
        ``btf_fd`` with the encoded ``func_info``/``line_info``, ``attach_btf_id`` (tracing programs)
        and ``attach_prog_fd`` (freplace) are what the spec cannot hold: kernel objects and ids.
        """
        if kern_version == 0:
            kern_version = spec.kernel_version
        if kern_version == 0:
            from . import host

            kern_version = host.kernel_version_code()
        return cls.load(
            spec.type, spec.instructions, license=license or spec.license or "GPL", name=spec.name,
            expected_attach_type=spec.expected_attach_type, attach_btf_id=attach_btf_id,
            attach_prog_fd=attach_prog_fd, flags=spec.flags, kern_version=kern_version, btf_fd=btf_fd,
            func_info=func_info, line_info=line_info, fd_array=fd_array, log_level=log_level,
            section=spec.section, attach_target=spec.attach_target, spec=spec, token=token,
        )

    @classmethod
    def _load(
        cls,
        prog_type: ProgType | int | str,
        insns: bytes | bytearray | memoryview | Sequence[Instruction],
        *,
        license: str,
        name: str,
        expected_attach_type: AttachType | int | str | None,
        attach_btf_id: int,
        attach_btf_obj_fd: int,
        attach_prog_fd: int,
        flags: ProgFlags | int,
        kern_version: int,
        btf_fd: int,
        func_info: bytes,
        func_info_rec_size: int,
        line_info: bytes,
        line_info_rec_size: int,
        fd_array: Sequence[int],
        log_level: int,
        section: str,
        attach_target: str,
        spec: ProgramSpec | None,
        token_fd: int | None,
    ) -> Program:
        ptype = coerce(ProgType, prog_type)
        eat = None if expected_attach_type is None else coerce(AttachType, expected_attach_type)
        code = _insn_bytes(insns)
        insn_buf = ctypes.create_string_buffer(code, len(code))
        lic = ctypes.create_string_buffer(license.encode())
        a = A.ProgLoadAttr()
        a.prog_type = int(ptype)
        a.insn_cnt = len(code) // 8
        a.insns = ctypes.addressof(insn_buf)
        a.license = ctypes.addressof(lic)
        a.kern_version = kern_version
        if ptype == ProgType.SYSCALL:
            flags = int(flags) | ProgFlags.SLEEPABLE  # the kernel only accepts sleepable syscall programs
        a.prog_flags = int(flags)
        a.prog_name = _kernel_name(name)
        a.expected_attach_type = int(eat) if eat is not None else 0
        a.attach_btf_id = attach_btf_id
        a.attach_prog_fd = attach_prog_fd or attach_btf_obj_fd
        keep: list[Any] = [insn_buf, lic]
        if btf_fd:
            a.prog_btf_fd = btf_fd
            if func_info:
                fi = ctypes.create_string_buffer(func_info, len(func_info))
                keep.append(fi)
                a.func_info = ctypes.addressof(fi)
                a.func_info_rec_size = func_info_rec_size
                a.func_info_cnt = len(func_info) // func_info_rec_size
            if line_info:
                li = ctypes.create_string_buffer(line_info, len(line_info))
                keep.append(li)
                a.line_info = ctypes.addressof(li)
                a.line_info_rec_size = line_info_rec_size
                a.line_info_cnt = len(line_info) // line_info_rec_size
        if fd_array:
            arr = (ctypes.c_int32 * len(fd_array))(*fd_array)
            keep.append(arr)
            a.fd_array = ctypes.addressof(arr)
        target = _describe(ptype, name)
        log = ""
        fd = -1
        try:
            if log_level:
                fd, log = _load_with_log(a, log_level, target, token_fd)
            else:
                try:
                    fd = C.prog_load(a, target=target, token_fd=token_fd)
                except KernelError as exc:
                    if exc.errno == E.EPERM and int(ptype) in _TRAMPOLINE_TYPES and _has_load_caps(ptype):
                        raise _trampoline_refused(ptype, name, exc) from None
                    if isinstance(exc, BpfPermissionError):
                        raise
                    if exc.errno in (E.EACCES, E.EINVAL, E.E2BIG, E.ENOSPC, E.EFAULT, E.ENOENT, E.ENOTSUP, 524):
                        fd, log = _load_with_log(a, 1, target, token_fd)
                    else:
                        raise
        except VerifierError as exc:
            if not exc.log.strip() and exc.errno in (E.EINVAL, E.EOPNOTSUPP, 524):
                _refuse_unknown_type(ptype, exc)  # refused before the verifier ran: an unknown type?
            raise
        except BpfPermissionError as exc:
            raise _permission_refused(ptype, exc) from None
        return cls(
            Fd(fd, target),
            name=name,
            prog_type=ptype,
            expected_attach_type=eat,
            section=section,
            attach_target=attach_target,
            log=log,
            spec=spec,
        )

    @classmethod
    def from_fd(cls, fd: int | Fd | Any, *, dup: bool = False) -> Program:
        """Wrap an existing program fd, with the ownership rule of :meth:`Map.from_fd`.

        An int fd or an :class:`~bpfkit._sys.Fd` is taken over (closed by :meth:`close`)
        unless ``dup=True``; any other object with ``fileno()``/``.fd`` (another Program)
        is always duplicated. If the fd is not a program, nothing is taken.
        """
        owned = adopt_fd(fd, dup=dup, what="program", check=_check_program_fd)
        try:
            prog = cls(owned)
            info = prog.info()
        except BaseException:
            owned.close()
            raise
        prog.name = info.name
        prog.type = info.type
        owned.what = _describe(info.type, info.name)
        return prog

    @classmethod
    def from_pin(cls, path: str) -> Program:
        """Open a pinned program (:meth:`unpin` then removes that pin)."""
        prog = cls.from_fd(C.obj_get(path, target=f"pinned program {path!r}"), dup=False)
        prog._pinned = path
        return prog

    @classmethod
    def from_id(cls, prog_id: int) -> Program:
        """Open a loaded program by its kernel id."""
        return cls.from_fd(C.prog_get_fd_by_id(prog_id), dup=False)

    # ---- fd ownership ---------------------------------------------------

    @property
    def fd(self) -> int:
        """The program fd; ValueError once closed."""
        return self._fd.fileno()

    def fileno(self) -> int:
        """The program fd."""
        return self._fd.fileno()

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._fd.closed

    def close(self) -> None:
        """Close the fd; the kernel unloads the program unless pinned, attached or referenced."""
        self._fd.close()

    def __enter__(self) -> Program:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd.fd}"
        return f"<Program {self.name!r} {_type_name(self.type)} {state}>"

    # ---- kernel operations ----------------------------------------------

    def test_run(
        self,
        ctx: bytes | bytearray | memoryview | None = None,
        data: bytes | bytearray | memoryview | None = None,
        *,
        repeat: int = 1,
        data_out_size: int | None = None,
        ctx_out_size: int | None = None,
        flags: int = 0,
        cpu: int = 0,
        batch_size: int = 0,
    ) -> TestRunResult:
        """Run the program once (or ``repeat`` times) on ``ctx``/``data`` with BPF_PROG_RUN."""
        what = _describe(self.type, self.name)
        for arg, given in (("ctx", ctx), ("data", data)):
            if given is not None and not isinstance(given, (bytes, bytearray, memoryview)):
                raise BpfTypeError(f"test_run of {what}: {arg} must be bytes-like, not {type(given).__name__}")
            if given is not None and len(given) == 0:
                raise BpfValueError(
                    f"test_run of {what}: {arg} is empty (the kernel refuses a zero-size {arg}); "
                    f"pass {arg}=None to run without one"
                )
        a = A.TestRunAttr()
        a.repeat = repeat if repeat > 1 else 0  # raw_tp and syscall programs accept only 0 (= once)
        a.flags = flags
        a.cpu = cpu
        a.batch_size = batch_size
        keep: list[Any] = []
        if data is not None:
            din = ctypes.create_string_buffer(bytes(data), len(data))
            size_out = data_out_size if data_out_size is not None else max(len(data) + 256, 4096)
            dout = ctypes.create_string_buffer(size_out)
            keep += [din, dout]
            a.data_in = ctypes.addressof(din)
            a.data_size_in = len(data)
            a.data_out = ctypes.addressof(dout)
            a.data_size_out = size_out
        cin = None
        cout = None
        if ctx is not None:
            cin = ctypes.create_string_buffer(bytes(ctx), len(ctx))
            keep.append(cin)
            a.ctx_in = ctypes.addressof(cin)
            a.ctx_size_in = len(ctx)
            if self.type not in _CTX_IN_ONLY:
                size = ctx_out_size if ctx_out_size is not None else len(ctx)
                if size:
                    cout = ctypes.create_string_buffer(size)
                    keep.append(cout)
                    a.ctx_out = ctypes.addressof(cout)
                    a.ctx_size_out = size
        with self._fd.borrow() as fd:
            a.prog_fd = fd
            try:
                C.prog_test_run(a, target=what)
            except KernelError as exc:
                if exc.errno != E.EINVAL or isinstance(exc, BpfPermissionError):
                    raise
                raise KernelError(
                    exc.errno, command=exc.command, target=what,
                    detail=f"the kernel refused the run's arguments (ctx {_size(ctx)}, data {_size(data)}, "
                           f"repeat {repeat}, flags {flags:#x}); each program type accepts its own ctx/data sizes",
                ) from None
        data_out = b""
        if data is not None:
            data_out = ctypes.string_at(a.data_out, a.data_size_out)
        if self.type == ProgType.SYSCALL and cin is not None:
            ctx_bytes = cin.raw[: len(cin.raw)]
        elif cout is not None:
            ctx_bytes = cout.raw[: a.ctx_size_out]
        else:
            ctx_bytes = b""
        retval = a.retval
        if self.type == ProgType.SYSCALL:
            retval = ctypes.c_int32(retval).value
        return TestRunResult(retval=retval, duration_ns=a.duration, data=data_out, ctx=ctx_bytes)

    def info(self) -> ProgramInfo:
        """Kernel facts about the program (id, tag, maps, run stats ...)."""
        info = A.ProgInfo()
        map_ids: tuple[int, ...] = ()
        with self._fd.borrow() as fd:
            C.obj_get_info_by_fd(fd, info, target=_describe(self.type, self.name))
            if info.nr_map_ids:
                ids = (ctypes.c_uint32 * info.nr_map_ids)()
                again = A.ProgInfo(nr_map_ids=info.nr_map_ids, map_ids=ctypes.addressof(ids))
                C.obj_get_info_by_fd(fd, again)
                map_ids = tuple(ids)
        try:
            ptype: ProgType | int = ProgType(info.type)
        except ValueError:
            ptype = info.type
        return ProgramInfo(
            type=ptype,
            id=info.id,
            name=info.name.decode(errors="replace"),
            tag=bytes(info.tag).hex(),
            map_ids=map_ids,
            btf_id=info.btf_id,
            xlated_len=info.xlated_prog_len,
            jited_len=info.jited_prog_len,
            load_time_ns=info.load_time,
            created_by_uid=info.created_by_uid,
            run_time_ns=info.run_time_ns,
            run_cnt=info.run_cnt,
            verified_insns=info.verified_insns,
            gpl_compatible=bool(info.gpl_compatible & 1),
            recursion_misses=info.recursion_misses,
            attach_btf_obj_id=info.attach_btf_obj_id,
            attach_btf_id=info.attach_btf_id,
        )

    def _info_array(self, count_field: str, ptr_field: str, rec_field: str | int | None = None) -> tuple[bytes, int]:
        """One variable-length array of bpf_prog_info (code, line/func info) and its record size (a field or fixed)."""
        target = _describe(self.type, self.name)
        info = A.ProgInfo()
        C.obj_get_info_by_fd(self.fd, info, target=target)
        count = int(getattr(info, count_field))
        rec = rec_field if isinstance(rec_field, int) else int(getattr(info, rec_field)) if rec_field else 1
        if not count or not rec:
            return b"", rec
        buf = ctypes.create_string_buffer(count * rec)
        fields = {count_field: count, ptr_field: ctypes.addressof(buf)}
        if isinstance(rec_field, str):
            fields[rec_field] = rec
        again = A.ProgInfo(**fields)
        C.obj_get_info_by_fd(self.fd, again, target=target)
        return buf.raw[: min(int(getattr(again, count_field)), count) * rec], rec

    def xlated(self) -> bytes:
        """The instructions as the verifier rewrote them (map fds become map ids); empty if the kernel hides them."""
        return self._info_array("xlated_prog_len", "xlated_prog_insns")[0]

    def jited(self) -> bytes:
        """The JIT-compiled machine code; empty when the program is not JITed or the kernel hides it."""
        return self._info_array("jited_prog_len", "jited_prog_insns")[0]

    def btf(self) -> Btf | None:
        """The program's BTF as loaded in the kernel (function names, source lines); None without."""
        from ._kbtf import kernel_btf

        btf_id = self.info().btf_id
        return kernel_btf(btf_id) if btf_id else None

    def line_info(self) -> list[LineInfo]:
        """Source lines of the loaded program (``insn_off`` indexes the xlated instructions); empty without BTF."""
        from .btf._ext import LineInfo

        raw, rec = self._info_array("nr_line_info", "line_info", "line_info_rec_size")
        btf = self.btf() if raw else None
        if btf is None:
            return []
        out = []
        for off in range(0, len(raw) - rec + 1, rec):
            insn_off, file_off, line_off, col = struct.unpack_from("<IIII", raw, off)
            out.append(LineInfo(insn_off=insn_off, file_name=btf.string(file_off), line=btf.string(line_off),
                                line_num=col >> 10, col=col & 0x3FF, file_name_off=file_off, line_off=line_off))
        return out

    def func_info(self) -> list[tuple[int, str]]:
        """(first xlated instruction, BTF name) of each function of the loaded program; empty without BTF."""
        raw, rec = self._info_array("nr_func_info", "func_info", "func_info_rec_size")
        btf = self.btf() if raw else None
        if btf is None:
            return []
        pairs = (struct.unpack_from("<II", raw, off) for off in range(0, len(raw) - rec + 1, rec))
        return [(insn_off, btf.name_of(type_id)) for insn_off, type_id in pairs]

    def function_symbols(self) -> list[str]:
        """Kernel symbol (bpf_prog_TAG_NAME) of each JITed function, by subprogram index; empty if not JITed or hidden."""
        ksyms, _ = self._info_array("nr_jited_ksyms", "jited_ksyms", 8)
        if not ksyms or not any(ksyms):  # not JITed, or addresses hidden (kptr_restrict)
            return []
        tags, _ = self._info_array("nr_prog_tags", "prog_tags", 8)
        names = [name for _, name in self.func_info()]
        out = []
        for i in range(len(tags) // 8):
            name = names[i] if i < len(names) else (self.name if i == 0 else "")
            out.append(f"bpf_prog_{tags[8 * i:8 * i + 8].hex()}" + (f"_{name}" if name else ""))
        return out

    @property
    def id(self) -> int:
        """The kernel's id of this program."""
        return self.info().id

    def pin(self, path: str) -> None:
        """Pin the program on bpffs at ``path`` (mounting /sys/fs/bpf if needed)."""
        with self._fd.borrow() as fd:
            C.obj_pin(fd, path, target=_describe(self.type, self.name))
        self._pinned = path

    def unpin(self, path: str | os.PathLike[str] | None = None) -> None:
        """Remove the pin at ``path`` (default: where :meth:`pin` put it or :meth:`from_pin` opened it);
        no-op when there is none, as for Map and Link."""
        self._pinned = C.obj_unpin(path, self._pinned, _describe(self.type, self.name))

    @property
    def pinned_path(self) -> str | None:
        """Where this program was pinned or opened from (None when neither)."""
        return self._pinned

    def attach(self, *args: Any, **kwargs: Any) -> Link:
        """Attach by the program's section name (or the explicit target given); returns a Link."""
        from .links import attach_program

        return attach_program(self, *args, **kwargs)

    def attach_kprobe_multi(self, pattern: str | None = None, *, syms: Sequence[str] | None = None,
                            addrs: Sequence[int] | None = None, cookies: Sequence[int] | None = None,
                            retprobe: bool | None = None) -> Link:
        """One kprobe.multi link on the kernel functions matching ``pattern`` (a glob), or on ``syms``/``addrs``."""
        from .links._multi import attach_kprobe_multi

        return attach_kprobe_multi(self, pattern, syms=syms, addrs=addrs, cookies=cookies, retprobe=retprobe)

    def attach_uprobe_multi(self, path: str, pattern: str | None = None, *, syms: Sequence[str] | None = None,
                            offsets: Sequence[int] | None = None, cookies: Sequence[int] | None = None,
                            pid: int = -1, retprobe: bool | None = None) -> Link:
        """One uprobe.multi link on the functions of ``path`` matching ``pattern``, or on ``syms``/file ``offsets``."""
        from .links._multi import attach_uprobe_multi

        return attach_uprobe_multi(self, path, pattern, syms=syms, offsets=offsets, cookies=cookies, pid=pid,
                                   retprobe=retprobe)

    def attach_usdt(self, target: str | int, provider: str, name: str, *, pid: int = -1, cookie: int = 0) -> Link:
        """Attach to USDT probe ``provider:name`` of a binary/library path or of every file a process maps (pid)."""
        from .links._usdt import attach_usdt

        return attach_usdt(self, target, provider, name, pid=pid, cookie=cookie)


def program_ids() -> list[int]:
    """Ids of every program loaded on the system (BPF_PROG_GET_NEXT_ID)."""
    from ._uapi import Cmd

    return list(C.ids_of(Cmd.PROG_GET_NEXT_ID))


def _kernel_name(name: str) -> bytes:
    """Program/map names the kernel accepts: [A-Za-z0-9_.], at most 15 bytes."""
    clean = "".join(c if c.isalnum() or c in "_." else "_" for c in name)
    return clean.encode("ascii", "replace")[:15]


def _type_name(t: ProgType | int) -> str:
    try:
        return ProgType(t).name.lower()
    except ValueError:
        return f"type {t}"


def _load_with_log(a: A.ProgLoadAttr, level: int, target: str, token_fd: int | None) -> tuple[int, str]:
    """Load with a verifier log, growing the buffer until the log fits."""
    size = _LOG_MIN
    while True:
        buf = ctypes.create_string_buffer(size)
        a.log_level = level
        a.log_size = size
        a.log_buf = ctypes.addressof(buf)
        a.log_true_size = 0
        try:
            fd = C.prog_load(a, target=target, token_fd=token_fd)
        except KernelError as exc:
            log = buf.value.decode(errors="replace")
            if exc.errno == E.ENOSPC and size < _LOG_MAX:
                size = min(max(size * 4, a.log_true_size + 1), _LOG_MAX)
                continue
            if exc.errno in (E.EPERM,) and not log:
                raise
            a.log_buf = 0
            a.log_size = 0
            a.log_level = 0
            verr = VerifierError(exc.errno or E.EINVAL, command="BPF_PROG_LOAD", target=target, log=log)
            from .features import lockdown_refusal

            locked = lockdown_refusal(log)
            if locked is not None:  # the verifier hid a helper because the kernel is locked down
                raise NotSupportedError(f"cannot load {target}: {locked[1]}", feature=f"helper bpf_{locked[0]}",
                                        cause="lockdown") from verr
            raise verr from None
        finally:
            a.log_buf = 0
        return fd, buf.value.decode(errors="replace")


def _older_than_type(ptype: ProgType | int) -> bool:
    """Whether the running kernel predates the release that added program type ``ptype`` (or it is unknown).

    Only then is the type worth probing before a load: a kernel from that release on has it.
    """
    from . import host
    from ._uapi import PROG_MIN_KERNEL

    since = PROG_MIN_KERNEL.get(_type_name(ptype).upper())
    if since is None:
        return True
    return host.kernel_version()[:2] < tuple(int(x) for x in since.split(".")[:2])


def _permission_refused(ptype: ProgType | int, exc: BpfPermissionError) -> BpfPermissionError:
    """The load's BpfPermissionError, naming the capability this process lacks for ``ptype`` (or lockdown)."""
    from ._sys.syscall import permission_hint
    from .features import prog_capabilities

    hint = permission_hint(f"loading {_type_name(ptype)} programs", prog_capabilities(ptype))
    if hint is None:
        return exc
    return BpfPermissionError(exc.errno or E.EPERM, command=exc.command, target=exc.target, hint=hint)


def _refuse_unknown_type(ptype: ProgType | int, exc: BaseException | None = None) -> None:
    """Raise NotSupportedError when the running kernel does not know program type ``ptype`` at all."""
    from . import host
    from ._uapi import PROG_MIN_KERNEL
    from .errors import BpfError
    from .features import have_prog_type

    try:
        known = have_prog_type(ptype)
    except BpfError:
        return
    if not known:
        tname = _type_name(ptype)
        release = ".".join(map(str, host.kernel_version()))
        raise NotSupportedError(
            f"this kernel ({release}) does not support {tname} programs",
            feature=f"program type {tname}",
            min_kernel=PROG_MIN_KERNEL.get(tname.upper()),
        ) from exc


def _has_load_caps(ptype: ProgType | int) -> bool:
    """Whether this process holds every capability the kernel checks to load ``ptype`` (its EPERM is then no
    missing privilege: a kernel without trampolines, or lockdown)."""
    from ._sys import privilege
    from .features import prog_capabilities

    return all(privilege.bpf_capable(c) for c in prog_capabilities(ptype))


def _trampoline_refused(ptype: ProgType | int, name: str, exc: KernelError) -> NotSupportedError:
    kind = {ProgType.TRACING: "fentry/fexit/fmod_ret (tracing)", ProgType.LSM: "lsm", ProgType.EXT: "freplace"}
    what = kind.get(ProgType(ptype), _type_name(ptype))
    from ._sys.privilege import trampolines_locked_down

    locked = trampolines_locked_down()
    why = (locked or "BPF trampolines are unavailable on this kernel (not built in, or blocked)") + ";"
    cause = "lockdown" if locked else None
    return NotSupportedError(
        f"the kernel refused to load {what} program {name!r} ({exc.errno_name}): {why} use tracepoints, raw "
        "tracepoints or tp_btf programs instead",
        feature="trampoline",
        cause=cause,
    )


def _check_program_fd(fd: int) -> None:
    """Refuse an fd that is not a BPF program before Program.from_fd takes it over."""
    kind = C.obj_kind(fd)
    if kind != "bpf-prog":
        raise BpfValueError(f"fd {fd} is {'a ' + kind if kind else 'not a BPF object'}, not a BPF program")
