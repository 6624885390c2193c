"""BTF: parse, build and marshal the BPF Type Format (pure; no kernel access)."""

from __future__ import annotations

from . import _types as _types
from ._parse import Btf as Btf
from ._parse import parse_header as parse_header
from ._types import *  # noqa: F403

__all__ = ["Btf", "parse_header"]
__all__ += _types.__all__
