"""bpfkit's ready tools: the source documents' programs as ``bpfkit <tool>`` commands.

Each tool is a CO-RE BPF program in C (``<name>.bpf.c``), its object built by
``make tools`` and shipped here (``<name>.bpf.o``), and a Python side
(``<name>.py``) that uses only bpfkit's public API.
"""

from __future__ import annotations

from ._common import TOOLS as TOOLS
from ._common import object_path as object_path

__all__ = ["TOOLS", "object_path"]
