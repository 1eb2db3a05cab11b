"""住民記録照会 (F2): the search form, the paged result list, opening a record.

The screen helps; ``services.lookup`` decides. A 事務 (purpose) must be chosen before
the search button is enabled, but a search submitted without one (Enter in a field) still
goes to the service, which refuses it and says so — that message is what the user sees,
as it is worded, through ``core.inert``. The same for a query that is too broad, a
missing permission (個人番号 as a search field needs its own), and the result cap.

Results come back capped (``settings.lookup_max_results``); the table holds one page at
a time (``PAGE_SIZE`` rows), never the whole result. DV等支援措置 rows carry a marker;
opening one asks a reason first (``RecordOpener``). Every service call runs in a thread
worker; a stale answer (an older search finishing late) is dropped.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Header,
    Input,
    Label,
    Select,
    Static,
)

from auth.roles import Perm
from core.inert import as_text
from screens.keybar import KeyBar
from screens.resident import RecordOpener
from screens.table import Table
from screens.widgets import MessageLine, WorkspaceEnv, restricted_cell
from services.jp import format_wareki
from services.lookup.search import purposes, search
from services.lookup.types import Hit, LookupQuery, SearchResult
from services.restricted import WITHHELD_NOTE

PAGE_SIZE = 20
SEX_CHOICES: tuple[tuple[str, str], ...] = (("指定なし", ""), ("男", "男"), ("女", "女"))
COLUMNS = ("", "氏名", "フリガナ", "生年月日", "性別", "状態", "一致", "住所")

PURPOSE_PROMPT = "事務を選んでください"
PURPOSE_HINT = "← 事務を選ぶと検索できます (目的は照会とともに記録)"
PURPOSE_READY = "Enter または「検索」で検索します。"
SEARCHING = "検索しています…"
NO_HITS = "該当する住民はいません (上限{cap}件)。"
COUNT = "{n}件 (上限{cap}件)"
COUNT_CAPPED = "{n}件 (上限{cap}件に達しました。条件を加えてください)"
PAGE_LINE = (
    "{page}/{pages}ページ  {first}–{last}件目  (PageDown・n: 次, PageUp・p: 前, Enter: 開く)"
)


def _purposes(env: WorkspaceEnv) -> tuple[str, ...]:
    """The configured 事務 as the service lists them (settings only, no database)."""
    return tuple(purposes(env.settings))


class LookupScreen(RecordOpener):
    """The lookup workspace. Keys: / form, Enter search/open, n/p pages, Esc back."""

    CSS_PATH = "lookup.tcss"
    AUTO_FOCUS = "#purpose"
    PAGED = "#results"
    page_size = PAGE_SIZE
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="lookup.back"),
        Binding("slash", "focus_form", "検索条件", id="lookup.focus_form"),
        Binding("pagedown", "page(1)", "次ページ", id="lookup.next_page", priority=True),
        Binding("pageup", "page(-1)", "前ページ", id="lookup.prev_page", priority=True),
        Binding("n", "page(1)", "次ページ", id="lookup.next_page_n", show=False),
        Binding("p", "page(-1)", "前ページ", id="lookup.prev_page_p", show=False),
    ]

    def __init__(self, env: WorkspaceEnv) -> None:
        super().__init__(env)
        self.hits: tuple[Hit, ...] = ()
        """The current result (at most the cap); the table shows one page of it."""
        self.result: SearchResult | None = None
        self._purpose_of_result = ""

    # --- layout ----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        ident = self.env.identity
        yield Header(icon="")
        with Vertical(id="lookup-form"):
            with Horizontal(classes="form-row"):
                yield Label("事務", classes="lk-label required")
                yield Select(
                    [(p, p) for p in _purposes(self.env)], prompt=PURPOSE_PROMPT,
                    id="purpose", compact=True,
                )
                yield Static(as_text(PURPOSE_HINT), id="purpose-hint")
            with Horizontal(classes="form-row"):
                yield Label("氏名", classes="lk-label")
                yield Input(id="name", placeholder="漢字・カナ、一部でも", max_length=80,
                            compact=True)
                yield Label("生年月日", classes="lk-label")
                yield Input(id="birth", placeholder="S60.4.1 / 1985-04-01", max_length=40,
                            compact=True)
                yield Label("性別", classes="lk-label short")
                yield Select(SEX_CHOICES, allow_blank=False, value="", id="sex", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("住所", classes="lk-label")
                yield Input(id="address", placeholder="町名・2-1-2 など、一部でも", max_length=120,
                            compact=True)
                yield Label("住民票コード", classes="lk-label")
                yield Input(id="resident-code", max_length=20, compact=True)
                yield Label("世帯番号", classes="lk-label short")
                yield Input(id="household-no", max_length=20, compact=True)
            with Horizontal(classes="form-row"):
                if ident.can(Perm.LOOKUP_MY_NUMBER):
                    yield Label("個人番号", classes="lk-label")
                    yield Input(id="my-number", password=True, max_length=20, compact=True)
                yield Checkbox("消除者を含む", id="include-removed", compact=True)
                yield Button("検索", id="search", variant="primary", compact=True, disabled=True)
        yield MessageLine(id="lookup-message")
        yield Static("", id="lookup-count")
        yield Table(id="results", cursor_type="row", zebra_stripes=True)
        yield Static("", id="page-line")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "住民記録照会"
        table = self.query_one("#results", DataTable)
        table.add_columns(*COLUMNS)

    # --- the form --------------------------------------------------------------------

    @on(Select.Changed, "#purpose")
    def _purpose_changed(self, event: Select.Changed) -> None:
        chosen = event.value is not Select.NULL
        self.query_one("#search", Button).disabled = not chosen
        self.query_one("#purpose-hint", Static).update(
            as_text(PURPOSE_READY if chosen else PURPOSE_HINT)
        )

    def action_focus_form(self) -> None:
        purpose = self.query_one("#purpose", Select)
        if purpose.value is Select.NULL:
            purpose.focus()
        else:
            self.query_one("#name", Input).focus()

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value

    def query_from_form(self) -> LookupQuery:
        """What the clerk typed, untouched: the service parses and normalises it."""
        purpose = self.query_one("#purpose", Select).value
        sex = self.query_one("#sex", Select).value
        my_number = self.query("#my-number")
        return LookupQuery(
            purpose="" if purpose is Select.NULL else str(purpose),
            name=self._value("#name"),
            birth=self._value("#birth"),
            sex="" if sex is Select.NULL else str(sex),
            address=self._value("#address"),
            resident_code=self._value("#resident-code"),
            household_no=self._value("#household-no"),
            my_number=my_number.only_one(Input).value if my_number else "",
            include_removed=self.query_one("#include-removed", Checkbox).value,
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#search")
    def submit(self) -> None:
        """Send the form to the service, purpose or not: the service is the gate."""
        self.query_one("#search", Button).disabled = True
        self.say(SEARCHING, "info")
        env, query = self.env, self.query_from_form()
        self.load(lambda: search(env.db, env.settings, env.identity, query),
                  lambda result: self._found(query, result), self._refused,
                  group="lookup-search")

    def _ready(self) -> None:
        chosen = self.query_one("#purpose", Select).value is not Select.NULL
        self.query_one("#search", Button).disabled = not chosen

    def _refused(self, message: str) -> None:
        self._ready()
        self._set_result(None, "")
        self.say(message)

    def _found(self, query: LookupQuery, result: SearchResult) -> None:
        self._ready()
        self.hush()
        self._set_result(result, query.purpose)
        if result.hits:
            self.query_one("#results", DataTable).focus()

    # --- results ---------------------------------------------------------------------

    def _set_result(self, result: SearchResult | None, purpose: str) -> None:
        self.result = result
        self.hits = result.hits if result else ()
        self._purpose_of_result = purpose
        self.page = 0
        count = self.query_one("#lookup-count", Static)
        if result is None:
            count.update("")
        elif not result.hits:
            count.update(as_text(NO_HITS.format(cap=result.cap)))
        else:
            template = COUNT_CAPPED if result.capped else COUNT
            count.update(as_text(template.format(n=len(result.hits), cap=result.cap),
                                 "bold yellow" if result.capped else "bold"))
        self.show_page()

    def paged(self) -> tuple[Hit, ...]:
        return self.hits

    def show_page(self) -> None:
        """Mount only this page's rows (PAGE_SIZE at most)."""
        table = self.query_one("#results", DataTable)
        table.clear()
        first = self.page * PAGE_SIZE
        shown = self.shown_rows()
        for hit in shown:
            table.add_row(*self._cells(hit), key=str(hit.resident_id))
        line = self.query_one("#page-line", Static)
        if shown:
            line.update(as_text(PAGE_LINE.format(
                page=self.page + 1, pages=self.pages, first=first + 1,
                last=first + len(shown)), "dim"))
        else:
            line.update("")

    @staticmethod
    def _cells(hit: Hit) -> list[Text]:
        reasons = "、".join(hit.reasons)
        if not hit.exact:
            reasons = f"候補: {reasons}" if reasons else "候補"
        status_style = "bold magenta" if hit.status not in ("住民", "") else ""
        born = format_wareki(hit.birth_date) if hit.birth_date is not None else ""
        return [
            restricted_cell(hit.restricted),
            as_text(hit.name, "bold"),
            as_text(hit.kana),
            as_text(born),
            as_text(hit.sex),
            as_text(hit.status, status_style),
            as_text(reasons, "" if hit.exact else "yellow"),
            # withheld by the service (支援措置): say why the row is the name only
            as_text(WITHHELD_NOTE, "dim") if hit.withheld else as_text(hit.address),
        ]

    def shown_rows(self) -> list[Hit]:
        """The hits on the current page, in table order (for tests and screen readers)."""
        return self.page_items()

    @on(DataTable.RowSelected, "#results")
    def _row_chosen(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        hit = next((h for h in self.hits if str(h.resident_id) == key), None)
        if hit is not None:
            self.open_resident(
                hit.resident_id, restricted=hit.restricted, purpose=self._purpose_of_result,
            )
