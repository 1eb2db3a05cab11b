"""Showing what is normally withheld: the rules the register lookup and the linkage review
share when a person asks to see a My Number in full or a DV等支援措置 record
(docs/domain.md, "DV等支援措置" and "My Number").

Both doors ask the same things — a typed reason on one line, the extra permission for a
restricted resident (refused with severity high), a number shown for a while only — so
they take them from here rather than from each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from auth.roles import Perm
from core.clock import now
from core.freetext import field_text
from core.settings import Settings
from services.gate import Refusal

REASON_MAX = 200
RESTRICTED_REFUSAL = (
    "この住民記録はDV等支援措置の対象です。表示には支援措置担当の権限が必要です。"
    "（この操作は記録されました）"
)


@dataclass(frozen=True)
class Revealed:
    number: str  # the 12 digits, formatted "1234 5678 9012"
    expires_at: datetime  # the screen re-masks at this time (settings.reveal_seconds)


def reason_line(reason: str, what: str) -> str:
    """The typed reason on one line, or BadInput naming 理由."""
    return field_text("理由", reason, limit=REASON_MAX, required=f"{what}理由を入力してください。")


def restricted_refusal() -> Refusal:
    """The refusal (severity high) for a restricted resident without the permission; the
    gate records it under the act's action and target."""
    return Refusal(RESTRICTED_REFUSAL, "permission", severity="high",
                   permission=str(Perm.OPEN_RESTRICTED), restricted=True)


def _spaced(number: str) -> str:
    return f"{number[:4]} {number[4:8]} {number[8:]}"


def shown_for_a_while(number: str, settings: Settings) -> Revealed:
    """A number to show in full until ``settings.reveal_seconds`` from now."""
    return Revealed(
        number=_spaced(number),
        expires_at=now() + timedelta(seconds=float(settings.reveal_seconds)),
    )
