"""紐付け記録 (from the F3 workspace, key ``t``): the record of links kept, on screen or as a file.

Two dates (西暦 or 和暦, read by ``services.jp.parse_date``) and a format: 画面 lists the
service's rows (``services.linkage.report.linkage_report``) in a paged table; CSV / PDF
call ``export_report`` and show where the file went and its SHA-256 (the same digest the
audit trail holds). Who may is the service's rule (LINK_REVIEW or AUDIT_READ): a clerk can
open this screen, and the refusal is shown as the service words it. The rows carry only
masked numbers, and a restricted resident is already the name only when the reader
lacks the DV permission (the service withholds the rest); every cell still passes
``core.inert``.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Header, Input, Label, Select, Static

from core.clock import JST, now
from core.errors import BadInput
from core.inert import as_text
from screens.keybar import KeyBar
from screens.table import Table
from screens.widgets import MessageLine, WorkspaceEnv, restricted_cell
from screens.workspace import WorkspaceScreen
from services.jp import parse_date
from services.reports.output import period_text, wareki_datetime

if TYPE_CHECKING:  # the report service (and its PDF library) loads in the worker
    from services.linkage.report import ReportRow
    from services.linkage.report_export import ReportFile

TITLE = "紐付け記録"
FORMATS: tuple[tuple[str, str], ...] = (("画面", "screen"), ("CSV", "csv"), ("PDF", "pdf"))
COLUMNS = ("", "日時", "種別", "状態", "住民票コード", "氏名", "個人番号", "入手元", "番号確認",
           "身元確認", "申請者", "確認者", "備考")
PAGE_SIZE = 50
WORKING = "作成しています…"
COUNT = "{period}  {n}件  (頁 {page}/{pages}  F7 前頁・F8 次頁)"
EMPTY = "{period}  該当する紐付けはありません。"
WRITTEN = "{fmt} を出力しました ({n}件)。\nファイル: {path}\nSHA-256: {sha256}"
DATE_HINT = "R7.12.1 / 令和7年12月1日 / 2025-12-01"


def _office_today() -> date:
    """Today in Japan time: the report's days are office days (JST)."""
    return now().astimezone(JST).date()


def report_cells(row: ReportRow) -> list[Text]:
    """One record line (every value inert; the number only masked, as the service gives it)."""
    reviews = " / ".join(r.label for r in row.reviews)
    return [
        restricted_cell(row.restricted),
        as_text(wareki_datetime(row.at)),
        as_text(row.kind_label),
        as_text(row.status_label),
        as_text(row.resident_code, "dim"),
        as_text(row.resident_name, "bold"),
        as_text(row.number_masked),
        as_text(row.source or "—"),
        as_text(row.number_check or "—"),
        as_text("、".join(row.identity_checks) or "—"),
        as_text(row.proposer_label or "—"),
        as_text(reviews or "—"),
        as_text(row.note, "yellow" if row.note else ""),
    ]


class LinkageReportScreen(WorkspaceScreen[None]):
    """The record of links. Keys: Enter / 出力 run, F7 / F8 page, Esc back."""

    CSS_PATH = "linkage_report.tcss"
    AUTO_FOCUS = "#report-from"
    PAGED = "#report-rows"
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="linkage_report.back"),
        Binding("f5", "run", "出力", id="linkage_report.run", priority=True),
        Binding("f7", "page(-1)", "前頁", id="linkage_report.prev", priority=True),
        Binding("f8", "page(1)", "次頁", id="linkage_report.next", priority=True),
    ]

    page_size: int = PAGE_SIZE

    def __init__(self, env: WorkspaceEnv, *, today: date | None = None) -> None:
        super().__init__(env)
        self.today = today or _office_today()
        self.rows: list[ReportRow] = []
        self.period = ""
        self.written: ReportFile | None = None

    def compose(self) -> ComposeResult:
        start = self.today.replace(day=1) if self.today.day > 1 \
            else self.today - timedelta(days=30)
        yield Header(icon="")
        with Horizontal(id="report-form"):
            yield Label("期間", classes="lr-label")
            yield Input(start.isoformat(), id="report-from", compact=True, max_length=40,
                        placeholder=DATE_HINT)
            yield Label("〜", classes="lr-sep")
            yield Input(self.today.isoformat(), id="report-to", compact=True, max_length=40,
                        placeholder=DATE_HINT)
            yield Label("形式", classes="lr-label")
            yield Select(FORMATS, allow_blank=False, value="screen", id="report-format",
                         compact=True)
            yield Button("出力 (F5)", id="report-run", variant="primary", compact=True)
        yield MessageLine(id="report-message")
        yield Static("", id="report-count")
        yield Table(id="report-rows", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = TITLE
        self.query_one("#report-rows", DataTable).add_columns(*COLUMNS)

    # --- running -----------------------------------------------------------------------

    @on(Input.Submitted)
    @on(Button.Pressed, "#report-run")
    def _run_pressed(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        """Read the dates here (the message names the field); the service does the rest."""
        if self.busy:
            return
        try:
            start = parse_date(self.query_one("#report-from", Input).value, field="開始日")
            end = parse_date(self.query_one("#report-to", Input).value, field="終了日")
        except BadInput as exc:
            self.say(exc.message)
            return
        fmt = str(self.query_one("#report-format", Select).value)
        self.begin(WORKING)
        env = self.env

        def listed() -> list[ReportRow]:
            # not at the top: its PDF library takes a second; loaded in the worker instead
            from services.linkage.report import linkage_report

            return linkage_report(env.db, env.identity, start=start, end=end)

        def exported() -> ReportFile:
            from services.linkage.report_export import export_report  # not at the top: as above

            return export_report(env.db, env.settings, env.identity, start=start, end=end,
                                 fmt=fmt)

        if fmt == "screen":
            self.call_service(listed, lambda rows: self._listed(period_text(start, end), rows),
                              self._refused, group="linkage-report")
        else:
            self.call_service(exported, self._exported, self._refused, group="linkage-report")

    def _refused(self, message: str) -> None:
        self.finish(message, "error")

    def _listed(self, period: str, rows: list[ReportRow]) -> None:
        self.busy = False
        self.hush()
        self.period, self.rows, self.page = period, rows, 0
        self.show_page()

    def _exported(self, written: ReportFile) -> None:
        self.written = written
        self.finish(WRITTEN.format(fmt=written.format.upper(), n=written.rows,
                                   path=written.path, sha256=written.sha256))

    # --- the paged table -----------------------------------------------------------------

    def paged(self) -> list[ReportRow]:
        return self.rows

    def show_page(self) -> None:
        table = self.query_one("#report-rows", DataTable)
        table.clear()
        first = self.page * self.page_size
        for i, row in enumerate(self.rows[first:first + self.page_size], start=first):
            table.add_row(*report_cells(row), key=str(i))
        count = self.query_one("#report-count", Static)
        if self.rows:
            count.update(as_text(COUNT.format(period=self.period, n=len(self.rows),
                                              page=self.page + 1, pages=self.pages), "bold"))
        else:
            count.update(as_text(EMPTY.format(period=self.period), "dim"))
