"""The 棚卸し's acts by a person: start a campaign, decide a line (keep or revoke).

Each is one act of the gate (``services.gate``): the permission (and, to revoke, a
recent password) read inside its transaction, the ``access.inventory.*`` event in it,
every refusal recorded once with its reason word and message (``Refusal.saying``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from auth.identity import Identity
from auth.roles import Perm
from core.clock import aware, now
from core.db import Database
from core.errors import BadInput, NotFound
from core.freetext import field_text
from core.settings import Settings
from services import gate
from services.gate import Who
from services.jp.office_days import office_day
from services.jp.wareki import format_wareki
from services.personnel.inventory.snapshot import check_thresholds, snapshot
from services.personnel.inventory.tables import CAMPAIGN_C as _C
from services.personnel.inventory.tables import CAMPAIGNS as _CAMPAIGNS
from services.personnel.inventory.tables import LINE_C as _L
from services.personnel.inventory.tables import LINES as _LINES
from services.personnel.inventory.views import (
    CampaignSummary,
    LineView,
    get_campaign,
    joined,
    line_view,
    open_campaign,
    split,
)
from services.personnel.inventory_models import (
    DECISION_LABELS,
    DECISIONS,
    FLAG_LABELS,
    OPEN,
    REVOKE,
)
from services.personnel.rights import end_sessions, strip_roles

START = "access.inventory.start"
COMMENT_MAX = 500
STILL_OPEN = "棚卸し #{id}（期限 {deadline}）が実施中です。締めてから新しい棚卸しを始めてください。"


_no = gate.Refusal.saying


def _busy(row: Any) -> gate.Refusal:
    return _no(STILL_OPEN.format(id=row.id, deadline=format_wareki(row.deadline)),
               "open_campaign")


# --- start ------------------------------------------------------------------------------


def start_campaign(db: Database, settings: Settings, who: Who, *, deadline: date,
                   at: datetime | None = None) -> CampaignSummary:
    """Start a 棚卸し: snapshot every account, flag it, assign its reviewer; recorded.

    ``at`` is the snapshot time (default: now), for tests. BadInput for a deadline before
    the snapshot's office day; Refused while another campaign is open.
    """
    at = aware(at or now())
    day = office_day(at)

    def raced(exc: Exception) -> gate.Refusal | None:
        """Another start won the one open slot just now (the partial unique index)."""
        if not isinstance(exc, IntegrityError):
            return None
        with db.read() as s:
            busy = open_campaign(s.connection())
        return _busy(busy) if busy is not None else _no(
            "棚卸しを開始できませんでした。もう一度実行してください。", "open_campaign")

    with gate.act(db, who, START, perm=Perm.ACCESS_ADMIN, what="棚卸しの開始",
                  target="inventory", translate=raced) as a:
        try:
            days, months = check_thresholds(settings)
            if deadline < day:
                raise BadInput(f"期限: {format_wareki(deadline)} は過ぎています。"
                               f"今日（{format_wareki(day)}）以降の日付を指定してください。")
        except BadInput as exc:
            raise _no(exc.message, "bad_input", error=BadInput) from None
        conn = a.s.connection()
        busy = open_campaign(conn)
        if busy is not None:
            raise _busy(busy)
        campaign_id = int(conn.execute(_CAMPAIGNS.insert().values(
            state=OPEN, deadline=deadline, started_by=a.actor.login,
            started_user=a.actor.user_id, started_at=at, snapshot_on=day,
            dormant_days=days, training_months=months, lines=0, closed_by="",
            revoke_undecided=False, suspend_untrained=False,
        ).returning(_C.id)).scalar_one())
        lines = snapshot(conn, at, days, months)
        if lines:
            conn.execute(_LINES.insert(), [{**ln, "campaign_id": campaign_id} for ln in lines])
        conn.execute(update(_CAMPAIGNS).where(_C.id == campaign_id).values(lines=len(lines)))
        counts = {f: sum(1 for ln in lines if ln[f"flag_{f}"]) for f in FLAG_LABELS}
        a.record(target=f"inventory:{campaign_id}", details={
            "campaign": campaign_id, "deadline": deadline.isoformat(),
            "snapshot_on": day.isoformat(), "lines": len(lines),
            "flagged": sum(1 for ln in lines if any(ln[f"flag_{f}"] for f in FLAG_LABELS)),
            **{f"flag_{f}": n for f, n in counts.items()},
            "dormant_days": days, "training_months": months,
            "unassigned": sum(1 for ln in lines if not ln["reviewer_login"]),
        })
    return get_campaign(db, a.actor, campaign_id)


# --- decide -----------------------------------------------------------------------------


def decide(db: Database, ident: Identity, line_id: int, decision: str,
           comment: str = "", settings: Settings | None = None) -> LineView:
    """Keep or revoke one account's rights (see the package docstring); recorded.

    Refused without ACCESS_CONFIRM, for the reviewer's own account, on a closed campaign,
    and when the line was decided already (also when another reviewer decided it at the
    same moment: the first decision stands). Revoking is a sensitive act: the password
    must be recent (``auth.stepup``).
    """
    action = f"access.inventory.{decision if decision in DECISIONS else 'decide'}"
    with gate.act(db, ident, action, perm=Perm.ACCESS_CONFIRM, what="棚卸しの判定",
                  target=f"inventory_line:{line_id}", step_up=decision == REVOKE,
                  settings=settings) as a:
        try:
            if decision not in DECISIONS:
                raise BadInput("判定: 継続 (keep) か削除 (revoke) を選んでください。")
            comment = field_text("コメント", comment, limit=COMMENT_MAX)
        except BadInput as exc:
            raise _no(exc.message, "bad_input", error=BadInput) from None
        _decide(a, ident, line_id, decision, comment)
    with db.read() as s:
        return line_view(s.connection().execute(
            select(_LINES).where(_L.id == line_id)).mappings().one())


def _decide(a: gate.Act, ident: Identity, line_id: int, decision: str, comment: str) -> None:
    conn = a.s.connection()
    line = conn.execute(
        select(_LINES, _C.state.label("campaign_state"))
        .select_from(_LINES.join(_CAMPAIGNS, _C.id == _L.campaign_id))
        .where(_L.id == line_id)
    ).mappings().first()
    if line is None:
        raise _no(f"棚卸しの行 #{line_id} はありません。", "not_found", error=NotFound)
    if line["user_id"] == ident.user_id:
        raise _no("自分自身のアカウントは判定できません。別の確認者に依頼してください。",
                  "self_review")
    closed = f"棚卸し #{line['campaign_id']} は締め済みのため判定できません。"
    if line["campaign_state"] != OPEN or line["close_action"]:
        raise _no(closed, "closed")
    if line["decision"]:
        raise _no(_already(line), "already_decided")
    won = conn.execute(
        update(_LINES).where(_L.id == line_id, _L.decision == "", _L.close_action == "")
        .values(decision=decision, decided_by=ident.login, decided_user=ident.user_id,
                decided_at=now(), comment=comment)
    ).rowcount
    if not won:  # another reviewer (or the closing) got there first
        again = conn.execute(select(_LINES).where(_L.id == line_id)).mappings().one()
        if again["decision"]:
            raise _no(_already(again), "already_decided")
        raise _no(closed, "closed")
    removed: tuple[str, ...] = ()
    sessions = 0
    if decision == REVOKE:
        removed = strip_roles(conn, line["user_id"])
        sessions = end_sessions(conn, line["user_id"], "revoked")
        conn.execute(update(_LINES).where(_L.id == line_id)
                     .values(removed_roles=joined(removed)))
    a.record(target=line["login"], severity="warning" if decision == REVOKE else "info",
             details={
                 "campaign": line["campaign_id"], "line": line_id,
                 "user_id": line["user_id"], "roles": list(split(line["roles"])),
                 "removed_roles": list(removed), "sessions_ended": sessions,
                 "flags": [f for f in FLAG_LABELS if line[f"flag_{f}"]],
                 "comment": comment,
             })


def _already(line: Any) -> str:
    label = DECISION_LABELS.get(line["decision"], line["decision"])
    return (f"棚卸しの行 #{line['id']}（{line['login']}）は既に {line['decided_by']} さんが"
            f"「{label}」と判定済みです。")
