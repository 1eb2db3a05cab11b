"""From personnel changes to rights changes: per person, per 発令日, what to revoke and grant.

Pure: the staff as the registry knows them, the role policy and the checked rows in; the
planned rights changes and any row that does not fit the registry out. Each person's rows
are replayed in date order (then file order), so a person who moves out and back within
one round loses the rights on the day out and regains them on the day back; rows of one
person on one day are netted (a revoke and a grant of the same role that day cancel).

What each 異動区分 does to the person:

- 採用: joins 新所属・新職 (not already 在職).
- 転入: moves in to 新所属・新職 from elsewhere in the city (also back after a 転出).
- 転出: moves to 新所属 (新職); 在職 still if the policy gives that 所属 roles here,
  else 転出 — out of this system's users, account disabled.
- 退職: leaves; every right revoked and the account disabled.
- 休職: on leave; the same, until 復職.
- 復職: back from leave to 新所属・新職 (or the 所属・職 held before).

A row must name the person its 職員番号 is: its 氏名 (and 氏名カナ, when given) must be the
registry's after width, space and 異体字 folding (``services.jp``), or the row is refused —
a wrong number would otherwise revoke someone else's rights.

The rights held at the start are the account's roles when it has one (so a role given by
hand is revoked too), else none. Revocations and disablings take effect by mechanism;
grants and enablings wait for an admin (``services.personnel.apply``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from itertools import groupby

from services.jp.kana import readings_match
from services.jp.variants import normalize_name
from services.jp.wareki import format_wareki
from services.personnel.changefile import ChangeRow

# The constants both compute and apply name (a pair of import lists, not of logic).
from services.personnel.models import (
    ACTIVE,
    DISABLE,
    ENABLE,
    GRANT,
    HIRE,
    LEAVE,
    MOVED_OUT,
    ON_LEAVE,
    RETIRE,
    RETIRED,
    RETURN,
    REVOKE,
    TRANSFER_IN,
    TRANSFER_OUT,
)
from services.personnel.policy import RolePolicy


@dataclass(frozen=True)
class Person:
    """A staff member as the round sees them: registry fields and the account's roles."""

    staff_no: str
    name: str
    department: str
    post: str
    status: str
    has_account: bool = False
    account_enabled: bool = False
    roles: frozenset[str] = frozenset()
    kana: str = ""


@dataclass(frozen=True)
class Planned:
    line_no: int  # the row that brought the change (the day's last row for the person)
    staff_no: str
    name: str
    effective_on: date
    action: str
    role: str
    reason: str


@dataclass(frozen=True)
class Plan:
    changes: tuple[Planned, ...]
    problems: tuple[str, ...]
    people: dict[str, Person]  # the state after the round, per staff number touched


def _label(department: str, post: str) -> str:
    return f"{department}・{post}" if post else department or "（なし）"


def _not_them(p: Person, row: ChangeRow) -> str:
    """Why ``row`` is not about ``p`` (氏名, then 氏名カナ when both have one), or ""."""
    where = f"{row.line_no}行目"
    if normalize_name(row.name) != normalize_name(p.name):
        return (f"{where} 氏名: 職員番号 {row.staff_no} は職員台帳では「{p.name}」です"
                f"（「{row.name}」）")
    if row.kana and p.kana and not readings_match(row.kana, p.kana):
        return (f"{where} 氏名カナ: 職員番号 {row.staff_no} は職員台帳では「{p.kana}」です"
                f"（「{row.kana}」）")
    return ""


def _step(p: Person | None, row: ChangeRow, policy: RolePolicy) -> tuple[Person | None, str]:
    """The person after ``row``, or a problem naming the row's line and field."""
    where = f"{row.line_no}行目"
    if p is not None and (problem := _not_them(p, row)):
        return None, problem
    if row.kind == HIRE:
        if p is not None and p.status in (ACTIVE, ON_LEAVE):
            return None, f"{where} 異動区分: 職員番号 {row.staff_no} は既に{p.status}中です（採用）"
        base = p or Person(row.staff_no, row.name, "", "", RETIRED, kana=row.kana)
        return replace(base, name=row.name, department=row.new_department, post=row.new_post,
                       status=ACTIVE), ""
    if p is None:
        return None, f"{where} 職員番号: {row.staff_no} は職員台帳にありません（{row.kind}）"
    if row.old_department and row.old_department != p.department:
        return None, (f"{where} 旧所属: 職員台帳では「{p.department}」です"
                      f"（「{row.old_department}」）")
    if row.old_post and row.old_post != p.post:
        return None, f"{where} 旧職: 職員台帳では「{p.post}」です（「{row.old_post}」）"
    if row.kind == RETURN:
        if p.status != ON_LEAVE:
            return None, f"{where} 異動区分: 職員番号 {row.staff_no} は休職中ではありません（復職）"
        return replace(p, department=row.new_department or p.department,
                       post=row.new_post or p.post, status=ACTIVE), ""
    if row.kind == TRANSFER_IN and p.status == MOVED_OUT:  # back from another department
        return replace(p, department=row.new_department, post=row.new_post, status=ACTIVE), ""
    if p.status != ACTIVE:
        return None, (f"{where} 異動区分: 職員番号 {row.staff_no} は在職中ではありません"
                      f"（{row.kind}）")
    if row.kind == TRANSFER_IN:
        return replace(p, department=row.new_department, post=row.new_post), ""
    if row.kind == TRANSFER_OUT:
        moved = replace(p, department=row.new_department, post=row.new_post or p.post)
        if not policy.roles_for(moved.department, moved.post):
            moved = replace(moved, status=MOVED_OUT)
        return moved, ""
    if row.kind == RETIRE:
        return replace(p, status=RETIRED), ""
    if row.kind == LEAVE:
        return replace(p, status=ON_LEAVE), ""
    return None, f"{where} 異動区分: 「{row.kind}」は使えません"  # unreachable: rows are checked


def _should_hold(p: Person, policy: RolePolicy) -> frozenset[str]:
    return policy.roles_for(p.department, p.post) if p.status == ACTIVE else frozenset()


def _reason(day: date, rows: list[ChangeRow], before: Person | None, after: Person) -> str:
    kinds = "・".join(dict.fromkeys(r.kind for r in rows))
    was = _label(before.department, before.post) if before else "（新規）"
    now = _label(after.department, after.post)
    move = f"{was} → {now}" if was != now else now
    return f"{kinds}（{format_wareki(day)}）{move}"[:200]


def plan_round(
    rows: Iterable[ChangeRow], staff: dict[str, Person], policy: RolePolicy
) -> Plan:
    """The rights changes a checked file brings, and every row the registry contradicts."""
    ordered = sorted(rows, key=lambda r: (r.staff_no, r.effective_on, r.line_no))
    changes: list[Planned] = []
    problems: list[str] = []
    people: dict[str, Person] = {}
    for staff_no, mine in groupby(ordered, key=lambda r: r.staff_no):
        person = staff.get(staff_no)
        held = person.roles if person and person.has_account else frozenset()
        enabled = bool(person and person.has_account and person.account_enabled)
        for day, rows_of_day in groupby(mine, key=lambda r: r.effective_on):
            day_rows = list(rows_of_day)
            start = person
            for row in day_rows:
                nxt, problem = _step(person, row, policy)
                if nxt is None:
                    problems.append(problem)
                    break
                person = nxt
            else:
                assert person is not None
                last = day_rows[-1]
                reason = _reason(day, day_rows, start, person)
                should = _should_hold(person, policy)

                todo = [(REVOKE, role) for role in sorted(held - should)]
                wants_account = person.status == ACTIVE and bool(should)
                has_account = bool(staff.get(staff_no) and staff[staff_no].has_account)
                if has_account and enabled and person.status != ACTIVE:
                    todo.append((DISABLE, ""))
                    enabled = False
                elif has_account and not enabled and wants_account:
                    todo.append((ENABLE, ""))
                    enabled = True
                todo += [(GRANT, role) for role in sorted(should - held)]
                changes.extend(
                    Planned(last.line_no, staff_no, last.name, day, action, role, reason)
                    for action, role in todo
                )
                held = should
                continue
            break  # a bad row: the rest of this person's rows are not replayed
        if person is not None:
            people[staff_no] = replace(person, roles=held)
    problems.sort(key=lambda text: int(text.split("行目", 1)[0]))
    changes.sort(key=lambda c: (c.effective_on, c.staff_no, c.line_no, _ORDER[c.action], c.role))
    return Plan(tuple(changes), tuple(problems), people)


_ORDER = {REVOKE: 0, DISABLE: 1, ENABLE: 2, GRANT: 3}
