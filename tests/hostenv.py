"""Run bpfkit in a subprocess as a user without full root: uid 65534 with only the capabilities given.

setpriv (util-linux) sets the uid, drops every capability except the ones named and
keeps those across exec as ambient capabilities, as systemd ``AmbientCapabilities=``
or a container's capability list would.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

import pytest

from bpfkit.testing import PROBE_PREFIX

NOBODY = 65534
CAPS_ONLY = ("bpf", "perfmon", "net_admin")
"""What users grant eBPF tools instead of root (CAP_BPF + CAP_PERFMON + CAP_NET_ADMIN)."""

SRC = Path(__file__).resolve().parent.parent / "src"


# CAP_SETGID, CAP_SETUID, CAP_SETPCAP: what setpriv needs to become uid 65534 with a chosen capability set
_SWITCH_CAPS = (6, 7, 8)


def _setpriv(caps: Sequence[str]) -> list[str]:
    from bpfkit import host

    lacking = [n for n, c in zip(("CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP"), _SWITCH_CAPS, strict=True)
               if c not in host.effective_capabilities()]
    if lacking or not host.in_initial_user_namespace():
        # the matrix's capabilities-only and token environments: this process is already such a user
        pytest.skip(f"{PROBE_PREFIX} this process (uid {os.getuid()}) cannot become another user with other "
                    f"capabilities: it lacks {', '.join(lacking) or 'the initial user namespace'}, which that needs")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("setpriv (util-linux) is needed to run bpfkit as a user with only some capabilities")
    wanted = "-all" + "".join(f",+{c}" for c in caps)
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", f"--inh-caps={wanted}",
            f"--ambient-caps={wanted}", f"--bounding-set={wanted}", "--"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BPFKIT_"))}
    # the checkout, the venv's packages, and what PYTHONPATH already names (an arm64 guest's userland keeps its
    # packages there)
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(SRC), sysconfig.get_paths()["purelib"], *extra]))
    env["HOME"] = "/nonexistent"  # nobody's home: bpfkit must do without a cache
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@functools.cache
def python_for_nobody() -> str:
    """A Python interpreter uid 65534 may run (the venv's may live under /root, which it cannot enter)."""
    candidates = [sys.executable, os.path.realpath(sys.executable), shutil.which("python3") or "",
                  f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}", "/usr/bin/python3"]
    for py in dict.fromkeys(c for c in candidates if c):
        r = subprocess.run([*_setpriv(()), py, "-c", "import elftools, bpfkit"], check=False, env=_env(),
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0:
            return py
    pytest.fail(f"no Python interpreter that uid {NOBODY} can run bpfkit with (tried {candidates})")


def run_as(caps: Sequence[str], args: Sequence[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` as uid 65534 holding only ``caps`` (names as setpriv spells them: bpf, perfmon ...)."""
    return subprocess.run([*_setpriv(caps), python_for_nobody(), *args], check=False, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def kernel_ids() -> tuple[int, int]:
    """(tgid, tid) of the calling thread as the kernel numbers them (bpf_get_current_pid_tgid, trace_pipe): the
    initial PID namespace's, which differ from os.getpid() and threading.get_native_id() in a container."""
    from bpfkit._uapi import HelperId
    from bpfkit.asm import Assembler
    from bpfkit.programs import Program

    ids = []
    for shift in (32, 0):  # test_run's retval is 32 bits: the tgid (high half), then the tid (low half)
        a = Assembler().call_helper(HelperId.get_current_pid_tgid)
        if shift:
            a.alu64_imm(">>", 0, shift)
        with Program.load("raw_tracepoint", a.exit_insn().program(), name="pid_tgid") as prog:
            ids.append(prog.test_run(ctx=b"\0" * 8, ctx_out_size=0).retval)
    return ids[0], ids[1]


@functools.cache
def kernel_tgid() -> int:
    """This process's id as BPF programs see it (see :func:`kernel_ids`)."""
    return kernel_ids()[0]


def kernel_uid() -> int:
    """This process's uid as BPF programs see it (bpf_get_current_uid_gid): the initial user namespace's, which
    differs from os.getuid() in a user namespace (the BPF token environment: 0 inside, 65534 outside)."""
    uid = os.getuid()
    with open("/proc/self/uid_map") as f:
        for line in f:
            inside, outside, count = (int(x) for x in line.split())
            if inside <= uid < inside + count:
                return outside + uid - inside
    return uid
