"""The counts the threshold judgment rests on, at a stated date (docs/domain.md §13).

* **対象人数**: everyone recorded in the register files at the end of the date (Japan
  time): a person is in the files from their 住民となった年月日 on, and stays there after
  消除 (removed records are kept, docs/domain.md §2). Both parts are given: residents on the
  date, and removed records still held.
* **取扱者数**: accounts with rights over the files at the date — enabled accounts that
  hold a role carrying a register permission (``REGISTER_PERMS``), contractors (委託先)
  included; the staff registry tells staff from contractors. For today the account
  tables are read as they are. For a past date the state is rebuilt from today's by
  undoing, newest first, the changes the audit trail records after that date (accounts
  made, rights granted / revoked, accounts disabled / enabled, 棚卸し revocations and
  suspensions). A change made outside these services (a direct database edit) is not in
  the trail and cannot be undone: ``HandlerCount.rebuilt`` says the figure was rebuilt.
* **重大事故**: serious incidents recorded (``services.assessment.incidents``) in the
  year ending on the date.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select

from auth.models import User, UserRole
from auth.roles import Perm, permissions_of
from core.clock import aware, iso
from core.db import Database, columns
from logs.audit import AuditEvent
from services.personnel.models import Staff
from services.register.models import Resident
from services.reports.output import day_bounds

# Permissions that reach the register files' contents: their holders handle the files.
REGISTER_PERMS = frozenset({
    Perm.LOOKUP, Perm.LOOKUP_MY_NUMBER, Perm.REVEAL_MY_NUMBER, Perm.OPEN_RESTRICTED,
    Perm.LINK_PROPOSE, Perm.LINK_REVIEW,
})
CONTRACTOR = "委託先"
# Audit actions whose effect on accounts and roles ``count_handlers`` undoes.
REPLAYED = (
    "user.add", "user.disable", "access.grant", "access.revoke", "access.disable",
    "access.enable", "access.inventory.revoke", "access.inventory.revoke_undecided",
    "access.inventory.suspend",
)

# Core columns of the tables queried below the ORM (one line: names, not logic).
_R, _U, _UR, _S, _A = (columns(t) for t in (
    Resident, User, UserRole, Staff, AuditEvent))


@dataclass(frozen=True)
class PeopleCount:
    as_of: date
    residents: int  # 住民 on the date
    removed: int  # 消除 on or before the date, record kept

    @property
    def total(self) -> int:
        return self.residents + self.removed


@dataclass(frozen=True)
class HandlerCount:
    as_of: date
    total: int
    staff: int  # linked to a staff record that is not a contractor's
    contractors: int  # 委託先
    unlinked: int  # no staff record
    rebuilt: bool  # a past date: rebuilt from the audit trail


def end_of(day: date) -> datetime:
    """The first instant after ``day`` (Japan time), in UTC."""
    return day_bounds(day, day)[1]


def count_people(db: Database, as_of: date) -> PeopleCount:
    """対象人数 at the end of ``as_of`` (see the module docstring)."""
    held = _R.became_resident_on <= as_of
    removed = and_(_R.removed_on.is_not(None), _R.removed_on <= as_of)
    with db.read() as s:
        conn = s.connection()
        total = conn.execute(select(func.count()).where(held)).scalar_one()
        gone = conn.execute(select(func.count()).where(held, removed)).scalar_one()
    return PeopleCount(as_of=as_of, residents=total - gone, removed=gone)


def _roles_of(details: dict[str, Any]) -> Iterable[str]:
    if details.get("role"):
        return (str(details["role"]),)
    return tuple(str(r) for r in details.get("removed_roles") or details.get("roles") or ())


def _undo(ev: Any, users: dict[str, dict[str, Any]]) -> None:
    """Undo one recorded change on the in-memory accounts (login → state)."""
    user = users.get(ev["target"])
    if user is None:
        return
    details = json.loads(ev["details"] or "{}")
    action = ev["action"]
    if action == "user.add":
        user["exists"] = False
    elif action in ("user.disable", "access.disable"):
        user["disabled"] = False
    elif action == "access.enable":
        user["disabled"] = True
    elif action == "access.grant":
        user["roles"] -= set(_roles_of(details))
    else:  # a revocation of some kind: the roles were held before it
        user["roles"] |= set(_roles_of(details))


def count_handlers(db: Database, as_of: date, *, today: date | None = None) -> HandlerCount:
    """取扱者数 at the end of ``as_of`` (see the module docstring)."""
    bound = end_of(as_of)
    with db.read() as s:
        conn = s.connection()
        users: dict[str, dict[str, Any]] = {
            r.login: {"id": r.id, "disabled": bool(r.disabled), "roles": set(),
                      "exists": aware(r.created_at) < bound}
            for r in conn.execute(select(_U.id, _U.login, _U.disabled, _U.created_at))
        }
        by_id = {u["id"]: u for u in users.values()}
        for uid, role in conn.execute(select(_UR.user_id, _UR.role)):
            if uid in by_id:
                by_id[uid]["roles"].add(role)
        rebuilt = today is None or as_of < today
        if rebuilt:
            events = conn.execute(
                select(_A.action, _A.target, _A.details)
                .where(_A.ts >= iso(bound), _A.outcome == "success", _A.action.in_(REPLAYED))
                .order_by(_A.seq.desc())
            ).mappings()
            for ev in events:
                _undo(ev, users)
        employment: dict[int, str] = {r[0]: r[1] for r in conn.execute(
            select(_S.user_id, _S.employment).where(_S.user_id.is_not(None)))}
    handlers = [
        u for u in users.values()
        if u["exists"] and not u["disabled"] and permissions_of(u["roles"]) & REGISTER_PERMS
    ]
    contractors = sum(1 for u in handlers if employment.get(u["id"]) == CONTRACTOR)
    unlinked = sum(1 for u in handlers if u["id"] not in employment)
    return HandlerCount(as_of=as_of, total=len(handlers),
                        staff=len(handlers) - contractors - unlinked,
                        contractors=contractors, unlinked=unlinked, rebuilt=rebuilt)


