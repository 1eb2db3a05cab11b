"""The console's DataTable: rows added after a load never stay painted at the old widths.

Textual 8.2's DataTable measures new rows on its next idle and caches rendered cells under
an update counter that the measuring does not advance. When a frame is painted between
``add_row`` and that idle (the screen's refresh timer winning the race, which happens
under load), the cells are cached at the header's widths and stay cut short — names and
the 【相違あり】 / 【支援措置】 markers clipped — until something else repaints the table.
Advancing the counter once the widths are known drops those stale cells, so a screen that
adds rows needs no refresh of its own afterwards. ``table_text`` reads a table back as
plain text (tests, screen readers).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


class Table(DataTable[Any]):
    """A DataTable whose measured column widths always reach the screen."""

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        super()._update_dimensions(new_rows)
        self._update_count += 1  # invalidate cells rendered before the widths were known
        self.refresh()


def table_text(table: DataTable[Any]) -> list[list[str]]:
    """A table's cells as plain text, row by row."""
    return [[cell.plain if isinstance(cell, Text) else str(cell)
             for cell in table.get_row_at(i)] for i in range(table.row_count)]
