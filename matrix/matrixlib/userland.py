"""A userland of another architecture for the guests (arm64 guests cannot run the host's x86-64 root).

The guest still mounts the host's root over virtiofs, but its new root is a tmpfs
holding the directories of a Debian userland of the guest's architecture (Python,
clang, bpftool, iproute2 ... and their dependency closure, unpacked with
``dpkg-deb -x``), the checkout (the same path as on the host), and the venv's Python
packages: the pure ones copied, the compiled ones as wheels of the guest's
architecture. Nothing of it runs maintainer scripts, so ``ldconfig`` never ran:
there is no ``/etc/ld.so.cache``, as on a minimal image.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from . import debian

Log = Callable[[str], None]

SUITE = "bookworm"  # the userland's Debian release (its python3.11 matches the venv's Python)
PYTHON = "/usr/bin/python3.11"
PYLIB = "/opt/bpfkit-python"  # where the venv's packages appear in the guest (on PYTHONPATH)
# what the kernel tests run (scripts/setup.sh installs the same on a host): Python (with venv for the
# packaging test), the compilers of the BPF C tests and of bench/c (libelf, zlib), sys/sdt.h for the USDT
# test programs, bpftool, libbpf for the comparisons, iproute2 for the network tests, Prometheus for the
# export tests, and a shell with coreutils
PACKAGES = (
    "python3.11", "python3.11-venv", "libatomic1", "libc-bin", "libstdc++6", "bpftool", "libbpf1", "libbpf-dev",
    "libelf-dev", "zlib1g-dev", "systemtap-sdt-dev", "iproute2", "clang-14", "llvm-14", "make", "gcc", "libc6-dev",
    "linux-libc-dev", "binutils", "prometheus", "dash", "bash", "coreutils", "util-linux", "mount", "procps",
    "findutils", "grep", "sed", "e2fsprogs",  # e2fsprogs: mkfs.ext4 for the mkfs test of bcc_tools_check
)
# the checkout's Debian programs that scripts/setup.sh unpacks for the host (x86-64 there): the guest sees
# the userland's directory there instead (checkout path -> userland path)
CHECKOUT_OVERLAYS = {".cache/prometheus/usr/bin": "usr/bin"}
# symlinks update-alternatives or a postinst would make: name -> target (relative to usr/bin)
LINKS = {"sh": "dash", "cc": "gcc", "clang": "clang-14", "llc": "llc-14", "llvm-strip": "llvm-strip-14",
         "llvm-objdump": "llvm-objdump-14", "python3": "python3.11"}
MERGED = ("bin", "sbin", "lib")  # merged into usr/ (Debian's merged /usr)
HOST_ETC = ("passwd", "group", "hosts", "nsswitch.conf")  # architecture-independent files from the host
# GNU triplets and wheel platform tags of the Debian architectures
TRIPLET = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
WHEEL_MACHINE = {"amd64": "x86_64", "arm64": "aarch64"}
GLIBC_MINOR = 36  # bookworm's glibc 2.36: wheels for manylinux_2_17 ... manylinux_2_36 run on it


def wheel_platforms(arch: str) -> list[str]:
    """pip's --platform values of the wheels the userland of ``arch`` can run (newest first)."""
    m = WHEEL_MACHINE[arch]
    return [f"manylinux_2_{minor}_{m}" for minor in range(GLIBC_MINOR, 16, -1)] + [f"manylinux2014_{m}"]
# venv distributions the guest does not need (type checkers, docs, packaging)
SKIP_DISTS = {"mypy", "mypyc", "ast_serialize", "librt", "pip", "sphinx", "ruff"}

_INST = re.compile(r"^Inst (?P<name>\S+) (?:\[\S+\] )?\((?P<version>\S+) ")


def parse_simulation(text: str) -> list[tuple[str, str]]:
    """(name, version) of every package an ``apt-get -s install`` would unpack, in its order."""
    out = []
    for line in text.splitlines():
        m = _INST.match(line)
        if m:
            out.append((m.group("name").split(":")[0], m.group("version")))
    return out


@dataclasses.dataclass(frozen=True)
class Userland:
    """An unpacked userland in the cache: its root and the Python packages for its interpreter."""

    arch: str
    root: Path
    pylib: Path

    def binds(self, repo: Path) -> list[tuple[str, str]]:
        """(host path, guest path) pairs the guest's new root binds from the host's root: the checkout, the
        Python packages, and the userland's programs over the host's in the checkout (where it has them)."""
        out = [(str(repo), str(repo)), (str(self.pylib), PYLIB)]
        for inside, own in CHECKOUT_OVERLAYS.items():
            if (repo / inside).is_dir() and (self.root / own).is_dir():
                out.append((str(self.root / own), str(repo / inside)))
        return out

    def env(self, repo: Path) -> dict[str, str]:
        """Environment the guest's tests need: the packages and the checkout's src on PYTHONPATH."""
        return {"PYTHONPATH": f"{PYLIB}:{repo / 'src'}"}


def merge_usr(root: Path) -> None:
    """Move bin/, sbin/, lib/ into usr/ and leave symlinks (what usrmerge does on an installed system)."""
    for d in MERGED:
        top = root / d
        if top.is_symlink() or not top.exists():
            if not top.exists() and not top.is_symlink():
                (root / "usr" / d).mkdir(parents=True, exist_ok=True)
                top.symlink_to(f"usr/{d}")
            continue
        dest = root / "usr" / d
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", "--remove-destination", f"{top}/.", f"{dest}/"], check=True)
        shutil.rmtree(top)
        top.symlink_to(f"usr/{d}")


def add_links(root: Path) -> None:
    """The symlinks maintainer scripts would have made, where their target exists."""
    bindir = root / "usr/bin"
    for name, target in LINKS.items():
        link = bindir / name
        if (bindir / target).exists() and not link.exists() and not link.is_symlink():
            link.symlink_to(target)
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    for name in HOST_ETC:
        src = Path("/etc") / name
        if src.is_file() and not (etc / name).exists():
            shutil.copyfile(src, etc / name)


def _dist_files(site: Path, dist_info: Path) -> list[Path]:
    """The files a distribution installed under site-packages (its RECORD), relative to site."""
    record = dist_info / "RECORD"
    if not record.exists():
        return []
    out = []
    for line in record.read_text().splitlines():
        path = line.split(",", 1)[0]
        if path and not path.startswith(("..", "/")) and (site / path).is_file():
            out.append(Path(path))
    return out


def _dist_name(dist_info: Path) -> tuple[str, str]:
    stem = dist_info.name[: -len(".dist-info")]
    name, _, version = stem.partition("-")
    return name, version


def venv_site(python: str) -> Path:
    """The site-packages directory of a venv's interpreter."""
    out = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return Path(out)


def build_pylib(site: Path, dest: Path, arch: str, pyver: str, log: Log) -> None:
    """Copy the pure distributions of ``site`` into ``dest`` and fetch the compiled ones as ``arch`` wheels."""
    wheels = dest.parent / (dest.name + ".wheels")
    wheels.mkdir(parents=True, exist_ok=True)
    for info in sorted(site.glob("*.dist-info")):
        name, version = _dist_name(info)
        if name.lower().replace("-", "_") in SKIP_DISTS:
            continue
        files = _dist_files(site, info)
        if not any(f.suffix == ".so" or ".so." in f.name for f in files):
            for f in files:
                if f.name.startswith("__editable__") or f.suffix == ".pyc":
                    continue
                (dest / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(site / f, dest / f)
            continue
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                               *(f"--platform={p}" for p in wheel_platforms(arch)), "--python-version", pyver,
                               "--implementation", "cp", "-d", str(wheels), f"{name}=={version}"],
                              capture_output=True, text=True, check=False)
        found = sorted(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl"),
                       key=lambda p: p.name) or sorted(wheels.glob(f"{name}-{version}-*.whl"))
        if proc.returncode != 0 or not found:
            log(f"warning: no {arch} wheel of {name}=={version}; the guest goes without it "
                f"({(proc.stderr or proc.stdout).strip().splitlines()[-1:]})")
            continue
        with zipfile.ZipFile(found[-1]) as z:
            z.extractall(dest)


def pylib_key(site: Path, arch: str) -> str:
    """A digest of the venv's distributions (names and versions): the pylib is rebuilt when it changes."""
    names = sorted(p.name for p in site.glob("*.dist-info"))
    return hashlib.sha256(json.dumps([arch, names]).encode()).hexdigest()[:16]


class Builder:
    """Fetches and unpacks a userland of one architecture into the matrix cache, once."""

    def __init__(self, cache_root: Path, apt: debian.AptCache | None, online: bool, log: Log) -> None:
        self.base = cache_root / "userland"
        self.apt = apt
        self.online = online
        self.log = log

    def root(self, arch: str, packages: Sequence[str] = PACKAGES) -> Path:
        """The unpacked userland of ``arch`` (fetched when missing or when the package list changed)."""
        key = hashlib.sha256(json.dumps([SUITE, arch, sorted(packages)]).encode()).hexdigest()[:12]
        top = self.base / f"{arch}-{SUITE}-{key}"
        if (top / "root/usr/bin/python3.11").exists():
            return top / "root"
        if not self.online or self.apt is None:
            raise LookupError(f"no {arch} userland in the cache {top} and the Debian archive is not reachable")
        # -t: every package from SUITE where it has one (the private tree may list newer suites too)
        sim = self.apt.run(["-s", "-q", "-t", SUITE, "install", "--no-install-recommends", *packages])
        pkgs = [debian.Package(n, v, "", ()) for n, v in parse_simulation(sim)]
        if not pkgs:
            raise LookupError(f"apt-get -s install of the {arch} userland listed no packages")
        self.log(f"{arch} userland: fetching {len(pkgs)} packages of {SUITE}")
        self.base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="fetch-", dir=self.base))
        try:
            debs = self.apt.download(pkgs, tmp / "debs")
            for deb in debs:
                subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "root")], check=True)
            merge_usr(tmp / "root")
            add_links(tmp / "root")
            (tmp / "packages.txt").write_text("".join(f"{p.name}={p.version}\n" for p in pkgs))
            shutil.rmtree(tmp / "debs")
            tmp.chmod(0o755)  # mkdtemp's 0700 would hide it from the guests' other users
            if top.exists():
                shutil.rmtree(top)
            tmp.rename(top)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return top / "root"

    def busybox(self, arch: str) -> Path:
        """A static busybox of ``arch`` for the initramfs (Debian's busybox-static, fetched once)."""
        top = self.base / f"busybox-{arch}"
        binary = top / "bin/busybox"
        if binary.exists():
            return binary
        if not self.online or self.apt is None:
            raise LookupError(f"no {arch} busybox in the cache {top} and the Debian archive is not reachable")
        index = self.apt.index(SUITE)
        if "busybox-static" not in index:
            raise LookupError(f"no busybox-static in {SUITE}'s {arch} index")
        def order(a: debian.Package, b: debian.Package) -> int:
            return debian.compare_versions(a.version, b.version)

        pkg = max(index["busybox-static"], key=functools.cmp_to_key(order))
        self.log(f"fetching busybox-static={pkg.version} ({arch})")
        tmp = Path(tempfile.mkdtemp(prefix="fetch-", dir=self.base))
        try:
            (deb,) = self.apt.download([pkg], tmp / "debs")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / "root")], check=True)
            if top.exists():
                shutil.rmtree(top)
            tmp.rename(top)
            shutil.move(str(top / "root/bin"), str(top / "bin"))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return binary

    def userland(self, arch: str, venv_python: str) -> Userland:
        """The userland of ``arch`` and the venv's packages for it (both cached)."""
        root = self.root(arch)
        site = venv_site(venv_python)
        pyver = re.sub(r"\D", "", Path(PYTHON).name.removeprefix("python"))  # '311'
        pylib = root.parent / f"pylib-{pylib_key(site, arch)}"
        if not (pylib / ".complete").exists():
            self.log(f"{arch} userland: Python packages of {site}")
            if pylib.exists():
                shutil.rmtree(pylib)
            pylib.mkdir(parents=True)
            build_pylib(site, pylib, arch, pyver, self.log)
            (pylib / ".complete").write_text("")
        return Userland(arch, root, pylib)


def guest_python(userland: Userland | None, host_python: str) -> str:
    """The interpreter the guest runs: the userland's, or the host's venv when the guest shares the host's root."""
    return PYTHON if userland is not None else host_python


def top_entries(root: Path) -> Iterable[tuple[str, str | None]]:
    """(name, symlink target or None for a directory) of the userland's top-level entries."""
    for p in sorted(root.iterdir()):
        if p.is_symlink():
            yield p.name, str(p.readlink())
        elif p.is_dir():
            yield p.name, None
