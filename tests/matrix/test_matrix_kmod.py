"""Unit tests of module handling and the initramfs, on synthetic ELF files and archives."""

from __future__ import annotations

import gzip
import lzma
import stat
import struct
from pathlib import Path

import pytest
from matrixlib import initramfs, kmod


def make_elf(sections: dict[str, bytes]) -> bytes:
    """A minimal little-endian ELF64 relocatable file holding the given sections."""
    names = b"\0"
    name_off = {}
    for n in [*sections, ".shstrtab"]:
        name_off[n] = len(names)
        names += n.encode() + b"\0"
    body = b""
    offsets = {}
    data = dict(sections, **{".shstrtab": names})
    for n, d in data.items():
        offsets[n] = 64 + len(body)
        body += d
    shoff = 64 + len(body)
    shoff += -shoff % 8
    body += b"\0" * (shoff - 64 - len(body))
    shdrs = b"\0" * 64
    for n, d in data.items():
        shdrs += struct.pack("<IIQQQQIIQQ", name_off[n], 1, 0, 0, offsets[n], len(d), 0, 0, 1, 0)
    header = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                          len(data) + 1, len(data))
    assert len(header) == 64
    return header + body + shdrs


def modinfo(**fields: str) -> bytes:
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in fields.items())


def test_elf_section_finds_modinfo_and_parse_modinfo_splits_it() -> None:
    elf = make_elf({".text": b"\x90" * 5, ".modinfo": modinfo(depends="a,b-c", name="x")})
    section = kmod.elf_section(elf, ".modinfo")
    assert section is not None
    info = kmod.parse_modinfo(section)
    assert info == {"depends": ["a,b-c"], "name": ["x"]}
    assert kmod.elf_section(elf, ".nothere") is None


@pytest.mark.parametrize("data", [b"", b"\x7fELF", b"MZ" + b"\0" * 100,
                                  b"\x7fELF" + bytes([1, 1]) + b"\0" * 100])
def test_elf_section_rejects_what_is_not_elf64(data: bytes) -> None:
    with pytest.raises(ValueError):
        kmod.elf_section(data, ".modinfo")


def test_elf_section_rejects_a_section_table_past_the_end() -> None:
    elf = bytearray(make_elf({".modinfo": b"a=b\0"}))
    struct.pack_into("<Q", elf, 0x28, len(elf) + 100)
    with pytest.raises(ValueError, match="out of bounds"):
        kmod.elf_section(bytes(elf), ".modinfo")


def test_module_deps_reads_hard_then_pre_soft_dependencies() -> None:
    info = {"depends": ["virtio,virtio_ring"], "softdep": ["pre: crc32c post: foo-bar"]}
    assert kmod.module_deps(info) == ["virtio", "virtio_ring", "crc32c"]
    assert kmod.module_deps({"depends": [""]}) == []


def test_module_name_strips_compression_and_normalises_dashes() -> None:
    assert kmod.module_name("kernel/fs/9p/9p.ko.xz") == "9p"
    assert kmod.module_name("a/nf-tables.ko") == "nf_tables"
    assert kmod.module_name("x.ko.gz") == "x"


def _tree(root: Path) -> Path:
    mods = root / "lib/modules/6.9.0-test"
    (mods / "kernel/fs").mkdir(parents=True)
    (mods / "kernel/drivers").mkdir(parents=True)

    def put(rel: str, depends: str, compress: str = "", **extra: str) -> None:
        elf = make_elf({".modinfo": modinfo(depends=depends, **extra)})
        path = mods / "kernel" / rel
        if compress == "xz":
            path.with_name(path.name + ".xz").write_bytes(lzma.compress(elf))
        elif compress == "gz":
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(elf))
        else:
            path.write_bytes(elf)

    put("drivers/virtio_pci.ko", "virtio,virtio_ring", "xz")
    put("drivers/virtio.ko", "virtio_ring")
    put("drivers/virtio_ring.ko", "", "gz")
    put("fs/9p.ko", "9pnet,netfs", softdep="pre: missing_soft")
    put("fs/9pnet.ko", "")
    put("fs/9pnet_virtio.ko", "9pnet,virtio_ring,virtio")
    put("drivers/veth.ko", "")
    put("drivers/broken.ko", "does_not_exist")
    (mods / "modules.builtin").write_text("kernel/fs/netfs/netfs.ko\n")
    return mods


def test_load_order_puts_dependencies_first_and_skips_builtins(tmp_path: Path) -> None:
    tree = kmod.ModuleTree(_tree(tmp_path))
    order = tree.load_order(["virtio_pci", "9pnet_virtio", "9p"], ["veth", "absent"])
    assert order == ["virtio_ring", "virtio", "virtio_pci", "9pnet", "9pnet_virtio", "9p",
                     "veth"]
    assert "netfs" in tree.builtin


def test_load_order_fails_on_a_missing_required_module(tmp_path: Path) -> None:
    tree = kmod.ModuleTree(_tree(tmp_path))
    with pytest.raises(LookupError, match="virtiofs"):
        tree.load_order(["virtiofs"])
    with pytest.raises(LookupError, match="broken -> does_not_exist"):
        tree.load_order(["broken"])
    assert tree.load_order([], ["broken"]) == []


def test_crypto_soft_dependencies_load_the_generic_module_that_has_the_alias(tmp_path: Path) -> None:
    mods = _tree(tmp_path)

    def put(rel: str, **fields: str) -> None:
        (mods / "kernel" / rel).write_bytes(make_elf({".modinfo": modinfo(**fields)}))

    # ext4 names an algorithm (crypto-crc32c), f2fs another (crc32) that lib/crc32, built in, is not
    put("fs/ext4.ko", depends="", softdep="pre: crypto-crc32c")
    put("fs/f2fs.ko", depends="", softdep="pre: crc32")
    put("drivers/crc32c_generic.ko", depends="", alias="crypto-crc32c")
    put("drivers/crc32_generic.ko", depends="", alias="crc32")
    (mods / "modules.builtin").write_text("kernel/fs/netfs/netfs.ko\nkernel/lib/crc32.ko\n")
    tree = kmod.ModuleTree(mods)
    assert tree.alias_target("crypto_crc32c") == "crc32c_generic"
    assert tree.alias_target("crc32") == "crc32_generic"
    assert tree.alias_target("virtio") == "virtio"
    assert tree.load_order([], ["ext4", "f2fs"]) == ["crc32c_generic", "ext4", "crc32_generic", "f2fs"]


def test_read_module_decompresses_by_suffix(tmp_path: Path) -> None:
    tree = kmod.ModuleTree(_tree(tmp_path))
    for name in ("virtio_pci", "virtio_ring", "virtio"):
        assert kmod.read_module(tree.paths[name])[:4] == b"\x7fELF"


def test_cpio_round_trip_keeps_names_modes_and_data() -> None:
    c = initramfs.Cpio()
    c.dir("bin")
    c.file("bin/busybox", b"\x7fELF-fake", 0o755)
    c.symlink("bin/sh", "busybox")
    c.chardev("console", 5, 1)
    c.file("odd", b"abc")
    data = c.bytes()
    assert len(data) % 4 == 0
    entries = initramfs.read_cpio(data)
    assert entries["bin/busybox"] == (stat.S_IFREG | 0o755, b"\x7fELF-fake")
    assert entries["bin/sh"] == (stat.S_IFLNK | 0o777, b"busybox")
    assert stat.S_ISDIR(entries["bin"][0])
    assert stat.S_ISCHR(entries["console"][0])
    assert entries["odd"][1] == b"abc"


def test_cpio_rejects_duplicates() -> None:
    c = initramfs.Cpio()
    c.file("a", b"")
    with pytest.raises(ValueError, match="duplicate"):
        c.file("/a", b"")


def test_build_packs_busybox_modules_in_order_and_init() -> None:
    image = initramfs.build(b"BB", [("virtio", b"M1"), ("9p", b"M2")], "virtiofs",
                            {"9p": "debug=0", "absent": "x=1"})
    entries = initramfs.read_cpio(gzip.decompress(image))
    assert entries["bin/busybox"][1] == b"BB"
    assert entries["lib/modules/00-virtio.ko"][1] == b"M1"
    assert entries["lib/modules/01-9p.ko"][1] == b"M2"
    assert stat.S_ISCHR(entries["dev/console"][0])
    init = entries["init"][1].decode()
    assert entries["init"][0] & 0o111
    assert init.index("00-virtio.ko") < init.index("01-9p.ko") < init.index("mount -t virtiofs")
    assert "insmod /lib/modules/01-9p.ko debug=0 " in init
    assert "x=1" not in init
    assert "boot/config-1.2" not in entries


def test_build_puts_boot_files_where_the_guest_sees_them() -> None:
    image = initramfs.build(b"BB", [], "9p", boot_files={"config-1.2": b"CONFIG_BPF=y\n"})
    entries = initramfs.read_cpio(gzip.decompress(image))
    assert entries["boot/config-1.2"][1] == b"CONFIG_BPF=y\n"
    init = entries["init"][1].decode()
    assert f"cp -a /boot/. {initramfs.NEWROOT}/boot/" in init


@pytest.mark.parametrize("share", ["virtiofs", "9p"])
def test_init_script_mounts_shares_and_kernel_filesystems(share: str) -> None:
    text = initramfs.init_script(["00-a.ko"], share)
    assert text.startswith("#!/bin/busybox sh\n")
    root_line = next(ln for ln in text.splitlines() if "hostroot" in ln)
    assert f"-t {share}" in root_line and "ro" in root_line
    for fs in ("proc", "sysfs", "devtmpfs", "bpf", "tracefs", "debugfs", "cgroup2", "securityfs"):
        assert f"mount -t {fs} " in text
    assert f"cd {initramfs.NEWROOT} && mount --move . / ||" in text  # not a chroot: user namespaces work
    assert f"chroot . /bin/sh {initramfs.GUEST_RESULTS}/run.sh" in text
    assert text.index("mount --move . /") < text.index("chroot . ")
    assert "/results/exit_code" in text
    assert text.rstrip().endswith("poweroff -f")
    for mark in (initramfs.BOOTED, initramfs.DONE, initramfs.ERROR):
        assert mark in text


def test_init_script_rejects_an_unknown_share() -> None:
    with pytest.raises(ValueError, match="share"):
        initramfs.init_script([], "nfs")
