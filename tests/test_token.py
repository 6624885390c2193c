"""BPF tokens for real: a user namespace gets a bpffs with delegate_* options from this (privileged)
process, as the kernel selftests do, and creates maps, programs, BTF and whole objects through it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import bpfkit
from bpfkit import features, host
from bpfkit._sys import ns
from bpfkit.testing import PROBE_PREFIX, require, require_capability
from bpfkit.token import Token, token_for_load

pytestmark = pytest.mark.kernel

HERE = Path(__file__).resolve().parent
# an object with tracepoints and a hash map that reads no kernel memory (lockdown=confidentiality would refuse that)
OBJECT = HERE.parent / "src" / "bpfkit" / "tools" / "execcount.bpf.o"


def _run_child() -> dict[str, str]:
    require_capability(host.CAP_SYS_ADMIN, "delegating a bpffs to a user namespace")
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = {k: v for k, v in os.environ.items() if k not in ("BPFKIT_BPF_TOKEN_PATH", "LIBBPF_BPF_TOKEN_PATH")}
    proc = subprocess.Popen([sys.executable, str(HERE / "token_child.py"), str(child.fileno()), str(OBJECT)],
                            pass_fds=[child.fileno()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    child.close()
    try:
        _, fds, _, _ = socket.recv_fds(parent, 16, 1)
        if not fds:
            out, err = proc.communicate(timeout=60)
            pytest.fail(f"the child sent no bpffs context: {err}")
        fs_fd = fds[0]
        try:
            mnt_fd = ns.delegate_bpffs(fs_fd)  # needs privilege in the initial user namespace: this process's
        finally:
            os.close(fs_fd)
        try:
            socket.send_fds(parent, [b"mnt"], [mnt_fd])
        finally:
            os.close(mnt_fd)
        out, err = proc.communicate(timeout=120)
    finally:
        parent.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    result: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    return result


def test_token_probe_is_an_answer() -> None:
    s = features.check("bpf_token")
    assert s.min_kernel == "6.9"
    assert s.available is features.have_bpf_token()


def test_a_user_namespace_creates_through_a_delegated_bpffs() -> None:
    require("bpf_token")
    got = _run_child()
    assert got["map_without_token"] == "BpfPermissionError:1", got  # no CAP_BPF in the initial namespace
    assert got["prog_without_token"] == "BpfPermissionError:1", got
    assert got["probe_ambient_token"] == "True", got  # the feature probes go through the token too
    for what in ("map_ambient_token", "prog_ambient_token",
                 "map_with_token_path", "map_with_token", "map_with_btf_and_token", "tracepoint_prog_with_token",
                 "xdp_prog_with_token", "load_with_token", "load_default_path", "load_libbpf_env_path"):
        assert got[what] == "ok", (what, got)
    assert got["load_libbpf_env_empty"].startswith("BpfPermissionError"), got  # "" turns tokens off
    assert got["load_bpfkit_env_not_bpffs"] == "KernelError:22", got  # a named path must give a token
    assert got["load_bpfkit_env_empty_wins"].startswith("BpfPermissionError"), got  # bpfkit's variable first


def test_no_token_here_by_default_and_a_named_path_must_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the initial user namespace /sys/fs/bpf gives no token (and needs none); naming it is an error."""
    require("bpf_token")
    if not host.in_initial_user_namespace():  # the matrix's token environment: there /sys/fs/bpf delegates
        pytest.skip(f"{PROBE_PREFIX} this process runs in a user namespace of its own, not the initial one")
    monkeypatch.delenv("BPFKIT_BPF_TOKEN_PATH", raising=False)
    monkeypatch.delenv("LIBBPF_BPF_TOKEN_PATH", raising=False)
    assert token_for_load(None) == (None, False)
    assert token_for_load("") == (None, False)
    if os.access("/sys/fs/bpf", os.R_OK | os.X_OK):
        with pytest.raises(bpfkit.KernelError) as ei:
            Token.create("/sys/fs/bpf")
        assert ei.value.command == "BPF_TOKEN_CREATE"
    else:  # a capabilities-only user may not even open the root-only bpffs: that is the error, with the fix
        with pytest.raises(bpfkit.AccessError) as ai:
            Token.create("/sys/fs/bpf")
        assert ai.value.filename == "/sys/fs/bpf" and ai.value.fix
    monkeypatch.setenv("LIBBPF_BPF_TOKEN_PATH", "/sys/fs/bpf")
    with pytest.raises(bpfkit.BpfError):
        token_for_load(None)
    monkeypatch.setenv("BPFKIT_BPF_TOKEN_PATH", "")
    assert token_for_load(None) == (None, False)
    with pytest.raises(bpfkit.BpfError):
        Token.create("/nonexistent/bpffs")


def test_a_user_namespace_without_delegation_is_told_about_tokens() -> None:
    """In a user namespace whose /sys/fs/bpf delegates nothing, a creation fails with the permission error
    naming the token (the default path is only a guess), not an error of the token lookup itself."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is needed to make a user namespace")
    code = ("import json, bpfkit\nfrom bpfkit.token import ambient_token\n"
            "try:\n    bpfkit.Map.create('array', key_size=4, value_size=4, max_entries=1, name='nodeleg').close()\n"
            "    out = ['ok', '']\nexcept bpfkit.BpfError as e:\n    out = [type(e).__name__, str(e)]\n"
            "print(json.dumps([*out, ambient_token() is None]))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("BPFKIT_BPF_TOKEN_PATH", "LIBBPF_BPF_TOKEN_PATH")}
    r = subprocess.run([unshare, "--user", "--map-root-user", sys.executable, "-c", code], capture_output=True,
                       text=True, env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    kind, text, no_token = json.loads(r.stdout)
    assert (kind, no_token) == ("BpfPermissionError", True), text
    assert "BPF token" in text
