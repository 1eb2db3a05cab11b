"""Who and what the tests work with: residents, staff accounts and linkage proposals.

Residents are written as the register stores them — a household row, the resident row
with its search keys, the household's head set — so the services compare and search
against real rows. Accounts are enrolled with ``add_user`` and signed in with ``sign_in``
(the real doors), so the live permission checks see real sessions; staff registry rows
and migrated links are written directly; proposals go through ``propose``. One module,
so that a change to how the register holds a resident or how an account is enrolled is
made once for every test; each test passes what it relies on (names, codes, roles) as
arguments.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from auth.accounts import Account, add_user
from auth.identity import Identity
from auth.signin import sign_in
from core.actor import Actor
from core.clock import now
from core.db import Database
from core.settings import Settings
from services.linkage.acts import propose
from services.linkage.application import Application
from services.linkage.views import ProposalView
from services.personnel.models import Staff
from services.register.keys import resident_keys
from services.register.models import Household, MyNumberLink, Resident, format_address
from services.register.mynumber import my_number_check_digit

PASSWORD = "asa-no-kaze-ga-fuku"
ADMIN = Actor(login="os:admin")
CLIENT = "192.0.2.10"

# The linkage tests' staff: login → roles.
LINKAGE_STAFF: dict[str, list[str]] = {
    "clerk": ["clerk"],
    "clerk2": ["clerk"],
    "both": ["clerk", "reviewer"],  # may propose and review, never their own
    "rev1": ["reviewer"],
    "rev2": ["reviewer"],
    "rev3": ["reviewer"],
    "aud": ["auditor"],  # no linkage permission at all
}

_serial = itertools.count(1)
_HOUSEHOLD = Household.__table__  # type: ignore[attr-defined]
_RESIDENT = Resident.__table__  # type: ignore[attr-defined]


# --- numbers --------------------------------------------------------------------------


def my_number(base: int) -> str:
    """A valid 個人番号 built from an 11-digit base (for unique test numbers)."""
    first11 = f"{base:011d}"
    return first11 + str(my_number_check_digit(first11))


# --- residents ------------------------------------------------------------------------


def household(
    conn: Connection, town: str = "若葉町", chome: int | None = 2, banchi: int | None = 3,
    go: int | None = 5, *, katagaki: str = "", household_no: str = "",
) -> int:
    """A household row (no head yet); returns its id."""
    row = {
        "household_no": household_no or f"9{next(_serial):07d}", "town": town,
        "chome": chome, "banchi": banchi, "go": go, "katagaki": katagaki,
        "address": format_address(town, chome, banchi, go, katagaki),
    }
    return int(conn.execute(insert(_HOUSEHOLD).returning(_HOUSEHOLD.c.id), row).scalar_one())


def resident_row(conn: Connection, household_id: int, **items: Any) -> int:
    """A resident of the household, living at its address, search keys filled in; the
    head of the household when ``relationship`` is 世帯主 (the default). ``items`` needs
    the names, ``birth_date`` and ``sex``; anything else the row holds may be given."""
    hh = conn.execute(select(_HOUSEHOLD).where(_HOUSEHOLD.c.id == household_id)).mappings().one()
    row: dict[str, Any] = {
        "resident_code": f"9{next(_serial):010d}", "household_id": household_id,
        "relationship": "世帯主", "town": hh["town"], "chome": hh["chome"],
        "banchi": hh["banchi"], "go": hh["go"], "katagaki": hh["katagaki"],
        "address": hh["address"], "became_resident_on": date(2000, 1, 1),
        "address_set_on": date(2000, 1, 1),
    }
    row.update(items)
    row.update(resident_keys(row))
    rid = int(conn.execute(insert(_RESIDENT).returning(_RESIDENT.c.id), row).scalar_one())
    if row["relationship"] == "世帯主":
        conn.execute(update(_HOUSEHOLD).where(_HOUSEHOLD.c.id == household_id)
                     .values(head_resident_id=rid))
    return rid


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
    **items: Any,
) -> int:
    """One resident, head of a household of their own; returns the resident id.
    ``items`` are further columns (``resident_code``, ``became_resident_on`` …)."""
    with db.write() as s:
        conn = s.connection()
        hid = household(conn, town, chome, banchi, go, katagaki=katagaki)
        return resident_row(
            conn, hid, family_name=family, given_name=given, family_kana=family_kana,
            given_kana=given_kana, birth_date=birth, sex=sex, dv_support=dv, **items,
        )


def initial_link(db: Database, resident_id: int, number: str, *,
                 at: datetime = datetime(2016, 1, 4, tzinfo=UTC), source: str = "初期移行",
                 ) -> int:
    """An active link carried over at migration (no proposal behind it), as the
    application's account may write one; returns its id."""
    with db.write() as s:
        link = MyNumberLink(resident_id=resident_id, number=number, last4=number[-4:],
                            linked_at=at, source=source)
        s.add(link)
        s.flush()
        assert link.id is not None
        return link.id


def resident_code(db: Database, resident_id: int) -> str:
    with db.read() as s:
        return str(s.connection().execute(select(_RESIDENT.c.resident_code).where(
            _RESIDENT.c.id == resident_id)).scalar_one())


# --- staff ----------------------------------------------------------------------------


def account(
    db: Database, settings: Settings, login: str, roles: Iterable[str] = ("clerk",), *,
    name: str = "職員 {login}", department: str = "市民課", password: str = PASSWORD,
    by: Actor = ADMIN,
) -> Account:
    """An enrolled account; ``{login}`` in ``name`` stands for the login."""
    return add_user(db, settings, by, login=login, name=name.replace("{login}", login),
                    roles=list(roles), password=password, department=department)


def enrol(
    db: Database, settings: Settings, login: str, roles: Iterable[str] = ("clerk",), *,
    client: str = CLIENT, **how: Any,
) -> Identity:
    """An account enrolled (as ``account``) and signed in from ``client``."""
    account(db, settings, login, roles, **how)
    return sign_in(db, settings, login, how.get("password", PASSWORD), client)


def staff(
    db: Database, settings: Settings, logins: Iterable[str] | None = None, *,
    roles: Mapping[str, Sequence[str]] = LINKAGE_STAFF, **how: Any,
) -> dict[str, Identity]:
    """Each of ``logins`` (all of ``roles`` by default) enrolled and signed in."""
    return {login: enrol(db, settings, login, roles[login], **how)
            for login in (logins or list(roles))}


def staff_record(
    db: Database, no: str, user_id: int | None = None, *, department: str = "市民課",
    post: str = "係員", **items: Any,
) -> None:
    """A row of the staff registry (職員番号 ``no``, named 「職員NO」), written directly:
    for setting each item to the day around a threshold. ``items`` are further columns."""
    with db.write() as s:
        s.add(Staff(**{"staff_no": no, "name": f"職員{no}", "department": department,
                       "post": post, "user_id": user_id, "updated_at": now(), **items}))


def screen_user(
    db: Database, settings: Settings, login: str = "clerk1", roles: Iterable[str] = ("clerk",),
    *, name: str = "山田花子", department: str = "市民課住民記録係",
) -> Account:
    """The member of staff the console tests sign in as (the home screen shows the name
    and the section); enrolled by the CLI operator, as ``juki user add`` does."""
    return account(db, settings, login, roles, name=name, department=department,
                   by=Actor.cli())


# --- proposals ------------------------------------------------------------------------


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
    source: str = "窓口", reference: str = "R7-窓口-0012",
) -> ProposalView:
    """A link proposal with every check filled in, submitted unless ``submit`` is False."""
    return propose(
        db, settings, ident, resident_id, number=number, source=source,
        reference=reference, number_check="個人番号カード",
        identity_checks=["個人番号カード"],
        application=application or matching_application(), submit=submit,
    )

