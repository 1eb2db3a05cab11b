"""Shared set-up for the linkage tests: staff who sign in for real, residents, a proposal.

Residents are written as the register holds them (the same ORM rows the seeder writes),
so the service compares against real rows; staff are enrolled with ``add_user`` and
signed in with ``sign_in``, so the live permission check sees real sessions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import Connection

from auth.accounts import add_user
from auth.identity import Identity
from auth.signin import sign_in
from core.actor import Actor
from core.db import Database
from core.settings import Settings
from logs.audit import events_after
from services.linkage.acts import propose
from services.linkage.application import Application
from services.linkage.views import ProposalView
from services.register.models import Household, Resident, format_address
from services.register.mynumber import my_number_check_digit

PASSWORD = "asa-no-kaze-ga-fuku"
ADMIN = Actor(login="os:admin")

# Who is who in the tables: login → roles.
STAFF: dict[str, list[str]] = {
    "clerk": ["clerk"],
    "clerk2": ["clerk"],
    "both": ["clerk", "reviewer"],  # may propose and review, never their own
    "rev1": ["reviewer"],
    "rev2": ["reviewer"],
    "rev3": ["reviewer"],
    "aud": ["auditor"],  # no linkage permission at all
}

_codes = itertools.count(10_000_000_001)


def my_number(base: int) -> str:
    """A valid 個人番号 built from an 11-digit base (for unique test numbers)."""
    first11 = f"{base:011d}"
    return first11 + str(my_number_check_digit(first11))


def enrol(db: Database, settings: Settings, login: str, roles: list[str]) -> Identity:
    add_user(db, settings, ADMIN, login=login, name=f"職員 {login}", roles=roles,
             password=PASSWORD, department="市民課")
    return sign_in(db, settings, login, PASSWORD, "192.0.2.10")


def staff(db: Database, settings: Settings, logins: list[str] | None = None
          ) -> dict[str, Identity]:
    return {login: enrol(db, settings, login, STAFF[login])
            for login in (logins or list(STAFF))}


def make_resident(
    db: Database,
    *,
    family: str = "山田",
    given: str = "太郎",
    family_kana: str = "ヤマダ",
    given_kana: str = "タロウ",
    birth: date = date(1980, 4, 1),
    sex: str = "男",
    town: str = "若葉町",
    chome: int | None = 2,
    banchi: int | None = 3,
    go: int | None = 5,
    katagaki: str = "",
    dv: bool = False,
) -> int:
    """One resident in a household of their own; returns the resident id."""
    code = next(_codes)
    address = format_address(town, chome, banchi, go, katagaki)
    with db.write() as s:
        hh = Household(household_no=f"H{code}", town=town, chome=chome, banchi=banchi, go=go,
                       katagaki=katagaki, address=address)
        s.add(hh)
        s.flush()
        r = Resident(
            resident_code=str(code), household_id=hh.id or 0, relationship="世帯主",
            family_name=family, given_name=given, family_kana=family_kana,
            given_kana=given_kana, birth_date=birth, sex=sex, town=town, chome=chome,
            banchi=banchi, go=go, katagaki=katagaki, address=address,
            became_resident_on=date(2000, 1, 1), address_set_on=date(2000, 1, 1),
            dv_support=dv,
        )
        s.add(r)
        s.flush()
        hh.head_resident_id = r.id
        s.add(hh)
        assert r.id is not None
        return r.id


def matching_application(**over: Any) -> Application:
    """The application side exactly as ``make_resident``'s defaults are written."""
    values: dict[str, Any] = dict(
        name="山田 太郎", kana="ヤマダ タロウ", birth="昭和55年4月1日", sex="男",
        address="青葉県若葉市若葉町二丁目3番地5号",
    )
    values.update(over)
    return Application(**values)


def full_proposal(
    db: Database, settings: Settings, ident: Identity, resident_id: int, number: str,
    *, submit: bool = True, application: Application | None = None,
) -> ProposalView:
    return propose(
        db, settings, ident, resident_id, number=number, source="窓口",
        reference="R7-窓口-0012", number_check="個人番号カード",
        identity_checks=["個人番号カード"],
        application=application or matching_application(), submit=submit,
    )


_TWELVE = re.compile(r"(?<!\d)\d{12}(?!\d)")


def audit_texts(db: Database) -> list[str]:
    """Every event as one string, for searching the whole trail."""
    return [
        "|".join(str(e[k]) for k in ("action", "target", "outcome", "details"))
        for e in events_after(db, 0, 100_000)
    ]


def events(db: Database, action: str) -> list[dict[str, Any]]:
    return [e for e in events_after(db, 0, 100_000) if e["action"] == action]


def twelve_digit_runs(text: str) -> list[str]:
    return _TWELVE.findall(text)


@contextmanager
def as_schema_owner(db: Database) -> Iterator[Connection]:
    """One transaction with the linkage tables' triggers lifted and put back before it
    commits, as the schema's owner could do by hand (and as ``juki db rotate-key`` does
    for its own rewrite): for planting rows the application's account cannot write."""
    tables = ("my_number_link", "link_proposal", "link_review")
    with db.transaction() as conn:
        if conn.dialect.name == "sqlite":
            found = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
                f"({', '.join('?' for _ in tables)})", tables).all()
            for name, _sql in found:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
            restore = [sql for _name, sql in found]
        else:
            for table in tables:
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            restore = [f"ALTER TABLE {table} ENABLE TRIGGER USER" for table in tables]
        yield conn
        for statement in restore:
            conn.exec_driver_sql(statement)
