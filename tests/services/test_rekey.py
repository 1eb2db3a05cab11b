"""Rotating the My Number key (services.rekey, `juki db rotate-key`): every number sealed
again under a new key in one transaction, the old key kept for older backups, running
consoles moved to the new key, and nothing changed when any number will not open."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from core.db import Database
from core.sealed import PREFIX, Sealer, SealingError, create_key_file, sealer_of
from core.settings import Settings
from services.linkage.models import LinkProposal
from services.register.models import MyNumberLink
from services.rekey import rotate_key
from tests.conftest import Juki
from tests.factories import ADMIN, full_proposal, make_resident, my_number, staff
from tests.services.linkage_setup import events
from tests.services.sealing_setup import approved, edited_link, link, stored_numbers

NUMBER, SECOND, THIRD = my_number(12345678901), my_number(12345678902), my_number(12345678903)
TABLES = ("my_number_link", "link_proposal")


def _leftovers(key: Path) -> list[str]:
    return sorted(p.name for p in key.parent.iterdir() if p.name.startswith(f"{key.name}."))


def test_rotation_seals_every_number_again_and_keeps_the_old_key_for_backups(
    db: Database, settings: Settings,
) -> None:
    approved(db, settings, NUMBER)
    people = staff(db, settings, ["clerk2"])
    full_proposal(db, settings, people["clerk2"], make_resident(db, given="花子"), SECOND,
                  submit=False)
    key = settings.resolved_identifier_key_file
    old_bytes = key.read_bytes()
    before = {t: stored_numbers(db, t) for t in TABLES}
    running = Database.for_settings(settings)  # a console that already holds the old key
    try:
        with running.read() as s:
            assert s.exec(select(MyNumberLink.number)).one() == NUMBER

        done = rotate_key(db, ADMIN)

        assert done.resealed == {"my_number_link": 1, "link_proposal": 2}
        assert done.old_key.read_bytes() == old_bytes != key.read_bytes()
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        assert _leftovers(key) == [done.old_key.name]  # no .new left behind
        for table in TABLES:
            after = stored_numbers(db, table)
            assert all(v.startswith(PREFIX) for v in after)
            assert not set(after) & set(before[table])
        # The old key still opens what a backup from before holds.
        assert Sealer(done.old_key).open(before["my_number_link"][0]) == NUMBER
        with db.read() as s:
            assert s.exec(select(MyNumberLink.number)).one() == NUMBER
            assert sorted(p.number for p in s.exec(select(LinkProposal))) == [NUMBER, SECOND]
        # The running console takes the new key at its next number, reading and writing.
        with running.read() as s:
            assert s.exec(select(MyNumberLink.number)).one() == NUMBER
        full_proposal(running, settings, people["clerk2"], make_resident(db, given="三郎"),
                      THIRD, submit=False)
        assert Sealer(key).open(stored_numbers(db, "link_proposal")[-1]) == THIRD
    finally:
        running.dispose()
    # The links are guarded again, and the number still cannot be linked twice.
    with pytest.raises(DBAPIError), db.engine.begin() as conn:
        conn.execute(text("UPDATE my_number_link SET source = 'x'"))
    [ev] = events(db, "db.rotate_key")
    assert ev["outcome"] == "success"
    assert json.loads(ev["details"])["resealed"] == done.resealed


def test_a_rotation_that_meets_a_number_it_cannot_open_changes_nothing(
    db: Database, settings: Settings,
) -> None:
    good = make_resident(db)
    link(db, good, NUMBER)
    edited_link(db, make_resident(db, given="次郎"), SECOND)
    key = settings.resolved_identifier_key_file
    old_bytes, before = key.read_bytes(), stored_numbers(db, "my_number_link")

    with pytest.raises(SealingError, match="書き換えられています"):
        rotate_key(db, ADMIN)

    assert key.read_bytes() == old_bytes and _leftovers(key) == []
    assert stored_numbers(db, "my_number_link") == before
    assert events(db, "db.rotate_key") == []
    with db.read() as s:  # the old key is still the database's
        assert s.exec(select(MyNumberLink.number).where(
            MyNumberLink.resident_id == good)).one() == NUMBER


def test_juki_db_rotate_key_twice_then_refuses_a_key_that_is_not_the_databases(
    juki_env: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    juki = Juki(env=juki_env, cwd=tmp_path)
    assert juki("db", "init").returncode == 0
    for _ in range(2):
        done = juki("db", "rotate-key")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "個人番号の暗号鍵を新しくしました" in done.stdout
        assert "バックアップと一緒に保管し" in done.stdout
    key = settings.resolved_identifier_key_file
    key.unlink()
    create_key_file(key)
    refused = juki("db", "rotate-key")
    assert refused.returncode == 1
    assert "このデータベースの鍵ではありません" in refused.stderr
    assert "Traceback" not in refused.stderr
    db = Database(settings.resolved_database_url)
    try:
        outcomes = [e["outcome"] for e in events(db, "db.rotate_key")]
    finally:
        db.dispose()
    assert outcomes == ["success", "success", "refused"]


def test_a_rotation_stopped_before_its_commit_is_named_when_the_kept_key_is_the_right_one(
    db: Database, settings: Settings,
) -> None:
    """The files were swapped but the commit never came (the process was killed): the
    kept old key is the database's, and rotate-key says which file to put back."""
    make_resident(db)
    key = settings.resolved_identifier_key_file
    sealer_of(db.engine.dialect).ready()
    kept = key.with_name(f"{key.name}.20261126T150000.old")
    os.link(key, kept)
    key.unlink()
    create_key_file(key)
    fresh = Database.for_settings(settings)
    try:
        with pytest.raises(SealingError, match=f"{kept.name} がこのデータベースの鍵です"):
            rotate_key(fresh, ADMIN)
    finally:
        fresh.dispose()


def test_two_rotations_in_the_same_second_keep_both_old_keys(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import services.rekey

    link(db, make_resident(db), NUMBER)
    monkeypatch.setattr(services.rekey, "now", lambda: datetime(2026, 11, 26, 6, 0, tzinfo=UTC))
    first = rotate_key(db, ADMIN)
    second = rotate_key(db, ADMIN)
    assert first.old_key.name == "identifier.key.20261126T150000.old"  # Japan time
    assert second.old_key.name == "identifier.key.20261126T150000-2.old"
    assert first.old_key.read_bytes() != second.old_key.read_bytes()
    with db.read() as s:
        assert s.exec(select(MyNumberLink.number)).one() == NUMBER
