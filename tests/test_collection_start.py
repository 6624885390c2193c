"""Start-up: a load imports and reads only what it needs; BTF is sanitized only when the kernel refuses it."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bpfkit
from bpfkit import collection
from bpfkit.btf._sanitize import BtfFeatures
from bpfkit.errors import KernelError
from bpfkit.testing import require

pytestmark = pytest.mark.kernel

TOOLS = Path(__file__).resolve().parents[1] / "src" / "bpfkit" / "tools"
READS_KERNEL_MEMORY = "helper:probe_read_kernel@tracepoint"
"""bootstrap reads task_struct (BPF_CORE_READ): lockdown=confidentiality refuses its load."""

# Modules a load and attach of bootstrap.bpf.o (tracepoints, hash, ring buffer, .rodata, CO-RE) must not need.
NOT_NEEDED = [
    "elftools", "pathlib", "platform", "subprocess", "shutil", "tempfile", "ipaddress",
    "bpfkit.features", "bpfkit.btf._sanitize", "bpfkit.btf.format", "bpfkit.obj._kconfig",
    "bpfkit.asm._builder", "bpfkit.asm._disasm", "bpfkit._kbtf", "bpfkit.maps._lpm", "bpfkit.maps._storage",
    "bpfkit.maps._percpu", "bpfkit.maps._net", "bpfkit.links._net", "bpfkit.links._probes", "bpfkit.ringbuf",
    "dataclasses", "inspect", "ast", "dis", "tokenize", "bpfkit._uapi._generated_lazy",
]


def run(code: str, **env: str) -> Any:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         env={**os.environ, **env}, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_load_and_attach_import_only_what_they_need() -> None:
    require(READS_KERNEL_MEMORY)
    require("tracefs")  # bootstrap attaches to the sched tracepoints by name
    out = run(
        "import json, sys, bpfkit\n"
        f"c = bpfkit.load({str(TOOLS / 'bootstrap.bpf.o')!r}, constants={{'min_duration_ns': 1}})\n"
        "links = c.attach()\n"
        "mods = sorted(sys.modules)\n"
        "c.close()\n"
        "print(json.dumps([len(links), mods]))\n"
    )
    assert out[0] == 2
    loaded = set(out[1])
    used = {"bpfkit.maps._hash", "bpfkit.maps._ringbuf", "bpfkit.maps._array", "bpfkit.maps._percpu",  # rb_lost
            "bpfkit.links._tracing"}
    assert [m for m in NOT_NEEDED if m in loaded and m not in used] == []
    assert used <= loaded


def test_object_without_core_does_not_read_kernel_btf() -> None:
    out = run(
        "import json, bpfkit\n"
        "from bpfkit import host\n"
        f"c = bpfkit.load({str(TOOLS / 'hello.bpf.o')!r})\n"
        "n = host.vmlinux_btf.cache_info().currsize\n"
        "c.close()\n"
        "print(json.dumps(n))\n"
    )
    assert out == 0


def test_object_with_core_reads_kernel_btf() -> None:
    require(READS_KERNEL_MEMORY)
    out = run(
        "import json, bpfkit\n"
        "from bpfkit import host\n"
        f"c = bpfkit.load({str(TOOLS / 'bootstrap.bpf.o')!r})\n"
        "n = host.vmlinux_btf.cache_info().currsize\n"
        "c.close()\n"
        "print(json.dumps(n))\n"
    )
    assert out == 1


def test_btf_loads_without_probes_when_the_kernel_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpfkit.features as features

    def no_probes() -> BtfFeatures:
        raise AssertionError("BTF features probed although the kernel took the object's BTF")

    require(READS_KERNEL_MEMORY)
    monkeypatch.setattr(features, "btf_features", no_probes)
    with bpfkit.load(TOOLS / "bootstrap.bpf.o") as obj:
        assert obj.btf_fd is not None


def test_btf_sanitized_when_the_kernel_refuses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpfkit.features as features

    real = collection.C.btf_load
    blobs: list[bytes] = []

    def refuse_first(blob: bytes, **kw: Any) -> tuple[int, str]:
        blobs.append(blob)
        if len(blobs) == 1:
            raise KernelError(errno.EINVAL, command="BTF_LOAD", target=kw.get("target"))
        return real(blob, **kw)

    require(READS_KERNEL_MEMORY)
    require("tracefs")  # bootstrap attaches to the sched tracepoints by name
    monkeypatch.setattr(collection.C, "btf_load", refuse_first)
    monkeypatch.setattr(features, "btf_features", lambda: BtfFeatures(global_func=False))
    with bpfkit.load(TOOLS / "bootstrap.bpf.o", constants={"min_duration_ns": 3}) as obj:
        assert obj.btf_fd is not None
        assert obj.variables["min_duration_ns"] == 3
        assert len(obj.attach()) == 2
    assert len(blobs) == 2 and blobs[0] != blobs[1]  # the second is the sanitized one (global funcs made static)


def test_btf_refused_for_other_reasons_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import bpfkit.features as features

    def refuse(blob: bytes, **kw: Any) -> tuple[int, str]:
        raise KernelError(errno.EINVAL, command="BTF_LOAD", target=kw.get("target"))

    monkeypatch.setattr(collection.C, "btf_load", refuse)
    monkeypatch.setattr(features, "btf_features", BtfFeatures.all)
    with pytest.raises(bpfkit.BpfError, match="loading the BTF of object"):
        bpfkit.load(TOOLS / "bootstrap.bpf.o")
