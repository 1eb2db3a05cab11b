"""The audit tail's scroll view and how one line looks (操作ログ, F5).

Built for a trail of a million events with hundreds more a second, in the manner of
Textualize/toolong: ``TailView`` is a Line-API scroll view over an index of seq numbers
(a window of at most ``MAX_WINDOW`` lines, never the whole trail) that renders only the
visible lines, through an LRU cache of strips. New lines arrive from the poller
(``screens.audit_tail_poller``) in batches the screen appends. Scrolling up pauses
following and counts what waits; ``End`` jumps back to the newest. Near the top of the
window an older page is read by seq range; a window that grew too far from the newest
lets go of the head and reads newer pages when scrolled down again. The view asks for
pages with ``TailView.Want``; the screen reads them in its workers. Every value from the
trail passes ``core.inert`` before it is drawn.
"""

from __future__ import annotations

import gc
from array import array
from datetime import datetime, timedelta
from typing import ClassVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollTo, ScrollUp
from textual.strip import Strip

from core.inert import clean_line
from logs.tail import Page, TailLine
from services.audit_tail import OUTCOME_LABELS, SEVERITY_LABELS

MAX_WINDOW = 10_000
"""Lines the view holds at most; older (or newer) ones are read again by seq when needed."""
PAGE = 300
"""Lines read per page when scrolling back (and for the first screen)."""
NEAR_EDGE = 40
"""Rows from the window's top (or bottom) at which the next page is read."""

ALERT_MARK = "▲"
POINTER = "›"
START_REACHED = "— 記録の先頭 —"

_UTC_TO_JST = timedelta(hours=9)
_BASE = Style()
_STYLES = {
    "alert": Style(color="bright_red", bold=True),
    "refused": Style(color="yellow"),
    "failure": Style(color="magenta"),
    "warning": Style(color="yellow"),
}
_MARK_STYLE = Style(color="bright_white", bgcolor="red", bold=True)
_CURSOR = Style(bgcolor="grey30")
_DIM = Style(dim=True)

# column widths (cells): pointer, alert mark, seq, time, actor, action, outcome, severity
_W_SEQ, _W_TS, _W_ACTOR, _W_ACTION, _W_LABEL = 9, 14, 14, 24, 4


def local_time(ts: str) -> str:
    """``MM-DD HH:MM:SS`` in Japan time from the trail's UTC text (as staff read it)."""
    try:
        at = datetime.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S") + _UTC_TO_JST
    except ValueError:
        return clean_line(ts)[:_W_TS]
    return at.strftime("%m-%d %H:%M:%S")


def line_style(line: TailLine) -> Style:
    if line.alert:
        return _STYLES["alert"]
    if line.outcome in ("refused", "failure"):
        return _STYLES[line.outcome]
    return _STYLES["warning"] if line.severity == "warning" else _BASE


def render_tail_line(line: TailLine, width: int, cursor: bool) -> Strip:
    """One line of the tail as a strip ``width`` cells wide (all trail text inert)."""
    style = line_style(line)
    if cursor:
        style = style + _CURSOR
    label = OUTCOME_LABELS.get(line.outcome, line.outcome)
    severity = SEVERITY_LABELS.get(line.severity, line.severity)
    fixed = 3 + _W_SEQ + 1 + _W_TS + 1 + _W_ACTOR + 1 + _W_ACTION + 1 + _W_LABEL * 2 + 2
    segments = [
        Segment(POINTER if cursor else " ", style),
        Segment(ALERT_MARK, _MARK_STYLE) if line.alert else Segment(" ", style),
        Segment(" ", style),
        Segment(f"#{line.seq}".rjust(_W_SEQ) + " ", style + _DIM if not line.alert else style),
        Segment(local_time(line.ts).ljust(_W_TS) + " ", style),
        Segment(set_cell_size(clean_line(line.actor), _W_ACTOR) + " ", style),
        Segment(set_cell_size(clean_line(line.action), _W_ACTION) + " ", style),
        Segment(set_cell_size(clean_line(label), _W_LABEL) + " ", style),
        Segment(set_cell_size(clean_line(severity), _W_LABEL) + " ", style),
        Segment(set_cell_size(clean_line(line.target), max(0, width - fixed)), style),
    ]
    return Strip(segments).adjust_cell_length(width, style)


def quiet_collector() -> None:
    """Keep the garbage collector from stopping the tail (measured with bench/tail.py).

    At 500 events a second Textual allocates fast enough for a full collection every
    second or so, and a full collection walks every object the process holds (SQLAlchemy,
    Textual, rich): 100–200 ms with the screen frozen, lines scrolling past unpainted.
    What exists when the tail opens lives as long as the console, so it is frozen out of
    collection, and the young generation is collected less often (gen2 about every ten
    minutes instead of every second). Process-wide; harmless to call again.
    """
    gc.freeze()
    gc.set_threshold(10_000, 50, 100)


# --- the view -------------------------------------------------------------------------------


class TailView(ScrollView, can_focus=True):
    """The lines, bottom newest. Keys: ↑↓ move, PgUp/PgDn, Home oldest, End newest, Enter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "上", show=False, id="audit_tail.up"),
        Binding("down", "cursor(1)", "下", show=False, id="audit_tail.down"),
        Binding("pageup", "page(-1)", "前頁", show=False, id="audit_tail.pageup"),
        Binding("pagedown", "page(1)", "次頁", show=False, id="audit_tail.pagedown"),
        Binding("home", "oldest", "先頭", show=False, id="audit_tail.home"),
        Binding("end", "newest", "最新へ", id="audit_tail.end"),
        Binding("enter", "detail", "詳細", id="audit_tail.detail"),
    ]

    # The messages it posts: declared alike in shape to other widgets' (a pair in duplicates).
    class Want(Message):
        """The view needs lines: ``direction`` -1 a page older than ``seq``, +1 a page newer
        than ``seq``, 0 a window from the start of the trail, 2 a window at the head."""

        def __init__(self, direction: int, seq: int) -> None:
            super().__init__()
            self.direction = direction
            self.seq = seq

    class Changed(Message):
        """Following, waiting count or size changed (the status line shows them)."""

    class Moved(Message):
        """The cursor is on another line (an open detail pane follows it)."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    class Chosen(Message):
        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.seqs: array[int] = array("q")
        """The index: seq numbers of the lines in the window, oldest first."""
        self.rows: dict[int, TailLine] = {}
        self._strips: LRUCache[tuple[int, int, bool], Strip] = LRUCache(maxsize=2000)
        self.following = True
        self.attached = True
        """The window ends at the newest line the poller has delivered."""
        self.waiting = 0
        self.cursor: int | None = None
        self.start_reached = False
        self.older_from = 0
        """The seq to read the next older page before (≤ 1: nothing older)."""
        self.loading_older = False
        self.loading_newer = False
        self.gen = 0
        self._width = 0

    # --- the window ----------------------------------------------------------------------

    def reset(self, gen: int, page: Page, *, attached: bool = True) -> None:
        """A new window (first screen, a new filter, End after letting go of the head)."""
        self.gen = gen
        self.seqs = array("q", (line.seq for line in page.lines))
        self.rows = {line.seq: line for line in page.lines}
        self._strips.clear()
        self.older_from = page.next_before
        self.start_reached = page.next_before <= 1
        self.loading_older = self.loading_newer = False
        self.attached = attached
        self.cursor = None
        self.waiting = 0
        self.following = attached
        self._sized()
        if attached:
            self._to_end()
        else:
            self._scroll(0)
        self.refresh()
        self.post_message(self.Changed())
        if len(self.seqs) < self.scrollable_content_region.height:
            self._want_more()  # a filter matched little in the newest events: look further

    def _sized(self) -> None:
        """Tell the scroll machinery how many lines there are.

        Setting ``virtual_size`` makes Textual lay out the whole screen again; at 500
        events a second that would be most of the tail's cost. Only the scrollbar depends
        on the line count (the view's own box is fixed by the stylesheet), so a change of
        height alone is set quietly and the scrollbar updated.
        """
        size = Size(self.scrollable_content_region.width, len(self.seqs))
        if size == self.virtual_size:
            return
        if size.width != self.virtual_size.width or not self.show_vertical_scrollbar:
            self.virtual_size = size
            return
        self.set_reactive(TailView.virtual_size, size)
        self._scroll_update(size)

    def _to_end(self) -> None:
        self._scroll(self.max_scroll_y)

    def _scroll(self, y: float) -> None:
        # forced: right after the index grows the scrollbar may not be shown yet, and
        # Textual allows no scrolling without one
        self.scroll_to(y=y, animate=False, force=True)

    def append(self, gen: int, lines: list[TailLine]) -> None:
        """New lines from the poller."""
        if gen != self.gen:
            return
        last = self.seqs[-1] if self.seqs else 0
        fresh = [line for line in lines if line.seq > last]
        if not fresh:
            return
        if not self.following:
            self.waiting += len(fresh)
        if not self.attached:
            self.post_message(self.Changed())
            return
        if not self.following and len(self.seqs) + len(fresh) > MAX_WINDOW:
            self.attached = False  # the reader is reading back: keep their lines still
            self.post_message(self.Changed())
            return
        for line in fresh:
            self.seqs.append(line.seq)
            self.rows[line.seq] = line
        if self.following:
            self._trim_top(len(self.seqs) - MAX_WINDOW)
        self._sized()
        if self.following:
            self._to_end()
            self.refresh()
        else:
            self._refresh_if_visible(len(self.seqs) - len(fresh))
        self.post_message(self.Changed())

    def _refresh_if_visible(self, first_new: int) -> None:
        top = int(self.scroll_y)
        if first_new < top + self.scrollable_content_region.height:
            self.refresh()
        else:
            self.refresh_scrollbars_only()

    def refresh_scrollbars_only(self) -> None:
        self._refresh_scrollbars()

    def _trim_top(self, n: int) -> None:
        if n <= 0:
            return
        for seq in self.seqs[:n]:
            self.rows.pop(seq, None)
        del self.seqs[:n]
        self.older_from = self.seqs[0]  # what was let go is read again by seq when needed
        self.start_reached = False
        if self.cursor is not None:
            self.cursor = max(0, self.cursor - n)

    def _trim_bottom(self, n: int) -> None:
        if n <= 0:
            return
        for seq in self.seqs[-n:]:
            self.rows.pop(seq, None)
        del self.seqs[-n:]
        self.attached = False
        if self.cursor is not None:
            self.cursor = min(self.cursor, len(self.seqs) - 1)

    def prepend(self, gen: int, page: Page) -> None:
        """An older page arrived (scrolling back)."""
        self.loading_older = False
        if gen != self.gen:
            return
        first = self.seqs[0] if self.seqs else None
        lines = [ln for ln in page.lines if first is None or ln.seq < first]
        self.older_from = page.next_before
        self.start_reached = page.next_before <= 1
        if lines:
            self.seqs[:0] = array("q", (ln.seq for ln in lines))
            for line in lines:
                self.rows[line.seq] = line
            if self.cursor is not None:
                self.cursor += len(lines)
            self._trim_bottom(len(self.seqs) - MAX_WINDOW)
            self._sized()
            self._scroll(self.scroll_y + len(lines))
        self.refresh()
        self.post_message(self.Changed())
        if not lines or len(self.seqs) < self.scrollable_content_region.height:
            self._want_more()  # a rare filter: go on looking back until the screen is full

    def extend(self, gen: int, lines: list[TailLine], covered: int, head_reached: bool) -> None:
        """A newer page arrived (scrolling down a window that let go of the head)."""
        self.loading_newer = False
        if gen != self.gen:
            return
        last = self.seqs[-1] if self.seqs else 0
        fresh = [ln for ln in lines if ln.seq > last]
        for line in fresh:
            self.seqs.append(line.seq)
            self.rows[line.seq] = line
        over = len(self.seqs) - MAX_WINDOW
        if over > 0:
            self._trim_top(over)
            self._scroll(max(0, self.scroll_y - over))
        if head_reached:
            self.attached = True
        self._sized()
        self.refresh()
        self.post_message(self.Changed())

    # --- rendering -----------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        self._width = self.scrollable_content_region.width  # once a paint, not once a line
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self._width
        index = int(self.scroll_y) + y
        if index >= len(self.seqs) or index < 0:
            if index == -1 or (not self.seqs and y == 0):
                return Strip([Segment(START_REACHED if self.start_reached else "", _DIM)]
                             ).adjust_cell_length(width)
            return Strip.blank(width, self.rich_style)
        seq = self.seqs[index]
        key = (seq, width, index == self.cursor)
        strip = self._strips.get(key)
        if strip is None:
            strip = render_tail_line(self.rows[seq], width, index == self.cursor)
            self._strips[key] = strip
        return strip

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self._sized()
        if self.following:
            self._to_end()

    # --- moving ----------------------------------------------------------------------------

    def pause(self) -> None:
        if self.following:
            self.following = False
            self.waiting = 0
            self.post_message(self.Changed())

    def ensure_cursor_visible(self) -> None:
        self._ensure_visible()

    def _ensure_visible(self) -> None:
        if self.cursor is None:
            return
        height = self.scrollable_content_region.height
        top = int(self.scroll_y)
        if self.cursor < top:
            self._scroll(self.cursor)
        elif self.cursor >= top + height:
            self._scroll(self.cursor - height + 1)

    def _move_cursor(self, to: int) -> None:
        if not self.seqs:
            return
        old = self.cursor
        self.cursor = max(0, min(len(self.seqs) - 1, to))
        self._ensure_visible()
        for index in (old, self.cursor):
            if index is not None:
                self.refresh_line(index)
        if old != self.cursor:
            self.post_message(self.Moved(self.seqs[self.cursor]))
        self._want_more()

    def action_cursor(self, step: int) -> None:
        if self.following:
            if step > 0:
                return
            self.pause()
            self._move_cursor(len(self.seqs) - 1)
            return
        if step > 0 and self.cursor == len(self.seqs) - 1 and self.attached:
            self.action_newest()
            return
        base = self.cursor if self.cursor is not None else len(self.seqs) - 1
        self._move_cursor(base + step)

    def action_page(self, step: int) -> None:
        height = max(1, self.scrollable_content_region.height - 1)
        if step < 0:
            self.pause()
        elif self.following:
            return
        base = self.cursor if self.cursor is not None else len(self.seqs) - 1
        self._scroll(self.scroll_y + step * height)
        self._move_cursor(base + step * height)

    def action_oldest(self) -> None:
        """The start of the trail (under the filter): a window read from seq 1."""
        self.pause()
        self.post_message(self.Want(0, 0))

    def action_newest(self) -> None:
        if self.attached:
            self.following = True
            self.waiting = 0
            old, self.cursor = self.cursor, None
            if old is not None:
                self.refresh_line(old)
            self._to_end()
            self.refresh()
            self.post_message(self.Changed())
        else:
            self.post_message(self.Want(2, 0))  # a fresh window at the head

    def action_detail(self) -> None:
        if not self.seqs:
            return
        if self.cursor is None:
            self.pause()
            self._move_cursor(len(self.seqs) - 1)
        assert self.cursor is not None
        self.post_message(self.Chosen(self.seqs[self.cursor]))

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.pause()
        super()._on_mouse_scroll_up(event)
        self._want_more()

    def _on_scroll_to(self, message: ScrollTo) -> None:
        """The scrollbar dragged: away from the end it pauses, as any scroll up does."""
        if message.y is not None and message.y < self.max_scroll_y:
            self.pause()
        super()._on_scroll_to(message)

    def _on_scroll_up(self, event: ScrollUp) -> None:
        self.pause()
        super()._on_scroll_up(event)

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        super()._on_mouse_scroll_down(event)
        self._want_more()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if not self.following:
            self._want_more()

    def _want_more(self) -> None:
        """Ask for a page when the visible part nears an edge of the window (or the window
        is empty while a rare filter has not yet looked back to the start)."""
        top = int(self.scroll_y)
        if ((top < NEAR_EDGE or not self.seqs) and not self.start_reached
                and not self.loading_older):
            self.loading_older = True
            self.post_message(self.Want(-1, self.older_from))
        if not self.seqs:
            return
        bottom = top + self.scrollable_content_region.height
        if (not self.attached and not self.loading_newer
                and bottom > len(self.seqs) - NEAR_EDGE):
            self.loading_newer = True
            self.post_message(self.Want(1, self.seqs[-1]))
