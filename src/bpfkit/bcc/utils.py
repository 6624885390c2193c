"""Small helpers BCC tools import from ``bcc.utils``."""

from __future__ import annotations

import os
import re
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ArgString", "StrcmpRewrite", "get_online_cpus", "get_possible_cpus", "printb"]


class ArgString:
    """A command-line argument that converts to bytes (to compare with what the kernel reports) and str."""

    def __init__(self, arg: str | bytes) -> None:
        self.s = arg.decode() if isinstance(arg, bytes) else arg

    def __bytes__(self) -> bytes:
        return os.fsencode(self.s)

    def __str__(self) -> str:
        return self.s


def printb(s: bytes, file: Any = None, nl: int = 1) -> None:
    """Print bytes as they are (BCC's printb), with a newline unless ``nl`` is 0."""
    out: Any = file if file is not None else sys.stdout
    buf = getattr(out, "buffer", None)
    data = s + (b"\n" if nl else b"")
    if buf is not None:
        out.flush()
        buf.write(data)
        buf.flush()
    else:
        out.write(data.decode(errors="replace"))


def get_online_cpus() -> list[int]:
    """Ids of the online CPUs."""
    from ..host import online_cpus

    return online_cpus()


def get_possible_cpus() -> list[int]:
    """Ids of the possible CPUs."""
    from ..host import possible_cpus

    return list(range(possible_cpus()))


class StrcmpRewrite:
    """Turns ``STRCMP("literal", expr)`` in a filter expression into a call of a generated comparison function.

    trace and argdist let users write string comparisons in their filters; BPF
    C has no strcmp, so each literal gets a ``streq_N`` function that reads the
    string with a probe-read helper and compares it byte by byte.
    """

    @staticmethod
    def _generate_streq_function(string: str, probe_read_func: str, streq_functions: str,
                                 probeid: int) -> tuple[str, str]:
        fname = f"streq_{probeid}"
        streq_functions += f"""
static inline bool {fname}(char const *ignored, uintptr_t str) {{
        char needle[] = {string};
        char haystack[sizeof(needle)];
        {probe_read_func}(&haystack, sizeof(haystack), (void *)str);
        for (int i = 0; i < sizeof(needle) - 1; ++i) {{
                if (needle[i] != haystack[i]) {{
                        return false;
                }}
        }}
        return true;
}}
"""
        return fname, streq_functions

    @staticmethod
    def rewrite_expr(expr: str, bin_cmp: bool, is_user: bool, probe_user_list: Any, streq_functions: str,
                     probeid: int) -> dict[str, Any]:
        """Rewrite every STRCMP of ``expr``; returns {'expr', 'streq_functions', 'probeid'} (BCC's contract).

        ``bin_cmp``: the literal is compared as raw bytes (its quotes are added back); ``is_user`` or the
        compared expression being in ``probe_user_list``: the string is in user memory.
        """
        pattern = r'STRCMP\("([^"]+)",(.+?)\)' if bin_cmp else r'STRCMP\(("[^"]+"),(.+?)\)'
        for m in re.finditer(pattern, expr):
            literal = m.group(1)
            user = is_user or m.group(2).strip() in (probe_user_list or ())
            fname, streq_functions = StrcmpRewrite._generate_streq_function(
                literal, "bpf_probe_read_user" if user else "bpf_probe_read", streq_functions, probeid)
            probeid += 1
            expr = expr.replace("STRCMP", fname, 1)
        return {"expr": expr, "streq_functions": streq_functions, "probeid": probeid}
