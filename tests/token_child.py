"""The user-namespace side of the BPF token test (run by tests/test_token.py as a subprocess).

argv: SOCKET_FD OBJECT. Enters new user and mount namespaces (root inside, mapped to
this process's uid), fsopen()s bpffs, sends the fs fd over the socket to the parent,
which sets delegate_* and sends back the mount fd; mounts that at /sys/fs/bpf in its own
mount namespace, then tries what a token allows and prints one JSON object of results.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

import bpfkit
import bpfkit.features
from bpfkit._sys import ns
from bpfkit.token import Token


def outcome(fn: Callable[[], Any]) -> str:
    """'ok', or the name of the bpfkit error class (and the errno) it raised."""
    try:
        r = fn()
    except bpfkit.BpfError as exc:
        return f"{type(exc).__name__}:{getattr(exc, 'errno', None)}"
    if hasattr(r, "close"):
        r.close()
    return "ok"


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    obj = sys.argv[2]
    uid, gid = os.getuid(), os.getgid()
    ns.unshare(ns.CLONE_NEWUSER | ns.CLONE_NEWNS)
    ns.write_id_maps(uid, gid)
    fs_fd = ns.fsopen("bpf")
    socket.send_fds(sock, [b"fs"], [fs_fd])
    _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    mnt_fd = fds[0]
    os.close(fs_fd)
    ns.move_mount(mnt_fd, "/sys/fs/bpf")
    os.close(mnt_fd)

    def array(**kw: Any) -> Any:
        return bpfkit.Map.create("array", key_size=4, value_size=8, max_entries=4, name="tok", **kw)

    def prog(kind: str, **kw: Any) -> Any:
        return bpfkit.Program.load(kind, bytes.fromhex("b700000000000000" "9500000000000000"), name="tok", **kw)

    out: dict[str, str] = {}
    out["map_without_token"] = outcome(lambda: array(token=""))
    out["map_ambient_token"] = outcome(array)  # no token=: the default path's token, as load() takes it
    out["prog_ambient_token"] = outcome(lambda: prog("tracepoint"))
    out["probe_ambient_token"] = str(bpfkit.features.check("map:ringbuf").available)
    out["map_with_token_path"] = outcome(lambda: array(token="/sys/fs/bpf"))
    with Token.create("/sys/fs/bpf") as tok:
        out["map_with_token"] = outcome(lambda: array(token=tok))
        out["map_with_btf_and_token"] = outcome(lambda: bpfkit.Map.create(
            "hash", name="tokbtf", key_type="u32", value_type="u64", max_entries=4, token=tok))
        out["prog_without_token"] = outcome(lambda: prog("tracepoint", token=""))
        out["tracepoint_prog_with_token"] = outcome(lambda: prog("tracepoint", token=tok))
        out["xdp_prog_with_token"] = outcome(lambda: prog("xdp", token=tok))
        out["load_with_token"] = outcome(lambda: bpfkit.load(obj, token=tok))
    for var in ("BPFKIT_BPF_TOKEN_PATH", "LIBBPF_BPF_TOKEN_PATH"):
        os.environ.pop(var, None)
    out["load_default_path"] = outcome(lambda: bpfkit.load(obj))
    os.environ["LIBBPF_BPF_TOKEN_PATH"] = ""
    out["load_libbpf_env_empty"] = outcome(lambda: bpfkit.load(obj))
    os.environ["LIBBPF_BPF_TOKEN_PATH"] = "/sys/fs/bpf"
    out["load_libbpf_env_path"] = outcome(lambda: bpfkit.load(obj))
    os.environ["BPFKIT_BPF_TOKEN_PATH"] = "/proc"
    out["load_bpfkit_env_not_bpffs"] = outcome(lambda: bpfkit.load(obj))
    os.environ["BPFKIT_BPF_TOKEN_PATH"] = ""
    out["load_bpfkit_env_empty_wins"] = outcome(lambda: bpfkit.load(obj))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
