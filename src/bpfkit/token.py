"""BPF tokens (Linux 6.9): BPF rights a privileged process delegated to a user namespace through a bpffs mount.

A bpffs mounted with ``delegate_cmds``/``delegate_maps``/``delegate_progs``/
``delegate_attachs`` lets a process of the user namespace that owns it create a
token; maps, programs and BTF created with that token get the capabilities the
process has in its own namespace (CAP_BPF, CAP_PERFMON ...) instead of needing
them in the initial one. :func:`bpfkit.load` finds the token as libbpf does:

- ``token=`` a path (or a :class:`Token`): use it, and fail if it cannot be had;
- otherwise ``$BPFKIT_BPF_TOKEN_PATH``, then libbpf's ``$LIBBPF_BPF_TOKEN_PATH``:
  a path is used the same way, an empty value disables tokens;
- otherwise /sys/fs/bpf, if it is a bpffs with delegation set up (silently none if not).

``Map.create``, ``Program.load``, BTF loads and the feature probes follow the same
lookup when given no ``token=`` (the process's *ambient* token, opened once per user
namespace and path and kept open), so a process of a user namespace with a delegated
bpffs works unchanged. In the initial user namespace only a named path is tried:
tokens are neither needed nor allowed there.
"""

from __future__ import annotations

import errno as E
import os
from types import TracebackType

from ._sys import Fd, privilege
from ._sys import commands as C
from .errors import AccessError, BpfError, BpfValueError, KernelError

__all__ = [
    "DEFAULT_TOKEN_PATH",
    "ENV_VARS",
    "Token",
    "ambient_token",
    "ambient_token_fds",
    "token_fd_of",
    "token_for_load",
    "TokenSource",
]

DEFAULT_TOKEN_PATH = "/sys/fs/bpf"
ENV_VARS = ("BPFKIT_BPF_TOKEN_PATH", "LIBBPF_BPF_TOKEN_PATH")
"""Where the path of the bpffs to take a token from is read, first one set wins ("" disables tokens)."""

_WHY = {
    E.ENOENT: "that bpffs has no delegate_cmds/maps/progs/attachs options (no delegation is set up)",
    E.EOPNOTSUPP: "this process is in the initial user namespace, where tokens are not needed (nor allowed): "
                  "use CAP_BPF and friends directly",
    E.EPERM: "this process is not in the user namespace that owns that bpffs, or lacks CAP_BPF in it",
    E.EINVAL: "the path is not the root of a bpffs mount, or the kernel has no BPF tokens (Linux 6.9)",
}


def _owner(path: str) -> str:
    """``mode 0700, owner uid 0`` of ``path`` for a refusal (or why it cannot be told)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return exc.strerror or "cannot stat it"
    return f"mode {st.st_mode & 0o7777:04o}, owner uid {st.st_uid}"


class Token:
    """An open BPF token (its fd); close it when done (a context manager). Objects created with it outlive it."""

    def __init__(self, fd: Fd, path: str) -> None:
        self._fd = fd
        self.path = path

    @classmethod
    def create(cls, path: str | os.PathLike[str] = DEFAULT_TOKEN_PATH) -> Token:
        """BPF_TOKEN_CREATE from the bpffs mounted at ``path`` (its root, with delegate_* options)."""
        where = os.fspath(path)
        try:
            dfd = os.open(where, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except PermissionError as exc:
            raise AccessError(f"cannot create a BPF token from {where!r}: this process (uid {os.getuid()}) may not "
                              f"open it ({_owner(where)})", path=where,
                              fix="a token comes from a bpffs mounted with delegate_* options for this process's user "
                                  "namespace (which its root owns); outside a user namespace no token is needed: "
                                  "grant CAP_BPF and friends") from exc
        except OSError as exc:
            raise BpfError(f"cannot create a BPF token from {where!r}: {exc.strerror}") from exc
        except ValueError as exc:  # a NUL in the path
            raise BpfValueError(f"cannot create a BPF token from {where!r}: {exc}") from None
        try:
            fd = C.token_create(dfd, target=f"BPF token from {where!r}")
        except KernelError as exc:
            why = _WHY.get(exc.errno or 0)
            if why is None:
                raise
            raise KernelError(exc.errno or 0, command=exc.command, target=exc.target, detail=why) from None
        finally:
            os.close(dfd)
        return cls(Fd(fd, f"BPF token from {where}"), where)

    @property
    def fd(self) -> int:
        """The token fd (raises ValueError once closed)."""
        return self._fd.fd

    def fileno(self) -> int:
        """The token fd."""
        return self._fd.fd

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._fd.closed

    def close(self) -> None:
        """Close the token fd (idempotent)."""
        self._fd.close()

    def __enter__(self) -> Token:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Token from {self.path!r}{' closed' if self.closed else ''}>"


TokenSource = Token | str | os.PathLike[str] | None
"""What ``token=`` takes: a Token, the path of a delegated bpffs, "" for none, or None for the default lookup."""


def _env_path() -> str | None:
    """The token path the environment names ("" disables), or None when no variable is set."""
    for var in ENV_VARS:
        if var in os.environ:
            return os.environ[var]
    return None


_INIT_USER_NS_INO = 0xEFFFFFFD  # PROC_USER_INIT_INO: the inode of the initial user namespace's nsfs file
_ambient: dict[tuple[int, str, bool], Token | None] = {}
_creating: set[tuple[int, str, bool]] = set()


def _user_ns() -> int:
    try:
        return os.stat("/proc/self/ns/user").st_ino
    except OSError:
        return _INIT_USER_NS_INO  # no procfs: assume the common case


def ambient_token() -> Token | None:
    """The token of creations given no ``token=`` (see the module): opened once per user namespace and path.

    A path the environment names must give a token (else the error); /sys/fs/bpf is only
    tried outside the initial user namespace and gives none when it does not delegate.
    """
    path = _env_path()
    if path == "":
        return None
    named = path is not None
    userns = _user_ns()
    key = (userns, path if path is not None else DEFAULT_TOKEN_PATH, named)
    if key in _ambient:
        tok = _ambient[key]
        if tok is None or not tok.closed:
            return tok
    if key in _creating or (not named and userns == _INIT_USER_NS_INO):
        return None  # (an EPERM of BPF_TOKEN_CREATE asks, while explaining itself, whether a token is in use)
    _creating.add(key)
    try:
        tok = Token.create(key[1])
    except BpfError:
        if named:
            raise
        tok = None
    finally:
        _creating.discard(key)
    if tok is not None:
        import atexit

        atexit.register(tok.close)  # kept for the process's life on purpose: closed, not warned about, at exit
    _ambient[key] = tok
    return tok


def ambient_token_fds() -> set[int]:
    """The fds of the ambient tokens this process holds (kept open on purpose: leak checks leave them out)."""
    return {t.fd for t in _ambient.values() if t is not None and not t.closed}


def _ambient_fd() -> int | None:
    tok = ambient_token()
    return tok.fd if tok is not None else None


privilege.set_ambient_token(_ambient_fd)


def token_for_load(token: TokenSource) -> tuple[Token | None, bool]:
    """The token an object load uses, and whether the caller owns it (must close it).

    ``None`` follows the environment and the default path as libbpf does (see the
    module: the ambient token, which the caller does not own); a path must give a token.
    """
    if isinstance(token, Token):
        return token, False
    if token is None:
        return ambient_token(), False
    path = os.fspath(token)
    if path == "":
        return None, False  # explicitly disabled
    return Token.create(path), True


def token_fd_of(token: Token | str | os.PathLike[str] | None) -> tuple[int | None, Token | None]:
    """(fd, owned token) for ``token=`` of Map.create / Program.load: None is the ambient token (resolved by
    the bpf(2) layer), "" none at all (:data:`~bpfkit._sys.commands.NO_TOKEN`), a path is opened."""
    if token is None:
        return None, None
    if token == "":
        return C.NO_TOKEN, None
    if isinstance(token, Token):
        return token.fd, None
    tok = Token.create(token)
    return tok.fd, tok
