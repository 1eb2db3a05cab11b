"""Incidents recorded for the assessment; the serious ones (重大事故) move the threshold.

Recorded by the OS operator (CLI) or a signed-in holder of the review or audit
permission; each entry is an audit event (``assess.incident.add``) in the same
transaction. Entries are never edited: a correction is a new entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select

from auth.roles import Perm
from core.clock import now
from core.db import Database
from core.errors import BadInput
from core.freetext import field_text
from services import gate
from services.assessment.models import Incident
from services.gate import Who
from services.jp.office_days import months_before

PERMS = (Perm.ACCESS_CONFIRM, Perm.AUDIT_READ, Perm.ACCESS_ADMIN)
SUMMARY_MAX = 500


@dataclass(frozen=True)
class IncidentView:
    id: int
    occurred_on: date
    summary: str
    serious: bool
    recorded_by: str
    recorded_at: datetime

    @property
    def kind_label(self) -> str:
        return "重大事故" if self.serious else "事故"


def add_incident(db: Database, who: Who, *, occurred_on: date, summary: str,
                 serious: bool, today: date | None = None) -> IncidentView:
    summary = field_text("概要 (--summary)", summary, limit=SUMMARY_MAX, multiline=True,
                         required="入力してください。")
    if today is not None and occurred_on > today:
        raise BadInput("発生日 (--date): 未来の日付は記録できません。")
    with gate.act(db, who, "assess.incident.add", perm=PERMS, what="事故の記録") as a:
        row = Incident(occurred_on=occurred_on, summary=summary, serious=serious,
                       recorded_by=a.actor.login, recorded_at=now())
        a.s.add(row)
        a.s.flush()
        a.record(target=f"incident:{row.id}", severity="warning" if serious else "info",
                 details={"occurred_on": occurred_on.isoformat(), "serious": serious,
                          "summary": summary})
        view = _view(row)
    return view


def _view(r: Incident) -> IncidentView:
    assert r.id is not None
    return IncidentView(id=r.id, occurred_on=r.occurred_on, summary=r.summary,
                        serious=r.serious, recorded_by=r.recorded_by,
                        recorded_at=r.recorded_at)


def list_incidents(db: Database, who: Who) -> list[IncidentView]:
    with gate.act(db, who, "assess.incident.list", perm=PERMS, what="事故の記録の閲覧",
                  write=False) as a:
        rows = a.s.exec(select(Incident).order_by(
            col(Incident.occurred_on).desc(), col(Incident.id).desc())).all()
        return [_view(r) for r in rows]


def year_start(as_of: date) -> date:
    """The first day of the year ending on ``as_of`` (one year earlier, next day excluded)."""
    return months_before(as_of, 12)


def serious_in_year(db: Database, as_of: date) -> list[IncidentView]:
    """重大事故 that occurred after ``year_start(as_of)`` and on or before ``as_of``."""
    with db.read() as s:
        rows = s.exec(select(Incident).where(
            col(Incident.serious), col(Incident.occurred_on) > year_start(as_of),
            col(Incident.occurred_on) <= as_of,
        ).order_by(col(Incident.occurred_on))).all()
        return [_view(r) for r in rows]
