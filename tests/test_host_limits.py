"""Hosts as users have them: probes say why a feature is missing (lockdown, a capability, the
configuration, file access), and a user with only CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN gets
either a working tool or one bpfkit error line naming the cause and the fix."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

import bpfkit
from bpfkit import features, host
from bpfkit._sys.mounts import ensure_tracefs
from bpfkit._uapi import HelperId
from bpfkit.asm import Assembler
from bpfkit.errors import BpfPermissionError, NotSupportedError
from bpfkit.features import Cause
from bpfkit.tools._common import TOOLS
from hostenv import CAPS_ONLY, run_as

pytestmark = pytest.mark.kernel

_LOCKED = host.lockdown_mode() not in (None, "none")


def _check_as(caps: tuple[str, ...], *names: str) -> dict[str, dict[str, object]]:
    """features.check() of each name, run as uid 65534 holding only ``caps``."""
    code = ("import json, sys\nfrom bpfkit import features\nout = {}\nfor n in sys.argv[1:]:\n"
            "    s = features.check(n)\n"
            "    out[n] = {'available': s.available, 'cause': s.cause and s.cause.value, 'reason': s.reason}\n"
            "print(json.dumps(out))\n")
    r = run_as(caps, ["-c", code, *names])
    assert r.returncode == 0, r.stderr
    result: dict[str, dict[str, object]] = json.loads(r.stdout)
    return result


def test_lockdown_mode_is_the_one_securityfs_shows() -> None:
    mode = host.lockdown_mode()
    path = "/sys/kernel/security/lockdown"
    if os.path.exists(path):
        with open(path) as f:
            m = re.search(r"\[(\w+)\]", f.read())
        assert m is not None and mode == m.group(1)
    else:
        assert mode == "none"  # a kernel without the lockdown LSM


def test_every_kind_of_probe_answers_with_a_support() -> None:
    for name in ["map:hash", "map:insn_array", "prog:xdp", "prog:lsm", "helper:probe_write_user@tracepoint",
                 "helper:probe_read_kernel@kprobe", "btf:enum64", *sorted(features._BOOL_PROBES)]:
        s = features.check(name)
        assert isinstance(s, features.Support) and isinstance(s.available, bool)
        assert bool(s) is s.available
        if not s:
            assert isinstance(s.cause, Cause) and s.cause is not Cause.UNKNOWN and s.reason, s
            err = s.error()
            assert (err.feature, err.cause, err.min_kernel) == (s.feature, s.cause.value, s.min_kernel)
        else:
            assert s.cause is None and not s.reason


def test_require_carries_the_cause() -> None:
    for name in ["map:insn_array", "trampolines", "kprobes", "map:arena", "bpf_lsm"]:
        s = features.check(name)
        if s:
            features.require(name)
            continue
        with pytest.raises(NotSupportedError) as ei:
            features.require(name)
        assert (ei.value.cause, ei.value.feature) == (s.cause and s.cause.value, s.feature)


def test_a_helper_lockdown_removes_is_missing_for_lockdown() -> None:
    """bpf_probe_write_user goes away under lockdown=integrity and up; a program calling it says so."""
    s = features.check("helper:probe_write_user@tracepoint")
    a = Assembler()
    a.st_mem(8, 10, -8, 0).mov64_imm(1, 0).mov64_reg(2, 10).alu64_imm("+", 2, -8).mov64_imm(3, 8)
    a.call_helper(HelperId.probe_write_user).mov64_imm(0, 0).exit_insn()
    if not _LOCKED:
        if not host.has_capability(host.CAP_SYS_ADMIN) and not (s.available and host.token_in_use()):
            # a capabilities-only user: the verifier hides it too (a BPF token may grant it: Linux 7.2 does)
            assert (s.available, s.cause) == (False, Cause.CAPABILITY) and "CAP_SYS_ADMIN" in s.reason, s
            return
        assert s.available, s
        bpfkit.Program.load("tracepoint", a.program(), name="pwu").close()
        return
    assert (s.available, s.cause) == (False, Cause.LOCKDOWN), s
    assert host.lockdown_mode() in s.reason
    with pytest.raises(NotSupportedError) as ei:
        bpfkit.Program.load("tracepoint", a.program(), name="pwu")
    assert (ei.value.cause, ei.value.feature) == ("lockdown", "helper bpf_probe_write_user")
    assert isinstance(ei.value.__cause__, bpfkit.VerifierError)


def test_reading_kernel_memory_is_missing_only_under_confidentiality() -> None:
    s = features.check("helper:probe_read_kernel@kprobe")
    if host.lockdown_mode() == "confidentiality":
        assert s.cause is Cause.LOCKDOWN and "reading kernel memory" in s.reason
    else:
        assert s.available, s


def test_lockdown_refusal_reads_a_verifier_log() -> None:
    log = "0: R1=ctx() R10=fp0\n0: (85) call bpf_probe_read_kernel#113\nunknown func bpf_probe_read_kernel#113\n"
    got = features.lockdown_refusal(log)
    if host.lockdown_mode() == "confidentiality":
        assert got is not None and got[0] == "probe_read_kernel"
    else:
        assert got is None  # integrity keeps reading kernel memory; no lockdown keeps everything
    assert features.lockdown_refusal("unknown func bpf_no_such#9999\n") is None


def test_a_dependent_feature_says_what_it_depends_on() -> None:
    s = features.check("fmod_ret")
    t = features.check("trampolines")
    if not t:
        assert (s.available, s.cause) == (False, t.cause)
        assert t.reason in s.reason


def test_kprobes_missing_from_the_configuration_say_which_option() -> None:
    from bpfkit._sys.perf_event import kprobe_support

    s = features.check("kprobes")
    if s:
        return
    if kprobe_support() is not None:  # built in, but refused to this process (lockdown=confidentiality, paranoid 3)
        assert s.cause in (Cause.LOCKDOWN, Cause.CAPABILITY, Cause.REFUSED), s
        return
    assert s.cause is Cause.CONFIG
    if host.kernel_config_text() is not None:
        assert "CONFIG_KPROBE" in s.reason


def test_a_file_refusal_is_an_access_cause() -> None:
    cause, why = features.refusal("attaching a tracepoint", PermissionError(13, "Permission denied", "/x/id"))
    assert cause is Cause.ACCESS and "/x/id" in why
    exc = BpfPermissionError(1, command="BPF_PROG_LOAD", target="probe")
    cause, _ = features.refusal("loading", exc, (host.CAP_BPF,))
    assert cause is (Cause.LOCKDOWN if _LOCKED else Cause.REFUSED)  # this test runs with every capability


def test_probes_name_the_capability_a_user_lacks() -> None:
    got = _check_as(("bpf",), "prog:tracepoint", "prog:xdp", "map:hash", "prog:socket_filter")
    assert got["prog:tracepoint"]["cause"] == "capability" and "CAP_PERFMON" in str(got["prog:tracepoint"]["reason"])
    assert got["prog:xdp"]["cause"] == "capability" and "CAP_NET_ADMIN" in str(got["prog:xdp"]["reason"])
    assert got["map:hash"]["available"] is True
    assert got["prog:socket_filter"]["available"] is True
    full = _check_as(CAPS_ONLY, "prog:tracepoint", "prog:xdp", "prog:raw_tracepoint", "map:ringbuf")
    assert all(v["available"] for v in full.values()), full


def test_probes_without_any_capability_answer() -> None:
    with open("/proc/sys/kernel/unprivileged_bpf_disabled") as f:
        unpriv_off = int(f.read().strip()) != 0
    got = _check_as((), "map:hash", "prog:tracepoint")
    assert got["prog:tracepoint"]["cause"] == "capability"
    if unpriv_off:
        assert got["map:hash"]["cause"] == "capability" and "CAP_BPF" in str(got["map:hash"]["reason"])
    else:
        assert got["map:hash"]["available"] is True


def _tracefs_open_to_others() -> bool:
    return bool(os.stat(ensure_tracefs()).st_mode & stat.S_IXOTH)


@pytest.mark.parametrize("tool", list(TOOLS))
def test_tools_as_a_capabilities_only_user_work_or_say_why_in_one_line(tool: str) -> None:
    r = run_as(CAPS_ONLY, ["-m", "bpfkit", tool, "--duration", "0.5"])
    assert "Traceback" not in r.stderr, r.stderr
    if _tracefs_open_to_others():
        assert r.returncode == 0, r.stderr
        return
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("bpfkit: "), r.stderr
    if tool == "bootstrap" and host.lockdown_mode() == "confidentiality":  # its load fails first: kernel reads
        assert "lockdown=confidentiality" in lines[0] and "bpf_probe_read_kernel" in lines[0]
        return
    assert "tracefs" in lines[0] and "raw_tp" in lines[0] and "run as root" in lines[0]


def test_listing_the_systems_maps_names_cap_sys_admin() -> None:
    r = run_as(CAPS_ONLY, ["-m", "bpfkit", "map", "list"])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "CAP_SYS_ADMIN" in lines[0], r.stderr


def test_a_tool_without_cap_perfmon_names_it() -> None:
    r = run_as(("bpf",), ["-m", "bpfkit", "bootstrap", "--duration", "0.5"])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and "CAP_PERFMON" in lines[0], r.stderr


def test_mounting_without_cap_sys_admin_is_an_access_error() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        target = os.path.join(tmp, "bpffs")
        os.chmod(tmp, 0o777)
        code = ("import json, sys\nfrom bpfkit._sys.mounts import ensure_bpffs\nfrom bpfkit.errors import AccessError\n"
                "try:\n    ensure_bpffs(sys.argv[1])\nexcept AccessError as e:\n"
                "    print(json.dumps({'path': e.filename, 'fix': e.fix, 'perm': isinstance(e, PermissionError)}))\n")
        r = run_as(CAPS_ONLY, ["-c", code, target])
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        assert got["path"] == os.path.realpath(target) and got["perm"] is True and "mount -t bpf" in got["fix"]


def test_leak_check_ignores_only_the_kernels_preload_pins(tmp_path: Path) -> None:
    """A fresh bpffs holds the kernel's bpf_preload iterators (CONFIG_BPF_PRELOAD) at its root: not leaks."""
    from bpfkit._sys.mounts import ensure_bpffs
    from bpfkit.testing import bpf_pins, require_capability

    require_capability(host.CAP_SYS_ADMIN, "mounting a bpffs")
    root = str(tmp_path / "bpffs")
    ensure_bpffs(root)
    try:
        assert set(os.listdir(root)) <= {"maps.debug", "progs.debug"}
        os.makedirs(os.path.join(root, "sub", "dir"))  # (bpffs refuses names with a dot: none can look like them)
        assert bpf_pins(root) == {os.path.join(root, "sub"), os.path.join(root, "sub", "dir")}
        shutil.rmtree(os.path.join(root, "sub"))
    finally:
        subprocess.run(["umount", root], check=True)


def test_pinning_where_the_user_may_not_write_names_the_bpffs_permissions() -> None:
    from bpfkit._sys.mounts import ensure_bpffs

    ensure_bpffs()  # a container may start without one; mounting it is root's part, pinning the user's
    code = ("import json, bpfkit\n"
            "m = bpfkit.Map.create('array', key_size=4, value_size=4, max_entries=1, name='p')\n"
            "out = {}\n"
            "for what, fn in (('pin', lambda: m.pin('/sys/fs/bpf/bpfkit_hosts_denied')),\n"
            "                 ('get', lambda: bpfkit.Map.from_pin('/sys/fs/bpf/bpfkit_hosts_denied'))):\n"
            "    try:\n        fn()\n        out[what] = 'ok'\n"
            "    except bpfkit.BpfPermissionError as e:\n        out[what] = [e.errno, str(e)]\n"
            "m.close()\nprint(json.dumps(out))\n"
            "if out['pin'] == 'ok':\n    import os\n    os.unlink('/sys/fs/bpf/bpfkit_hosts_denied')\n")
    r = run_as(CAPS_ONLY, ["-c", code])
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    if os.stat("/sys/fs/bpf").st_mode & stat.S_IWOTH:
        return  # a bpffs open to everyone: nothing to refuse
    for what in ("pin", "get"):
        errno_, text = got[what]
        assert errno_ == 13 and "mode 700" in text and "lockdown" not in text, got


def test_pinning_and_object_id_probes_answer_for_a_capabilities_only_user() -> None:
    from bpfkit._sys.mounts import ensure_bpffs

    ensure_bpffs()
    root = features.check("pinning"), features.check("object_ids")
    assert all(s.available for s in root) == host.has_capability(host.CAP_SYS_ADMIN), root
    got = _check_as(CAPS_ONLY, "pinning", "object_ids")
    ids = got["object_ids"]
    assert ids["available"] is False and ids["cause"] == "capability" and "CAP_SYS_ADMIN" in str(ids["reason"]), got
    pin = got["pinning"]
    if os.stat("/sys/fs/bpf").st_mode & stat.S_IWOTH:
        assert pin["available"] is True, got  # a bpffs open to everyone
    else:
        assert pin["available"] is False and pin["cause"] == "access" and "/sys/fs/bpf" in str(pin["reason"]), got


_REFUSALS_AS_CAPS_ONLY = r"""
import json, sys
import bpfkit
from bpfkit import features, host
from bpfkit.btf import BtfKind
from bpfkit.links import attach_uprobe
from bpfkit.programs import Program

RET0 = bytes.fromhex("b700000000000000") + bytes.fromhex("9500000000000000")
out = {"uprobe": features.check("uprobes").available}
with Program.load("kprobe", RET0, name="up") as p:
    try:
        attach_uprobe(p, "c", "getpid").close()
        out["attach"] = "ok"
    except bpfkit.BpfPermissionError as e:
        out["attach"] = [type(e).__name__, str(e)]
try:  # r0 = *(u64 *)(r2 + 0): r2 is not initialized
    Program.load("socket_filter", bytes.fromhex("7920000000000000") + RET0[8:], name="bad")
except bpfkit.BpfError as e:
    out["verifier"] = [type(e).__name__, e.errno, "R2" in getattr(e, "log", "")]
fid = host.vmlinux_btf().find("do_nanosleep", BtfKind.FUNC)[0]
try:
    with Program.load("tracing", RET0, name="fent", expected_attach_type="trace_fentry", attach_btf_id=fid) as p:
        p.attach().close()  # a kernel without DIRECT_CALLS (arm64 6.1) loads it and refuses the attach
    out["fentry"] = "ok"
except bpfkit.BpfError as e:
    out["fentry"] = [type(e).__name__, getattr(e, "feature", None), getattr(e, "cause", None)]
print(json.dumps(out))
"""


def test_refusals_a_capabilities_only_user_meets_name_their_cause() -> None:
    """uprobes (CAP_SYS_ADMIN since Linux 6.16: the error says so and names uprobe.multi), a verifier refusal
    (a VerifierError, not a permission error) and trampolines under lockdown (NotSupportedError)."""
    r = run_as(CAPS_ONLY, ["-c", _REFUSALS_AS_CAPS_ONLY])
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    if got["uprobe"]:
        assert got["attach"] == "ok", got
    else:
        kind, text = got["attach"]
        assert kind == "BpfPermissionError" and "CAP_SYS_ADMIN" in text and "uprobe.multi" in text, got
    assert got["verifier"] == ["VerifierError", 13, True], got
    if features.have_trampolines():
        assert got["fentry"] == "ok", got
    else:
        kind, feature, cause = got["fentry"]
        assert kind == "NotSupportedError" and feature == "trampoline", got
        assert (cause == "lockdown") == _LOCKED, got
