"""Reading the audit trail live (操作ログ監視): the gate, the record of reading, the filter.

Who may read the trail is checked here, live, never by the screen: ``open_tail`` checks
``Perm.AUDIT_READ`` against the database and records the reading as ``audit.read`` with
the filter, in one transaction (or records the refusal). The ``TailReader`` it returns
then polls and pages through ``logs.tail`` for as long as the holder keeps the permission:
it checks again every ``recheck_seconds`` (a revoked role or an ended session stops the
tail within that time, and the refusal is recorded once).

Filter input is what staff type: dates in 西暦 or 和暦 with an optional time, in Japan
time (UTC+9, no daylight saving); a date alone as ``until`` takes in the whole day.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any

from auth.identity import Identity
from auth.roles import Perm
from core.clock import JST, iso
from core.db import Database
from core.errors import BadInput, Refused
from core.freetext import problem
from logs import tail
from logs.audit import OUTCOMES, SEVERITIES
from logs.tail import Page, TailFilter, TailLine
from services import gate
from services.jp.wareki import parse_date

ACTION = "audit.read"
WHAT = "操作ログの閲覧"
RECHECK_SECONDS = 5.0
MAX_BATCH = 2000

FIELD_LABELS = {
    "actor": "職員", "action": "操作", "outcome": "結果", "severity": "重要度",
    "resident": "住民", "since": "開始日時", "until": "終了日時",
}
OUTCOME_LABELS = {"success": "成功", "failure": "失敗", "refused": "拒否", "alert": "警告"}
SEVERITY_LABELS = {"info": "通常", "warning": "注意", "high": "重大"}

_TIME = re.compile(r"^(?P<date>.+?)(?:[ T]+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?)?$")


def _when(raw: str, key: str, *, end: bool) -> str:
    """Typed date[-time] (JST) → audit ts text (UTC). A date alone as an end: next 00:00."""
    m = _TIME.match(raw.strip())
    if m is None:
        raise BadInput(f"{FIELD_LABELS[key]}: 日付を読み取れません ({raw})。")
    day = parse_date(m["date"].strip(), field=FIELD_LABELS[key])
    if m["h"] is None:
        at = datetime.combine(day + timedelta(days=1) if end else day, dtime(0), JST)
    else:
        try:
            at = datetime.combine(day, dtime(int(m["h"]), int(m["m"]), int(m["s"] or 0)), JST)
        except ValueError:
            raise BadInput(f"{FIELD_LABELS[key]}: 時刻が正しくありません ({raw})。") from None
    return iso(at.astimezone(UTC))


def parse_filter(
    *, actor: str = "", action: str = "", outcome: str = "", severity: str = "",
    resident: str = "", since: str = "", until: str = "",
) -> TailFilter:
    """The filter from what was typed; ``BadInput`` names the field that cannot be used."""
    for key, typed in (("actor", actor), ("action", action), ("resident", resident)):
        if why := problem(typed):
            raise BadInput(f"{FIELD_LABELS[key]}: {why}。")
    outcome, severity = outcome.strip(), severity.strip()
    if outcome and outcome not in OUTCOMES:
        raise BadInput(f"{FIELD_LABELS['outcome']}: {outcome} は選べません。")
    if severity and severity not in SEVERITIES:
        raise BadInput(f"{FIELD_LABELS['severity']}: {severity} は選べません。")
    res = resident.strip().removeprefix("resident:")
    if res and not res.isdigit():
        raise BadInput(f"{FIELD_LABELS['resident']}: 住民の番号 (数字) を入れてください。")
    lo = _when(since, "since", end=False) if since.strip() else ""
    hi = _when(until, "until", end=True) if until.strip() else ""
    if lo and hi and hi <= lo:
        raise BadInput(f"{FIELD_LABELS['until']}: 開始日時より後にしてください。")
    return TailFilter(
        actor=actor.strip(), action=action.strip(), outcome=outcome, severity=severity,
        resident=int(res) if res else None, since=lo, until=hi,
    )


@dataclass
class TailReader:
    """Reads for one holder of ``AUDIT_READ`` under one filter (made by ``open_tail``).

    Safe to use from the screen's worker threads; each call may re-check the permission.
    """

    db: Database
    ident: Identity
    filter: TailFilter
    recheck_seconds: float = RECHECK_SECONDS
    _checked: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _lost: Refused | None = None

    def _check(self) -> None:
        with self._lock:
            if self._lost is not None:
                raise self._lost  # refused once and recorded once; no query each poll
            if time.monotonic() - self._checked < self.recheck_seconds:
                return
            try:
                with gate.act(self.db, self.ident, ACTION, perm=Perm.AUDIT_READ, what=WHAT,
                              target="audit_event", write=False):
                    pass  # a read that records only its refusal
            except Refused as lost:
                self._lost = lost
                raise
            self._checked = time.monotonic()

    def head(self) -> int:
        self._check()
        return tail.head(self.db)

    def newer(self, after_seq: int, limit: int = MAX_BATCH) -> tuple[list[TailLine], int]:
        """Lines after ``after_seq`` (what arrived since the last poll), oldest first, and
        the seq to poll after next time (the head read, or the last line when capped)."""
        self._check()
        limit = min(limit, MAX_BATCH)
        top = tail.head(self.db)
        if top <= after_seq:
            return [], after_seq
        return tail.after(self.db, after_seq, limit, self.filter, upto=top)

    def older(self, before_seq: int, limit: int = 200) -> Page:
        """A page of lines before ``before_seq`` (scrolling back), in seq order."""
        self._check()
        return tail.before(self.db, before_seq, min(limit, MAX_BATCH), self.filter)

    def event(self, seq: int) -> dict[str, Any] | None:
        """The whole event for the detail pane."""
        self._check()
        return tail.event(self.db, seq)


def open_tail(
    db: Database, ident: Identity, flt: TailFilter | None = None, *, reason: str = "open",
    recheck_seconds: float = RECHECK_SECONDS,
) -> TailReader:
    """Check ``AUDIT_READ`` now and record the reading (``reason``: open / filter)."""
    flt = flt or TailFilter()
    with gate.act(db, ident, ACTION, perm=Perm.AUDIT_READ, what=WHAT,
                  target="audit_event") as a:
        a.record(details={"view": "tail", "reason": reason, "filter": flt.as_details()})
    return TailReader(db, ident, flt, recheck_seconds)


__all__ = [
    "ACTION", "MAX_BATCH", "OUTCOME_LABELS", "SEVERITY_LABELS", "TailReader", "open_tail",
    "parse_filter",
]
