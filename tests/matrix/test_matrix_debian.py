"""Unit tests of the Debian half of the matrix: stanzas, version order, kernel selection."""

from __future__ import annotations

from pathlib import Path

import pytest
from matrixlib import debian

PACKAGES = """\
Package: linux-image-6.1.0-47-amd64
Source: linux-signed-amd64 (6.1.170+1)
Version: 6.1.170-1
Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Filename: pool/main/l/linux-signed-amd64/linux-image-6.1.0-47-amd64_6.1.170-1_amd64.deb
Description: Linux 6.1 for 64-bit PCs (signed)
 The Linux kernel 6.1 and modules for use on PCs with AMD64, Intel 64 or
 VIA Nano processors.

Package: linux-image-6.1.0-50-amd64
Version: 6.1.176-1
Depends: kmod, linux-base (>= 4.3~)
Filename: pool/main/l/linux-signed-amd64/linux-image-6.1.0-50-amd64_6.1.176-1_amd64.deb

Package: linux-image-6.1.0-50-amd64-unsigned
Version: 6.1.176-1
Filename: pool/main/l/linux/linux-image-6.1.0-50-amd64-unsigned_6.1.176-1_amd64.deb

Package: linux-image-6.1.0-50-cloud-amd64
Version: 6.1.176-1
Filename: pool/main/l/linux-signed-amd64/linux-image-6.1.0-50-cloud-amd64_6.1.176-1_amd64.deb

Package: linux-image-6.1.0-50-rt-amd64
Version: 6.1.176-1
Filename: pool/main/l/linux-signed-amd64/linux-image-6.1.0-50-rt-amd64_6.1.176-1_amd64.deb

Package: linux-image-6.12.43+deb12-amd64
Version: 6.12.43-1~bpo12+1
Filename: pool/main/l/linux-signed-amd64/linux-image-6.12.43+deb12-amd64_6.12.43-1~bpo12+1_amd64.deb

Package: linux-image-amd64
Version: 6.1.176-1
Depends: linux-image-6.1.0-50-amd64 (= 6.1.176-1)

Package: linux-image-6.1.0-50-amd64-dbg
Version: 6.1.176-1
"""

SID = """\
Package: linux-image-7.2.13+deb14-amd64
Source: linux-signed-amd64 (7.2.13+1)
Version: 7.2.13-1
Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool,
 linux-base-7.2.13+deb14-amd64 (= 7.2.13-1), linux-binary-7.2.13+deb14-amd64 (= 7.2.13-1),
 linux-modules-7.2.13+deb14-amd64 (= 7.2.13-1)
Pre-Depends: linux-base (>= 4.17~)
Filename: pool/main/l/linux-signed-amd64/linux-image-7.2.13+deb14-amd64_7.2.13-1_amd64.deb

Package: linux-binary-7.2.13+deb14-amd64
Version: 7.2.13-1
Depends: linux-base-7.2.13+deb14-amd64 (= 7.2.13-1)
Filename: pool/main/l/linux-signed-amd64/linux-binary-7.2.13+deb14-amd64_7.2.13-1_amd64.deb

Package: linux-modules-7.2.13+deb14-amd64
Version: 7.2.13-1
Depends: kmod, linux-base-7.2.13+deb14-amd64 (= 7.2.13-1)
Filename: pool/main/l/linux/linux-modules-7.2.13+deb14-amd64_7.2.13-1_amd64.deb

Package: linux-base-7.2.13+deb14-amd64
Version: 7.2.13-1
Filename: pool/main/l/linux/linux-base-7.2.13+deb14-amd64_7.2.13-1_amd64.deb

Package: linux-image-6.19.8+deb14-amd64
Version: 6.19.8-1
Filename: pool/main/l/linux-signed-amd64/linux-image-6.19.8+deb14-amd64_6.19.8-1_amd64.deb

Package: linux-image-7.1.4+deb14-amd64
Version: 7.1.4-2
Filename: pool/main/l/linux-signed-amd64/linux-image-7.1.4+deb14-amd64_7.1.4-2_amd64.deb
"""


def index(text: str) -> dict[str, list[debian.Package]]:
    return debian.index_packages(debian.parse_stanzas(text))


def test_parse_stanzas_joins_continuations_and_splits_on_blank_lines() -> None:
    st = list(debian.parse_stanzas(PACKAGES))
    assert len(st) == 8
    assert st[0]["Package"] == "linux-image-6.1.0-47-amd64"
    assert st[0]["Description"].splitlines() == [
        "Linux 6.1 for 64-bit PCs (signed)",
        "The Linux kernel 6.1 and modules for use on PCs with AMD64, Intel 64 or",
        "VIA Nano processors."]


def test_parse_stanzas_rejects_a_line_without_colon() -> None:
    with pytest.raises(ValueError, match="malformed"):
        list(debian.parse_stanzas("Package: a\nnonsense\n"))


def test_parse_depends_keeps_alternatives_and_drops_versions() -> None:
    deps = debian.parse_depends(
        "kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, python3:any, "
        "foo [amd64]")
    assert deps == [["kmod"], ["initramfs-tools", "linux-initramfs-tool"], ["python3"],
                    ["foo"]]


@pytest.mark.parametrize(("a", "b", "sign"), [
    ("6.1.176-1", "6.1.170-1", 1),
    ("6.1.9-1", "6.1.10-1", -1),
    ("1.0~rc1-1", "1.0-1", -1),
    ("1.0-1", "1.0-1", 0),
    ("1:0.1-1", "9.9-1", 1),
    ("6.12.43-1~bpo12+1", "6.12.43-1", -1),
    ("1.0a-1", "1.0-1", 1),
    ("1.0+b1", "1.0", 1),
    ("1.00", "1.0", 0),
    ("2.41-12+deb13u5", "2.41-12", 1),
])
def test_compare_versions_follows_dpkg(a: str, b: str, sign: int) -> None:
    got = debian.compare_versions(a, b)
    assert (got > 0) - (got < 0) == sign
    back = debian.compare_versions(b, a)
    assert (back > 0) - (back < 0) == -sign


def test_upstream_version() -> None:
    assert debian.upstream_version("1:6.1.176-1") == "6.1.176"
    assert debian.upstream_version("6.12.43-1~bpo12+1") == "6.12.43"
    assert debian.upstream_version("7.2") == "7.2"


def test_select_kernel_takes_the_newest_generic_image_of_the_series() -> None:
    spec = debian.KernelSpec("6.1", "bookworm", "6.1")
    chosen = debian.select_kernel(index(PACKAGES), spec)
    assert [(p.name, p.version) for p in chosen] == [("linux-image-6.1.0-50-amd64", "6.1.176-1")]
    assert chosen[0].filename.endswith("linux-image-6.1.0-50-amd64_6.1.176-1_amd64.deb")


def test_select_kernel_series_6_1_does_not_match_6_12() -> None:
    spec = debian.KernelSpec("6.12", "bookworm-backports", "6.12")
    chosen = debian.select_kernel(index(PACKAGES), spec)
    assert [p.name for p in chosen] == ["linux-image-6.12.43+deb12-amd64"]


def test_select_kernel_follows_split_binary_and_modules_packages() -> None:
    spec = debian.KernelSpec("7.x", "sid", "7")
    chosen = debian.select_kernel(index(SID), spec)
    assert chosen[0].name == "linux-image-7.2.13+deb14-amd64"
    assert {p.name for p in chosen[1:]} == {"linux-binary-7.2.13+deb14-amd64",
                                           "linux-modules-7.2.13+deb14-amd64",
                                           "linux-base-7.2.13+deb14-amd64"}
    assert all(p.version == "7.2.13-1" for p in chosen)


def test_select_kernel_reports_a_missing_series() -> None:
    with pytest.raises(LookupError, match=r"series 5\.10"):
        debian.select_kernel(index(PACKAGES), debian.KernelSpec("5.10", "bookworm", "5.10"))


def test_select_with_libraries_follows_lib_dependencies_only() -> None:
    text = """\
Package: virtiofsd
Version: 1.13.2-1
Depends: libc6 (>= 2.39), libseccomp2 (>= 0.0.0~20120605), uidmap | account-utils-passwd

Package: libc6
Version: 2.41-12
Depends: libgcc-s1

Package: libgcc-s1
Version: 14.2.0-19
Depends: gcc-14-base (= 14.2.0-19), libc6 (>= 2.35)

Package: libseccomp2
Version: 2.6.0-2

Package: uidmap
Version: 1:4.17.4-2
"""
    chosen = debian.select_with_libraries(index(text), "virtiofsd")
    assert [p.name for p in chosen] == ["virtiofsd", "libc6", "libseccomp2", "libgcc-s1"]


def test_parse_kernel_arg() -> None:
    assert debian.parse_kernel_arg("6.1").suite == "bookworm"
    assert debian.parse_kernel_arg("7.2").label == "7.x"
    assert debian.parse_kernel_arg("7.x").series == "7"
    spec = debian.parse_kernel_arg("6.12@bookworm-backports")
    assert (spec.label, spec.suite, spec.series) == ("6.12@bookworm-backports",
                                                    "bookworm-backports", "6.12")
    for bad in ("6.2", "8.1", "6.12@nowhere", "x@sid", "7.x2"):
        with pytest.raises(ValueError):
            debian.parse_kernel_arg(bad)


def test_sources_list_uses_the_security_archive_for_security_suites() -> None:
    text = debian.sources_list(["sid", "bullseye-security", "sid"], keyring="/k.gpg")
    assert text.splitlines() == [
        "deb [signed-by=/k.gpg] http://deb.debian.org/debian-security bullseye-security main",
        "deb [signed-by=/k.gpg] http://deb.debian.org/debian sid main",
    ]


def test_apt_options_point_every_directory_into_the_private_root(tmp_path: Path) -> None:
    root = tmp_path
    opts = debian.AptCache(root, ["sid"]).options()
    pairs = dict(o.split("=", 1) for o in opts if o != "-o")
    for key in ("Dir::Etc::SourceList", "Dir::Etc::SourceParts", "Dir::State",
                "Dir::State::status", "Dir::Cache", "Dir::Etc::Preferences"):
        assert pairs[key].startswith(str(root)), key
