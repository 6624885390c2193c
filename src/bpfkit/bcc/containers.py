"""``bcc.containers.filter_by_containers``: the C filter BCC tools prepend for --cgroupmap/--mntnsmap."""

from __future__ import annotations

from ..errors import NotSupportedError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["filter_by_containers"]


def filter_by_containers(args: Any) -> str:
    """C text defining ``container_should_be_filtered()`` (never filters without --cgroupmap/--mntnsmap)."""
    if getattr(args, "cgroupmap", None) or getattr(args, "mntnsmap", None):
        raise NotSupportedError("--cgroupmap/--mntnsmap need BCC's pinned tables, which bpfkit.bcc does not support",
                                feature="pinned_tables")
    return "\nstatic inline int container_should_be_filtered(void) { return 0; }\n"
