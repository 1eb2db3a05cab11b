"""A My Number shown in full for a while, then masked again (the record and the review).

The service decides and records the reveal and says until when (``Revealed``); the
screen counts down, masks at that time, and masks at once when it is covered (the idle
lock, the palette, another screen), so a number is never left painted underneath.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.timer import Timer

from core.clock import aware, now
from core.inert import as_text
from screens.widgets import ReasonDialog
from screens.workspace import WorkspaceScreen
from services.disclosure import Revealed

REMASKED = "個人番号を伏せました。"
REVEALING = "確認しています…"
REVEAL_TITLE = "個人番号の表示"
REVEAL_TICK = 0.25  # how often the countdown is redrawn (seconds)


class TimedReveal(WorkspaceScreen[None]):
    """A workspace screen that shows one number; it repaints the number's line in
    ``number_changed``."""

    revealed: Revealed | None = None
    """The number on screen now; None while masked."""
    _reveal_timer: Timer | None = None

    def number_changed(self) -> None:
        """Repaint the line that shows the number (masked or revealed)."""
        raise NotImplementedError

    def ask_reveal(self, prompt: str, reveal: Callable[[str], object]) -> None:
        """Ask the reason, then ``reveal(reason)`` (a worker that calls the service)."""

        def chosen(reason: str | None) -> None:
            if reason is None:
                self.say("", "info")
                return
            self.say(REVEALING, "info")
            reveal(reason)

        self.app.push_screen(ReasonDialog(REVEAL_TITLE, prompt, ok_label="表示する"), chosen)

    def revealed_text(self) -> Text | None:
        """The number with its countdown while shown; None while masked."""
        shown = self.revealed
        if shown is None:
            return None
        left = max(0, int((aware(shown.expires_at) - now()).total_seconds() + 0.999))
        return Text.assemble(
            as_text(shown.number, "bold reverse"), (f"   あと{left}秒で伏せます", "yellow"),
        )

    def show_revealed(self, shown: Revealed) -> None:
        if self.app.screen is not self:  # covered meanwhile
            return
        self.say("", "info")
        self.revealed = shown
        self._stop_timer()
        self._reveal_timer = self.set_interval(REVEAL_TICK, self._tick)
        self._tick()

    def _tick(self) -> None:
        shown = self.revealed
        if shown is None or aware(shown.expires_at) <= now():
            self.mask()
            return
        self.number_changed()

    def mask(self, *, quiet: bool = False) -> None:
        self._stop_timer()
        was_shown = self.revealed is not None
        self.revealed = None
        self.number_changed()
        if was_shown and not quiet:
            self.say(REMASKED, "info")

    def _stop_timer(self) -> None:
        if self._reveal_timer is not None:
            self._reveal_timer.stop()
            self._reveal_timer = None

    def on_screen_suspend(self, event: events.ScreenSuspend) -> None:
        """Covered (lock, palette, another record): the number goes away at once."""
        if self.revealed is not None:
            self.mask()
