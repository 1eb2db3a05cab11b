"""Make untrusted text inert before it is shown (docs/architecture.md rule 7).

Names, addresses, CSV cells and log fields can carry terminal escape sequences, bidi
overrides that reorder what a clerk reads, or Textual markup such as
``[@click=app.quit]``. ``clean`` removes the invisible and dangerous characters;
``as_text`` wraps the result in a ``rich.text.Text`` (never parsed as markup);
``as_markup`` escapes it for the rare place that must embed it in markup.
Ideographic variation selectors (U+E0100–U+E01EF) and other Japanese text pass through.

JSON that is printed or written to a file (``audit tail --json``, exports, the JSON-lines
copy) keeps every character, so it cannot drop them: ``dumps`` writes them as ``\\uXXXX``
escapes instead — inert on a terminal, one line for any reader, exact for ``json.loads``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

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


# What ``dumps`` escapes: controls (C0, DEL, C1), format characters (bidi controls,
# zero-width, soft hyphen, tags), lone surrogates, and the line and paragraph separators.
_JSON_ESCAPED = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))


def _escape(ch: str) -> str:
    code = ord(ch)
    if code > 0xFFFF:  # a tag character: a surrogate pair, as JSON writes it
        code -= 0x10000
        return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def dumps(value: Any, *, sort_keys: bool = False,
          separators: tuple[str, str] | None = None, default: Any = None) -> str:
    """``json.dumps`` on one line with Japanese kept readable, but every control, bidi,
    zero-width and line-separator character escaped as ``\\uXXXX`` (lossless)."""
    import json  # on use: the console's first paint needs no JSON (start-up time)

    text = json.dumps(value, ensure_ascii=False, sort_keys=sort_keys,
                      separators=separators, default=default)
    if text.isprintable():  # the usual line: nothing to escape (also a fast path)
        return text
    # Outside strings json writes only ASCII punctuation and spaces, so every character
    # matched here is inside a string, where an escape means the same character.
    return "".join(
        _escape(ch) if not ch.isprintable() and unicodedata.category(ch) in _JSON_ESCAPED
        else ch for ch in text
    )


def is_inert(value: str) -> bool:
    return _STRIP.search(value) is None


def has_variation_selector(value: str) -> bool:
    return any(0xE0100 <= ord(ch) <= 0xE01EF for ch in value)


__all__ = [
    "as_markup", "as_text", "clean", "clean_line", "dumps", "has_variation_selector", "is_inert",
]
