"""Closing a 棚卸し on or after its deadline: the undecided lines reported (and, with
``inventory_revoke_undecided``, revoked), the untrained suspended (with
``inventory_suspend_untrained``); one act of the gate, every revocation its own event.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, func, select, update

from auth.roles import Perm
from core.clock import now
from core.db import Database, columns, table
from core.errors import NotFound
from core.settings import Settings
from services import gate
from services.gate import Who
from services.jp.office_days import office_day
from services.jp.wareki import format_wareki
from services.personnel.inventory.snapshot import training_overdue
from services.personnel.inventory.tables import CAMPAIGN_C as _C
from services.personnel.inventory.tables import CAMPAIGNS as _CAMPAIGNS
from services.personnel.inventory.tables import LINE_C as _L
from services.personnel.inventory.tables import LINES as _LINES
from services.personnel.inventory.views import Closed, joined, line_view, split
from services.personnel.inventory_models import (
    CLOSE_REVOKED,
    CLOSE_UNDECIDED,
    CLOSED,
    KEEP,
    OPEN,
    REVOKE,
)
from services.personnel.models import Staff
from services.personnel.rights import end_many, end_sessions, strip_many, strip_roles

CLOSE = "access.inventory.close"
REVOKE_UNDECIDED = "access.inventory.revoke_undecided"
SUSPEND = "access.inventory.suspend"

_S = columns(Staff)

_no = gate.Refusal.saying


def close_campaign(db: Database, settings: Settings, who: Who, campaign_id: int, *,
                   today: date | None = None) -> Closed:
    """Close a campaign on or after its deadline (see the package docstring); recorded.

    Refused before the deadline and when the campaign is closed already (two closings at
    once: one closes, the other is refused).
    """
    day = today or office_day()
    revoke_undecided = bool(settings.inventory_revoke_undecided)
    suspend = bool(settings.inventory_suspend_untrained)
    with gate.act(db, who, CLOSE, perm=Perm.ACCESS_ADMIN, what="棚卸しの締め",
                  target=f"inventory:{campaign_id}") as a:
        conn = a.s.connection()
        camp = conn.execute(select(_CAMPAIGNS).where(_C.id == campaign_id)).mappings().first()
        if camp is None:
            raise _no(f"棚卸し #{campaign_id} はありません。", "not_found", error=NotFound)
        if camp["state"] != OPEN:
            raise _no(f"棚卸し #{campaign_id} は既に締め済みです。", "closed")
        if day < camp["deadline"]:
            raise _no(f"棚卸し #{campaign_id} は期限（{format_wareki(camp['deadline'])}）"
                      "の前には締められません。", "before_deadline")
        won = conn.execute(
            update(_CAMPAIGNS).where(_C.id == campaign_id, _C.state == OPEN)
            .values(state=CLOSED, closed_by=a.actor.login, closed_user=a.actor.user_id,
                    closed_at=now(), revoke_undecided=revoke_undecided,
                    suspend_untrained=suspend)
        ).rowcount
        if not won:
            raise _no(f"棚卸し #{campaign_id} は既に締め済みです。", "closed")
        conn.execute(
            update(_LINES).where(_L.campaign_id == campaign_id, _L.decision == "",
                                 _L.close_action == "")
            .values(close_action=CLOSE_REVOKED if revoke_undecided else CLOSE_UNDECIDED)
        )
        revoked, sessions = _revoke_undecided(a, campaign_id) if revoke_undecided else (0, 0)
        suspended_ids: list[int] = []
        if suspend:
            suspended_ids, ended = _suspend_untrained(a, camp, day)
            sessions += ended
        undecided = tuple(line_view(m) for m in conn.execute(
            select(_LINES).where(_L.campaign_id == campaign_id, _L.close_action != "")
            .order_by(_L.login)).mappings())
        suspended = tuple(line_view(m) for m in conn.execute(
            select(_LINES).where(_L.id.in_(suspended_ids)).order_by(_L.login)
        ).mappings()) if suspended_ids else ()
        decided = conn.execute(
            select(_L.decision, func.count()).where(_L.campaign_id == campaign_id)
            .group_by(_L.decision)).all()
        tally = {row[0]: int(row[1]) for row in decided}
        a.record(severity="warning" if undecided or suspended else "info", details={
            "campaign": campaign_id, "deadline": camp["deadline"].isoformat(),
            "closed_on": day.isoformat(), "lines": camp["lines"],
            "kept": tally.get(KEEP, 0), "revoked": tally.get(REVOKE, 0),
            "undecided": len(undecided),
            "undecided_logins": [v.login for v in undecided[:200]],
            "revoke_undecided": revoke_undecided, "revoked_undecided": revoked,
            "suspend_untrained": suspend, "suspended": len(suspended),
            "sessions_ended": sessions,
        })
    return Closed(campaign_id, undecided, revoked, suspended, sessions)


def _revoke_undecided(a: gate.Act, campaign_id: int) -> tuple[int, int]:
    """Remove the roles of the accounts whose lines closing found undecided, each its own
    event; the accounts whose roles were removed, the sessions ended."""
    conn = a.s.connection()
    undecided_rows = conn.execute(
        select(_LINES).where(_L.campaign_id == campaign_id, _L.close_action != "")
        .order_by(_L.login)
    ).mappings().all()
    users = [line["user_id"] for line in undecided_rows]
    removed_of = strip_many(conn, users)
    ended_of = end_many(conn, users, "revoked")
    revoked = sum(1 for u in users if removed_of.get(u))
    changed = [{"line_id": line["id"], "removed": joined(removed_of[line["user_id"]])}
               for line in undecided_rows if removed_of.get(line["user_id"])]
    if changed:
        conn.execute(update(_LINES).where(_L.id == bindparam("line_id"))
                     .values(removed_roles=bindparam("removed")), changed)
    for line in undecided_rows:
        removed = removed_of.get(line["user_id"], ())
        a.record(action=REVOKE_UNDECIDED, target=line["login"], severity="warning",
                 details={"campaign": campaign_id, "line": line["id"],
                          "user_id": line["user_id"], "removed_roles": list(removed),
                          "sessions_ended": ended_of.get(line["user_id"], 0)})
    return revoked, sum(ended_of.values())


def _suspend_untrained(a: gate.Act, camp: Any, day: date) -> tuple[list[int], int]:
    """Suspend the roles of the lines flagged for training that are still overdue today
    (training taken during the campaign counts); the line ids suspended, sessions ended."""
    conn = a.s.connection()
    rows = conn.execute(
        select(_L.id, _L.login, _L.user_id, _L.removed_roles, _S.training_on)
        .select_from(_LINES.outerjoin(
            table(Staff), _S.user_id == _L.user_id))
        .where(_L.campaign_id == camp["id"], _L.flag_training)
        .order_by(_L.login)
    ).all()
    done: list[int] = []
    sessions = 0
    for r in rows:
        if not training_overdue(r.training_on, day, camp["training_months"]):
            continue
        removed = strip_roles(conn, r.user_id)
        if not removed:
            continue
        ended = end_sessions(conn, r.user_id, "revoked")
        sessions += ended
        conn.execute(update(_LINES).where(_L.id == r.id).values(
            suspended=True, removed_roles=joined((*split(r.removed_roles), *removed))))
        a.record(action=SUSPEND, target=r.login, severity="warning", details={
            "campaign": camp["id"], "line": r.id, "user_id": r.user_id,
            "training_on": r.training_on.isoformat() if r.training_on else None,
            "training_months": camp["training_months"], "removed_roles": list(removed),
            "sessions_ended": ended,
        })
        done.append(r.id)
    return done, sessions
