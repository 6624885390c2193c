"""Debian archive access: Packages indexes, version order, kernel package selection.

The pure half (parsing, comparing, selecting) takes text and returns values; the
AptCache class drives apt-get with a private configuration so /etc/apt and the
host's package state are never touched.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

ARCHIVE = "http://deb.debian.org/debian"
SECURITY_ARCHIVE = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"

# ---------------------------------------------------------------------------
# deb822 stanzas


def parse_stanzas(text: str) -> Iterator[dict[str, str]]:
    """Yield each stanza of a Packages file as {field: value} (continuation lines joined)."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, None
        elif line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line[1:]
        else:
            key, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"malformed Packages line: {line!r}")
            last = key.strip()
            fields[last] = value.strip()
    if fields:
        yield fields


def parse_depends(value: str) -> list[list[str]]:
    """Split a Depends field into alternatives of bare package names (versions, archs dropped)."""
    out: list[list[str]] = []
    for clause in value.split(","):
        alts = []
        for alt in clause.split("|"):
            name = re.split(r"[\s(:\[]", alt.strip(), maxsplit=1)[0]
            if name:
                alts.append(name)
        if alts:
            out.append(alts)
    return out


# ---------------------------------------------------------------------------
# dpkg version order (deb-version(7))


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _compare_part(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            bc = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _split_version(v: str) -> tuple[int, str, str]:
    epoch = 0
    if ":" in v:
        e, v = v.split(":", 1)
        epoch = int(e)
    upstream, _, revision = v.rpartition("-") if "-" in v else (v, "", "")
    return epoch, upstream, revision


def compare_versions(a: str, b: str) -> int:
    """Compare two Debian versions like dpkg: negative, zero or positive."""
    ea, ua, ra = _split_version(a)
    eb, ub, rb = _split_version(b)
    if ea != eb:
        return ea - eb
    return _compare_part(ua, ub) or _compare_part(ra, rb)


def upstream_version(version: str) -> str:
    """The upstream part of a Debian version: '1:6.1.176-1' -> '6.1.176'."""
    return _split_version(version)[1]


# ---------------------------------------------------------------------------
# kernel selection


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    """A matrix column: kernels of `series` (e.g. '6.1', or '7' for any 7.x) from `suite`."""

    label: str
    suite: str
    series: str
    flavour: str = "amd64"

    @property
    def arch(self) -> str:
        """The Debian architecture of the kernel (and of the guest's userland): its flavour's."""
        return "arm64" if self.flavour == "arm64" else "amd64"

    def matches(self, name: str) -> bool:
        """Whether a --kernel argument names this column ('7.2' names '7.x')."""
        if name == self.label:
            return True
        if self.label.endswith(".x"):
            stem = self.label[:-1]
            return name.startswith(stem) and name[len(stem):].isdigit()
        return False


DEFAULT_KERNELS: tuple[KernelSpec, ...] = (
    KernelSpec("5.10", "bullseye-security", "5.10"),
    KernelSpec("6.1", "bookworm", "6.1"),
    KernelSpec("6.12", "trixie", "6.12"),
    KernelSpec("7.x", "sid", "7"),
    KernelSpec("6.1-arm64", "bookworm", "6.1", flavour="arm64"),
    KernelSpec("6.12-arm64", "trixie", "6.12", flavour="arm64"),
)

# suite -> (archive URL, component)
SUITES: Mapping[str, str] = {
    "bullseye-security": SECURITY_ARCHIVE,
    "bookworm-security": SECURITY_ARCHIVE,
    "trixie-security": SECURITY_ARCHIVE,
    "bullseye": ARCHIVE,
    "bookworm": ARCHIVE,
    "bookworm-backports": ARCHIVE,
    "trixie": ARCHIVE,
    "trixie-backports": ARCHIVE,
    "forky": ARCHIVE,
    "sid": ARCHIVE,
}


ARCHES = ("amd64", "arm64")


def parse_kernel_arg(arg: str, known: Sequence[KernelSpec] = DEFAULT_KERNELS) -> KernelSpec:
    """Resolve a --kernel value: a known label, or 'SERIES@SUITE' (or 'SERIES-arm64@SUITE') for any other."""
    if "@" in arg:
        series, suite = arg.split("@", 1)
        flavour = "amd64"
        if series.endswith("-arm64"):
            series, flavour = series[:-len("-arm64")], "arm64"
        if suite not in SUITES:
            raise ValueError(f"unknown suite {suite!r} (known: {', '.join(sorted(SUITES))})")
        if not re.fullmatch(r"\d+(\.\d+)?", series):
            raise ValueError(f"kernel series must look like 6 or 6.1, not {series!r}")
        return KernelSpec(arg, suite, series, flavour=flavour)
    for spec in known:
        if spec.matches(arg):
            return spec
    labels = ", ".join(s.label for s in known)
    raise ValueError(f"unknown kernel {arg!r} (known: {labels}, host, or SERIES@SUITE)")


@dataclasses.dataclass(frozen=True)
class Package:
    """One binary package of an index."""

    name: str
    version: str
    filename: str
    depends: tuple[tuple[str, ...], ...]

    @classmethod
    def from_stanza(cls, st: Mapping[str, str]) -> Package:
        """Build from a parsed stanza; Pre-Depends count as Depends."""
        deps = parse_depends(st.get("Pre-Depends", "")) + parse_depends(st.get("Depends", ""))
        return cls(st["Package"], st["Version"], st.get("Filename", ""),
                   tuple(tuple(d) for d in deps))


_IMAGE_RE = re.compile(r"^linux-image-(?P<abi>\d+\.\d+[^ ]*?)-(?P<flavour>[a-z0-9]+)$")
# the packages that carry a kernel's image, modules, or module lists (modules.builtin)
_KERNEL_PART_RE = re.compile(r"^linux-(image|binary|modules|base)-\d")


def index_packages(stanzas: Iterable[Mapping[str, str]]) -> dict[str, list[Package]]:
    """Group the packages of one index by name (an index may hold several versions)."""
    out: dict[str, list[Package]] = {}
    for st in stanzas:
        if "Package" in st and "Version" in st:
            out.setdefault(st["Package"], []).append(Package.from_stanza(st))
    return out


def _newest(pkgs: Iterable[Package]) -> Package:
    best: Package | None = None
    for p in pkgs:
        if best is None or compare_versions(p.version, best.version) > 0:
            best = p
    assert best is not None
    return best


def select_kernel(index: Mapping[str, list[Package]], spec: KernelSpec) -> list[Package]:
    """Pick the newest image of spec's series and flavour plus the packages holding its files.

    The first package returned is the image package; the rest are the dependencies
    (linux-binary-*, linux-modules-*, linux-base-*) that newer kernels split their files into.
    Raises LookupError when the index has no such kernel.
    """
    candidates = []
    for name, pkgs in index.items():
        m = _IMAGE_RE.match(name)
        if not m or m.group("flavour") != spec.flavour:
            continue
        abi = m.group("abi")
        if abi.endswith(("-cloud", "-rt")) or "-cloud" in abi or "-rt" in abi:
            continue
        for p in pkgs:
            up = upstream_version(p.version)
            if up == spec.series or up.startswith(spec.series + "."):
                candidates.append(p)
    if not candidates:
        raise LookupError(f"no linux-image-*-{spec.flavour} of series {spec.series} "
                          f"in {spec.suite}")
    image = _newest(candidates)
    chosen = [image]
    seen = {image.name}
    queue = [image]
    while queue:
        pkg = queue.pop(0)
        for alts in pkg.depends:
            for dep in alts:
                if dep in seen or not _KERNEL_PART_RE.match(dep) or dep not in index:
                    continue
                same = [p for p in index[dep] if p.version == image.version]
                dep_pkg = same[0] if same else _newest(index[dep])
                seen.add(dep)
                chosen.append(dep_pkg)
                queue.append(dep_pkg)
                break
    return chosen


def select_with_libraries(index: Mapping[str, list[Package]], name: str) -> list[Package]:
    """The newest `name` plus, transitively, the lib* packages it depends on (first choices).

    This is what it takes to run a program from a newer suite with its own loader.
    """
    if name not in index:
        raise LookupError(f"no package {name} in the index")
    first = _newest(index[name])
    chosen, seen, queue = [first], {name}, [first]
    while queue:
        pkg = queue.pop(0)
        for alts in pkg.depends:
            dep = alts[0]
            if dep in seen or not dep.startswith("lib") or dep not in index:
                continue
            seen.add(dep)
            p = _newest(index[dep])
            chosen.append(p)
            queue.append(p)
    return chosen


# ---------------------------------------------------------------------------
# private apt


def sources_list(suites: Iterable[str], keyring: str = KEYRING) -> str:
    """The one-line-style sources.list of the private apt configuration."""
    lines = []
    for suite in sorted(set(suites)):
        url = SUITES.get(suite, ARCHIVE)
        lines.append(f"deb [signed-by={keyring}] {url} {suite} main")
    return "\n".join(lines) + "\n"


class AptError(RuntimeError):
    """apt-get failed (network, archive, or a package no longer served)."""


class AptCache:
    """apt-get with its own sources, state and cache under `root` (never /etc/apt)."""

    def __init__(self, root: Path, suites: Iterable[str], arch: str = "amd64") -> None:
        if arch not in ARCHES:
            raise ValueError(f"unknown Debian architecture {arch!r} (known: {', '.join(ARCHES)})")
        self.root = root
        self.suites = sorted(set(suites))
        self.arch = arch

    def _dirs(self) -> None:
        for sub in ("etc/sources.list.d", "etc/preferences.d", "state/lists/partial",
                    "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        status = self.root / "state/status"
        if not status.exists():
            status.write_text("")
        src = self.root / "etc/sources.list"
        text = sources_list(self.suites)
        if not src.exists() or src.read_text() != text:
            src.write_text(text)

    def options(self) -> list[str]:
        """The -o options that make apt-get use only the private tree."""
        r = self.root
        opts = {
            "Dir::Etc::SourceList": r / "etc/sources.list",
            "Dir::Etc::SourceParts": r / "etc/sources.list.d",
            "Dir::Etc::Preferences": r / "etc/preferences",
            "Dir::Etc::PreferencesParts": r / "etc/preferences.d",
            "Dir::State": r / "state",
            "Dir::State::status": r / "state/status",
            "Dir::Cache": r / "cache",
            "APT::Architecture": self.arch,
            "APT::Architectures::": self.arch,  # this architecture's indexes only (no multiarch)
            "Debug::NoLocking": "1",
            "APT::Sandbox::User": "root",
        }
        out = []
        for k, v in opts.items():
            out += ["-o", f"{k}={v}"]
        return out

    def _run(self, args: Sequence[str], cwd: Path | None = None) -> str:
        cmd = ["apt-get", *self.options(), *args]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=1800, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise AptError(f"apt-get {' '.join(args)} failed: " + " / ".join(tail))
        return proc.stdout

    def run(self, args: Sequence[str]) -> str:
        """Run apt-get with these arguments in the private tree; its standard output."""
        self._dirs()
        return self._run(args)

    def update(self) -> None:
        """Fetch the Packages indexes of the configured suites."""
        self._dirs()
        self._run(["update"])

    def index(self, suite: str) -> dict[str, list[Package]]:
        """The packages of `suite` from the last update (empty if it was never fetched)."""
        self._dirs()
        out = self._run(["indextargets", "--format", "$(FILENAME)",
                         "Identifier: Packages", f"Release: {suite}"])
        packages: dict[str, list[Package]] = {}
        for fn in out.split():
            if not Path(fn).exists():
                continue
            text = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", fn],
                                  capture_output=True, text=True, check=True).stdout
            for name, pkgs in index_packages(parse_stanzas(text)).items():
                packages.setdefault(name, []).extend(pkgs)
        return packages

    def download(self, pkgs: Iterable[Package], dest: Path) -> list[Path]:
        """Download exact versions into dest; returns the .deb paths."""
        dest.mkdir(parents=True, exist_ok=True)
        pkgs = list(pkgs)
        self._run(["download", *(f"{p.name}={p.version}" for p in pkgs)], cwd=dest)
        paths = []
        for p in pkgs:
            base = Path(p.filename).name if p.filename else ""
            path = dest / base
            if not base or not path.exists():
                found = sorted(dest.glob(f"{p.name}_*.deb"))
                if not found:
                    raise AptError(f"apt-get download left no file for {p.name}")
                path = found[-1]
            paths.append(path)
        return paths
