"""The console's table shows rows at their measured widths even when a frame is painted
between adding them and the table's next idle (the race that left the linkage queue's
markers clipped in CI)."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from screens.table import Table

LONG = "髙橋 一郎 【相違あり】 異体字"


class OneTable(App[None]):
    CSS = "DataTable { height: 1fr; }"  # a fixed size, as in the workspaces: no Resize on rows

    def __init__(self, table: DataTable) -> None:
        super().__init__()
        self.table = table

    def compose(self) -> ComposeResult:
        yield self.table


def row_text(table: DataTable) -> str:
    return "".join(seg.text for seg in table.render_line(1)).strip()  # line 0: the header


async def painted_between_add_and_idle(table: DataTable) -> str:
    app = OneTable(table)
    async with app.run_test(size=(80, 10)) as pilot:
        table.add_columns("住民", "相違")
        await pilot.pause()
        table.add_row(Text("髙橋 一郎"), Text(LONG), key="1")
        before = row_text(table)  # a frame painted before the table measured the row
        assert LONG not in before
        await pilot.pause()
        await pilot.pause()
        return row_text(table)


async def test_rows_painted_before_measuring_are_repainted_at_full_width() -> None:
    assert LONG in await painted_between_add_and_idle(Table())
