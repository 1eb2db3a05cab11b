"""The message line every screen tells the user what happened on, and the refused-password
reaction: apart from ``screens.widgets`` (which re-exports them) so the sign-in screen
paints without the dialogs and tables it does not show (start-up time)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Input, Static

from core.inert import as_text


def message_text(value: object, style: str = "") -> Text:
    """An inert line that may wrap (refusals can be longer than a narrow terminal)."""
    text = as_text(value, style)
    text.no_wrap = False
    return text


class MessageLine(Static):
    """The one place a screen tells the user what happened (refusal, progress, notice)."""

    DEFAULT_CSS = """
    MessageLine { height: auto; min-height: 1; }
    MessageLine.error { color: $error; text-style: bold; }
    MessageLine.info { color: $text-muted; }
    """

    plain: str = ""
    """What the line says now, as plain text (for tests and screen readers)."""

    def show(self, value: object, kind: str = "error") -> None:
        text = message_text(value)
        self.plain = text.plain
        self.set_classes(kind)
        self.update(text)

    def clear(self) -> None:
        self.plain = ""
        self.set_classes("")
        self.update("")


def password_refused(line: MessageLine, field: Input, message: str) -> None:
    """A refused password (sign-in, unlock): say why, empty the field, the cursor in it."""
    line.show(message)
    field.value = ""
    field.focus()
