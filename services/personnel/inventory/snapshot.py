"""The 棚卸し's snapshot: every account with its roles and staff record, flagged, with
its assigned reviewer (the rules of each flag and of the assignment are the package's:
``services.personnel.inventory``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from auth.models import User, UserRole
from auth.roles import Perm, permissions_of
from core.clock import aware
from core.db import columns, table
from core.errors import BadInput
from core.settings import Settings
from services.jp.office_days import months_before, office_day
from services.personnel.inventory.views import joined
from services.personnel.models import ACTIVE, CONTRACT_TYPES, Staff

# Core columns of the tables queried below the ORM (one line: names, not logic).
_U, _UR, _S = (columns(t) for t in (
    User, UserRole, Staff))


def line_flags(
    *, at: datetime, created_at: datetime, last_signin_at: datetime | None,
    staff: Any | None, dormant_days: int, training_months: int,
) -> dict[str, bool]:
    """The four flags of an account at ``at`` (see the module docstring for each rule)."""
    day = office_day(at)
    last = aware(last_signin_at or created_at)
    flags = {
        "dormant": at - last >= timedelta(days=dormant_days),
        "contract": False,
        "training": False,
        "unlinked": staff is None,
    }
    if staff is not None:
        end = staff["contract_end"]
        flags["contract"] = staff["employment"] in CONTRACT_TYPES and end is not None \
            and end < day
        flags["training"] = training_overdue(staff["training_on"], day, training_months)
    return flags


def training_overdue(training_on: date | None, day: date, months: int) -> bool:
    """No training recorded, or the last one before the day ``months`` months ago."""
    return training_on is None or training_on < months_before(day, months)


def check_thresholds(settings: Settings) -> tuple[int, int]:
    days, months = int(settings.inventory_dormant_days), int(settings.inventory_training_months)
    if days < 1:
        raise BadInput("設定 inventory_dormant_days: 1 以上の日数にしてください。")
    if months < 1:
        raise BadInput("設定 inventory_training_months: 1 以上の月数にしてください。")
    return days, months


def _reviewers(users: list[Any], roles: dict[int, set[str]],
               staff_of: dict[int, Any]) -> dict[str, list[tuple[str, int]]]:
    """所属 → [(login, user id)] of enabled, serving staff holding ACCESS_CONFIRM, by login."""
    out: dict[str, list[tuple[str, int]]] = {}
    for u in users:
        st = staff_of.get(u.id)
        if u.disabled or st is None or st["status"] != ACTIVE or not st["department"]:
            continue
        if Perm.ACCESS_CONFIRM in permissions_of(tuple(roles.get(u.id, ()))):
            out.setdefault(st["department"], []).append((u.login, u.id))
    for people in out.values():
        people.sort()
    return out


def snapshot(conn: Any, at: datetime, dormant_days: int,
              training_months: int) -> list[dict[str, Any]]:
    """One line (column values, without the campaign) per account, by login."""
    users = conn.execute(
        select(_U.id, _U.login, _U.name, _U.department, _U.disabled, _U.created_at,
               _U.last_signin_at).order_by(_U.login)
    ).all()
    roles: dict[int, set[str]] = {}
    for user_id, role in conn.execute(select(_UR.user_id, _UR.role)):
        roles.setdefault(user_id, set()).add(role)
    staff_of = {
        st["user_id"]: st for st in conn.execute(
            select(table(Staff)).where(_S.user_id.is_not(None))
        ).mappings()
    }
    reviewers = _reviewers(users, roles, staff_of)
    lines = []
    for u in users:
        st = staff_of.get(u.id)
        flags = line_flags(at=at, created_at=u.created_at, last_signin_at=u.last_signin_at,
                           staff=st, dormant_days=dormant_days,
                           training_months=training_months)
        dept = st["department"] if st is not None else u.department
        reviewer = next(((login, uid) for login, uid in reviewers.get(dept, [])
                         if uid != u.id), ("", None))
        lines.append({
            "user_id": u.id, "login": u.login, "account_name": u.name,
            "account_department": u.department, "disabled": bool(u.disabled),
            "roles": joined(roles.get(u.id, ())), "account_created_at": aware(u.created_at),
            "last_signin_at": aware(u.last_signin_at) if u.last_signin_at else None,
            "staff_no": st["staff_no"] if st is not None else "",
            "staff_name": st["name"] if st is not None else "",
            "department": st["department"] if st is not None else "",
            "post": st["post"] if st is not None else "",
            "employment": st["employment"] if st is not None else "",
            "contract_end": st["contract_end"] if st is not None else None,
            "staff_status": st["status"] if st is not None else "",
            "training_on": st["training_on"] if st is not None else None,
            "flag_dormant": flags["dormant"], "flag_contract": flags["contract"],
            "flag_training": flags["training"], "flag_unlinked": flags["unlinked"],
            "reviewer_login": reviewer[0], "reviewer_user": reviewer[1],
            "decision": "", "decided_by": "", "decided_user": None, "decided_at": None,
            "comment": "", "removed_roles": "", "close_action": "", "suspended": False,
        })
    return lines
