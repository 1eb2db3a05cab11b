"""How a linkage proposal is worded wherever it shows: the queue, the form, the review,
the record that proposed it.

Kept apart from the form and the review so that the record screen (F2) can say a
proposal was made without loading the linkage screens and services.
"""

from __future__ import annotations

from datetime import timedelta

from rich.text import Text

from core.inert import as_text
from screens.widgets import RESTRICTED_MARK, RESTRICTED_STYLE

SUBMITTED = "申請しました (申請 #{id})。確認待ちの一覧に載りました。"
DIFF_STYLE = "bold black on yellow"
"""A difference between the application and the register (the review, the queue)."""


def age_text(age: timedelta) -> str:
    """How long a proposal has waited, in the largest unit that fits."""
    seconds = max(0, int(age.total_seconds()))
    if seconds >= 86400:
        return f"{seconds // 86400}日"
    if seconds >= 3600:
        return f"{seconds // 3600}時間"
    if seconds >= 60:
        return f"{seconds // 60}分"
    return "1分未満"


def resident_title(name: str, restricted: bool, label: str = "") -> Text:
    """The resident a proposal is about, with the 支援措置 mark (the form, the review)."""
    parts: list[Text | str] = [Text(label, style="bold")] if label else []
    if restricted:
        parts += [Text(RESTRICTED_MARK, style=RESTRICTED_STYLE), " "]
    parts.append(as_text(name, "bold"))
    return Text.assemble(*parts)
