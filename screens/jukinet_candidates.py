"""The people 住基ネット found for a proposal that came without a number (the form's F8).

Numbers are shown masked only; the whole number goes from the answer to the service. A
candidate under DV等支援措置 is marked; one the service withheld is the name only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from core.inert import as_text
from screens.keybar import KeyBar
from screens.table import Table, table_text
from screens.widgets import RESTRICTED_MARK, RESTRICTED_STYLE, message_text
from services.jp import format_wareki
from services.restricted import WITHHELD_NOTE

if TYPE_CHECKING:  # the client (and httpx) loads only when a query is made
    from services.jukinet.client import Candidate, JukinetAnswer

CANDIDATES_TITLE = "住基ネットの照会結果 ({items}) — {n}件。Enter で選ぶ、Esc で選ばない。"
CANDIDATES_WITHHELD = (
    "【支援措置】の候補は支援措置対象のため、氏名のほかは表示せず、選んでも下書きに何も入れません。"
)
CANDIDATE_COLUMNS = ("氏名", "振り仮名", "生年月日", "性別", "住所", "個人番号")


class CandidateDialog(ModalScreen["Candidate | None"]):
    """The people 住基ネット found; Enter puts one's number on the draft, Esc chooses none.

    Numbers are shown masked only; the whole number goes from the answer to the service.
    A candidate under DV等支援措置 is marked; one the service withheld (the reader lacks
    the DV permission) is the name only, with a note that choosing it copies nothing.
    """

    # Style and keys: declared alike in shape to the other dialogs' (a pair in duplicates).
    DEFAULT_CSS = """
    CandidateDialog { align: center middle; }
    CandidateDialog #candidates-box {
        width: 96%; height: auto; max-height: 80%; padding: 1 2;
        border: thick $accent; background: $surface;
    }
    CandidateDialog #candidates-title { text-style: bold; margin-bottom: 1; }
    CandidateDialog #candidates { height: auto; max-height: 16; }
    CandidateDialog #candidates-note { color: $warning; margin-top: 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "選ばない", id="candidates.cancel"),
    ]
    AUTO_FOCUS = "#candidates"

    def __init__(self, answer: JukinetAnswer) -> None:
        super().__init__()
        self.answer = answer
        self.note = (CANDIDATES_WITHHELD if any(c.withheld for c in answer.candidates)
                     else "")
        """The note under the table, as plain text (for tests and screen readers)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="candidates-box"):
            yield Static(message_text(CANDIDATES_TITLE.format(
                items=self.answer.items, n=len(self.answer.candidates))),
                id="candidates-title")
            yield Table(id="candidates", cursor_type="row", zebra_stripes=True)
            if self.note:
                yield Static(message_text(self.note), id="candidates-note")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#candidates", DataTable)
        table.add_columns(*CANDIDATE_COLUMNS)
        for i, c in enumerate(self.answer.candidates):
            table.add_row(*candidate_cells(c), key=str(i))

    @on(DataTable.RowSelected, "#candidates")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.dismiss(self.answer.candidates[int(event.row_key.value)])

    def action_cancel(self) -> None:
        self.dismiss(None)

    def table_rows(self) -> list[list[str]]:
        """The candidates as painted (plain text), for tests and screen readers."""
        return table_text(self.query_one("#candidates", DataTable))


def candidate_cells(c: Candidate) -> list[Text]:
    """One candidate line (every value from 住基ネット inert; the number masked). A
    restricted candidate is marked; a withheld one is the name only, saying why."""
    name = as_text(c.name, "bold")
    if c.restricted:
        name = Text.assemble(Text(RESTRICTED_MARK, style=RESTRICTED_STYLE), " ", name)
    if c.withheld:
        blank = Text("")
        return [name, blank, blank, blank, as_text(WITHHELD_NOTE, "dim"), blank]
    born = format_wareki(c.birth_date) if c.birth_date is not None else ""
    return [
        name, as_text(c.kana), as_text(born),
        as_text(c.sex), as_text(c.address), as_text(c.number_masked, "bold"),
    ]
