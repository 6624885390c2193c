"""Text histograms in BCC's format (print_log2_hist / print_linear_hist), pure functions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["LINEAR_INDEX_MAX", "LOG2_INDEX_MAX", "format_linear_hist", "format_log2_hist"]

STARS_MAX = 40
LOG2_INDEX_MAX = 65
LINEAR_INDEX_MAX = 1025


def _stars(val: int, val_max: int, width: int) -> str:
    """A bar of up to ``width`` stars for ``val`` out of ``val_max`` ('+' marks values past the max)."""
    if val_max <= 0:
        return ""
    n = 0
    while n <= width - 1 and n <= (width * val / val_max) - 1:
        n += 1
    text = "*" * n
    if val > val_max:
        text = text[:-1] + "+"
    return text


def format_log2_hist(vals: Sequence[int], val_type: str = "value", strip_leading_zero: bool | None = None) -> list[str]:
    """Lines of a power-of-two histogram: slot i counts values in [2**(i-1), 2**i - 1]."""
    idx_max = -1
    val_max = 0
    for i, v in enumerate(vals):
        if v > 0:
            idx_max = i
        val_max = max(val_max, v)
    if idx_max <= 32:
        header = "     %-19s : count     distribution"
        body = "%10d -> %-10d : %-8d |%-*s|"
        stars = STARS_MAX
    else:
        header = "               %-29s : count     distribution"
        body = "%20d -> %-20d : %-8d |%-*s|"
        stars = STARS_MAX // 2
    out: list[str] = []
    if idx_max > 0:
        out.append(header % val_type)
    strip = bool(strip_leading_zero)
    for i in range(1, idx_max + 1):
        low = (1 << i) >> 1
        high = (1 << i) - 1
        if low == high:
            low -= 1
        val = vals[i]
        if strip:
            if not val:
                continue
            strip = False
        out.append(body % (low, high, val, stars, _stars(val, val_max, stars)))
    return out


def format_linear_hist(vals: Sequence[int], val_type: str = "value",
                       strip_leading_zero: bool | None = None) -> list[str]:
    """Lines of a linear histogram: slot i counts the value i."""
    idx_max = -1
    val_max = 0
    for i, v in enumerate(vals):
        if v > 0:
            idx_max = i
        val_max = max(val_max, v)
    out: list[str] = []
    if idx_max >= 0:
        out.append(f"     {val_type:<13} : count     distribution")
    strip = bool(strip_leading_zero)
    for i in range(idx_max + 1):
        val = vals[i]
        if strip:
            if not val:
                continue
            strip = False
        out.append("        %-10d : %-8d |%-*s|" % (i, val, STARS_MAX, _stars(val, val_max, STARS_MAX)))  # noqa: UP031
    return out


def sections(
    items: list[tuple[object, int, int]],
    index_max: int,
    bucket_fn: Callable[[object], object] | None = None,
    bucket_sort_fn: Callable[[list[object]], list[object]] | None = None,
) -> list[tuple[object, list[int]]]:
    """Group (bucket, slot, count) triples into one value list per bucket, in first-seen (or sorted) order."""
    per: dict[object, list[int]] = {}
    for bucket, slot, count in items:
        b = bucket_fn(bucket) if bucket_fn is not None else bucket
        vals = per.setdefault(b, [0] * index_max)
        if 0 <= slot < index_max:
            vals[slot] = count
    order = list(per)
    if bucket_sort_fn is not None:
        order = list(bucket_sort_fn(order))
    return [(b, per[b]) for b in order]
