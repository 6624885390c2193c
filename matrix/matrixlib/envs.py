"""Host environments of the matrix: how the guest runs the tests besides plain root.

Each environment is a kernel command-line addition, shell lines that run.sh executes
as root before the tests (and that exit 125 when the environment cannot be made), and a
command prefix that runs the probes and pytest inside it (another user, namespaces).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

PLAIN = "plain"
UNAVAILABLE = 125  # run.sh's exit status when the environment could not be made
NOBODY = 65534
CAPS = ("bpf", "perfmon", "net_admin")  # what a capabilities-only user of eBPF tools is given
OPENED = "/run/matrix-open"  # where run.sh keeps the directories it makes traversable for other users


@dataclasses.dataclass(frozen=True)
class Env:
    """One host environment: its name, what it changes, and what it is for (for --help and the README)."""

    name: str
    about: str
    cmdline: str = ""  # added to the kernel command line
    user: int | None = None  # the uid the tests run as (None: root of the initial namespaces)

    @property
    def plain(self) -> bool:
        """Whether this is the matrix's ordinary environment (root, everything mounted)."""
        return self.name == PLAIN


ENVS: tuple[Env, ...] = (
    Env(PLAIN, "root, bpffs and tracefs mounted, no lockdown"),
    Env("lockdown=integrity", "root, kernel lockdown=integrity (Secure Boot hosts of Ubuntu, Fedora, RHEL)",
        cmdline="lockdown=integrity"),
    Env("lockdown=confidentiality", "root, kernel lockdown=confidentiality (no reading of kernel memory)",
        cmdline="lockdown=confidentiality"),
    Env("caps", f"uid {NOBODY} with only CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (ambient capabilities)",
        user=NOBODY),
    Env("container", "root in new PID and mount namespaces, bpffs, tracefs and debugfs not mounted"),
    Env("token", f"root of a new user namespace (uid {NOBODY} outside) with a delegated bpffs: "
                 "bpf(2) through a BPF token only (Linux 6.9)", user=NOBODY),
)
BY_NAME = {e.name: e for e in ENVS}
ALL = "all"  # every environment but plain


def parse_env_args(values: Sequence[str]) -> list[Env]:
    """The environments named by --env values (``all``: every one but plain), in ENVS order."""
    wanted: set[str] = set()
    for v in values:
        for name in (n.strip() for n in v.split(",")):
            if name == ALL:
                wanted |= {e.name for e in ENVS if not e.plain}
            elif name in BY_NAME:
                wanted.add(name)
            else:
                raise ValueError(f"unknown environment {name!r} (known: {', '.join(BY_NAME)}, {ALL})")
    return [e for e in ENVS if e.name in wanted]


def column_label(kernel: str, env: Env) -> str:
    """The matrix column of a kernel in an environment: the kernel alone for plain."""
    return kernel if env.plain else f"{kernel} {env.name}"


def dir_name(label: str) -> str:
    """A results directory name for a column label."""
    return label.replace(" ", "_").replace("/", "_")


def _unsearchable(paths: Sequence[Path]) -> list[tuple[Path, list[str]]]:
    """Directories on the way to ``paths`` that others cannot enter, with the children needed from each."""
    need: dict[Path, list[str]] = {}
    for p in paths:
        parts = Path(os.path.realpath(p)).parts
        for i in range(1, len(parts)):
            d = Path(*parts[:i])
            try:
                mode = d.stat().st_mode
            except OSError:
                break
            if not mode & 0o001:
                children = need.setdefault(d, [])
                if parts[i] not in children:
                    children.append(parts[i])
    return sorted(need.items(), key=lambda kv: len(kv[0].parts))


def open_paths(paths: Sequence[Path]) -> list[str]:
    """Shell lines (run as root in the guest) that let another user reach ``paths``: a directory
    others cannot enter (/root, where pyenv lives) gets a tmpfs over it with only the needed
    children bound back. The host's files are not touched (the guest sees them read-only)."""
    lines: list[str] = []
    for n, (d, children) in enumerate(_unsearchable(paths)):
        keep = f"{OPENED}/{n}"
        q = shlex.quote(str(d))
        lines.append(f"mkdir -p {keep} && mount --bind {q} {keep} && "
                     f"mount -t tmpfs -o mode=0755 tmpfs {q} || exit {UNAVAILABLE}")
        for c in children:
            src, dst = shlex.quote(f"{keep}/{c}"), shlex.quote(str(d / c))
            lines.append(f"if [ -d {src} ]; then mkdir {dst}; else touch {dst}; fi && "
                         f"mount --bind {src} {dst} || exit {UNAVAILABLE}")
    return lines


def _unavailable(why: str) -> str:
    return f"{{ echo {shlex.quote('matrix-env: ' + why)}; exit {UNAVAILABLE}; }}"


def setup_lines(env: Env, reach: Sequence[Path]) -> list[str]:
    """run.sh lines (as root, in the checkout) that make ``env`` and check that it holds.

    ``reach``: paths the tests' user must be able to read (the checkout, the interpreter).
    """
    lines = [f"export BPFKIT_MATRIX_ENV={shlex.quote(env.name)}"]
    if env.plain:
        return lines
    lines.append("export CI=true  # a skip other than a probe's is a failure")
    if env.name.startswith("lockdown="):
        mode = env.name.split("=", 1)[1]
        lines.append(f"grep -q '\\[{mode}\\]' /sys/kernel/security/lockdown 2>/dev/null || "
                     + _unavailable(f"lockdown is not {mode}: the kernel has no lockdown LSM or ignored "
                                    f"lockdown={mode}"))
        lines.append("echo \"lockdown: $(cat /sys/kernel/security/lockdown)\"")
    if env.user is not None:
        lines += open_paths(reach)
    if env.name == "caps":
        lines.append("command -v setpriv >/dev/null || " + _unavailable("setpriv (util-linux) is missing"))
    if env.name == "container":
        lines.append("command -v unshare >/dev/null || " + _unavailable("unshare (util-linux) is missing"))
    return lines


def prefix(env: Env, python: str, token_launcher: Path) -> list[str]:
    """The command prefix that runs a command (probes, pytest) inside ``env``."""
    if env.name == "caps":
        caps = ",".join(f"+{c}" for c in CAPS)
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                f"--inh-caps=-all,{caps}", f"--ambient-caps=-all,{caps}", f"--bounding-set=-all,{caps}", "--"]
    if env.name == "container":
        # the new mount namespace starts with copies of the guest's mounts: drop bpffs and tracefs
        # (debugfs too: its tracing/ is tracefs), then run the command as the namespace's PID 1's child
        drop = ("for m in /sys/fs/bpf /sys/kernel/tracing /sys/kernel/debug; do "
                "while grep -q \" $m \" /proc/self/mounts; do umount -l $m || exit 125; done; done; "
                "exec \"$@\"")
        return ["unshare", "--pid", "--fork", "--mount", "--mount-proc", "--propagation", "private", "--",
                "sh", "-c", drop, "sh"]
    if env.name == "token":
        return [python, str(token_launcher), f"--uid={NOBODY}", "--"]
    return []
