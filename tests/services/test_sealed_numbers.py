"""My Numbers are sealed at rest (core.sealed): the database never holds the digits,
the services still see them, and the database still refuses a number linked twice."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import select

from core.db import Database
from core.sealed import PREFIX, SealingError, create_key_file
from core.settings import Settings
from services.linkage.models import LinkProposal
from services.linkage.proposals import approve
from services.register.models import MyNumberLink
from services.schema import _config, ensure_key_file, init_schema
from tests.conftest import Juki
from tests.services.linkage_setup import full_proposal, make_resident, my_number, staff

NUMBER = my_number(12345678901)


def _link(db: Database, resident_id: int, number: str) -> int:
    with db.write() as s:
        link = MyNumberLink(resident_id=resident_id, number=number, last4=number[-4:],
                            linked_at=datetime.now(UTC), source="初期移行")
        s.add(link)
        s.flush()
        assert link.id is not None
        return link.id


def _raw(db: Database, table: str) -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.execute(text(f"SELECT number FROM {table} ORDER BY id")).scalars())


def test_an_approved_link_is_stored_sealed_and_read_back_plain(
    db: Database, settings: Settings,
) -> None:
    people = staff(db, settings, ["clerk", "rev1"])
    rid = make_resident(db)
    view = full_proposal(db, settings, people["clerk"], rid, NUMBER)
    approve(db, people["rev1"], view.id, version=view.version, comment="確認済み")

    for table in ("my_number_link", "link_proposal"):
        (stored,) = _raw(db, table)
        assert stored.startswith(PREFIX) and NUMBER not in stored and NUMBER[-4:] not in stored
    with db.read() as s:
        link = s.exec(select(MyNumberLink).where(MyNumberLink.number == NUMBER)).one()
        assert link.number == NUMBER and link.resident_id == rid
        assert s.exec(select(LinkProposal)).one().number == NUMBER


def test_the_database_still_refuses_a_number_linked_twice(db: Database) -> None:
    first, second = make_resident(db), make_resident(db, given="次郎")
    _link(db, first, NUMBER)
    with pytest.raises(IntegrityError):
        _link(db, second, NUMBER)
    _link(db, second, my_number(12345678902))  # another number is fine


def test_a_draft_without_a_number_stays_empty(db: Database, settings: Settings) -> None:
    people = staff(db, settings, ["clerk"])
    full_proposal(db, settings, people["clerk"], make_resident(db), "", submit=False)
    assert _raw(db, "link_proposal") == [""]


def test_another_key_does_not_open_the_numbers(
    db: Database, settings: Settings, tmp_path: Path,
) -> None:
    _link(db, make_resident(db), NUMBER)
    other_key = tmp_path / "other.key"
    create_key_file(other_key)
    stranger = Database(settings.resolved_database_url, key_file=other_key)
    try:
        with stranger.read() as s, pytest.raises(SealingError, match="暗号鍵が違うか"):
            s.exec(select(MyNumberLink)).all()
    finally:
        stranger.dispose()


def test_a_sealed_value_edited_in_the_database_is_refused_not_misread(
    db: Database, settings: Settings,
) -> None:
    people = staff(db, settings, ["clerk"])
    full_proposal(db, settings, people["clerk"], make_resident(db), NUMBER, submit=False)
    (stored,) = _raw(db, "link_proposal")
    flipped = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE link_proposal SET number = :v"), {"v": flipped})
    with db.read() as s, pytest.raises(SealingError, match="書き換えられています"):
        s.exec(select(LinkProposal)).all()


def test_without_a_key_nothing_is_written(settings: Settings, db: Database) -> None:
    keyless = Database(settings.resolved_database_url)
    try:
        with pytest.raises(SealingError, match="暗号鍵が設定されていません"):
            _link(keyless, make_resident(db), NUMBER)
    finally:
        keyless.dispose()
    assert _raw(db, "my_number_link") == []


def test_a_lost_key_is_not_silently_replaced(db: Database, settings: Settings) -> None:
    _link(db, make_resident(db), NUMBER)
    key = settings.resolved_identifier_key_file
    key.unlink()
    with pytest.raises(SealingError, match="バックアップから戻してください"):
        init_schema(db)
    assert not key.exists()


def test_numbers_stored_before_sealing_are_sealed_by_the_upgrade(
    settings: Settings,
) -> None:
    db = Database.for_settings(settings)
    try:
        assert ensure_key_file(db)
        cfg = _config()
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0010")  # the schema before numbers were sealed
        rid = make_resident(db)
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO my_number_link (resident_id, number, last4, linked_at, source,"
                " status, revoke_reason) VALUES (:r, :n, :l, :at, '初期移行', 'active', '')"),
                {"r": rid, "n": NUMBER, "l": NUMBER[-4:], "at": datetime.now(UTC)})
        assert _raw(db, "my_number_link") == [NUMBER]

        assert init_schema(db)  # 0011 seals it
        (stored,) = _raw(db, "my_number_link")
        assert stored.startswith(PREFIX) and NUMBER not in stored
        with db.read() as s:
            assert s.exec(select(MyNumberLink.number)).one() == NUMBER
        # The guards came back: a link is still never edited, a number never linked twice.
        with pytest.raises(DBAPIError), db.engine.begin() as conn:
            conn.execute(text("UPDATE my_number_link SET source = 'x'"))
        with pytest.raises(IntegrityError):
            _link(db, rid, NUMBER)
    finally:
        db.dispose()


def test_db_init_makes_the_key_once_readable_by_its_owner_only(
    juki_env: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    juki = Juki(env=juki_env, cwd=tmp_path)
    key = settings.resolved_identifier_key_file
    assert not key.exists()
    made = juki("db", "init")
    assert made.returncode == 0, made.stderr
    assert "個人番号の暗号鍵を作成しました" in made.stdout
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    before = key.read_bytes()
    again = juki("db", "init")
    assert again.returncode == 0 and "暗号鍵" not in again.stdout
    assert key.read_bytes() == before
