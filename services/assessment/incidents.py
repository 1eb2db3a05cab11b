"""Incidents recorded for the assessment; the serious ones (重大事故) move the threshold.

Recorded by the OS operator (CLI) or a signed-in holder of the review or audit
permission; each entry is an audit event (``assess.incident.add``) in the same
transaction. Entries are never edited: a correction is a new entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select

from auth.access import NOT_ALLOWED, current_permissions
from auth.identity import Identity
from auth.roles import Perm
from core.actor import Actor
from core.clock import now
from core.db import Database
from core.errors import BadInput, Refused
from core.freetext import field_text
from logs.audit import record, record_alone
from services.assessment.models import Incident
from services.personnel.inventory import months_before

Who = Identity | Actor
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


def actor_for(db: Database, who: Who, action: str, what: str) -> Actor:
    """The actor to record; a signed-in user needs one of ``PERMS`` now (refusal recorded)."""
    if isinstance(who, Actor):
        return who
    if any(p in current_permissions(db, who) for p in PERMS):
        return who.actor
    record_alone(db, who.actor, action, outcome="refused", severity="warning",
                 details={"reason": "permission", "permission": " | ".join(map(str, PERMS))})
    raise Refused(NOT_ALLOWED.format(what=what))


def add_incident(db: Database, who: Who, *, occurred_on: date, summary: str,
                 serious: bool, today: date | None = None) -> IncidentView:
    summary = field_text("概要 (--summary)", summary, limit=SUMMARY_MAX, multiline=True,
                         required="入力してください。")
    if today is not None and occurred_on > today:
        raise BadInput("発生日 (--date): 未来の日付は記録できません。")
    actor = actor_for(db, who, "assess.incident.add", "事故の記録")
    with db.write() as s:
        row = Incident(occurred_on=occurred_on, summary=summary, serious=serious,
                       recorded_by=actor.login, recorded_at=now())
        s.add(row)
        s.flush()
        record(s, actor, "assess.incident.add", target=f"incident:{row.id}",
               severity="warning" if serious else "info",
               details={"occurred_on": occurred_on.isoformat(), "serious": serious,
                        "summary": summary})
        return _view(row)


def _view(r: Incident) -> IncidentView:
    assert r.id is not None
    return IncidentView(id=r.id, occurred_on=r.occurred_on, summary=r.summary,
                        serious=r.serious, recorded_by=r.recorded_by,
                        recorded_at=r.recorded_at)


def list_incidents(db: Database, who: Who) -> list[IncidentView]:
    actor_for(db, who, "assess.incident.list", "事故の記録の閲覧")
    with db.read() as s:
        rows = s.exec(select(Incident).order_by(
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
