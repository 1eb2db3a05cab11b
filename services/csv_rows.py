"""The one rule every imported CSV row meets: as many cells as its header.

A row with more cells than the header has an item that belongs nowhere; a row with fewer
would be read as if its last items were blank (a 職権修正 that lost its 方書). Both are
refused naming the line, by every importer (register, personnel changes, staff).
"""

from __future__ import annotations

from collections.abc import Sized


def cell_count_problem(record: Sized, header: Sized) -> str:
    """Why ``record`` does not fit ``header`` (in Japanese, for "N行目: …"), or ""."""
    cells, columns = len(record), len(header)
    if cells > columns:
        return f"列が見出しより多くあります（{cells}列）"
    if cells < columns:
        return f"列が見出しより少なくなっています（{cells}列、見出しは{columns}列）"
    return ""
