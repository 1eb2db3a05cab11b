"""個人番号紐付け (F3): the review queue, the caller's drafts, opening a proposal.

The queue is the service's (``services.linkage.queue.pending``): pending proposals,
oldest submission first, each with how long it has waited, the resident, the masked
number, the proposer, approvals so far against those required, 【相違あり】 when the
application differs from the register and 【支援措置】 when the resident is restricted.
Filters: the source (passed to the service) and whose proposals (mine / others, from the
row's ``mine``). A proposer's own drafts are listed below, to finish and submit.

Enter on a queue row opens the review screen; on a draft, the proposal form. The screen
reloads whenever it comes back to the front, so a decision just made is reflected.
Every service call runs in a thread worker; a stale answer is dropped.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Header, Label, Select, Static

from auth.roles import Perm
from core.inert import as_text
from screens.keybar import KeyBar
from screens.proposal_form import ProposalForm
from screens.proposal_review import ReviewScreen
from screens.proposal_words import DIFF_STYLE, SUBMITTED, age_text
from screens.table import Table
from screens.widgets import LOADING, MessageLine, WorkspaceEnv, holds, restricted_cell
from screens.workspace import WorkspaceScreen
from services.linkage.application import SOURCES
from services.linkage.items import ItemRow
from services.linkage.models import DRAFT, KIND_LABELS
from services.linkage.queue import drafts, open_proposal, pending
from services.linkage.views import ProposalView, QueueRow, compare
from services.restricted import WITHHELD_NOTE

# What the screen says: constants alike in shape to other screens' (a pair in duplicates).
DIFF_MARK = "【相違あり】"
SCOPES: tuple[tuple[str, str], ...] = (
    ("すべての申請", "all"), ("自分の申請", "mine"), ("他の職員の申請", "others"),
)
QUEUE_COLUMNS = ("", "経過", "種別", "住民", "個人番号", "入手元", "申請者", "承認", "相違")
DRAFT_COLUMNS = ("", "申請", "作成から", "住民", "個人番号", "入手元")
OPENING = "申請を開いています…"
QUEUE_COUNT = "確認待ち {n}件 (古い順)"
QUEUE_EMPTY = "確認待ちの申請はありません。"
DRAFTS_TITLE = "自分の下書き {n}件 (Enter で開いて申請)"
DRAFTS_EMPTY = "下書きはありません。"


def queue_cells(row: QueueRow) -> list[Text]:
    """One queue line (every value from the database inert)."""
    proposer = row.proposer_name + (" ＊自分" if row.mine else "")
    approvals = f"{row.approvals}/{row.required}" + (" 確認済み" if row.reviewed_by_me else "")
    if row.withheld:  # 支援措置: the service gives the name only
        diff = as_text(WITHHELD_NOTE, "dim")
    elif row.differences:
        diff = Text.assemble(Text(DIFF_MARK, style=DIFF_STYLE), " ",
                             as_text("、".join(row.differences), "yellow"))
    else:
        diff = as_text("なし", "dim")
    return [
        restricted_cell(row.restricted),
        as_text(age_text(row.age)),
        as_text(KIND_LABELS.get(row.kind, row.kind)),
        as_text(row.resident_name, "bold"),
        as_text(row.number_masked or "—"),
        as_text(row.source or "—"),
        as_text(proposer, "dim" if row.mine else ""),
        as_text(approvals),
        diff,
    ]


def draft_cells(row: QueueRow) -> list[Text]:
    return [
        restricted_cell(row.restricted),
        as_text(f"#{row.proposal_id}"),
        as_text(age_text(row.age)),
        as_text(row.resident_name, "bold"),
        as_text(row.number_masked or "未入力", "" if row.number_masked else "dim"),
        as_text(row.source or "—"),
    ]


class LinkageScreen(WorkspaceScreen[None]):
    """The linkage workspace. Keys: Enter open, / filters, d drafts, r reload, t record, Esc."""

    CSS_PATH = "linkage.tcss"
    AUTO_FOCUS = "#queue"
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="linkage.back"),
        Binding("slash", "focus_filters", "絞り込み", id="linkage.filters"),
        Binding("d", "focus_drafts", "下書き", id="linkage.drafts"),
        Binding("r", "reload", "再読込", id="linkage.reload"),
        Binding("t", "report", "紐付け記録", id="linkage.report"),
    ]

    def __init__(self, env: WorkspaceEnv) -> None:
        super().__init__(env)
        self.rows: list[QueueRow] = []
        """The queue as the service returned it (before the mine/others filter)."""
        self.drafts: list[QueueRow] = []
        self._opening = False

    # --- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        with Horizontal(id="linkage-filters"):
            yield Label("入手元", classes="lq-label")
            yield Select([(s, s) for s in SOURCES], prompt="すべて", id="filter-source",
                         compact=True)
            yield Label("申請者", classes="lq-label")
            yield Select(SCOPES, allow_blank=False, value="all", id="filter-scope",
                         compact=True)
        yield MessageLine(id="linkage-message")
        yield Static("", id="queue-count")
        yield Table(id="queue", cursor_type="row", zebra_stripes=True)
        yield Static("", id="drafts-title")
        yield Table(id="drafts", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "個人番号紐付け"
        self.query_one("#queue", DataTable).add_columns(*QUEUE_COLUMNS)
        self.query_one("#drafts", DataTable).add_columns(*DRAFT_COLUMNS)
        if not self.env.identity.can(Perm.LINK_PROPOSE):
            self.query_one("#drafts-title").display = False
            self.query_one("#drafts").display = False

    def on_screen_resume(self) -> None:
        """Back in front (first shown, a review closed, unlocked): the queue is fetched anew."""
        self.action_reload()

    # --- loading ---------------------------------------------------------------------

    @on(Select.Changed, "#filter-source")
    def _source_changed(self) -> None:
        self.action_reload()

    @on(Select.Changed, "#filter-scope")
    def _scope_changed(self) -> None:
        self._show()

    def action_reload(self) -> None:
        self.query_one("#queue-count", Static).update(as_text(LOADING, "dim"))
        chosen = self.query_one("#filter-source", Select).value
        source = "" if chosen is Select.NULL else str(chosen)
        env = self.env

        def fetch() -> tuple[list[QueueRow], list[QueueRow]]:
            rows = pending(env.db, env.identity, source=source or None)
            own = drafts(env.db, env.identity) if env.identity.can(Perm.LINK_PROPOSE) else []
            return rows, own

        self.load(fetch, lambda got: self._loaded(*got), self._failed, group="linkage-queue")

    def _failed(self, message: str) -> None:
        self.rows, self.drafts = [], []
        self._show()
        self.query_one("#queue-count", Static).update("")
        self.say(message)

    def _loaded(self, rows: list[QueueRow], own: list[QueueRow]) -> None:
        self.rows, self.drafts = rows, own
        self._show()

    def shown_rows(self) -> list[QueueRow]:
        """The queue rows after the mine/others filter, in table order."""
        scope = self.query_one("#filter-scope", Select).value
        if scope == "mine":
            return [r for r in self.rows if r.mine]
        if scope == "others":
            return [r for r in self.rows if not r.mine]
        return list(self.rows)

    def _show(self) -> None:
        table = self.query_one("#queue", DataTable)
        table.clear()
        shown = self.shown_rows()
        for row in shown:
            table.add_row(*queue_cells(row), key=str(row.proposal_id))
        count = self.query_one("#queue-count", Static)
        count.update(as_text(QUEUE_COUNT.format(n=len(shown)), "bold") if shown
                     else as_text(QUEUE_EMPTY, "dim"))
        drafts = self.query_one("#drafts", DataTable)
        drafts.clear()
        for row in self.drafts:
            drafts.add_row(*draft_cells(row), key=str(row.proposal_id))
        self.query_one("#drafts-title", Static).update(
            as_text(DRAFTS_TITLE.format(n=len(self.drafts)), "bold") if self.drafts
            else as_text(DRAFTS_EMPTY, "dim")
        )

    # --- opening ---------------------------------------------------------------------

    @on(DataTable.RowSelected, "#queue")
    def _queue_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_proposal(int(event.row_key.value), draft=False)

    @on(DataTable.RowSelected, "#drafts")
    def _draft_chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_proposal(int(event.row_key.value), draft=True)

    def open_proposal(self, proposal_id: int, *, draft: bool) -> None:
        if self._opening:
            return
        self._opening = True
        self.say(OPENING, "info")
        env = self.env

        def fetch() -> tuple[ProposalView, list[ItemRow]]:
            view = open_proposal(env.db, env.identity, proposal_id)
            return view, compare(view)

        self.call_service(fetch, lambda got: self._opened(*got, draft), self._open_failed,
                          group="linkage-open")

    def _open_failed(self, message: str) -> None:
        self._opening = False
        self.say(message)

    def _opened(self, view: ProposalView, rows: list[ItemRow], draft: bool) -> None:
        self._opening = False
        self.hush()
        if self.app.screen is not self:  # the user moved on, or the screen is locked
            return
        if draft and view.status == DRAFT and view.proposer_id == self.env.identity.user_id:
            self.app.push_screen(ProposalForm.for_draft(self.env, view), self._form_closed)
        else:
            self.app.push_screen(ReviewScreen(self.env, view, rows))

    def _form_closed(self, submitted: ProposalView | None) -> None:
        if submitted is not None:
            self.say(SUBMITTED.format(id=submitted.id), "info")

    # --- keys ------------------------------------------------------------------------

    def action_focus_filters(self) -> None:
        self.query_one("#filter-source", Select).focus()

    def action_focus_drafts(self) -> None:
        drafts = self.query_one("#drafts", DataTable)
        if drafts.display:
            drafts.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "report":  # the record is for reviewers and auditors
            return holds(self.env, Perm.LINK_REVIEW) or holds(self.env, Perm.AUDIT_READ)
        return True

    def action_report(self) -> None:
        """The record of links kept (who may see it is the service's rule)."""
        # not at the top: its PDF library takes a second to load, F3 opens without it
        from screens.linkage_report import LinkageReportScreen

        self.app.push_screen(LinkageReportScreen(self.env))
