"""The cache outside the repo: kernels unpacked once and kept, tools, per-kernel initramfs."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from . import debian, initramfs, kmod

Log = Callable[[str], None]


def cache_root() -> Path:
    """$BPFKIT_MATRIX_CACHE, else /var/cache/bpfkit-matrix."""
    return Path(os.environ.get("BPFKIT_MATRIX_CACHE", "/var/cache/bpfkit-matrix"))


@dataclasses.dataclass(frozen=True)
class Kernel:
    """An unpacked kernel in the cache."""

    label: str
    release: str
    suite: str
    packages: tuple[str, ...]  # name=version
    vmlinuz: Path
    modules: Path
    arch: str = "amd64"  # Debian architecture

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict with paths relative to the kernel's directory."""
        return {"label": self.label, "release": self.release, "suite": self.suite,
                "packages": list(self.packages), "vmlinuz": str(self.vmlinuz),
                "modules": str(self.modules), "arch": self.arch}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Kernel:
        """The inverse of to_json."""
        pk = d["packages"]
        assert isinstance(pk, list)
        return cls(str(d["label"]), str(d["release"]), str(d["suite"]),
                   tuple(str(p) for p in pk), Path(str(d["vmlinuz"])), Path(str(d["modules"])),
                   str(d.get("arch", "amd64")))


def find_kernel_files(root: Path) -> tuple[Path, Path, str]:
    """(vmlinuz, modules dir, release) inside an unpacked set of kernel packages."""
    mod_dirs = [p for base in ("lib/modules", "usr/lib/modules") if (root / base).is_dir()
                for p in sorted((root / base).iterdir()) if (p / "kernel").is_dir()]
    if len(mod_dirs) != 1:
        raise LookupError(f"expected one modules directory under {root}, found {len(mod_dirs)}")
    moddir = mod_dirs[0]
    release = moddir.name
    for cand in (root / f"boot/vmlinuz-{release}", moddir / "vmlinuz"):
        if cand.is_file():
            return cand, moddir, release
    raise LookupError(f"no vmlinuz for {release} under {root}")


def _dpkg_x(deb: Path, dest: Path) -> None:
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)


class Cache:
    """Kernels, tools and initramfs images under one root directory."""

    def __init__(self, root: Path, log: Log) -> None:
        self.root = root
        self.log = log
        self.apt: debian.AptCache | None = None  # amd64's
        self.apts: dict[str, debian.AptCache] = {}  # by Debian architecture
        self.online = False

    def update(self, suites: Iterable[str], arches: Iterable[str] = ("amd64",)) -> None:
        """Refresh the private apt indexes of each architecture; on failure go on with what the cache holds."""
        self.root.mkdir(parents=True, exist_ok=True)
        suites = sorted(set(suites))
        self.online = True
        for arch in sorted(set(arches) | {"amd64"}):
            # amd64 keeps the tree it always had; another architecture gets its own
            apt = debian.AptCache(self.root / ("apt" if arch == "amd64" else f"apt-{arch}"), suites, arch)
            self.apts[arch] = apt
            try:
                apt.update()
            except (debian.AptError, OSError, subprocess.SubprocessError) as exc:
                self.log(f"warning: cannot refresh the Debian indexes of {arch} ({exc}); using the cache")
                self.online = False
        self.apt = self.apts["amd64"]

    def _pointer(self, label: str) -> Path:
        safe = label.replace("/", "_")
        return self.root / "kernels" / "by-label" / f"{safe}.json"

    def cached(self, label: str) -> Kernel | None:
        """The kernel last resolved for a label, if still unpacked."""
        ptr = self._pointer(label)
        if not ptr.exists():
            return None
        k = Kernel.from_json(json.loads(ptr.read_text()))
        return k if k.vmlinuz.exists() and k.modules.is_dir() else None

    def kernel(self, spec: debian.KernelSpec) -> Kernel:
        """The newest kernel of spec from the archive (fetched once), else the cached one."""
        pkgs: list[debian.Package] | None = None
        apt = self.apts.get(spec.arch)
        if self.online and apt is not None:
            try:
                pkgs = debian.select_kernel(apt.index(spec.suite), spec)
            except (LookupError, debian.AptError, subprocess.SubprocessError) as exc:
                self.log(f"warning: {spec.label}: {exc}")
        if pkgs is None:
            k = self.cached(spec.label)
            if k is None:
                raise LookupError(f"kernel {spec.label} is neither in the archive's "
                                  f"{spec.suite} nor in the cache {self.root}")
            self.log(f"{spec.label}: using cached {k.release}")
            return k
        image = pkgs[0]
        kdir = self.root / "kernels" / f"{image.name}_{image.version}"
        meta = kdir / "kernel.json"
        wanted = tuple(f"{p.name}={p.version}" for p in pkgs)
        if meta.exists():
            k = dataclasses.replace(Kernel.from_json(json.loads(meta.read_text())), arch=spec.arch)
            if k.vmlinuz.exists() and k.packages == wanted:
                self._point(spec.label, k)
                return k
        assert apt is not None
        self.log(f"{spec.label}: fetching {', '.join(p.name + '=' + p.version for p in pkgs)}")
        tmp = Path(tempfile.mkdtemp(prefix="fetch-", dir=self.root))
        try:
            debs = apt.download(pkgs, tmp / "debs")
            unpacked = tmp / "root"
            for deb in debs:
                _dpkg_x(deb, unpacked)
            if kdir.exists():
                shutil.rmtree(kdir)
            kdir.mkdir(parents=True)
            unpacked.rename(kdir / "root")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        vmlinuz, moddir, release = find_kernel_files(kdir / "root")
        k = Kernel(spec.label, release, spec.suite, wanted, vmlinuz, moddir, spec.arch)
        meta.write_text(json.dumps(k.to_json(), indent=1) + "\n")
        self._point(spec.label, k)
        return k

    def _point(self, label: str, k: Kernel) -> None:
        ptr = self._pointer(label)
        ptr.parent.mkdir(parents=True, exist_ok=True)
        ptr.write_text(json.dumps(k.to_json(), indent=1) + "\n")

    def initramfs(self, k: Kernel, share: str, busybox: Path, extra: Sequence[str] = (),
                  userland: initramfs.UserlandRoot | None = None) -> Path:
        """The initramfs for a kernel and share type (rebuilt when its inputs change).

        ``extra`` names more modules to load at boot when the kernel has them (--modules, --disk); with
        ``userland`` the guest's root is built from that userland rather than the host's root.
        """
        tree = kmod.ModuleTree(k.modules)
        required = kmod.REQUIRED_9P + (kmod.REQUIRED_VIRTIOFS if share == "virtiofs" else ())
        order = tree.load_order(required, (*kmod.OPTIONAL, *extra))
        mods = [(n, kmod.read_module(tree.paths[n])) for n in order]
        boot = {}
        for config in (k.vmlinuz.parent / f"config-{k.release}", k.modules / "config"):
            if config.is_file():  # /boot/config-<release>, or the modules directory (sid's packages)
                boot[f"config-{k.release}"] = config.read_bytes()
                break
        data = initramfs.build(busybox.read_bytes(), mods, share, kmod.PARAMS, boot, userland)
        suffix = "-" + hashlib.sha256(",".join(extra).encode()).hexdigest()[:8] if extra else ""
        out = self.root / "kernels" / "initramfs" / f"{k.release}-{share}{suffix}.cpio.gz"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.exists() or out.read_bytes() != data:
            out.write_bytes(data)
        return out

    def virtiofsd_bundle(self) -> Path | None:
        """virtiofsd and the libraries it needs, unpacked from a newer Debian suite."""
        bundle = self.root / "tools" / "virtiofsd"
        if (bundle / "usr/libexec/virtiofsd").exists():
            return bundle
        if not self.online or self.apt is None:
            return None
        try:
            index = self.apt.index("trixie")
            pkgs = debian.select_with_libraries(index, "virtiofsd")
            self.log(f"fetching {', '.join(p.name + '=' + p.version for p in pkgs)}")
            tmp = Path(tempfile.mkdtemp(prefix="fetch-", dir=self.root))
            try:
                for deb in self.apt.download(pkgs, tmp / "debs"):
                    _dpkg_x(deb, tmp / "root")
                bundle.parent.mkdir(parents=True, exist_ok=True)
                (tmp / "root").rename(bundle)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        except (LookupError, debian.AptError, subprocess.SubprocessError, OSError) as exc:
            self.log(f"warning: no virtiofsd bundle: {exc}")
            return None
        return bundle
