"""``python -m bpfkit.bcc script.py [args]``: run a BCC Python program unchanged on bpfkit.

The script's ``import bcc`` / ``from bcc import BPF`` get :mod:`bpfkit.bcc`
(with ``bcc.utils`` and ``bcc.table``); everything else runs as written.
"""

from __future__ import annotations

import os
import runpy
import sys

from ..errors import AccessError, BpfPermissionError, NotSupportedError


def install_bcc_alias() -> None:
    """Make ``import bcc`` (and bcc.utils, bcc.table, bcc.containers, bcc.syscall) import bpfkit.bcc."""
    from .. import bcc
    from . import containers, syscall, table, tcp, utils
    from . import exec as exec_

    for name, module in (("bcc", bcc), ("bcc.utils", utils), ("bcc.table", table), ("bcc.containers", containers),
                         ("bcc.syscall", syscall), ("bcc.exec", exec_), ("bcc.tcp", tcp)):
        sys.modules.setdefault(name, module)


def main(argv: list[str] | None = None) -> int:
    """Run the script named by the first argument with the rest as its argv."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[0] if __doc__ else "usage: python -m bpfkit.bcc script.py [args]")
        return 0 if args else 2
    install_bcc_alias()
    _tracefs_where_bcc_looks()
    sys.argv = args
    try:
        runpy.run_path(args[0], run_name="__main__")
    except KeyboardInterrupt:
        return 130
    except (NotSupportedError, AccessError, BpfPermissionError) as exc:
        # the kernel lacks what the program needs, or refuses it to this user: one line with the fix, no traceback
        print(f"bpfkit.bcc: error: {os.path.basename(args[0])}: {exc}", file=sys.stderr)
        return 1
    return 0


def _tracefs_where_bcc_looks() -> None:
    """BCC tools read /sys/kernel/debug/tracing: make it exist (debugfs mounted) when we may mount it."""
    from .. import features
    from ..host import debugfs_tracing

    if not features.check("tracefs"):
        return  # nothing to show there: what needs tracefs says why when it runs
    try:
        debugfs_tracing()
    except OSError as exc:
        print(f"bpfkit.bcc: /sys/kernel/debug/tracing is missing and cannot be mounted ({exc.strerror})",
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
