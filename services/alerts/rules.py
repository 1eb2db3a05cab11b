"""The alert rules: each looks at a batch of new audit events and says what stands out.

Every threshold is a setting (``alert_*``). A rule returns ``Finding``s; the scanner
(``services.alerts.engine``) turns each into one ``alert.<rule>`` audit event, once per
``key`` within its quiet time (a user per hour, a user per day, a resident per day, one
event), so a rule that stays over its threshold does not raise the same alert again.

The rules:

- ``bulk_open`` — one user opened ``alert_opens_per_hour`` distinct residents within an
  hour (ended by the event that reached it);
- ``after_hours`` — activity by a staff account outside ``alert_work_hours`` (JST) or on a
  day the office is closed (weekends per ``alert_work_days``, national holidays from
  jpholiday, ``alert_closed_days`` such as 年末年始); once per user per day;
- ``dv_open`` — a DV等支援措置 record opened (or its number revealed): every time;
- ``own_record`` — a member of staff opened their own register record, or one with
  their surname at their address (their family), by the 住民票コード on their staff
  record;
- ``failed_then_success`` — ``alert_failed_signins`` failed sign-ins of one login within
  ``alert_failed_window_minutes``, then a success;
- ``after_leave`` — activity by an account whose staff record says they left (退職,
  転出) on or before the event's day; once per user per day;
- ``crowd_open`` — ``alert_users_per_resident_day`` distinct users opened the same
  resident on one day.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import jpholiday
from sqlalchemy import and_, func, select

from auth.models import User
from core.clock import JST, iso, parse_iso
from core.db import columns, table
from core.settings import Settings
from logs.audit import AuditEvent
from services.personnel.models import Staff
from services.register.models import Household, Resident

OPEN = "register.open"
REVEAL = "register.reveal_my_number"
SIGNIN_OK = "signin.success"
SIGNIN_FAILED = "signin.failure"
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Core columns of the tables queried below the ORM (one line: names, not logic).
_E, _S, _U, _R, _H = (columns(t) for t in (
    AuditEvent, Staff, User, Resident, Household))


@dataclass(frozen=True)
class Finding:
    rule: str
    key: str  # one alert per key
    target: str  # whom it is about: a login or resident:ID
    message: str  # Japanese, for the tail and the home screen
    details: dict[str, Any] = field(default_factory=dict)
    quiet: timedelta = timedelta(days=2)  # no second alert with this key within this time


@dataclass(frozen=True)
class Event:
    seq: int
    ts: datetime
    actor: str
    action: str
    target: str
    outcome: str
    severity: str
    details: dict[str, Any]

    @classmethod
    def of(cls, row: Any) -> Event:
        try:
            details = json.loads(row["details"] or "{}")
        except ValueError:
            details = {}
        return cls(row["seq"], parse_iso(row["ts"]), row["actor"], row["action"],
                   row["target"], row["outcome"], row["severity"], details)

    @property
    def day(self) -> date:
        return self.ts.astimezone(JST).date()

    @property
    def resident_id(self) -> int | None:
        if self.target.startswith("resident:"):
            try:
                return int(self.target.split(":", 1)[1])
            except ValueError:
                return None
        return None


def is_staff_actor(actor: str) -> bool:
    """A console account, not the OS operator of a CLI command or the system itself."""
    return bool(actor) and not actor.startswith(("os:", "system:"))


# --- working time -------------------------------------------------------------------


def _hours(settings: Settings) -> tuple[time, time]:
    """(start, end) of the working day; "24:00" ends at midnight; a bad value: 08:00-19:00."""
    try:
        first, last = (p.strip() for p in settings.alert_work_hours.split("-"))
        start = time.fromisoformat(first)
        end = time.max if last == "24:00" else time.fromisoformat(last)
    except ValueError:
        start, end = time(8, 0), time(19, 0)
    return start, end


def is_working_time(at: datetime, settings: Settings) -> bool:
    """Inside the office's hours on a day it is open (Japan time)."""
    local = at.astimezone(JST)
    day = local.date()
    if _WEEKDAYS[day.weekday()] not in {d.strip().lower()[:3] for d in settings.alert_work_days}:
        return False
    if jpholiday.is_holiday(day) or day.strftime("%m-%d") in set(settings.alert_closed_days):
        return False
    start, end = _hours(settings)
    return start <= local.time().replace(tzinfo=None) < end


def _day_start(day: date) -> str:
    return iso(datetime.combine(day, time(0), JST))


# --- the rules ----------------------------------------------------------------------


def _opens(events: Iterable[Event]) -> list[Event]:
    return [e for e in events if e.action == OPEN and e.outcome == "success"
            and e.resident_id is not None]


def bulk_open(conn: Any, settings: Settings, events: list[Event]) -> list[Finding]:
    limit = int(settings.alert_opens_per_hour)
    found: list[Finding] = []
    for e in _opens(events):
        since = iso(e.ts - timedelta(hours=1))
        n = conn.execute(select(func.count(func.distinct(_E.target))).where(
            _E.action == OPEN, _E.outcome == "success", _E.actor == e.actor,
            _E.ts >= since, _E.seq <= e.seq)).scalar_one()
        if n >= limit:
            found.append(Finding(
                "bulk_open", f"bulk_open:{e.actor}", e.actor,
                f"{e.actor} が1時間に {n} 人の住民記録を開きました（基準 {limit} 人）。",
                {"residents": n, "limit": limit, "event": e.seq}, quiet=timedelta(hours=1),
            ))
    return found


def after_hours(conn: Any, settings: Settings, events: list[Event]) -> list[Finding]:
    return [
        Finding("after_hours", f"after_hours:{e.actor}:{e.day}", e.actor,
                f"{e.actor} が業務時間外に操作しました（{e.ts.astimezone(JST):%Y-%m-%d %H:%M}、"
                f"{e.action}）。", {"event": e.seq, "action": e.action, "day": str(e.day)})
        for e in events
        if is_staff_actor(e.actor) and not is_working_time(e.ts, settings)
    ]


_DID = {True: "開きました", False: "表示しました"}


def dv_open(conn: Any, settings: Settings, events: list[Event]) -> list[Finding]:
    return [
        Finding("dv_open", f"dv_open:{e.seq}", e.target,
                f"{e.actor} がDV等支援措置の対象者の記録を{_DID[e.action == OPEN]}"
                f"（{e.target}）。", {"event": e.seq, "actor": e.actor, "action": e.action})
        for e in events
        if e.action in (OPEN, REVEAL) and e.outcome == "success" and e.severity == "high"
    ]


def own_record(conn: Any, settings: Settings, events: list[Event]) -> list[Finding]:
    opens = [e for e in _opens(events) if is_staff_actor(e.actor)]
    if not opens:
        return []
    actors = sorted({e.actor for e in opens})
    own = {
        login: (code, family, address)
        for login, code, family, address in conn.execute(
            select(_U.login, _S.resident_code, _R.family_name, _R.address)
            .select_from(table(Staff).join(
                table(User), _U.id == _S.user_id)
                .join(table(Resident), _R.resident_code == _S.resident_code))
            .where(_U.login.in_(actors), _S.resident_code != "")
        )
    }
    if not own:
        return []
    ids = sorted({rid for e in opens if e.actor in own and (rid := e.resident_id) is not None})
    opened = {
        rid: (code, family, address)
        for rid, code, family, address in conn.execute(
            select(_R.id, _R.resident_code, _R.family_name, _R.address).where(_R.id.in_(ids)))
    }
    found: list[Finding] = []
    for e in opens:
        mine, seen = own.get(e.actor), opened.get(e.resident_id or 0)
        if mine is None or seen is None:
            continue
        if seen[0] == mine[0]:
            what = "自分自身の住民記録"
        elif seen[1] == mine[1] and seen[2] == mine[2]:
            what = "同じ住所・同じ氏の住民記録（家族の可能性）"
        else:
            continue
        found.append(Finding("own_record", f"own_record:{e.seq}", e.actor,
                             f"{e.actor} が{what}を開きました（{e.target}）。",
                             {"event": e.seq, "resident": e.target, "kind": what}))
    return found


def failed_then_success(conn: Any, settings: Settings, events: list[Event]) -> list[Finding]:
    limit = int(settings.alert_failed_signins)
    window = timedelta(minutes=float(settings.alert_failed_window_minutes))
    found: list[Finding] = []
    for e in events:
        if e.action != SIGNIN_OK:
            continue
        login = e.target or e.actor
        last_ok = conn.execute(select(func.max(_E.seq)).where(
            _E.action == SIGNIN_OK, _E.target == login, _E.seq < e.seq)).scalar() or 0
        n = conn.execute(select(func.count()).where(
            _E.action == SIGNIN_FAILED, _E.target == login, _E.seq < e.seq, _E.seq > last_ok,
            _E.ts >= iso(e.ts - window))).scalar_one()
        if n >= limit:
            found.append(Finding(
                "failed_then_success", f"failed_then_success:{e.seq}", login,
                f"{login} のサインインが {n} 回失敗した後に成功しました。",
                {"failures": n, "limit": limit, "event": e.seq},
            ))
    return found


def after_leave(conn: Any, settings: Settings, events: list[Event]) -> list[Finding]:
    staff = [e for e in events if is_staff_actor(e.actor)]
    if not staff:
        return []
    left = dict(conn.execute(
        select(_U.login, _S.left_on).select_from(table(Staff).join(
            table(User), _U.id == _S.user_id))
        .where(_U.login.in_(sorted({e.actor for e in staff})), _S.left_on.is_not(None))
    ).all())
    return [
        Finding("after_leave", f"after_leave:{e.actor}:{e.day}", e.actor,
                f"{e.actor} は {left[e.actor]} に退職・転出していますが、操作がありました"
                f"（{e.action}）。", {"event": e.seq, "left_on": str(left[e.actor])})
        for e in staff
        if e.actor in left and e.day >= left[e.actor]
    ]


def crowd_open(conn: Any, settings: Settings, events: list[Event]) -> list[Finding]:
    limit = int(settings.alert_users_per_resident_day)
    found: list[Finding] = []
    for e in _opens(events):
        n = conn.execute(select(func.count(func.distinct(_E.actor))).where(and_(
            _E.action == OPEN, _E.outcome == "success", _E.target == e.target,
            _E.ts >= _day_start(e.day), _E.seq <= e.seq))).scalar_one()
        if n >= limit:
            found.append(Finding(
                "crowd_open", f"crowd_open:{e.target}:{e.day}", e.target,
                f"{e.day} に {n} 人の職員が同じ住民の記録を開きました"
                f"（{e.target}、基準 {limit} 人）。",
                {"users": n, "limit": limit, "event": e.seq, "day": str(e.day)},
            ))
    return found


RULES = (bulk_open, after_hours, dv_open, own_record, failed_then_success, after_leave,
         crowd_open)
