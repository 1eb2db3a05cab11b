"""Backups that restore (services/backup): one moment while another process writes,
restored whole into an empty database, nothing readable in the file, every bad input
refused before anything is written — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from core.db import Database, columns
from core.errors import BadInput
from core.settings import Settings
from logs import audit
from services.backup.act import backup
from services.backup.errors import Damaged, NotABackup, NotEmpty, WrongIdentity
from services.backup.load import objects_in
from services.backup.restore import restore
from services.register.models import MyNumberLink, Resident
from tests.conftest import PG_BASE, ROOT
from tests.factories import ADMIN
from tests.services.backup_kit import age_keys, empty_target, members, rewrap, seeded


def _last(db: Database) -> dict[str, object]:
    ev = audit.events_after(db, audit.last_seq(db) - 1, 1)[0]
    return {**ev, "details": json.loads(ev["details"])}


def test_a_backup_restores_whole_into_an_empty_database(
        db: Database, settings: Settings, backend: str, tmp_path: Path) -> None:
    seeded(db)
    keys = age_keys(tmp_path)
    made = backup(db, settings, ADMIN, output=tmp_path / "b.age", recipients=(keys.public,))
    assert (made.path.stat().st_mode & 0o777, made.summary_path.stat().st_mode & 0o777) == (
        0o600, 0o600)
    recorded = _last(db)
    assert recorded["action"] == "db.backup" and recorded["outcome"] == "success"
    assert recorded["details"]["file_sha256"] == made.file_sha256  # type: ignore[index]
    with empty_target(db, tmp_path, settings) as target:
        done = restore(target, settings, ADMIN, made.path, keys.file)
        assert done.ok, [c for c in (*done.checks, done.key) if not c.ok]
        assert audit.verify(target).count == made.manifest.facts.head_seq
        assert audit.last_seq(target) == made.manifest.facts.head_seq  # nothing appended
        with target.read() as s:  # the register reads back, numbers open with the key
            assert s.exec(select(Resident)).all()  # type: ignore[call-overload]
            assert len(s.exec(select(MyNumberLink)).first()[0].number) == 12  # type: ignore[call-overload,index]


def _writes_after(db: Database, seq: int) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_event WHERE seq > :s"
                                     " AND action = 'test.write'"), {"s": seq}).scalar_one())


WRITER = """
import sys, pathlib
from core.actor import Actor
from core.db import Database
from logs.audit import record_alone
db = Database(sys.argv[1])
stop = pathlib.Path(sys.argv[2])
for i in range(200_000):
    if stop.exists():
        break
    record_alone(db, Actor(login="writer"), "test.write", target=f"n:{i}")
"""


def test_a_backup_taken_while_another_process_writes_is_one_moment(
        db: Database, settings: Settings, backend: str, tmp_path: Path) -> None:
    seeded(db, 20)
    keys = age_keys(tmp_path)
    stop = tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, settings.resolved_database_url,
                               str(stop)], env=env)
    try:
        before = audit.last_seq(db)
        deadline = time.monotonic() + 60
        while audit.last_seq(db) < before + 50 and time.monotonic() < deadline:
            time.sleep(0.05)
        started_at = audit.last_seq(db)
        made = backup(db, settings, ADMIN, output=tmp_path / "b.age", recipients=(keys.public,))
        assert writer.poll() is None  # still writing when the backup was done
        head = made.manifest.facts.head_seq
        while _writes_after(db, head) == 0 and time.monotonic() < deadline + 60:
            time.sleep(0.05)
    finally:
        stop.touch()
        writer.wait(timeout=60)
    assert started_at <= head and _writes_after(db, head) > 0  # taken amid the writes
    with empty_target(db, tmp_path, settings) as target:
        done = restore(target, settings, ADMIN, made.path, keys.file)
        assert done.ok, [c for c in done.checks if not c.ok]
        chain = audit.verify(target)
        assert chain.ok and chain.count == head
        with target.engine.connect() as conn:
            assert conn.execute(text("SELECT hash FROM audit_event WHERE seq = :s"),
                                {"s": head}).scalar() == made.manifest.facts.head_hash


def test_the_file_holds_no_name_no_number_and_no_key(
        db: Database, settings: Settings, backend: str, tmp_path: Path) -> None:
    seeded(db)
    keys = age_keys(tmp_path)
    r = columns(Resident)
    with db.read() as s:
        family, given = s.execute(select(r.family_name, r.given_name).limit(1)).one()
        number = s.exec(select(MyNumberLink)).first()[0].number  # type: ignore[call-overload,index]
    name = f"{family}{given}".encode()
    key_text = settings.resolved_identifier_key_file.read_bytes().strip()
    key_raw = base64.b64decode(key_text)
    made = backup(db, settings, ADMIN, output=tmp_path / "b.age", recipients=(keys.public,))
    raw = made.path.read_bytes()
    for secret in (family.encode(), name, key_text, key_raw, number.encode()):
        assert secret not in raw
        assert secret not in made.summary_path.read_bytes()
    parts = members(made.path, keys)
    payload = parts[made.manifest.payload_name]
    if backend == "sqlite":  # uncompressed: the register is there, only sealed numbers
        assert family.encode() in payload
    for blob in (payload, parts["manifest.json"]):
        assert key_text not in blob and key_raw not in blob and number.encode() not in blob


def test_refused_backups_are_recorded_and_write_nothing(
        db: Database, settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="backup_recipients"):
        backup(db, settings, ADMIN, output=tmp_path / "b.age")
    assert _last(db)["outcome"] == "refused"
    with pytest.raises(BadInput, match="age の公開鍵"):
        backup(db, settings, ADMIN, output=tmp_path / "b.age", recipients=("age1nope",))
    assert _last(db)["details"]["reason"] == "bad_input"  # type: ignore[index]
    (tmp_path / "taken.age").write_bytes(b"x")
    keys = age_keys(tmp_path)
    with pytest.raises(BadInput, match="--force"):
        backup(db, settings, ADMIN, output=tmp_path / "taken.age", recipients=(keys.public,))
    assert _last(db)["details"]["reason"] == "output"  # type: ignore[index]
    assert (tmp_path / "taken.age").read_bytes() == b"x"
    assert not (tmp_path / "b.age").exists()


def test_a_wrong_key_a_damaged_or_a_swapped_file_is_refused(
        db: Database, settings: Settings, backend: str, tmp_path: Path) -> None:
    seeded(db, 20)
    keys = age_keys(tmp_path)
    made = backup(db, settings, ADMIN, output=tmp_path / "b.age", recipients=(keys.public,))
    raw = made.path.read_bytes()
    flipped = tmp_path / "flipped.age"
    flipped.write_bytes(raw[:len(raw) // 2] + bytes([raw[len(raw) // 2] ^ 1])
                        + raw[len(raw) // 2 + 1:])
    cut = tmp_path / "cut.age"
    cut.write_bytes(raw[:len(raw) - 100])
    swapped = tmp_path / "swapped.age"
    parts = members(made.path, keys)
    body = bytearray(parts[made.manifest.payload_name])
    body[len(body) // 2] ^= 1
    rewrap(swapped, keys, {"manifest.json": parts["manifest.json"],
                           made.manifest.payload_name: bytes(body)})
    plain = tmp_path / "plain.age"
    plain.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    other = age_keys(tmp_path, "other-key.txt")
    cases: list[tuple[Path, Path, type[Exception], str]] = [
        (made.path, other.file, WrongIdentity, "開けません"),
        (flipped, keys.file, Damaged, "壊れているか改ざん"),
        (cut, keys.file, Damaged, "壊れているか改ざん"),
        (swapped, keys.file, Damaged, "SHA-256 が目録と一致しません"),
        (plain, keys.file, NotABackup, "age で暗号化されたバックアップではありません"),
        (tmp_path / "missing.age", keys.file, BadInput, "ありません"),
        (made.path, tmp_path / "no-key.txt", BadInput, "--identity"),
    ]
    with empty_target(db, tmp_path, settings) as target:
        for path, identity, error, said in cases:
            with pytest.raises(error, match=said):
                restore(target, settings, ADMIN, path, identity)
            assert objects_in(target) == 0, path.name
    notes = [json.loads(line) for line in settings.resolved_audit_jsonl.read_text().splitlines()
             if '"db.restore"' in line]
    assert [n["note"]["reason"] for n in notes] == [
        "identity", "damaged", "damaged", "damaged", "not_a_backup", "bad_input", "bad_input"]


def test_a_restore_into_a_database_that_is_not_empty_is_refused(
        db: Database, settings: Settings, tmp_path: Path) -> None:
    keys = age_keys(tmp_path)
    made = backup(db, settings, ADMIN, output=tmp_path / "b.age", recipients=(keys.public,))
    with pytest.raises(NotEmpty, match="空ではありません"):
        restore(db, settings, ADMIN, made.path, keys.file)
    refused = _last(db)
    assert (refused["action"], refused["outcome"], refused["severity"]) == (
        "db.restore", "refused", "high")


def test_postgresql_restores_into_its_own_schema_once_emptied(
        db: Database, settings: Settings, backend: str, tmp_path: Path) -> None:
    """The dump names its schema: into the same name (emptied) it goes as it is; into
    another schema of the same database, where that name is taken, it is refused."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's schemas")
    seeded(db, 20)
    keys = age_keys(tmp_path)
    made = backup(db, settings, ADMIN, output=tmp_path / "b.age", recipients=(keys.public,))
    with db.engine.connect() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}_other"))
    other = Database(settings.resolved_database_url.replace(schema, f"{schema}_other"))
    try:
        with pytest.raises(NotEmpty, match="別のデータベース"):
            restore(other, settings, ADMIN, made.path, keys.file)
    finally:
        other.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema}_other CASCADE"))
    db.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    done = restore(db, settings, ADMIN, made.path, keys.file)
    assert done.ok, [c for c in done.checks if not c.ok]
    assert audit.verify(db).count == made.manifest.facts.head_seq
