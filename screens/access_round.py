"""One change round (異動処理): its rights changes, applying grants, re-confirming each line.

Each line as ``services.personnel.rounds.round_lines`` gives it: 発令日 (和暦), 職員番号,
氏名, the linked login, 付与 / 削除 / 利用停止 / 利用再開, the role, the state (未適用,
確認待ち, 確認済み, 異議あり), who applied it, who confirmed it, why, and a dispute's
comment. Keys act on the line under the cursor:

- ``a`` 適用: an admin applies a pending grant or enabling (``apply_change``);
- ``c`` 確認 / ``d`` 異議: a second person confirms the applied line, or disputes it with a
  comment asked in a dialog (``confirm_change``);
- ``r`` / ``v``: the round's report as PDF / CSV (``services.personnel.report``).

Every rule (who may, not before the 発令日, never one's own change) is the service's; a
refusal is shown as the service words it. Service calls run in thread workers; every
value from the database or the change file is shown inert.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from auth.roles import role_label
from auth.stepup import STEP_UP_MESSAGE
from core.inert import as_text
from screens.access_review import span_text
from screens.table import Table
from screens.widgets import (
    CommentDialog,
    MessageLine,
    WorkspaceEnv,
    answer_from_service,
    refill_table,
)
from services.jp.wareki import format_wareki
from services.personnel.rounds import RightsLine, RoundSummary

if TYPE_CHECKING:
    from services.personnel.report import RoundReport

PAGE = 100
LINE_COLUMNS = ("発令日", "職員番号", "氏名", "ログイン名", "変更", "役割", "状態", "適用者",
                "確認者", "理由", "コメント")
STATE_STYLES = {"未適用": "bold", "確認待ち": "bold yellow", "確認済み": "green",
                "異議あり": "bold red", "取消": "dim"}
LOADING = "読み込んでいます…"
WORKING = "記録しています…"
EMPTY = "この異動処理に権限の変更はありません。"
COUNT = "権限変更 {first}〜{last}件目 / {total}件 ({page}頁)"
NO_LINE = "権限変更の行を選んでください。"
APPLIED = "権限変更 #{id} ({name} の{change}) を適用しました。別の確認者の再確認を待ちます。"
CONFIRMED = "権限変更 #{id} ({name} の{change}) を確認済みにしました。"
DISPUTED = "権限変更 #{id} ({name} の{change}) に異議を記録しました。"
DISPUTE_TITLE = "異議を記録する"
DISPUTE_PROMPT = "異議の理由を入力してください (必須)。記録に残り、帳票に載ります。"
COMMENT_MAX = 500
REPORTING = "帳票を作成しています…"
WRITTEN = "帳票 ({fmt}) を出力しました ({n}件)。\nファイル: {path}\nSHA-256: {sha256}"
DISPUTE_REQUIRED = "異議の理由を入力してください。"


def change_text(line: RightsLine) -> str:
    """「付与 事務担当」, or the action alone for an account's enabling or disabling."""
    return f"{line.action_label} {role_label(line.role)}" if line.role else line.action_label


def line_cells(line: RightsLine) -> list[Text]:
    """One rights change (names, logins, reasons and comments came from outside: inert)."""
    state = line.state_label
    applied = line.applied_by + (f" ({line.note})" if line.note else "")
    return [
        as_text(format_wareki(line.effective_on)),
        as_text(line.staff_no),
        as_text(line.name, "bold"),
        as_text(line.login or "—", "" if line.login else "dim"),
        as_text(line.action_label, "bold red" if line.action in ("revoke", "disable")
                else "bold cyan"),
        as_text(role_label(line.role) if line.role else "(アカウント)"),
        as_text(state, STATE_STYLES.get(state, "")),
        as_text(applied or "—", "" if applied else "dim"),
        as_text(line.confirmed_by or "—", "" if line.confirmed_by else "dim"),
        as_text(line.reason),
        as_text(line.comment),
    ]


def report_available() -> bool:
    """Whether the round report exists in this installation (written in a sibling task)."""
    return find_spec("services.personnel.report") is not None


class AccessRoundScreen(Screen[None]):
    """A round's rights changes. Keys: a apply, c confirm, d dispute, r/v report, Esc back."""

    CSS_PATH = "access_round.tcss"
    AUTO_FOCUS = "#lines"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="access_round.back"),
        Binding("a", "apply", "適用", id="access_round.apply"),
        Binding("c", "confirm", "確認", id="access_round.confirm"),
        Binding("d", "dispute", "異議", id="access_round.dispute"),
        Binding("r", "report('pdf')", "帳票PDF", id="access_round.report_pdf"),
        Binding("v", "report('csv')", "帳票CSV", id="access_round.report_csv"),
        Binding("n", "page(1)", "次頁", id="access_round.next_page"),
        Binding("p", "page(-1)", "前頁", id="access_round.prev_page"),
    ]

    def __init__(self, env: WorkspaceEnv, round_id: int) -> None:
        super().__init__()
        self.env = env
        self.round_id = round_id
        self.summary: RoundSummary | None = None
        self.lines: list[RightsLine] = []
        """Every line of the round, in the service's order (the table shows one page)."""
        self.page = 0
        self.busy = False
        self._seq = 0
        self._reports = report_available()

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield Static("", id="round-title")
        yield MessageLine(id="round-message")
        yield Static("", id="lines-count")
        yield Table(id="lines", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"権限見直し 異動処理 #{self.round_id}"
        self.query_one("#lines", DataTable).add_columns(*LINE_COLUMNS)
        self.query_one("#round-title", Static).update(
            as_text(f"異動処理 #{self.round_id}", "bold"))

    def on_screen_resume(self) -> None:
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "report" and not self._reports:
            return False
        return True

    # --- loading ---------------------------------------------------------------------

    def reload(self) -> None:
        self._seq += 1
        self.query_one("#lines-count", Static).update(as_text(LOADING, "dim"))
        self._load(self._seq)

    @work(thread=True, exclusive=True, group="access-round-load", exit_on_error=False)
    def _load(self, seq: int) -> None:
        from services.personnel.rounds import get_round, round_lines

        env = self.env

        def fetch() -> tuple[RoundSummary, list[RightsLine]]:
            summary = get_round(env.db, self.round_id)
            lines = round_lines(env.db, self.round_id)
            return summary, lines

        answer_from_service(self, env, fetch, lambda got: self._loaded(seq, *got),
                            lambda message: self._failed(seq, message))

    def _failed(self, seq: int, message: str) -> None:
        if seq == self._seq:
            self.query_one("#lines-count", Static).update("")
            self.say(message)

    def _loaded(self, seq: int, summary: RoundSummary, lines: list[RightsLine]) -> None:
        if seq != self._seq:
            return
        self.summary, self.lines = summary, lines
        waiting = summary.applied - summary.confirmed - summary.disputed
        self.query_one("#round-title", Static).update(Text.assemble(
            (f"異動処理 #{summary.id}  ", "bold"), as_text(summary.source_name, "bold"),
            f"  発令日 {span_text(summary.first_on, summary.last_on)}",
            f"  変更 {summary.changes}件: 未適用 {summary.pending}・確認待ち {waiting}・"
            f"確認済み {summary.confirmed}・異議あり {summary.disputed}",
        ))
        self.page = min(self.page, max(0, (len(lines) - 1) // PAGE))
        self._show()

    def shown_lines(self) -> list[RightsLine]:
        """The lines on the current page, in table order."""
        return self.lines[self.page * PAGE:(self.page + 1) * PAGE]

    def _show(self) -> None:
        shown = self.shown_lines()
        refill_table(self.query_one("#lines", DataTable),
                     ((str(line.id), line_cells(line)) for line in shown))
        first = self.page * PAGE + 1
        self.query_one("#lines-count", Static).update(
            as_text(COUNT.format(first=first, last=first + len(shown) - 1,
                                 total=len(self.lines), page=self.page + 1), "bold")
            if shown else as_text(EMPTY, "dim"))

    def action_page(self, step: int) -> None:
        pages = max(1, (len(self.lines) + PAGE - 1) // PAGE)
        page = min(max(self.page + step, 0), pages - 1)
        if page != self.page:
            self.page = page
            self.query_one("#lines", DataTable).move_cursor(row=0)
            self._show()

    def table_rows(self) -> list[list[str]]:
        """The table's cells as plain text, row by row (tests, screen readers)."""
        table = self.query_one("#lines", DataTable)
        return [[cell.plain if isinstance(cell, Text) else str(cell)
                 for cell in table.get_row_at(i)] for i in range(table.row_count)]

    # --- acting on a line ----------------------------------------------------------------

    def current_line(self) -> RightsLine | None:
        shown = self.shown_lines()
        row = self.query_one("#lines", DataTable).cursor_row
        return shown[row] if 0 <= row < len(shown) else None

    def _target(self) -> RightsLine | None:
        if self.busy:
            return None
        line = self.current_line()
        if line is None:
            self.say(NO_LINE)
        return line

    def action_apply(self) -> None:
        line = self._target()
        if line is not None:
            self._start("apply", line, "")

    def action_confirm(self) -> None:
        line = self._target()
        if line is not None:
            self._start("confirmed", line, "")

    def action_dispute(self) -> None:
        line = self._target()
        if line is None:
            return

        def chosen(comment: str | None) -> None:
            if comment is None:
                self.query_one(MessageLine).clear()
                return
            self._start("disputed", line, comment)

        self.app.push_screen(CommentDialog(DISPUTE_TITLE, DISPUTE_PROMPT, ok_label="異議を記録",
                                           max_length=COMMENT_MAX, required=DISPUTE_REQUIRED),
                             chosen)

    def _start(self, what: str, line: RightsLine, comment: str) -> None:
        self.busy = True
        self.say(WORKING, "info")
        self._act(what, line, comment)

    @work(thread=True, exclusive=True, group="access-round-act", exit_on_error=False)
    def _act(self, what: str, line: RightsLine, comment: str) -> None:
        from services.personnel.apply import apply_change
        from services.personnel.confirm import confirm_change

        env = self.env

        def run() -> None:
            if what == "apply":
                apply_change(env.db, env.identity, line.id, settings=env.settings)
            else:
                confirm_change(env.db, env.identity, line.id, what, comment)

        def acted(_: None) -> None:
            said = {"apply": APPLIED, "confirmed": CONFIRMED, "disputed": DISPUTED}[what]
            self._done(said.format(id=line.id, name=line.name, change=change_text(line)), "info")

        answer_from_service(
            self, env, run, acted, lambda message: self._done(message, "error"),
            retry=lambda: self._act(what, line, comment),
            cancelled=lambda: self._done(STEP_UP_MESSAGE, "error"),
        )

    def _done(self, message: str, kind: str) -> None:
        self.busy = False
        self.say(message, kind)
        self.reload()

    # --- the report ----------------------------------------------------------------------

    def action_report(self, fmt: str) -> None:
        if self.busy:
            return
        self.busy = True
        self.say(REPORTING, "info")
        self._report(fmt)

    @work(thread=True, exclusive=True, group="access-round-report", exit_on_error=False)
    def _report(self, fmt: str) -> None:
        env = self.env

        def run() -> RoundReport:
            from services.personnel.report import export_round_report

            return export_round_report(env.db, env.settings, env.identity, self.round_id, fmt)

        answer_from_service(
            self, env, run,
            lambda written: self._reported(WRITTEN.format(
                fmt=written.format.upper(), n=written.rows, path=written.path,
                sha256=written.sha256), "info"),
            lambda message: self._reported(message, "error"),
        )

    def _reported(self, message: str, kind: str) -> None:
        self.busy = False
        self.say(message, kind)
        self.notify(message, title="帳票", severity="error" if kind == "error" else "information",
                    markup=False)

    # --- helpers -----------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss()

    def say(self, message: object, kind: str = "error") -> None:
        self.query_one(MessageLine).show(message, kind)

    @property
    def message(self) -> str:
        return self.query_one(MessageLine).plain
