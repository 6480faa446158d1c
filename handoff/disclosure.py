"""Small-count suppression (小数抑制) for the figures that leave a desk: the research report.

A desk serving a small county may see one case of a rare 案由 in a month; printed next to the
region and an age band, that "1" can point at a child people know. So every count from 1 up to
``threshold - 1`` (``[data] small_count_threshold``, default 5) is shown as ``<5``; zero stays zero
(nobody can be singled out of nobody).

One hidden cell is not enough when the table's total is printed too (the report gives the month's
totals and each cell's share): total minus the visible cells would give it back. So when a table
hides exactly one cell, the smallest visible non-zero cell is hidden with it (secondary
suppression, printed ``≥5``), and a hidden cell's share is not printed.
"""

from __future__ import annotations


def is_small(count: int, threshold: int) -> bool:
    return 0 < count < threshold


def shown(count: int, threshold: int) -> str:
    """One figure on its own (a total): ``<5`` when small."""
    return f"<{threshold}" if is_small(count, threshold) else str(count)


def hidden_cells(counts: dict[str, int], threshold: int) -> set[str]:
    """The cells of one table to hide: the small ones, plus one more when only one would be hidden."""
    hidden = {key for key, count in counts.items() if is_small(count, threshold)}
    if len(hidden) == 1:
        visible = [(count, key) for key, count in counts.items() if count > 0 and key not in hidden]
        if visible:
            hidden.add(min(visible)[1])
    return hidden


def suppress(counts: dict[str, int], threshold: int) -> dict[str, str]:
    """The table's cells as they may be printed, in the same order."""
    hidden = hidden_cells(counts, threshold)

    def cell(key: str, count: int) -> str:
        if key not in hidden:
            return str(count)
        return f"<{threshold}" if is_small(count, threshold) else f"≥{threshold}"

    return {key: cell(key, count) for key, count in counts.items()}
