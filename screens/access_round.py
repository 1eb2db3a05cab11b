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
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Header, Static

from auth.roles import role_label
from core.inert import as_text
from screens.keybar import KeyBar
from screens.round_words import span_text
from screens.table import Table
from screens.widgets import (
    LOADING,
    RECORDING,
    CommentDialog,
    MessageLine,
    WorkspaceEnv,
    refill_table,
)
from screens.workspace import WorkspaceScreen
from services.jp.wareki import format_wareki
from services.personnel.apply import apply_change
from services.personnel.rounds import RightsLine, RoundSummary, get_round, round_lines

if TYPE_CHECKING:
    from services.personnel.report import RoundReport

PAGE = 100
LINE_COLUMNS = ("発令日", "職員番号", "氏名", "ログイン名", "変更", "役割", "状態", "適用者",
                "確認者", "理由", "コメント")
STATE_STYLES = {"未適用": "bold", "確認待ち": "bold yellow", "確認済み": "green",
                "異議あり": "bold red", "取消": "dim"}
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


class AccessRoundScreen(WorkspaceScreen[None]):
    """A round's rights changes. Keys: a apply, c confirm, d dispute, r/v report, Esc back."""

    CSS_PATH = "access_round.tcss"
    AUTO_FOCUS = "#lines"
    PAGED = "#lines"
    page_size = PAGE
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
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
        super().__init__(env)
        self.round_id = round_id
        self.summary: RoundSummary | None = None
        self.lines: list[RightsLine] = []
        """Every line of the round, in the service's order (the table shows one page)."""
        self._reports = report_available()

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield Static("", id="round-title")
        yield MessageLine(id="round-message")
        yield Static("", id="lines-count")
        yield Table(id="lines", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

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
        self.query_one("#lines-count", Static).update(as_text(LOADING, "dim"))
        db, round_id = self.env.db, self.round_id

        def fetch() -> tuple[RoundSummary, list[RightsLine]]:
            return get_round(db, round_id), round_lines(db, round_id)

        self.load(fetch, lambda got: self._loaded(*got), self._failed,
                  group="access-round-load")

    def _failed(self, message: str) -> None:
        self.query_one("#lines-count", Static).update("")
        self.say(message)

    def _loaded(self, summary: RoundSummary, lines: list[RightsLine]) -> None:
        self.summary, self.lines = summary, lines
        waiting = summary.applied - summary.confirmed - summary.disputed
        self.query_one("#round-title", Static).update(Text.assemble(
            (f"異動処理 #{summary.id}  ", "bold"), as_text(summary.source_name, "bold"),
            f"  発令日 {span_text(summary.first_on, summary.last_on)}",
            f"  変更 {summary.changes}件: 未適用 {summary.pending}・確認待ち {waiting}・"
            f"確認済み {summary.confirmed}・異議あり {summary.disputed}",
        ))
        self.repage()

    def paged(self) -> list[RightsLine]:
        return self.lines

    def shown_lines(self) -> list[RightsLine]:
        """The lines on the current page, in table order."""
        return self.page_items()

    def show_page(self) -> None:
        shown = self.shown_lines()
        refill_table(self.query_one("#lines", DataTable),
                     ((str(line.id), line_cells(line)) for line in shown))
        self.query_one("#lines-count", Static).update(
            as_text(COUNT.format(**self.page_numbers()), "bold") if shown
            else as_text(EMPTY, "dim"))

    # --- acting on a line ----------------------------------------------------------------

    def current_line(self) -> RightsLine | None:
        line: RightsLine | None = self.item_at_cursor()
        return line

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
        self.ask(CommentDialog(DISPUTE_TITLE, DISPUTE_PROMPT, ok_label="異議を記録",
                               max_length=COMMENT_MAX, required=DISPUTE_REQUIRED),
                 lambda comment: self._start("disputed", line, comment))

    def _start(self, what: str, line: RightsLine, comment: str) -> None:
        if not self.begin(RECORDING):
            return
        env = self.env

        def run() -> None:
            if what == "apply":
                apply_change(env.db, env.identity, line.id, settings=env.settings)
                return
            # not at the top: loaded in the worker, so the round opens without waiting for it
            from services.personnel.confirm import confirm_change

            confirm_change(env.db, env.identity, line.id, what, comment)

        def acted(_: None) -> None:
            said = {"apply": APPLIED, "confirmed": CONFIRMED, "disputed": DISPUTED}[what]
            self._done(said.format(id=line.id, name=line.name, change=change_text(line)), "info")

        self.call_service(run, acted, lambda message: self._done(message, "error"),
                          group="access-round-act", step_up=True)

    def _done(self, message: str, kind: str) -> None:
        self.finish(message, kind)
        self.reload()

    # --- the report ----------------------------------------------------------------------

    def action_report(self, fmt: str) -> None:
        if not self.begin(REPORTING):
            return
        env, round_id = self.env, self.round_id

        def run() -> RoundReport:
            # not at the top: the report and its PDF library load in the worker (and it is
            # optional in an installation: report_available)
            from services.personnel.report import export_round_report

            return export_round_report(env.db, env.settings, env.identity, round_id, fmt)

        self.call_service(
            run,
            lambda written: self.finish(WRITTEN.format(
                fmt=written.format.upper(), n=written.rows, path=written.path,
                sha256=written.sha256), title="帳票"),
            lambda message: self.finish(message, "error", title="帳票"),
            group="access-round-report",
        )
