"""The small modules BCC tools import next to BPF: bcc.utils, bcc.containers, bcc.syscall, bcc.exec."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys

import pytest

from bpfkit.arch import syscall_number
from bpfkit.bcc import ArgString
from bpfkit.bcc import exec as bexec
from bpfkit.bcc.containers import filter_by_containers
from bpfkit.bcc.syscall import syscall_name, syscalls
from bpfkit.bcc.utils import get_online_cpus, get_possible_cpus, printb
from bpfkit.errors import NotSupportedError


def test_argstring_and_printb() -> None:
    a = ArgString("bash")
    assert bytes(a) == b"bash" and str(a) == "bash"
    buf = io.BytesIO()

    class Out:
        buffer = buf

        def flush(self) -> None:
            pass

    printb(b"x\xffy", file=Out())
    printb(b"z", file=Out(), nl=0)
    assert buf.getvalue() == b"x\xffy\nz"
    assert get_online_cpus() and len(get_possible_cpus()) >= len(get_online_cpus())


def test_container_filter() -> None:
    text = filter_by_containers(argparse.Namespace(cgroupmap=None, mntnsmap=None))
    assert "container_should_be_filtered" in text
    with pytest.raises(NotSupportedError):
        filter_by_containers(argparse.Namespace(cgroupmap="/sys/fs/bpf/x", mntnsmap=None))


def test_syscall_names() -> None:
    assert syscall_name(syscall_number("execve")) == b"execve" and syscall_name(syscall_number("getppid")) == b"getppid"
    assert syscalls[syscall_number("read")] == b"read"
    assert syscall_name(100000) == b"[unknown: 100000]"


def test_run_cmd_waits_until_ready(tmp_path: object) -> None:
    pid = bexec.run_cmd(f"{sys.executable} -c 'import sys; sys.exit(3)'")
    assert not bexec.cmd_exited(pid)  # held until cmd_ready
    bexec.cmd_ready(pid)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3
    assert bexec.cmd_exited(pid)


def test_python_m_bpfkit_bcc_aliases_bcc(tmp_path: object) -> None:
    script = os.path.join(str(tmp_path), "t.py")
    with open(script, "w") as f:
        f.write("import sys\nfrom bcc import BPF, ArgString\nfrom bcc.utils import printb\n"
                "from bcc.syscall import syscall_name\nfrom bcc.containers import filter_by_containers\n"
                "print(BPF.__module__, sys.argv[1:])\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-m", "bpfkit.bcc", script, "a", "b"], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert out.strip() == "bpfkit.bcc.bpf ['a', 'b']"
