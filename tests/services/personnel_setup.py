"""Shared set-up for the personnel tests: a staff registry with real, signed-in accounts.

Staff are loaded through ``import_staff`` (the registry's own door); accounts come from
``tests.factories`` (enrolled and signed in for real), so the live permission checks and
the four-eyes rules see real rows and sessions.
"""

from __future__ import annotations

from datetime import date

from auth.identity import Identity
from core.db import Database
from core.settings import Settings
from logs.audit import events_after, last_seq
from services.personnel.staff import import_staff
from tests.factories import ADMIN, enrol

HEADER = "発令日,職員番号,氏名,異動区分,旧所属,新所属,旧職,新職\n"
DAY = date(2026, 4, 1)

# login → (roles, staff number, 所属, 職)
PEOPLE: dict[str, tuple[list[str], str, str, str]] = {
    "sato": (["clerk"], "1001", "市民課", "係員"),
    "suzuki": (["clerk"], "1002", "市民課", "係員"),
    "takaha": (["reviewer"], "1003", "市民課", "係長"),
    "kato": (["admin"], "2001", "情報政策課", "主査"),
    "ito": (["admin"], "2002", "情報政策課", "主査"),
    "sec": (["security_officer"], "3001", "総務課", "主査"),
    "sec2": (["security_officer"], "3002", "総務課", "主査"),
}


def registry(db: Database, settings: Settings) -> dict[str, Identity]:
    """Everyone in PEOPLE enrolled, signed in and on the staff registry, linked."""
    people = {login: enrol(db, settings, login, roles, department=dept, client="192.0.2.20")
              for login, (roles, _no, dept, _post) in PEOPLE.items()}
    lines = ["職員番号,氏名,氏名カナ,所属,職,雇用区分,契約終了日,状態,研修受講日,ログイン名"]
    for login, (_roles, no, dept, post) in PEOPLE.items():
        lines.append(f"{no},職員 {login},ショクイン,{dept},{post},正規,,在職,2026-01-10,{login}")
    lines.append("4001,山田 花子,ヤマダ ハナコ,総務課,主事,正規,,在職,2026-01-10,")
    import_staff(db, ADMIN, name="staff.csv", data=("\n".join(lines) + "\n").encode())
    return people


def csv_file(*rows: str, encoding: str = "utf-8") -> bytes:
    return (HEADER + "".join(r + "\n" for r in rows)).encode(encoding)


def events(db: Database, since: int) -> list[dict]:  # type: ignore[type-arg]
    return events_after(db, since, 10_000)


__all__ = ["DAY", "csv_file", "events", "last_seq", "registry"]
