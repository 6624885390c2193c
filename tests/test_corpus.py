"""The loader against the tests/bpf corpus: compile each program against bpfkit's own vmlinux.h,
load it with bpfkit.load, and check what tests/bpf/manifest.json says (checked there with libbpf)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

import bpfkit
import corpus_kernel
from bpfkit import errors, host
from bpfkit.testing import compile_bpf, vmlinux_header

pytestmark = pytest.mark.kernel

CORPUS = Path(__file__).parent / "bpf"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
PIN_ROOT = "/sys/fs/bpf/bpfkit_corpus"


@pytest.fixture(scope="session")
def vmlinux_dir() -> Path:
    return vmlinux_header()


def _kconfig_value(name: str) -> Any:
    from bpfkit.obj._kconfig import parse_kernel_config

    raw = parse_kernel_config(host.kernel_config_text() or "").get(name)
    if raw is None:
        return 0
    if raw == "y":
        return 1
    if raw == "m":
        return 2
    if raw.startswith('"'):
        return raw.strip('"')
    return int(raw, 0)


def _btf_fact(spec: dict[str, Any], obj_btf: Any) -> int:
    from bpfkit.btf import BtfKind, Struct, Union_

    if "object_btf" in spec:
        return int(obj_btf.find(spec["name"], BtfKind(spec["kind"]))[0])
    btf = host.vmlinux_btf()
    kind = BtfKind(spec["kind"])
    tid = btf.find(spec["name"], kind)[0]
    what = spec["kernel_btf"]
    if what == "type_id":
        return int(tid)
    if what == "type_size":
        return btf.size_of(tid)
    t = btf[tid]
    assert isinstance(t, (Struct, Union_))
    for m in t.members:
        if m.name == spec["field"]:
            return m.offset // 8
    raise KeyError(spec)


PROC_PID_INIT_INO = 0xEFFFFFFC  # the inode of the initial PID namespace (include/linux/proc_ns.h)


def _in_child_pid_namespace() -> bool:
    """Whether this process runs in a PID namespace of its own (a container), where BPF sees other PIDs."""
    return os.stat("/proc/self/ns/pid").st_ino != PROC_PID_INIT_INO


def _ins(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def _kernel_ids() -> tuple[int, int, int]:
    """(tgid, tid, parent's tgid) of the calling thread in the initial PID namespace, as BPF sees them.

    Inside a container getpid() answers in the container's namespace and nothing in its /proc
    knows the initial one's numbers: ask the kernel with a hand-written syscall program (the
    pid/tgid helper, and task->real_parent->tgid read at offsets taken from vmlinux BTF),
    independent of the corpus object and of CO-RE.
    """
    from bpfkit.btf import BtfKind
    from bpfkit.programs import Program

    btf = host.vmlinux_btf()
    task = btf[btf.find("task_struct", BtfKind.STRUCT)[0]]
    off = {m.name: m.offset // 8 for m in task.members if m.name in ("real_parent", "tgid")}
    read = [_ins(0xBF, 1, 10), _ins(0x07, 1, imm=-8), _ins(0xB7, 2, imm=0), _ins(0x85, imm=113)]  # probe_read_kernel

    def read_at(size: int) -> bytes:  # r3 = source: *(fp-8) = *(r3) of ``size`` bytes
        return b"".join(read[:2]) + _ins(0xB7, 2, imm=size) + read[3]

    prog = b"".join([
        _ins(0xBF, 6, 1),                                     # r6 = ctx
        _ins(0x85, imm=14), _ins(0x7B, 6, 0, 0),              # ctx[0] = bpf_get_current_pid_tgid()
        _ins(0x85, imm=35), _ins(0xBF, 3, 0), _ins(0x07, 3, imm=off["real_parent"]),
        read_at(8),                                           # fp-8 = current->real_parent
        _ins(0x79, 3, 10, -8), _ins(0x07, 3, imm=off["tgid"]),
        read_at(4),                                           # fp-8 = real_parent->tgid
        _ins(0x61, 1, 10, -8), _ins(0x63, 6, 1, 8),           # ctx[8] = that
        _ins(0xB7, 0, imm=0), _ins(0x95),
    ])
    with Program.load("syscall", prog, name="kernel_ids") as p:
        out = p.test_run(ctx=bytes(16)).ctx
    pid_tgid, ppid = struct.unpack_from("<QI", out)
    return pid_tgid >> 32, pid_tgid & 0xFFFFFFFF, ppid


def resolve(v: Any, obj_btf: Any = None) -> Any:
    """Replace the manifest's host placeholders with this host's facts."""
    if isinstance(v, list):
        return [resolve(x, obj_btf) for x in v]
    if not isinstance(v, dict):
        return v
    if "host" in v:
        what = v["host"]
        if what in ("pid", "tid", "ppid", "pid_tgid"):
            if _in_child_pid_namespace():
                pid, tid, ppid = _kernel_ids()
            else:
                pid, tid, ppid = os.getpid(), threading.get_native_id(), os.getppid()
            return {"pid": pid, "tid": tid, "ppid": ppid, "pid_tgid": (pid << 32) | tid}[what]
        if what in ("comm", "comm_size"):
            comm = Path("/proc/thread-self/comm").read_text().rstrip("\n")
            return comm if what == "comm" else len(comm) + 1
        if what == "kernel_version":
            return host.kernel_version_code()
        if what == "kconfig":
            return _kconfig_value(v["name"])
        if what == "kallsyms":
            return host.ksym_address(v["name"])
        if what == "possible_cpus":
            return host.possible_cpus()
        raise KeyError(what)
    if "kernel_btf" in v or "object_btf" in v:
        return _btf_fact(v, obj_btf)
    return {k: resolve(x, obj_btf) for k, x in v.items()}


def packed(v: dict[str, Any], obj_btf: Any = None) -> bytes:
    if "hex" in v:
        return bytes.fromhex(v["hex"])
    values = [x.encode() if isinstance(x, str) else x for x in resolve(v["values"], obj_btf)]
    return struct.pack(v["fmt"], *values)


FLAGS = {"any": bpfkit.ANY, "noexist": bpfkit.NOEXIST, "exist": bpfkit.EXIST, "lock": bpfkit.F_LOCK}


def _requires_met(entry: dict[str, Any]) -> bool:
    req = entry.get("requires") or {}
    if len(host.online_cpus()) < req.get("min_cpus", 0):
        return False
    # the kernel resolves a typed __ksym itself: its name in /proc/kallsyms is what counts (CONFIG_KALLSYMS_ALL),
    # not the address this process sees (0 for a user without CAP_SYSLOG)
    return all(s in host.kallsyms() for s in req.get("kallsyms", []))


class Runner:
    """Carries out one manifest entry's steps on a loaded Collection."""

    def __init__(self, entry: dict[str, Any], obj_path: Path) -> None:
        self.entry = entry
        self.obj_path = obj_path
        self.col: bpfkit.Collection | None = None
        self.ringbufs: dict[str, Any] = {}
        self.perfbufs: dict[str, Any] = {}
        self.perf_records: dict[str, list[tuple[int, bytes]]] = {}
        self.ring_records: dict[str, list[bytes]] = {}

    def load(self) -> bpfkit.Collection:
        spec = bpfkit.ObjectSpec.from_file(self.obj_path)
        for op in self.entry.get("before_load", []):
            var = spec.variables[op["name"]]
            assert var.section == op["section"], (var.section, op)
            spec.set_variable(op["name"], packed(op["value"], spec.btf))
        self.col = bpfkit.load(spec, pin_path=PIN_ROOT)
        return self.col

    def close(self) -> None:
        for rb in self.ringbufs.values():
            rb.close()
        for pb in self.perfbufs.values():
            pb.close()
        self.ringbufs.clear()
        self.perfbufs.clear()
        if self.col is not None:
            self.col.close()
            self.col = None

    @property
    def btf(self) -> Any:
        assert self.col is not None
        return self.col.spec.btf

    def map(self, name: str) -> Any:
        assert self.col is not None
        return self.col.maps[name]

    def check_maps(self) -> None:
        for name, want in self.entry.get("maps", {}).items():
            info = self.map(name).info()
            assert info.type_name == want["type"], (name, info)
            assert info.key_size == want["key_size"], name
            assert info.value_size == want["value_size"], name
            assert info.max_entries == resolve(want["max_entries"]), name
            assert int(info.flags) == want["map_flags"], name
            if "map_extra" in want:
                assert info.map_extra == want["map_extra"], name
            if "btf_value_type" in want:
                assert bool(info.btf_value_type_id) == want["btf_value_type"], name
        for name, want in self.entry.get("programs", {}).items():
            assert self.col is not None
            prog = self.col.programs[name]
            assert prog.section == want["section"]
            assert bpfkit.ProgType(prog.type).name.lower() == want["type"]

    def step(self, op: dict[str, Any]) -> None:
        getattr(self, "op_" + op["op"])(op)

    # ---- ops -------------------------------------------------------------

    def op_run(self, op: dict[str, Any]) -> None:
        assert self.col is not None
        prog = self.col.programs[op["program"]]
        kw: dict[str, Any] = {}
        if "ctx" in op:
            kw["ctx"] = packed(op["ctx"], self.btf)
        if "data" in op:
            kw["data"] = packed(op["data"], self.btf)
        if "repeat" in op:
            kw["repeat"] = op["repeat"]
        if "cpu" in op:
            kw["cpu"] = op["cpu"]
            kw["flags"] = 1  # BPF_F_TEST_RUN_ON_CPU
        if "ctx_out_size" in op:
            kw["ctx_out_size"] = op["ctx_out_size"]
        expect = op.get("expect", {})
        if "errno" in expect:
            with pytest.raises(OSError) as ei:
                prog.test_run(**kw)
            assert ei.value.errno == getattr(errno, expect["errno"])
            return
        r = prog.test_run(**kw)
        if "retval" in expect:
            assert r.retval & 0xFFFFFFFF == resolve(expect["retval"]) & 0xFFFFFFFF, (op, r)
        if "ctx" in expect:
            assert r.ctx == packed(expect["ctx"], self.btf), (op, r.ctx)
        if "data_out" in expect:
            assert r.data == packed(expect["data_out"], self.btf)
        for field in expect.get("ctx_out_fields", []):
            want = packed(field["value"], self.btf)
            assert r.ctx[field["offset"] : field["offset"] + len(want)] == want, field

    def op_map_update(self, op: dict[str, Any]) -> None:
        self.map(op["map"]).update(packed(op["key"]), packed(op["value"]), FLAGS[op.get("flags", "any")])

    def op_map_push(self, op: dict[str, Any]) -> None:
        m = self.map(op["map"])
        value = packed(op["value"])
        if hasattr(m, "push"):
            m.push(value)
        else:
            m.add(value)

    def op_expect_map(self, op: dict[str, Any]) -> None:
        m = self.map(op["map"])
        key = packed(op["key"])
        flags = FLAGS[op["flags"]] if "flags" in op else 0
        if op.get("absent"):
            with pytest.raises(KeyError):
                m.lookup_raw(key) if not flags else m.lookup(key, flags)
            return
        got = m.lookup_raw(key, flags) if flags else m.lookup_raw(key)
        assert bytes(got) == packed(op["value"]), (op, bytes(got))

    def op_expect_map_percpu(self, op: dict[str, Any]) -> None:
        m = self.map(op["map"])
        values = m.lookup(packed(op["key"]))
        cpus = {int(k): v for k, v in op["cpus"].items()}
        assert len(values) == host.possible_cpus()
        for cpu, value in enumerate(values):
            want = packed(cpus.get(cpu, op["other_cpus"]))
            assert value == struct.unpack(op["other_cpus"]["fmt"], want)[0], (cpu, value)

    def op_expect_map_len(self, op: dict[str, Any]) -> None:
        n = sum(1 for _ in self.map(op["map"]).keys())
        if "eq" in op:
            assert n == op["eq"]
        if "le" in op:
            assert n <= op["le"]
        if "ge" in op:
            assert n >= op["ge"]

    def op_expect_pop(self, op: dict[str, Any]) -> None:
        m = self.map(op["map"])
        for v in op["values"]:
            assert m.value_codec.encode(m.pop()) == packed(v)
        if op.get("then_empty"):
            with pytest.raises(bpfkit.QueueEmptyError):
                m.pop()

    def op_expect_bloom(self, op: dict[str, Any]) -> None:
        m = self.map(op["map"])
        for v in op.get("contains", []):
            assert packed(v) in m
        for v in op.get("absent", []):
            assert packed(v) not in m

    def _variable(self, op: dict[str, Any]) -> bytes:
        assert self.col is not None
        var = self.col.spec.variables[op["name"]]
        assert var.section == op["section"], (var.section, op)
        return self.col.variables.raw(op["name"])

    def op_expect_global(self, op: dict[str, Any]) -> None:
        assert self._variable(op) == packed(op["value"], self.btf), op

    def op_expect_inner_map(self, op: dict[str, Any]) -> None:
        outer = self.map(op["map"])
        inner_id = struct.unpack("<I", bytes(outer.lookup_raw(packed(op["key"]))))[0]
        assert inner_id == self.map(op["inner"]).id

    def op_expect_prog_array(self, op: dict[str, Any]) -> None:
        assert self.col is not None
        m = self.map(op["map"])
        for slot, prog_name in op.get("slots", {}).items():
            pid = struct.unpack("<I", bytes(m.lookup_raw(struct.pack("<I", int(slot)))))[0]
            assert pid == self.col.programs[prog_name].id
        for slot in op.get("empty", []):
            with pytest.raises(KeyError):
                m.lookup_raw(struct.pack("<I", int(slot)))

    def op_open_ringbuf(self, op: dict[str, Any]) -> None:
        name = op["map"]
        self.ring_records[name] = []
        self.ringbufs[name] = bpfkit.RingBuffer(self.map(name), callback=lambda r: self.ring_records[name].append(bytes(r)))

    def op_expect_ringbuf(self, op: dict[str, Any]) -> None:
        name = op["map"]
        self.ringbufs[name].consume()
        got, self.ring_records[name] = self.ring_records[name], []
        if "records" in op:
            assert got == [packed(r) for r in op["records"]]
        if "count" in op:
            assert len(got) == op["count"]
            assert got[0] == packed(op["first"])
            assert got[-1] == packed(op["last"])

    def op_open_perf_buffer(self, op: dict[str, Any]) -> None:
        name = op["map"]
        self.perf_records[name] = []
        self.perfbufs[name] = bpfkit.PerfBuffer(
            self.map(name), callback=lambda cpu, data: self.perf_records[name].append((cpu, bytes(data)))
        )

    def op_expect_perf(self, op: dict[str, Any]) -> None:
        name = op["map"]
        self.perfbufs[name].consume()
        got, self.perf_records[name] = self.perf_records[name], []
        want = op["records"]
        assert len(got) == len(want), got
        for (cpu, data), w in zip(got, want):
            assert cpu == w["cpu"]
            assert data.startswith(packed(w["value"]))

    def op_close_perf_buffer(self, op: dict[str, Any]) -> None:
        self.perfbufs.pop(op["map"]).close()

    def op_expect_trace(self, op: dict[str, Any]) -> None:
        from bpfkit._sys.mounts import ensure_tracefs

        text = Path(ensure_tracefs(), "trace").read_text(errors="replace")
        for s in op["contains"]:
            assert s in text, s

    def op_expect_pinned(self, op: dict[str, Any]) -> None:
        path = op["path"].replace("{pin_root}", PIN_ROOT)
        with bpfkit.Map.from_pin(path) as pinned:
            assert pinned.id == self.map(op["map"]).id

    def op_reload(self, op: dict[str, Any]) -> None:
        self.close()
        self.load()

    def op_unpin(self, op: dict[str, Any]) -> None:
        os.unlink(op["path"].replace("{pin_root}", PIN_ROOT))


def _uses_host_value(node: Any, kind: str) -> bool:
    """Whether a manifest value anywhere in ``node`` is ``{"host": kind}`` (a fact of the running host)."""
    if isinstance(node, dict):
        return node.get("host") == kind or any(_uses_host_value(v, kind) for v in node.values())
    if isinstance(node, list):
        return any(_uses_host_value(v, kind) for v in node)
    return False


def _clear_pins(entry: dict[str, Any]) -> None:
    for p in entry.get("pins", []):
        try:
            os.unlink(p.replace("{pin_root}", PIN_ROOT))
        except FileNotFoundError:
            pass


def _refused_by_this_kernel(runner: Runner, entry: dict[str, Any]) -> str | None:
    """Where a probe says the kernel lacks what the entry needs, check that bpfkit.load refuses it
    clearly, and return the probe's reason (else None)."""
    types = corpus_kernel.type_gaps(entry)
    if types:  # program or map types: NotSupportedError naming the feature and the first Linux with it
        with pytest.raises(errors.NotSupportedError) as ei:
            runner.load()
        assert (ei.value.feature, ei.value.min_kernel) in {(g.feature, g.min_kernel) for g in types}, ei.value
        return f"{corpus_kernel.PREFIX} {types[0]}"
    others = corpus_kernel.other_gaps(entry)
    if others:  # helpers, kfuncs, ... : the kernel refuses the program (verifier or relocation error)
        with pytest.raises(errors.BpfError):
            runner.load()
        return others[0]
    return None


QUICK = {"core_read_task.bpf.c", "global_data.bpf.c", "map_bloom_filter.bpf.c", "ringbuf_loop.bpf.c"}


@pytest.mark.parametrize("entry", [pytest.param(o, id=o["file"], marks=[pytest.mark.quick] if o["file"] in QUICK else [])
                                   for o in MANIFEST["objects"]])
def test_corpus_object(entry: dict[str, Any], vmlinux_dir: Path) -> None:
    if any(step.get("op") == "open_perf_buffer" for step in entry.get("steps", [])):
        bpfkit.testing.require("perf_events")  # refused to some users (perf_event_paranoid=3)
    if any(step.get("op") == "expect_trace" for step in entry.get("steps", [])):
        bpfkit.testing.require("tracefs")  # the trace buffer is read from tracefs
    if entry.get("pins"):
        bpfkit.testing.require("pinning")
    if _uses_host_value(entry.get("steps", []), "kallsyms"):
        bpfkit.testing.require("kallsyms")  # an untyped __ksym resolves through kernel addresses
    gaps = corpus_kernel.source_gaps(entry)
    if gaps:  # the source needs types this kernel's vmlinux.h does not have
        pytest.skip(gaps[0])
    try:
        obj = compile_bpf(CORPUS / entry["file"], vmlinux_dir=vmlinux_dir, cflags=["-Werror"])
    except RuntimeError:
        types = corpus_kernel.type_gaps(entry)
        if not types:
            raise
        # e.g. BPF_MAP_TYPE_BLOOM_FILTER is not in an older kernel's vmlinux.h (test_collection checks
        # that the loader refuses types the kernel lacks)
        pytest.skip(f"{corpus_kernel.PREFIX} {types[0]}")
    expect = entry["load"] if _requires_met(entry) else (entry.get("load_if_unmet") or entry["load"])
    _clear_pins(entry)
    runner = Runner(entry, obj)
    try:
        refused = _refused_by_this_kernel(runner, entry)
        if refused:
            pytest.skip(refused)
        if expect["expect"] == "error":
            cls = getattr(errors, expect["error"])
            with pytest.raises(cls) as ei:
                runner.load()
            exc = ei.value
            if "errno" in expect:
                assert getattr(exc, "errno", None) == getattr(errno, expect["errno"]), exc
            text = str(exc) + getattr(exc, "log", "")
            for name in expect.get("names", []):
                assert name in text, (name, text)
            for s in expect.get("log_contains", []):
                assert s in getattr(exc, "log", ""), (s, exc)
            return
        runner.load()
        runner.check_maps()
        for op in entry.get("steps", []):
            runner.step(op)
    finally:
        runner.close()
        _clear_pins(entry)
        if os.path.isdir(PIN_ROOT) and not os.listdir(PIN_ROOT):
            shutil.rmtree(PIN_ROOT)


def test_kernel_ids_oracle_is_getpid_gettid_getppid_in_the_initial_pid_namespace() -> None:
    """The oracle the corpus uses inside a container answers what getpid() does outside one."""
    bpfkit.testing.require("prog:syscall")
    bpfkit.testing.require("helper:probe_read_kernel@syscall")
    if _in_child_pid_namespace():
        pid, tid, ppid = _kernel_ids()
        assert pid != os.getpid() or ppid != os.getppid()  # the kernel's numbers are not the namespace's
        return
    assert _kernel_ids() == (os.getpid(), threading.get_native_id(), os.getppid())
