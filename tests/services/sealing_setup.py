"""Shared set-up for the tests of sealed My Numbers: the stored (sealed) values as the
database holds them, a link written the way the workflow writes it, and a link whose
sealed value was edited behind the application's back."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from core.db import Database
from core.sealed import sealer_of
from core.settings import Settings
from services.linkage.decision import approve
from services.register.models import MyNumberLink
from tests.factories import full_proposal, make_resident, staff


def stored_numbers(db: Database, table: str) -> list[str]:
    """The ``number`` column as stored (sealed), in id order."""
    with db.engine.connect() as conn:
        return list(conn.execute(text(f"SELECT number FROM {table} ORDER BY id")).scalars())


def link(db: Database, resident_id: int, number: str) -> int:
    """An active 初期移行 link written through the model's table (sealed as the
    application seals), naming only the columns every sealed revision has."""
    with db.write() as s:
        return s.connection().execute(MyNumberLink.__table__.insert().values(  # type: ignore[attr-defined]
            resident_id=resident_id, number=number, last4=number[-4:],
            linked_at=datetime.now(UTC), source="初期移行", status="active", revoke_reason="",
        )).inserted_primary_key[0]


def approved(db: Database, settings: Settings, number: str) -> int:
    """A resident linked to ``number`` through the whole workflow (proposed by a clerk,
    approved by a reviewer); returns the resident id."""
    people = staff(db, settings, ["clerk", "rev1"])
    rid = make_resident(db)
    view = full_proposal(db, settings, people["clerk"], rid, number)
    approve(db, people["rev1"], view.id, version=view.version, comment="確認済み")
    return rid


def edited_link(db: Database, resident_id: int, number: str) -> None:
    """A link whose sealed value was changed in the database, as someone writing to it
    directly would (one character of the sealed text flipped)."""
    sealed = sealer_of(db.engine.dialect).seal(number)
    broken = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO my_number_link (resident_id, number, last4, linked_at, source, status,"
            " revoke_reason) VALUES (:r, :n, :l, :t, '初期移行', 'active', '')"),
            {"r": resident_id, "n": broken, "l": number[-4:], "t": datetime.now(UTC)})
