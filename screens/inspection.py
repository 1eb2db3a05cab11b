"""自己点検 (F6): the year's checklist of one's department, answered and signed off; and
the threshold judgment (しきい値判断) on demand.

The screen shows the latest year's sheet of the user's own 所属 (a reviewer can step to
the other departments' sheets with F7 / F8). Enter on a row takes its item into the
form below the table: choose 実施 / 一部実施 / 未実施 / 該当なし, write the evidence
note, F5 registers it. F9 signs the sheet off. F10 runs the threshold judgment for
today. Every rule (own department only, a note required, no self-sign-off, the first
sign-off stands) is the service's (``services.assessment``); refusals are shown as the
service words them. Database work runs in thread workers.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Header, Input, Label, Select, Static

from core.inert import as_text
from screens.keybar import KeyBar
from screens.table import Table
from screens.widgets import LOADING, MessageLine, WorkspaceEnv
from screens.workspace import WorkspaceScreen
from services.assessment import inspection
from services.assessment.inspection import ANSWERS, SheetView, year_label
from services.jp.wareki import format_wareki
from services.reports.output import wareki_datetime

# What the screen says: constants alike in shape to other screens' (a pair in duplicates).
TITLE = "自己点検"
COLUMNS = ("番号", "区分", "点検項目", "回答", "根拠・備考", "回答者")
NONE_YET = "自己点検はまだ始まっていません（juki inspect start YEAR）。"
NO_SHEET = "自分の所属（{dept}）の点検表は{year}にありません。F7 / F8 で他の所属を表示できます。"
SAVED = "{code} に「{answer}」を登録しました。"
SIGNED = "{dept}の点検表を承認しました。"
NO_SHEET_SHOWN = "表示中の点検表はありません。F7 / F8 で他の所属を表示できます。"
PICK_ROW = "回答する項目を表で選び、Enter を押してください。"
ANSWER_STYLE = {"実施": "green", "一部実施": "yellow", "未実施": "bold red", "該当なし": "dim"}


def row_cells(sheet: SheetView) -> list[list[Text]]:
    return [
        [as_text(r.item.code), as_text(r.item.area), as_text(r.item.question),
         as_text(r.answer or "未回答", ANSWER_STYLE.get(r.answer, "dim")), as_text(r.note),
         as_text(f"{r.answered_by} {wareki_datetime(r.answered_at)}" if r.answered_by
                 else "—")]
        for r in sheet.rows
    ]


class InspectionScreen(WorkspaceScreen[None]):
    """Keys: Enter pick item, F5 register, F9 sign off, F7 / F8 department, F10 threshold."""

    CSS_PATH = "inspection.tcss"
    PAGED = "#insp-rows"
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="inspection.back"),
        Binding("f5", "save", "登録", id="inspection.save", priority=True),
        Binding("f9", "sign_off", "承認", id="inspection.sign_off", priority=True),
        Binding("f7", "department(-1)", "前の所属", id="inspection.prev", priority=True),
        Binding("f8", "department(1)", "次の所属", id="inspection.next", priority=True),
        Binding("f10", "threshold", "しきい値判断", id="inspection.threshold", priority=True),
    ]

    def __init__(self, env: WorkspaceEnv) -> None:
        super().__init__(env)
        self.year: int | None = None
        self.departments: list[tuple[str, int]] = []  # (所属, sheet id)
        self.index = 0
        self.sheet: SheetView | None = None
        self.item_code = ""
        self.loaded = False  # the first answer (a sheet, none, or a refusal) has arrived

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield Static(LOADING, id="insp-title")
        yield Table(id="insp-rows", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="insp-form"):
            yield Label("—", id="insp-item")
            yield Select([(a, a) for a in ANSWERS], allow_blank=False, value=ANSWERS[0],
                         id="insp-answer", compact=True)
            yield Input("", id="insp-note", compact=True, max_length=1000,
                        placeholder="根拠・備考（記録・文書名など）")
            yield Button("登録 (F5)", id="insp-save", variant="primary", compact=True)
        yield MessageLine(id="insp-message")
        yield Static("", id="insp-threshold")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = TITLE
        self.query_one("#insp-rows", DataTable).add_columns(*COLUMNS)
        self._load(None)

    # --- loading -------------------------------------------------------------------------

    def _load(self, chosen: int | None) -> None:
        env = self.env

        def fetch() -> tuple[int | None, list[tuple[str, int]], SheetView | None, str]:
            insp = inspection.latest_inspection(env.db)
            if insp is None:
                return None, [], None, ""
            depts = [(s.department, s.id) for s in insp.sheets]
            mine = inspection.my_department(env.db, env.identity)
            sheet_id = chosen if chosen is not None else next(
                (sid for d, sid in depts if d == mine), None)
            sheet = inspection.get_sheet(env.db, env.identity, sheet_id) \
                if sheet_id is not None else None
            return insp.fiscal_year, depts, sheet, mine

        self.call_service(fetch, lambda got: self._shown(*got), self._say, group="inspection")

    def _shown(self, year: int | None, depts: list[tuple[str, int]],
               sheet: SheetView | None, mine: str) -> None:
        self.busy = False
        self.loaded = True
        self.year, self.departments, self.sheet = year, depts, sheet
        title = self.query_one("#insp-title", Static)
        table = self.query_one("#insp-rows", DataTable)
        table.clear()
        if year is None:
            title.update(as_text(NONE_YET, "dim"))
            return
        if sheet is None:
            title.update(as_text(NO_SHEET.format(dept=mine or "未設定", year=year_label(year))))
            return
        self.index = next((i for i, (_, sid) in enumerate(depts) if sid == sheet.id), 0)
        title.update(as_text(
            f"{year_label(year)} {TITLE} — {sheet.department}（{sheet.state_label}、回答 "
            f"{sheet.answered}/{len(sheet.rows)}、承認期限 {format_wareki(sheet.due_on)}）"
            + (f"　承認: {sheet.signed_by} {wareki_datetime(sheet.signed_at)}"
               if sheet.signed_at else ""), "bold"))
        for i, cells in enumerate(row_cells(sheet)):
            table.add_row(*cells, key=sheet.rows[i].item.code)

    # --- answering -------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#insp-rows")
    def _picked(self, event: DataTable.RowSelected) -> None:
        if self.sheet is None or event.row_key.value is None:
            return
        self.pick(str(event.row_key.value))

    def pick(self, code: str) -> None:
        """Take one item into the form (its current answer and note, if any)."""
        assert self.sheet is not None
        row = next(r for r in self.sheet.rows if r.item.code == code)
        self.item_code = code
        self.query_one("#insp-item", Label).update(as_text(f"{code} {row.item.area}", "bold"))
        if row.answer:
            self.query_one("#insp-answer", Select).value = row.answer
        self.query_one("#insp-note", Input).value = row.note
        self.query_one("#insp-note", Input).focus()

    @on(Input.Submitted, "#insp-note")
    @on(Button.Pressed, "#insp-save")
    def _save_pressed(self) -> None:
        self.action_save()

    def _sheet_for_key(self) -> SheetView | None:
        """The sheet shown, for a key to act on; None while busy, or with no sheet shown
        (then the line says why instead of ignoring the key)."""
        if self.busy:
            return None
        if self.sheet is None and self.loaded:
            self._say(NONE_YET if self.year is None else NO_SHEET_SHOWN)
        return self.sheet

    def action_save(self) -> None:
        sheet = self._sheet_for_key()
        if sheet is None:
            return
        if not self.item_code:
            self._say(PICK_ROW)
            return
        self.busy = True
        env, sheet_id, code = self.env, sheet.id, self.item_code
        value = str(self.query_one("#insp-answer", Select).value)
        note = self.query_one("#insp-note", Input).value
        self.call_service(
            lambda: inspection.answer(env.db, env.identity, sheet_id, code, value, note),
            lambda sheet: self._after(sheet, SAVED.format(code=code, answer=value)),
            self._say, group="inspection",
        )

    def _after(self, sheet: SheetView, message: str) -> None:
        assert self.year is not None
        self._shown(self.year, self.departments, sheet, sheet.department)
        self._say(message, "info")

    # --- signing off -------------------------------------------------------------------------

    def action_sign_off(self) -> None:
        sheet = self._sheet_for_key()
        if sheet is None:
            return
        self.busy = True
        env, sheet_id = self.env, sheet.id
        self.call_service(
            lambda: inspection.sign_off(env.db, env.identity, sheet_id),
            lambda sheet: self._after(sheet, SIGNED.format(dept=sheet.department)),
            self._say, group="inspection",
        )

    def action_department(self, step: int) -> None:
        if self.busy or not self.departments:
            return
        self.index = (self.index + step) % len(self.departments)
        self.item_code = ""
        self.busy = True
        self._load(self.departments[self.index][1])

    # --- threshold -------------------------------------------------------------------------

    def action_threshold(self) -> None:
        self.query_one("#insp-threshold", Static).update(as_text(LOADING, "dim"))
        env = self.env

        def judged() -> str:
            # not at the top: loaded in the worker, so F6 opens without waiting for it
            from services.assessment.assess import assess_threshold

            return "\n".join(assess_threshold(env.db, env.identity).lines())

        self.call_service(judged, self._threshold_shown, self._threshold_shown,
                          group="threshold")

    def _threshold_shown(self, text: str) -> None:
        self.threshold_text = text
        shown = Text("\n").join(as_text(line) for line in text.split("\n"))
        shown.no_wrap = False
        self.query_one("#insp-threshold", Static).update(shown)

    threshold_text: str = ""

    # --- the rest ----------------------------------------------------------------------------

    def _say(self, message: object, kind: str = "error") -> None:
        """Say it, and the screen is ready for the next key (a refusal ends the wait too)."""
        self.busy = False
        self.loaded = True
        self.say(message, kind)
