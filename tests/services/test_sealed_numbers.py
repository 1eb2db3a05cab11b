"""My Numbers are sealed at rest (core.sealed): the database never holds the digits,
the services still see them, and the database still refuses a number linked twice."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
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
from services.linkage.check import UNREADABLE, check_links
from services.linkage.decision import approve
from services.linkage.models import LinkProposal
from services.lookup.record import reveal_my_number
from services.lookup.search import search
from services.lookup.types import LookupQuery
from services.register.models import MyNumberLink
from services.schema import _config, ensure_key_file, init_schema
from tests.conftest import Juki
from tests.factories import ADMIN, full_proposal, make_resident, my_number, staff
from tests.services.linkage_setup import events
from tests.services.sealing_setup import approved, edited_link, link, stored_numbers

NUMBER = my_number(12345678901)
NOT_ITS_KEY = "このデータベースの鍵ではありません"


@contextmanager
def _other(settings: Settings, key: Path | None) -> Iterator[Database]:
    """The same database opened with another key file (or none), as a misconfigured
    console would open it."""
    if key is not None:
        create_key_file(key)
    other = Database(settings.resolved_database_url, key_file=key)
    try:
        yield other
    finally:
        other.dispose()


def test_an_approved_link_is_stored_sealed_and_read_back_plain(
    db: Database, settings: Settings,
) -> None:
    rid = approved(db, settings, NUMBER)

    for table in ("my_number_link", "link_proposal"):
        (stored,) = stored_numbers(db, table)
        assert stored.startswith(PREFIX) and NUMBER not in stored and NUMBER[-4:] not in stored
    with db.read() as s:
        link = s.exec(select(MyNumberLink).where(MyNumberLink.number == NUMBER)).one()
        assert link.number == NUMBER and link.resident_id == rid
        assert s.exec(select(LinkProposal)).one().number == NUMBER


def test_the_database_still_refuses_a_number_linked_twice(db: Database) -> None:
    first, second = make_resident(db), make_resident(db, given="次郎")
    link(db, first, NUMBER)
    with pytest.raises(IntegrityError):
        link(db, second, NUMBER)
    link(db, second, my_number(12345678902))  # another number is fine


def test_a_draft_without_a_number_stays_empty(db: Database, settings: Settings) -> None:
    people = staff(db, settings, ["clerk"])
    full_proposal(db, settings, people["clerk"], make_resident(db), "", submit=False)
    assert stored_numbers(db, "link_proposal") == [""]


def test_another_key_does_not_open_the_numbers(
    db: Database, settings: Settings, tmp_path: Path,
) -> None:
    link(db, make_resident(db), NUMBER)
    with _other(settings, tmp_path / "other.key") as stranger:
        with stranger.read() as s, pytest.raises(SealingError, match=NOT_ITS_KEY):
            s.exec(select(MyNumberLink)).all()


def test_a_sealed_value_edited_in_the_database_is_refused_not_misread(
    db: Database, settings: Settings,
) -> None:
    people = staff(db, settings, ["clerk"])
    full_proposal(db, settings, people["clerk"], make_resident(db), NUMBER, submit=False)
    (stored,) = stored_numbers(db, "link_proposal")
    flipped = stored[:-2] + ("A" if stored[-2] != "A" else "B") + stored[-1]
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE link_proposal SET number = :v"), {"v": flipped})
    with db.read() as s, pytest.raises(SealingError, match="書き換えられています"):
        s.exec(select(LinkProposal)).all()


def test_without_a_key_nothing_is_written(settings: Settings, db: Database) -> None:
    with _other(settings, None) as keyless:
        with pytest.raises(SealingError, match="暗号鍵が設定されていません"):
            link(keyless, make_resident(db), NUMBER)
    assert stored_numbers(db, "my_number_link") == []


def test_a_lost_key_is_not_silently_replaced(db: Database, settings: Settings) -> None:
    link(db, make_resident(db), NUMBER)
    key = settings.resolved_identifier_key_file
    key.unlink()
    with pytest.raises(SealingError, match="バックアップから戻してください"):
        init_schema(db)
    assert not key.exists()


def _at_revision(settings: Settings, revision: str) -> Database:
    """The configured database made at an older ``revision``, with its key file."""
    db = Database.for_settings(settings)
    assert ensure_key_file(db)
    cfg = _config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return db


def test_numbers_stored_before_sealing_are_sealed_by_the_upgrade(
    settings: Settings,
) -> None:
    db = _at_revision(settings, "0010")  # the schema before numbers were sealed
    try:
        rid = make_resident(db)
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO my_number_link (resident_id, number, last4, linked_at, source,"
                " status, revoke_reason) VALUES (:r, :n, :l, :at, '初期移行', 'active', '')"),
                {"r": rid, "n": NUMBER, "l": NUMBER[-4:], "at": datetime.now(UTC)})
        assert stored_numbers(db, "my_number_link") == [NUMBER]

        assert init_schema(db)  # 0011 seals it; the key's check value is stored
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM identifier_key")).scalar() == 1
        (stored,) = stored_numbers(db, "my_number_link")
        assert stored.startswith(PREFIX) and NUMBER not in stored
        with db.read() as s:
            assert s.exec(select(MyNumberLink.number)).one() == NUMBER
        # The guards came back: a link is still never edited, a number never linked twice.
        with pytest.raises(DBAPIError), db.engine.begin() as conn:
            conn.execute(text("UPDATE my_number_link SET source = 'x'"))
        with pytest.raises(IntegrityError):
            link(db, rid, NUMBER)
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


# --- a number that cannot be sealed or opened: refused, and the refusal is recorded ----


def _events(db: Database, action: str) -> list[dict]:
    return [{**e, "details": json.loads(e["details"])} for e in events(db, action)]


def _refusals(db: Database, action: str) -> list[dict]:
    return [e for e in _events(db, action) if e["outcome"] == "refused"]


def test_without_the_key_a_search_by_number_or_a_decision_is_refused_and_recorded(
    db: Database, settings: Settings,
) -> None:
    people = staff(db, settings, ["clerk", "rev1"])
    rid = make_resident(db)
    view = full_proposal(db, settings, people["clerk"], rid, NUMBER)
    with _other(settings, None) as keyless:
        with pytest.raises(SealingError, match="暗号鍵が設定されていません"):
            search(keyless, settings, people["rev1"],
                   LookupQuery(purpose=settings.lookup_purposes[0], my_number=NUMBER))
        with pytest.raises(SealingError, match="暗号鍵が設定されていません"):
            approve(keyless, people["rev1"], view.id, version=view.version, comment="確認済み")
    for action, target in (("register.search", "register"),
                           ("linkage.approve", f"proposal:{view.id}")):
        [ev] = _refusals(db, action)
        assert (ev["target"], ev["severity"], ev["details"]["reason"]) == (
            target, "high", "identifier_key"), action
        assert NUMBER not in json.dumps(ev, ensure_ascii=False)
    assert stored_numbers(db, "my_number_link") == []  # the approval wrote nothing
    assert not _refusals(db, "linkage.check")


def test_a_reveal_under_another_key_is_refused_and_recorded(
    db: Database, settings: Settings, tmp_path: Path,
) -> None:
    people = staff(db, settings, ["rev1"])
    rid = make_resident(db)
    link(db, rid, NUMBER)
    with _other(settings, tmp_path / "other.key") as stranger:
        with pytest.raises(SealingError, match=NOT_ITS_KEY):
            reveal_my_number(stranger, settings, people["rev1"], rid,
                             purpose=settings.lookup_purposes[0], reason="番号の照合")
    [ev] = _refusals(db, "register.reveal_my_number")
    assert (ev["target"], ev["severity"], ev["details"]["reason"]) == (
        f"resident:{rid}", "high", "identifier_key")
    assert not [e for e in events(db, "register.reveal_my_number") if e["outcome"] == "success"]


def test_the_check_names_a_link_whose_sealed_number_was_edited_and_checks_the_rest(
    db: Database, settings: Settings,
) -> None:
    good = make_resident(db)
    edited = make_resident(db, given="次郎")
    good_link = link(db, good, NUMBER)
    other = my_number(12345678902)
    edited_link(db, edited, other)
    report = check_links(db, ADMIN)
    [finding] = report.findings
    assert (finding.kind, finding.resident_id) == (UNREADABLE, edited)
    assert finding.number_masked == f"**** **** {other[-4:]}" and finding.link_id != good_link
    assert report.links == 2
    [ev] = _events(db, "linkage.check")
    assert (ev["outcome"], ev["details"]["findings"]) == ("alert", {UNREADABLE: 1})


def test_the_check_without_the_key_is_refused_and_recorded(
    db: Database, settings: Settings,
) -> None:
    link(db, make_resident(db), NUMBER)
    with _other(settings, None) as keyless:
        with pytest.raises(SealingError, match="暗号鍵が設定されていません"):
            check_links(keyless, ADMIN)
    [ev] = _refusals(db, "linkage.check")
    assert (ev["severity"], ev["details"]["reason"]) == ("high", "identifier_key")


# --- a key that is not the database's is refused before it seals or opens anything -----


def test_a_key_that_is_not_the_databases_is_refused_not_used(
    db: Database, settings: Settings, tmp_path: Path,
) -> None:
    """Without the check another key would fail quietly: a search by number would find
    nobody, and a new proposal would be sealed under it."""
    people = staff(db, settings, ["clerk", "rev1"])
    rid = make_resident(db)
    link(db, rid, NUMBER)
    with _other(settings, tmp_path / "other.key") as stranger:
        with pytest.raises(SealingError, match=NOT_ITS_KEY):
            search(stranger, settings, people["rev1"],
                   LookupQuery(purpose=settings.lookup_purposes[0], my_number=NUMBER))
        with pytest.raises(SealingError, match=NOT_ITS_KEY):
            full_proposal(stranger, settings, people["clerk"], make_resident(db, given="花子"),
                          my_number(12345678902))
    assert stored_numbers(db, "link_proposal") == []
    assert [e["details"]["reason"] for e in _refusals(db, "register.search")] == ["identifier_key"]
    assert [e["severity"] for e in _refusals(db, "linkage.propose")] == ["high"]
    # The right key still finds the resident.
    found = search(db, settings, people["rev1"],
                   LookupQuery(purpose=settings.lookup_purposes[0], my_number=NUMBER))
    assert [h.resident_id for h in found.hits] == [rid]


def test_db_init_refuses_a_key_file_that_is_not_the_databases_and_records_it(
    juki_env: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    juki = Juki(env=juki_env, cwd=tmp_path)
    assert juki("db", "init").returncode == 0
    key = settings.resolved_identifier_key_file
    key.unlink()
    create_key_file(key)  # someone "fixed" a lost key by making a new one
    refused = juki("db", "init")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert NOT_ITS_KEY in refused.stderr
    assert "Traceback" not in refused.stderr
    db = Database(settings.resolved_database_url)
    try:
        [ev] = _refusals(db, "db.init")
        assert (ev["severity"], ev["details"]["reason"]) == ("high", "identifier_key")
    finally:
        db.dispose()


def test_a_database_upgraded_with_another_key_is_refused_before_its_check_is_stored(
    settings: Settings, tmp_path: Path,
) -> None:
    """A database from before the check holds numbers sealed under its key: the first
    check value is stored only for a key that opens them."""
    db = _at_revision(settings, "0011")  # sealed numbers, no check value yet
    try:
        link(db, make_resident(db), NUMBER)
    finally:
        db.dispose()
    with _other(settings, tmp_path / "other.key") as stranger:
        with pytest.raises(SealingError, match=NOT_ITS_KEY):
            init_schema(stranger)
        with stranger.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM identifier_key")).scalar() == 0
