"""The matrix's arm64 columns: kernel selection, the QEMU machine, the userland and the guest's root (pure)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from matrixlib import debian, guest, initramfs, userland


def test_arm64_labels_resolve_to_the_arm64_flavour() -> None:
    spec = debian.parse_kernel_arg("6.12-arm64")
    assert (spec.suite, spec.series, spec.flavour, spec.arch) == ("trixie", "6.12", "arm64", "arm64")
    assert debian.parse_kernel_arg("6.1-arm64").suite == "bookworm"
    other = debian.parse_kernel_arg("6.6-arm64@bookworm-backports")
    assert (other.series, other.arch, other.label) == ("6.6", "arm64", "6.6-arm64@bookworm-backports")
    assert debian.parse_kernel_arg("6.12").arch == "amd64"
    with pytest.raises(ValueError, match="unknown kernel"):
        debian.parse_kernel_arg("6.12-riscv64")


def test_kernel_selection_takes_the_flavour_of_the_spec() -> None:
    def pkg(name: str, version: str) -> debian.Package:
        return debian.Package(name, version, f"pool/{name}.deb", ())

    index = {"linux-image-6.12.117+deb13-amd64": [pkg("linux-image-6.12.117+deb13-amd64", "6.12.117-1")],
             "linux-image-6.12.117+deb13-arm64": [pkg("linux-image-6.12.117+deb13-arm64", "6.12.117-1")],
             "linux-image-6.12.117+deb13-cloud-arm64": [pkg("linux-image-6.12.117+deb13-cloud-arm64", "6.12.117-1")]}
    chosen = debian.select_kernel(index, debian.parse_kernel_arg("6.12-arm64"))
    assert [p.name for p in chosen] == ["linux-image-6.12.117+deb13-arm64"]


def test_private_apt_tree_names_its_architecture(tmp_path: Path) -> None:
    opts = debian.AptCache(tmp_path, ["bookworm"], "arm64").options()
    assert "APT::Architecture=arm64" in opts and "APT::Architectures::=arm64" in opts
    with pytest.raises(ValueError, match="architecture"):
        debian.AptCache(tmp_path, ["bookworm"], "sparc")


def test_qemu_command_of_an_arm64_guest(tmp_path: Path) -> None:
    cmd = guest.qemu_command(Path("/k/Image"), Path("/k/initrd"), tmp_path, "9p", arch="arm64")
    assert cmd[0] == "qemu-system-aarch64" and cmd[cmd.index("-M") + 1] == "virt"
    assert cmd[cmd.index("-cpu") + 1] == "max,pauth-impdef=on"
    append = cmd[cmd.index("-append") + 1].split()
    assert "console=ttyAMA0" in append and "lsm=bpf" in append


def test_simulated_install_lists_packages_in_order() -> None:
    text = ("NOTE: This is only a simulation!\n"
            "Inst gcc-12-base (12.2.0-14+deb12u1 Debian:12.12/stable [arm64])\n"
            "Inst libc6 (2.36-9+deb12u14 Debian:12.12/stable [arm64])\n"
            "Conf libc6 (2.36-9+deb12u14 Debian:12.12/stable [arm64])\n"
            "Inst python3.11 [3.11.1-1] (3.11.2-6+deb12u6 Debian:12.12/stable [arm64])\n")
    assert userland.parse_simulation(text) == [("gcc-12-base", "12.2.0-14+deb12u1"), ("libc6", "2.36-9+deb12u14"),
                                               ("python3.11", "3.11.2-6+deb12u6")]


def test_merge_usr_and_links(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/dash").write_text("dash")
    (tmp_path / "lib/aarch64-linux-gnu").mkdir(parents=True)
    (tmp_path / "lib/aarch64-linux-gnu/libc.so.6").write_text("libc")
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/gcc").write_text("gcc")
    userland.merge_usr(tmp_path)
    userland.add_links(tmp_path)
    assert (tmp_path / "bin").is_symlink() and (tmp_path / "bin").readlink() == Path("usr/bin")
    assert (tmp_path / "usr/lib/aarch64-linux-gnu/libc.so.6").read_text() == "libc"
    assert (tmp_path / "sbin").is_symlink()
    assert (tmp_path / "usr/bin/sh").readlink() == Path("dash") and (tmp_path / "usr/bin/cc").readlink() == Path("gcc")
    assert not (tmp_path / "usr/bin/clang").exists()  # no target: no link
    assert dict(userland.top_entries(tmp_path))["bin"] == "usr/bin"


def test_wheel_platforms_stop_at_the_userland_glibc() -> None:
    tags = userland.wheel_platforms("arm64")
    assert tags[0] == f"manylinux_2_{userland.GLIBC_MINOR}_aarch64" and tags[-1] == "manylinux2014_aarch64"
    assert "manylinux_2_28_aarch64" in tags and all("x86_64" not in t for t in tags)


def test_init_builds_the_root_from_the_userland() -> None:
    root = initramfs.UserlandRoot("/cache/ul/root", (("bin", "usr/bin"), ("usr", None), ("etc", None), ("var", None)),
                                  (("/work/repo", "/work/repo"), ("/cache/ul/pylib", userland.PYLIB)))
    text = initramfs.init_script(["00-virtiofs.ko"], "virtiofs", userland=root)
    hr, nr = initramfs.HOSTROOT, initramfs.NEWROOT
    assert f"mount -t virtiofs -o ro hostroot {hr}" in text
    assert f"mount --bind {hr}/cache/ul/root/usr {nr}/usr" in text
    assert f"ln -s usr/bin {nr}/bin" in text
    assert f"{hr}/cache/ul/root/var" not in text  # var is the guest's own (tmpfs)
    assert f"mount --bind {hr}/work/repo {nr}/work/repo" in text
    assert f"mount --bind {hr}/cache/ul/pylib {nr}{userland.PYLIB}" in text
    assert f"mount --bind {hr}/tmp {nr}{initramfs.HOST_TMP}" in text
    assert f"{nr}/mnt " in text  # tests mount there
    plain = initramfs.init_script(["00-virtiofs.ko"], "virtiofs")
    assert f"mount -t virtiofs -o ro hostroot {nr}" in plain and hr + "/" not in plain
    subprocess.run(["sh", "-n"], input=text, text=True, check=True)  # the shell accepts it


def test_userland_environment_puts_the_packages_first(tmp_path: Path) -> None:
    u = userland.Userland("arm64", tmp_path / "root", tmp_path / "pylib")
    assert u.env(Path("/repo")) == {"PYTHONPATH": f"{userland.PYLIB}:/repo/src"}
    assert (str(tmp_path / "pylib"), userland.PYLIB) in u.binds(Path("/repo"))
    assert userland.guest_python(u, "/venv/bin/python") == userland.PYTHON
    assert userland.guest_python(None, "/venv/bin/python") == "/venv/bin/python"


def test_the_userland_programs_cover_the_checkouts_host_ones(tmp_path: Path) -> None:
    """The checkout's unpacked x86-64 Prometheus (scripts/setup.sh) is replaced by the userland's in the guest."""
    repo, root = tmp_path / "repo", tmp_path / "root"
    (root / "usr/bin").mkdir(parents=True)
    u = userland.Userland("arm64", root, tmp_path / "pylib")
    assert len(u.binds(repo)) == 2  # no unpacked Prometheus in the checkout: nothing to cover
    (repo / ".cache/prometheus/usr/bin").mkdir(parents=True)
    assert (str(root / "usr/bin"), str(repo / ".cache/prometheus/usr/bin")) in u.binds(repo)
