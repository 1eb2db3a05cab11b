"""How a change round (異動処理) is written on both F4 screens, the list and the round.

Apart from the round's screen so that the list opens without loading what a round's
lines need (the apply and confirm services).
"""

from __future__ import annotations

from datetime import date

from services.jp.wareki import format_wareki


def span_text(first: date, last: date) -> str:
    """令和8年4月1日, or 令和8年4月1日〜令和8年4月10日 for a round over several days."""
    a, b = format_wareki(first), format_wareki(last)
    return a if a == b else f"{a}〜{b}"
