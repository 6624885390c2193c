"""Host facts: kernel version, CPUs, config, kallsyms, vmlinux BTF."""

from __future__ import annotations

import os

from bpfkit import host


def test_version_and_cpus() -> None:
    rel = os.uname().release
    assert host.kernel_release() == rel
    major, minor, _ = host.kernel_version()
    assert rel.startswith(f"{major}.{minor}")
    assert host.possible_cpus() >= len(host.online_cpus()) >= 1
    assert host.kernel_version_code() >> 16 == major


def test_parse_cpu_list() -> None:
    assert host.parse_cpu_list("0-3,5,7-8\n") == [0, 1, 2, 3, 5, 7, 8]
    assert host.parse_cpu_list("0") == [0]


def test_kernel_config_has_bpf() -> None:
    text = host.kernel_config_text()
    assert text is not None
    assert "CONFIG_BPF_SYSCALL=y" in text


def test_kallsyms_lookup() -> None:
    if os.geteuid() != 0:
        return
    addr = host.ksym_address("bpf_prog_put")
    assert addr is not None and addr > 0
    assert host.ksym_address("no_such_symbol_bpfkit") is None


def test_vmlinux_btf_cached() -> None:
    assert host.vmlinux_btf() is host.vmlinux_btf()
    assert host.vmlinux_btf().find("task_struct")


def test_kernel_btfs_start_with_vmlinux_and_load_lazily() -> None:
    btfs = host.kernel_btfs()
    assert len(btfs) == 1 + len(host.module_btf_names())
    assert btfs[0] is host.vmlinux_btf()
    assert list(btfs[:1]) == [host.vmlinux_btf()]
