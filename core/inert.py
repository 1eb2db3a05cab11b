"""Make untrusted text inert before it is shown (DESIGN.md rule 5).

Names, addresses, CSV cells and log fields can carry terminal escape sequences, bidi
overrides that reorder what a clerk reads, or Textual markup such as
``[@click=app.quit]``. ``clean`` removes the invisible and dangerous characters;
``as_text`` wraps the result in a ``rich.text.Text`` (never parsed as markup);
``as_markup`` escapes it for the rare place that must embed it in markup.
Ideographic variation selectors (U+E0100–U+E01EF) and other Japanese text pass through.
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 controls except tab and newline, DEL, C1 controls, bidi embeddings/overrides/
# isolates and marks, the Arabic letter mark, and lone surrogates.
_STRIP = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
)
_NEWLINES = re.compile("[\n\u2028\u2029\x85]")


def clean(value: object) -> str:
    """The value as text, with control characters and bidi controls removed."""
    text = value if isinstance(value, str) else str(value)
    return _STRIP.sub("", text)


def clean_line(value: object) -> str:
    """``clean`` for one-line places (table cells, headers): newlines and tabs become spaces."""
    return _NEWLINES.sub(" ", clean(value)).replace("\t", " ")


def as_text(value: object, style: str = "") -> Text:
    """A ``Text`` cell for tables and labels: shown literally, never parsed as markup."""
    return Text(clean_line(value), style=style, no_wrap=True, end="")


def as_markup(value: object) -> str:
    """Escape for embedding in Textual markup: every '[' is made literal."""
    return clean(value).replace("[", "\\[")


def is_inert(value: str) -> bool:
    return _STRIP.search(value) is None


def has_variation_selector(value: str) -> bool:
    return any(0xE0100 <= ord(ch) <= 0xE01EF for ch in value)


__all__ = ["as_markup", "as_text", "clean", "clean_line", "has_variation_selector", "is_inert"]
