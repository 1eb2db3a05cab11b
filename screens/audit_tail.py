"""操作ログ (F5): the live tail of the audit trail, its filters and one event's detail.

For security officers and auditors (``Perm.AUDIT_READ``). The newest event is at the
bottom and the tail follows while at the end; scrolling up pauses it and the status line
counts what waits (「新着 12 件 — End で最新へ」). Filters: actor, action (and everything
under it), outcome, severity, a resident mentioned by the event, a time range (Japan
time, 西暦 or 和暦). Enter opens the whole event below the tail; alerts (outcome
``alert`` or severity ``high``) stand out with ▲ and colour. How the lines are kept,
read and drawn for volume is ``screens.audit_tail_view``; how new ones are fetched,
``screens.audit_tail_poller``.

The screen holds no SQL and no rule: ``services.audit_tail`` checks ``AUDIT_READ`` live
and records opening and every filter applied (``audit.read``), and refuses (recorded) a
user without it. Every value from the trail is inert.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from rich.cells import set_cell_size
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Header, Input, Select, Static

from core.inert import as_text, clean, clean_line
from logs.tail import Page
from screens.audit_tail_poller import Poller, TailBatch, TailFailed, TailResumed
from screens.audit_tail_view import PAGE, TailView, quiet_collector
from screens.keybar import KeyBar
from screens.widgets import LOADING, MessageLine, WorkspaceEnv
from screens.workspace import WorkspaceScreen
from services.audit_tail import (
    OUTCOME_LABELS,
    SEVERITY_LABELS,
    TailReader,
    open_tail,
    parse_filter,
)

FOLLOWING = "追従中 (↑/PgUp で一時停止)"
PAUSED = "一時停止 — 新着 {n} 件 — End で最新へ"
PAUSED_NONE = "一時停止 — End で最新へ"
SHOWN = "表示 {n:,} 件"
SEARCHING = "さかのぼって検索中 (#{seq} 以前)"
DETAIL_HINT = "Enter で詳細"
TAIL_RESUMED = "データベースに再接続しました。新しい操作ログの表示を続けます。"
FIELD_NAMES = (
    ("seq", "番号"), ("ts", "日時 (UTC)"), ("actor", "職員"), ("session_id", "セッション"),
    ("client_addr", "接続元"), ("action", "操作"), ("target", "対象"), ("purpose", "事務"),
    ("outcome", "結果"), ("severity", "重要度"), ("prev_hash", "前ハッシュ"),
    ("hash", "ハッシュ"),
)


def detail_text(event: dict[str, Any]) -> Text:
    """The whole event, every field, details pretty-printed; never parsed as markup."""
    out = Text(no_wrap=False, end="")
    for key, label in FIELD_NAMES:
        value = event.get(key, "")
        if key == "outcome":
            value = f"{value} ({OUTCOME_LABELS.get(str(value), '')})"
        elif key == "severity":
            value = f"{value} ({SEVERITY_LABELS.get(str(value), '')})"
        out.append(set_cell_size(label, 12), style="bold")
        out.append(clean_line(value) + "\n",
                   style="bold red" if key in ("outcome", "severity") and _alerting(event)
                   else "")
    out.append("詳細\n", style="bold")
    raw = event.get("details") or "{}"
    try:
        pretty = json.dumps(json.loads(raw), ensure_ascii=False, indent=2, sort_keys=True)
    except ValueError:
        pretty = str(raw)
    out.append(clean(pretty).replace("\t", " "))
    return out


def _alerting(event: dict[str, Any]) -> bool:
    return event.get("outcome") == "alert" or event.get("severity") == "high"


# --- the screen ---------------------------------------------------------------------------


class AuditTailScreen(WorkspaceScreen[None]):
    """The audit workspace. Keys: / filters, Enter detail, End newest, Esc back."""

    CSS_PATH = "audit_tail.tcss"
    AUTO_FOCUS = "#tail"
    # Its keys: declared like every screen's, alike in shape only (a pair in duplicates).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "戻る", id="audit_tail.back"),
        Binding("slash", "focus_filters", "絞り込み", id="audit_tail.filters"),
        Binding("ctrl+r", "clear_filters", "条件を消す", id="audit_tail.clear"),
    ]

    def __init__(self, env: WorkspaceEnv) -> None:
        super().__init__(env)
        self.reader: TailReader | None = None
        self.poller: Poller | None = None
        self.gen = 0
        self.filter_details: dict[str, Any] = {}
        self._suspended = False
        self._poll_after = 0

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        with Horizontal(id="tail-filters"):
            yield Input(placeholder="職員", id="f-actor", compact=True)
            yield Input(placeholder="操作の一部 (例 reveal)", id="f-action", compact=True)
            yield Select([(f"{v} {k}", k) for k, v in OUTCOME_LABELS.items()],
                         prompt="結果: すべて", id="f-outcome", compact=True)
            yield Select([(f"{v} {k}", k) for k, v in SEVERITY_LABELS.items()],
                         prompt="重要度: すべて", id="f-severity", compact=True)
            yield Input(placeholder="住民番号", id="f-resident", compact=True)
            yield Input(placeholder="開始 2026-11-26 09:00", id="f-since", compact=True)
            yield Input(placeholder="終了 R8.11.26", id="f-until", compact=True)
        yield MessageLine(id="tail-message")
        yield Static("", id="tail-status")
        yield TailView(id="tail")
        with VerticalScroll(id="tail-detail"):
            yield Static("", id="tail-detail-text")
        yield KeyBar()

    def on_mount(self) -> None:
        self.sub_title = "操作ログ"
        if not self.app.is_headless:  # a real terminal; not a test run sharing the process
            quiet_collector()
        self.query_one("#tail-detail").display = False
        self._status(LOADING)
        self.apply("open")

    def on_unmount(self) -> None:
        self._stop_poller()

    def on_screen_suspend(self) -> None:
        """Covered (the lock, the palette, another screen): stop reading the trail."""
        self._suspended = True
        self._stop_poller()

    def on_screen_resume(self) -> None:
        """In front again: a following tail jumps to the newest; a paused one goes on
        counting from where it stopped."""
        if not self._suspended:
            return  # first shown: on_mount is opening it
        self._suspended = False
        if self.reader is None:
            return
        if self.query_one(TailView).following:
            self._page(self.gen, 2, 0)
        else:
            self._start_poller(self.gen, self._poll_after)

    # --- opening and filtering ---------------------------------------------------------

    def filter_inputs(self) -> dict[str, str]:
        def value(selector: str) -> str:
            widget = self.query_one(selector)
            if isinstance(widget, Select):
                v = widget.value
                return "" if v is Select.NULL else str(v)
            assert isinstance(widget, Input)
            return widget.value

        return {
            "actor": value("#f-actor"), "action": value("#f-action"),
            "outcome": value("#f-outcome"), "severity": value("#f-severity"),
            "resident": value("#f-resident"), "since": value("#f-since"),
            "until": value("#f-until"),
        }

    def apply(self, reason: str = "filter") -> None:
        """Open the tail under the filter typed (recorded by the service)."""
        self.gen += 1
        self._stop_poller()
        self._status(LOADING)
        env, gen, typed = self.env, self.gen, self.filter_inputs()

        def run() -> tuple[TailReader, Page, int]:
            flt = parse_filter(**typed)
            reader = open_tail(env.db, env.identity, flt, reason=reason)
            head = reader.head()
            page = reader.older(head + 1, PAGE)
            return reader, page, head

        self.call_service(run, lambda got: self._opened(gen, *got),
                          lambda message: self._failed(gen, message), group="audit-tail-open")

    def _failed(self, gen: int, message: str) -> None:
        if gen != self.gen:
            return
        self.say(message)
        self._status("")

    def _opened(self, gen: int, reader: TailReader, page: Page, head: int) -> None:
        if gen != self.gen:
            return
        self.reader = reader
        self.filter_details = reader.filter.as_details()
        self.hush()
        self.query_one(TailView).reset(gen, page)
        self._start_poller(gen, head)

    def _start_poller(self, gen: int, after: int) -> None:
        assert self.reader is not None
        self._stop_poller()
        if self._suspended:  # covered meanwhile: resuming starts it
            self._poll_after = after
            return
        poller = Poller(self.reader, after, self.query_one(TailView), gen, self.env.settings)
        self.poller = poller
        poller.start()

    def _stop_poller(self) -> None:
        if self.poller is not None:
            self.poller.halt.set()
            self._poll_after = self.poller.after
            self.poller = None

    @on(Input.Submitted, "#tail-filters Input")
    def _submitted(self) -> None:
        self.apply()
        self.query_one(TailView).focus()

    @on(Select.Changed, "#tail-filters Select")
    def _selected(self) -> None:
        if self.reader is not None or self.gen > 1:
            self.apply()

    def action_clear_filters(self) -> None:
        with self.prevent(Select.Changed):
            for widget in self.query("#tail-filters Input").results(Input):
                widget.value = ""
            for select in self.query("#tail-filters Select").results(Select):
                select.clear()
        self.apply()

    # --- messages from the view and the poller ------------------------------------------

    @on(TailBatch)
    def _batch(self, message: TailBatch) -> None:
        message.stop()
        self.query_one(TailView).append(message.gen, message.lines)

    @on(TailFailed)
    def _poll_failed(self, message: TailFailed) -> None:
        message.stop()
        if message.gen == self.gen:
            if message.stopped:
                self.poller = None
            self.say(message.message)

    @on(TailResumed)
    def _poll_resumed(self, message: TailResumed) -> None:
        message.stop()
        if message.gen == self.gen:
            self.say(TAIL_RESUMED, "info")

    @on(TailView.Changed)
    def _changed(self) -> None:
        view = self.query_one(TailView)
        if view.following:
            state = FOLLOWING
        elif view.waiting:
            state = PAUSED.format(n=f"{view.waiting:,}")
        else:
            state = PAUSED_NONE
        shown = SHOWN.format(n=len(view.seqs))
        if view.loading_older and not view.start_reached:
            shown += "   " + SEARCHING.format(seq=f"{max(0, view.older_from - 1):,}")
        self._status(f"{state}   {shown}   {DETAIL_HINT}")

    @on(TailView.Want)
    def _want(self, message: TailView.Want) -> None:
        if self.reader is None:
            return
        self._page(self.gen, message.direction, message.seq)

    def _page(self, gen: int, direction: int, seq: int) -> None:
        reader = self.reader
        assert reader is not None
        view = self.query_one(TailView)

        def read() -> Callable[[], None]:
            """Read the page in the worker; what to do with it runs on the UI thread."""
            if direction < 0:
                page = reader.older(seq, PAGE)
                return lambda: view.prepend(gen, page)
            if direction == 2:  # back to the head: a fresh window, following
                head = reader.head()
                page = reader.older(head + 1, PAGE)
                return lambda: self._rewound(gen, page, head)
            lines, covered = reader.newer(seq, PAGE)
            poller = self.poller
            reached = poller is not None and covered >= poller.after
            if direction == 0:
                return lambda: view.reset(gen, Page(lines, 0), attached=reached)
            return lambda: view.extend(gen, lines, covered, reached)

        self.call_service(read, lambda show: show(), lambda message: self._failed(gen, message),
                          group="audit-tail-page", exclusive=False)

    def _rewound(self, gen: int, page: Page, head: int) -> None:
        if gen != self.gen:
            return
        self.query_one(TailView).reset(gen, page)
        self._start_poller(gen, head)

    @on(TailView.Chosen)
    def _chosen(self, message: TailView.Chosen) -> None:
        self._detail(message.seq)

    @on(TailView.Moved)
    def _moved(self, message: TailView.Moved) -> None:
        if self.query_one("#tail-detail").display:
            self._detail(message.seq)

    def _detail(self, seq: int) -> None:
        reader = self.reader
        if reader is not None:
            self.call_service(lambda: reader.event(seq), self._show_detail,
                              group="audit-tail-detail")

    def _show_detail(self, event: dict[str, Any] | None) -> None:
        if event is None:
            return
        self.detail_event = event
        pane = self.query_one("#tail-detail")
        pane.display = True
        pane.set_class(_alerting(event), "alert")
        self.query_one("#tail-detail-text", Static).update(detail_text(event))
        view = self.query_one(TailView)
        self.call_after_refresh(view.ensure_cursor_visible)  # the view is shorter now

    detail_event: dict[str, Any] | None = None

    # --- keys and the status line ---------------------------------------------------------

    def action_focus_filters(self) -> None:
        self.query_one("#f-actor", Input).focus()

    def action_back(self) -> None:
        pane = self.query_one("#tail-detail")
        if pane.display:
            pane.display = False
            self.detail_event = None
            self.query_one(TailView).focus()
            return
        if self.focused is not None and self.focused.id != "tail":
            self.query_one(TailView).focus()
            return
        self.dismiss()

    def _status(self, text: str) -> None:
        self.status = text
        self.query_one("#tail-status", Static).update(as_text(text, "bold"), layout=False)

    status: str = ""
