"""権限見直し (F4): the change rounds (異動処理), importing a personnel-change file.

The list is the service's (``services.personnel.rounds.list_rounds``): newest round first,
a page at a time, each with its file, 発令日 span, who imported it and its counts (changes,
未適用, 確認待ち, 確認済み, 異議あり). Enter opens the round (``screens.access_round``).

``i`` asks for the path of a change file on the server; the file is read and handed to
``import_round`` in a worker. The service checks the whole file first, so a bad file
writes nothing, and its refusal (every bad row by line and field) is shown as worded.
``t`` opens the 棚卸し of every account (``screens.access_inventory``).
Offered to holders of ``Perm.ACCESS_ADMIN`` or ``Perm.ACCESS_CONFIRM``; the services
check again on every call.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Header, Input, Static

from core.errors import BadInput
from core.inert import as_text
from screens.keybar import KeyBar
from screens.round_words import span_text
from screens.table import Table
from screens.widgets import LOADING, MessageLine, WorkspaceEnv, refill_table
from screens.workspace import WorkspaceScreen
from services.personnel.rounds import Imported, RoundSummary, import_round, list_rounds
from services.reports.output import wareki_datetime

PAGE = 50
ROUND_COLUMNS = ("異動処理", "ファイル", "発令日", "取込者", "取込日時", "行数", "変更",
                 "未適用", "確認待ち", "確認済み", "異議あり")
EMPTY = "異動処理はまだありません。i で異動ファイルを取り込めます。"
COUNT = "異動処理 {first}〜{last}件目 (新しい順、{page}頁)"
IMPORT_PROMPT = "サーバー上の異動ファイルのパス (Enter で取込、Esc で取消)"
IMPORTING = "取り込んでいます…"
IMPORTED = ("異動処理 #{id} を取り込みました: {rows}行、{people}人、削除・利用停止 {revokes}件、"
            "付与・利用再開 {grants}件 (うち発令日を過ぎて適用済み {now}件)。")
NO_PATH = "異動ファイル: パスを入力してください。"
UNREADABLE = "異動ファイル: {path} を読めません ({why})。"
NOT_A_FILE = "異動ファイル: {path} はファイルではありません。"
TOO_BIG = "異動ファイル: {path} は大きすぎます ({mb} MB まで)。"
MAX_MB = 50


def round_cells(r: RoundSummary) -> list[Text]:
    """One round (the file name and login came from outside: inert)."""
    waiting = r.applied - r.confirmed - r.disputed
    return [
        as_text(f"#{r.id}", "bold"),
        as_text(r.source_name),
        as_text(span_text(r.first_on, r.last_on)),
        as_text(r.imported_by),
        as_text(wareki_datetime(r.imported_at)),
        as_text(f"{r.rows:,}"),
        as_text(f"{r.changes:,}"),
        as_text(f"{r.pending:,}", "bold" if r.pending else "dim"),
        as_text(f"{waiting:,}", "bold yellow" if waiting else "dim"),
        as_text(f"{r.confirmed:,}", "green" if r.confirmed else "dim"),
        as_text(f"{r.disputed:,}", "bold red" if r.disputed else "dim"),
    ]


def read_change_file(raw: str) -> tuple[str, bytes]:
    """(file name, bytes) of the path typed; BadInput naming the field when unusable."""
    text = raw.strip()
    if not text:
        raise BadInput(NO_PATH)
    path = Path(text).expanduser()
    try:
        if not path.is_file():
            raise BadInput(NOT_A_FILE.format(path=text))
        if path.stat().st_size > MAX_MB * 1024 * 1024:
            raise BadInput(TOO_BIG.format(path=text, mb=MAX_MB))
        return path.name, path.read_bytes()
    except OSError as exc:
        raise BadInput(UNREADABLE.format(path=text, why=exc.strerror or type(exc).__name__)) \
            from None


class AccessReviewScreen(WorkspaceScreen[None]):
    """The rounds. Keys: Enter open, i import, t 棚卸し, n/p pages, r reload, Esc back."""

    CSS_PATH = "access_review.tcss"
    AUTO_FOCUS = "#rounds"
    PAGED = "#rounds"
    FIELD = "#import-path"
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="access.back"),
        Binding("i", "import_file", "取込", id="access.import"),
        Binding("n", "page(1)", "次頁", id="access.next_page"),
        Binding("p", "page(-1)", "前頁", id="access.prev_page"),
        Binding("r", "reload", "再読込", id="access.reload"),
        Binding("t", "inventory", "棚卸し", id="access.inventory"),
    ]

    def __init__(self, env: WorkspaceEnv) -> None:
        super().__init__(env)
        self.rounds: list[RoundSummary] = []
        """The rounds on this page, in table order."""
        self.has_next = False

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield MessageLine(id="access-message")
        yield Input(id="import-path", placeholder=IMPORT_PROMPT)
        yield Static("", id="rounds-count")
        yield Table(id="rounds", cursor_type="row", zebra_stripes=True)
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "権限見直し"
        self.query_one("#rounds", DataTable).add_columns(*ROUND_COLUMNS)
        self.query_one("#import-path").display = False

    def on_screen_resume(self) -> None:
        self.action_reload()

    # --- loading ---------------------------------------------------------------------

    def action_reload(self) -> None:
        self.query_one("#rounds-count", Static).update(as_text(LOADING, "dim"))
        page, db = self.page, self.env.db
        self.load(lambda: list_rounds(db, limit=(page + 1) * PAGE + 1),
                  lambda rows: self._loaded(page, rows), self._failed, group="access-rounds")

    def action_page(self, step: int) -> None:
        """The service pages (newest first, one more row tells whether a next page is)."""
        if (step > 0 and not self.has_next) or (step < 0 and self.page == 0):
            return
        self.page += step
        self.action_reload()

    def _failed(self, message: str) -> None:
        self.query_one("#rounds-count", Static).update("")
        self.say(message)

    def _loaded(self, page: int, rows: list[RoundSummary]) -> None:
        shown = rows[page * PAGE:(page + 1) * PAGE]
        if not shown and page > 0:  # the page emptied (cannot shrink today, but be safe)
            self.page = 0
            self.action_reload()
            return
        self.rounds, self.has_next = shown, len(rows) > (page + 1) * PAGE
        refill_table(self.query_one("#rounds", DataTable),
                     ((str(r.id), round_cells(r)) for r in shown))
        count = self.query_one("#rounds-count", Static)
        count.update(as_text(COUNT.format(first=page * PAGE + 1, last=page * PAGE + len(shown),
                                          page=page + 1), "bold") if shown
                     else as_text(EMPTY, "dim"))

    # --- opening a round ---------------------------------------------------------------

    @on(DataTable.RowSelected, "#rounds")
    def _chosen(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            # not at the top: F4 opens without loading a round's services (apply, confirm)
            from screens.access_round import AccessRoundScreen

            self.app.push_screen(AccessRoundScreen(self.env, int(event.row_key.value)))

    def action_inventory(self) -> None:
        # not at the top: F4 opens without loading the 棚卸し's services
        from screens.access_inventory import AccessInventoryScreen

        self.app.push_screen(AccessInventoryScreen(self.env))

    # --- importing ---------------------------------------------------------------------

    def action_import_file(self) -> None:
        self.open_field()

    @on(Input.Submitted, "#import-path")
    def _submit_import(self, event: Input.Submitted) -> None:
        if not self.begin(IMPORTING):
            return
        env, raw = self.env, event.value

        def run() -> Imported:
            name, data = read_change_file(raw)
            return import_round(env.db, env.settings, env.identity, name=name, data=data)

        self.call_service(
            run, self._imported,
            lambda message: self.finish(message, "error", title="取込できません"),
            group="access-import",
        )

    def _imported(self, done: Imported) -> None:
        self.finish(IMPORTED.format(id=done.round_id, rows=done.rows, people=done.people,
                                    revokes=done.revokes, grants=done.grants,
                                    now=done.applied_now), title="取込")
        self.close_field()
        self.page = 0
        self.action_reload()
