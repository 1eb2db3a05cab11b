"""異動処理: import a personnel-change file as a round, and read rounds back.

``import_round`` checks the whole file (format, then every row against the registry and
the role policy) before writing anything; a file with any bad row is refused with every
problem named by line and field, and the refusal is recorded. A good file becomes one
round: its rows and the planned rights changes, with the ``hr.import`` event, in one
transaction. Whatever is already due is then applied at once (``apply_due``).

A row dated before a change already applied to the same person would be replayed against
the registry as it stands after that later change, so it is refused naming both dates
unless the operator confirms it (``allow_earlier``, ``juki hr import --allow-earlier``);
the confirmed rows are listed in the ``hr.import`` event.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select

from auth.models import User, UserRole
from auth.roles import Perm
from core.clock import now
from core.db import Database, columns, table
from core.errors import BadInput, NotFound
from core.settings import Settings
from services import gate
from services.gate import Who
from services.jp.wareki import format_wareki
from services.personnel.apply import apply_due
from services.personnel.changefile import ChangeRow, read_changes
from services.personnel.compute import Person, Plan, plan_round
from services.personnel.models import (
    ACTION_LABELS,
    APPLIED,
    PENDING,
    STATE_LABELS,
    VERDICT_LABELS,
    ChangeRound,
    PersonnelChange,
    RightsChange,
    Staff,
)
from services.personnel.policy import load_policy

IMPORT = "hr.import"

# Core columns of the tables queried below the ORM (one line: names, not logic).
_S, _U, _UR, _RC, _PC = (columns(t) for t in (
    Staff, User, UserRole, RightsChange, PersonnelChange))


def staff_snapshot(conn: Any) -> dict[str, Person]:
    """Every staff member with their account's state and roles, for ``plan_round``."""
    roles: dict[int, set[str]] = {}
    for user_id, role in conn.execute(select(_UR.user_id, _UR.role)):
        roles.setdefault(user_id, set()).add(role)
    rows = conn.execute(
        select(_S.staff_no, _S.name, _S.kana, _S.department, _S.post, _S.status, _S.user_id,
               _U.disabled).select_from(table(Staff).outerjoin(
                   table(User), _U.id == _S.user_id))
    )
    return {
        r.staff_no: Person(
            r.staff_no, r.name, r.department, r.post, r.status,
            has_account=r.user_id is not None,
            account_enabled=r.user_id is not None and not r.disabled,
            roles=frozenset(roles.get(r.user_id, ())) if r.user_id is not None else frozenset(),
            kana=r.kana,
        )
        for r in rows
    }


@dataclass(frozen=True)
class Imported:
    round_id: int
    rows: int
    people: int
    revokes: int
    grants: int
    applied_now: int


def import_round(
    db: Database, settings: Settings, who: Who, *, name: str, data: bytes,
    today: date | None = None, allow_earlier: bool = False,
) -> Imported:
    """Check ``data`` whole, then write the round; see the module docstring.

    ``allow_earlier``: the operator confirms rows dated before a change already applied
    to the same person (recorded in the event); without it such rows are refused."""
    digest = hashlib.sha256(data).hexdigest()
    with gate.act(db, who, IMPORT, perm=Perm.ACCESS_ADMIN, what="異動ファイルの取込",
                  target=name) as a:
        try:
            round_id, rows, plan = _take(a, settings, name, data, digest, allow_earlier)
        except BadInput as exc:
            raise gate.Refusal.of(exc, exc.message[:500], sha256=digest) from None
    applied = apply_due(db, settings, a.actor, today=today)
    counts = Counter(c.action for c in plan.changes)
    return Imported(
        round_id=round_id, rows=len(rows), people=len(plan.people),
        revokes=counts["revoke"] + counts["disable"], grants=counts["grant"] + counts["enable"],
        applied_now=applied.rights,
    )


def _take(a: gate.Act, settings: Settings, name: str, data: bytes, digest: str,
          allow_earlier: bool) -> tuple[int, tuple[ChangeRow, ...], Plan]:
    """Check the file whole against the registry and write the round (the act's body)."""
    policy = load_policy(settings)
    changes = read_changes(data)
    conn = a.s.connection()
    earlier = conn.execute(
        select(columns(ChangeRound).id).where(
            columns(ChangeRound).sha256 == digest)
    ).scalar()
    if earlier is not None:
        raise BadInput(f"異動ファイル: 同じファイルは取込済みです（異動処理 #{earlier}）。")
    plan = plan_round(changes.rows, staff_snapshot(conn), policy)
    before = earlier_than_applied(conn, changes.rows)
    problems = list(plan.problems)
    if not allow_earlier:
        problems = sorted(problems + [_earlier_problem(r, on) for r, on in before],
                          key=lambda text: int(text.split("行目", 1)[0]))
    if problems:
        raise BadInput(
            "異動ファイルが職員台帳と合わないため、何も取り込んでいません: "
            + "。".join(problems[:20]) + "。"
            + (f"（ほか {len(problems) - 20} 件）" if len(problems) > 20 else "")
        )
    confirmed = {"earlier_confirmed": [
        {"line": r.line_no, "staff_no": r.staff_no,
         "effective_on": r.effective_on.isoformat(), "applied_on": on.isoformat()}
        for r, on in before[:50]], "earlier_count": len(before)} if allow_earlier else {}
    round_id = _write(a, name, digest, changes.encoding, changes.rows, plan, confirmed)
    return round_id, changes.rows, plan


def earlier_than_applied(conn: Any, rows: tuple[ChangeRow, ...]) -> list[tuple[ChangeRow, date]]:
    """Rows dated before a change already applied to the same person, each with the
    latest applied 発令日 of that person (only changes after the file's first day count)."""
    first = min(r.effective_on for r in rows)
    latest = dict(conn.execute(
        select(_PC.staff_no, func.max(_PC.effective_on))
        .where(_PC.applied_at.is_not(None), _PC.effective_on > first)
        .group_by(_PC.staff_no)
    ).all())
    return [(r, latest[r.staff_no]) for r in rows
            if r.staff_no in latest and r.effective_on < latest[r.staff_no]]


def _earlier_problem(row: ChangeRow, applied_on: date) -> str:
    return (f"{row.line_no}行目 発令日: {format_wareki(row.effective_on)} は、職員番号 "
            f"{row.staff_no} に適用済みの異動の発令日 {format_wareki(applied_on)} より前です"
            "（意図したものであれば juki hr import --allow-earlier で確認のうえ取り込めます）")


def _write(a: gate.Act, name: str, digest: str, encoding: str, rows: Any, plan: Plan,
           extra: dict[str, Any]) -> int:
    s, conn, actor = a.s, a.s.connection(), a.actor
    days = [r.effective_on for r in rows]
    rnd = ChangeRound(
        source_name=name[:200], sha256=digest, encoding=encoding, rows=len(rows),
        first_on=min(days), last_on=max(days), imported_by=actor.login, imported_at=now(),
    )
    s.add(rnd)
    s.flush()
    assert rnd.id is not None
    pc = table(PersonnelChange)
    conn.execute(insert(pc), [
        {"round_id": rnd.id, "line_no": r.line_no, "effective_on": r.effective_on,
         "staff_no": r.staff_no, "name": r.name, "kind": r.kind,
         "old_department": r.old_department, "new_department": r.new_department,
         "old_post": r.old_post, "new_post": r.new_post, "applied_at": None}
        for r in rows
    ])
    ids: dict[int, int] = {r[0]: r[1] for r in conn.execute(
        select(pc.c.line_no, pc.c.id).where(pc.c.round_id == rnd.id))}
    if plan.changes:
        conn.execute(insert(table(RightsChange)), [
            {"round_id": rnd.id, "change_id": ids[c.line_no], "staff_no": c.staff_no,
             "name": c.name, "effective_on": c.effective_on, "action": c.action,
             "role": c.role, "reason": c.reason, "state": PENDING, "applied_by": "",
             "applied_user": None, "applied_at": None, "note": "", "verdict": "",
             "confirmed_by": "", "confirmed_user": None, "confirmed_at": None, "comment": ""}
            for c in plan.changes
        ])
    counts = Counter(c.action for c in plan.changes)
    a.record(target=f"round:{rnd.id}", details={
        "file": name[:200], "sha256": digest, "encoding": encoding, "rows": len(rows),
        "people": len(plan.people), "changes": dict(sorted(counts.items())), **extra,
    })
    return rnd.id


# --- reading ------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundSummary:
    id: int
    source_name: str
    imported_by: str
    imported_at: datetime
    first_on: date
    last_on: date
    rows: int
    changes: int
    pending: int
    applied: int
    confirmed: int
    disputed: int


@dataclass(frozen=True)
class RightsLine:
    id: int
    round_id: int
    staff_no: str
    name: str
    login: str
    effective_on: date
    action: str
    role: str
    reason: str
    state: str
    applied_by: str
    applied_at: datetime | None
    note: str
    verdict: str
    confirmed_by: str
    confirmed_at: datetime | None
    comment: str

    @property
    def action_label(self) -> str:
        return ACTION_LABELS.get(self.action, self.action)

    @property
    def state_label(self) -> str:
        if self.state == APPLIED and self.verdict:
            return VERDICT_LABELS.get(self.verdict, self.verdict)
        if self.state == APPLIED:
            return "確認待ち"
        return STATE_LABELS.get(self.state, self.state)


def list_rounds(db: Database, limit: int = 200) -> list[RoundSummary]:
    cr = columns(ChangeRound)
    with db.read() as s:
        conn = s.connection()
        rounds = conn.execute(select(table(ChangeRound)).order_by(
            cr.id.desc()).limit(limit)).mappings().all()
        stats: dict[int, Counter[str]] = {}
        for row in conn.execute(
            select(_RC.round_id, _RC.state, _RC.verdict, func.count())
            .group_by(_RC.round_id, _RC.state, _RC.verdict)
        ):
            rid, state, verdict, n = row[0], row[1], row[2], row[3]  # (a Row unpacks untyped)
            c = stats.setdefault(rid, Counter())
            c["changes"] += n
            c[state] += n
            if verdict:
                c[verdict] += n
    return [
        RoundSummary(
            id=r["id"], source_name=r["source_name"], imported_by=r["imported_by"],
            imported_at=r["imported_at"], first_on=r["first_on"], last_on=r["last_on"],
            rows=r["rows"], changes=stats.get(r["id"], Counter())["changes"],
            pending=stats.get(r["id"], Counter())[PENDING],
            applied=stats.get(r["id"], Counter())[APPLIED],
            confirmed=stats.get(r["id"], Counter())["confirmed"],
            disputed=stats.get(r["id"], Counter())["disputed"],
        )
        for r in rounds
    ]


def get_round(db: Database, round_id: int) -> RoundSummary:
    for r in list_rounds(db, limit=1_000_000):
        if r.id == round_id:
            return r
    raise NotFound(f"異動処理 #{round_id} はありません。")


def _lines_query() -> Any:
    return (
        select(table(RightsChange), _U.login)
        .select_from(
            table(RightsChange)
            .outerjoin(table(Staff), _S.staff_no == _RC.staff_no)
            .outerjoin(table(User), _U.id == _S.user_id)
        )
    )


def _line(m: Any) -> RightsLine:
    return RightsLine(
        id=m["id"], round_id=m["round_id"], staff_no=m["staff_no"], name=m["name"],
        login=m["login"] or "", effective_on=m["effective_on"], action=m["action"],
        role=m["role"], reason=m["reason"], state=m["state"], applied_by=m["applied_by"],
        applied_at=m["applied_at"], note=m["note"], verdict=m["verdict"],
        confirmed_by=m["confirmed_by"], confirmed_at=m["confirmed_at"], comment=m["comment"],
    )


def round_lines(db: Database, round_id: int) -> list[RightsLine]:
    """The round's rights changes, by date, person and order of application."""
    with db.read() as s:
        rows = s.connection().execute(
            _lines_query().where(_RC.round_id == round_id).order_by(_RC.id)
        ).mappings().all()
    return [_line(m) for m in rows]


def get_line(db: Database, line_id: int) -> RightsLine:
    with db.read() as s:
        m = s.connection().execute(_lines_query().where(_RC.id == line_id)).mappings().first()
    if m is None:
        raise NotFound(f"権限変更 #{line_id} はありません。")
    return _line(m)
