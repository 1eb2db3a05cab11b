"""The key line at the bottom of every screen: the keys the screen in front offers now.

It shows what Textual's Footer shows (each offered key and what it does, dimmed when the
binding is disabled, the command palette's key on the right; a click runs the key) as one
line of text drawn from the screen's active bindings when they change. The Footer builds a
widget for every key and builds them all again at each change of focus or screen; in a
console forked by the console server that was a fifth of its CPU up to the home screen
and 1.5 MB of its own memory (bench/ssh counts both per sign-in).
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    """One line, docked at the bottom: `` key description `` for each offered key."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {"keybar--key", "keybar--description"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        text-wrap: nowrap;
        color: $footer-foreground;
        background: $footer-background;
        & > .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--description {
            color: $footer-description-foreground;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._spans: list[tuple[int, int, str, bool]] = []
        """(first cell, end cell, key, enabled) of each key drawn, for a click."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        text_style = self.get_component_rich_style("keybar--description")
        dim = Style(dim=True)
        line = Text(no_wrap=True, overflow="crop")
        spans: list[tuple[int, int, str, bool]] = []
        seen: set[str] = set()
        palette = None
        bindings = self.screen.active_bindings
        for key, active in bindings.items():
            binding = active.binding
            if key == self.app.COMMAND_PALETTE_BINDING and self.app.ENABLE_COMMAND_PALETTE:
                palette = active
                continue
            if not binding.show or binding.action in seen:
                continue  # one key per act, as the Footer shows them
            seen.add(binding.action)
            start = line.cell_len
            extra = Style() if active.enabled else dim
            line.append(f" {self.app.get_key_display(binding)} ", key_style + extra)
            line.append(f"{binding.description} ", text_style + extra)
            spans.append((start, line.cell_len, key, active.enabled))
        if palette is not None:
            label = Text.assemble(
                (f" {self.app.get_key_display(palette.binding)} ", key_style),
                (f"{palette.binding.description or 'コマンド'} ", text_style),
            )
            room = self.size.width - line.cell_len - label.cell_len
            if room > 0:
                line.append(" " * room)
                start = line.cell_len
                line.append_text(label)
                spans.append((start, line.cell_len, palette.binding.key, palette.enabled))
        self._spans = spans
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key, enabled in self._spans:
            if start <= event.x < end:
                if enabled:
                    self.app.simulate_key(key)
                else:
                    self.app.bell()
                return
