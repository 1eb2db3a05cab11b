"""The loss drill of issue 20, as an operator runs it with the ``juki`` command, on SQLite
and PostgreSQL (docs/backup.md "After a loss"; docs/architecture.md §9, §11).

A small register and some acts; ``juki db backup``; more acts — accounts added and
disabled among them — forwarded to a real ``juki audit collector``; then the database
lost (SQLite: its files removed; PostgreSQL: its schema dropped and made again, empty).
``juki db restore`` puts the backup back and holds the trail (a stray command that would
record is refused, a raw INSERT too), ``juki audit verify`` names the lost tail,
``juki audit recover --from`` the collector's file brings it back and lists the state
changes it does not replay, and ``juki audit verify`` is clean with every event of
before the loss there as it was. ``juki db drill`` on the same backup prints RTO and RPO.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from core.db import HELD_MARK, Database
from core.settings import Settings
from logs.audit import events_after, last_seq
from tests.conftest import PG_BASE, Juki
from tests.logs.test_audit_forward import _forward_env, start_collector  # noqa: F401
from tests.logs.trail_setup import _schema_of
from tests.services.backup_kit import age_keys

PASSWORD = "correct horse battery 7\n"
HELD = "データベースは復元の後で、操作ログの回復を待っています。"


def _ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def _lose(db: Database, db_url: str) -> None:
    """The database gone: the SQLite file (and its WAL) removed; the PostgreSQL schema
    dropped and made again empty, as a DBA would before a restore."""
    db.dispose()
    if db.is_sqlite:
        live = Path(str(db.url.database))
        for path in (live, live.with_name(live.name + "-wal"),
                     live.with_name(live.name + "-shm")):
            path.unlink(missing_ok=True)
        return
    schema = _schema_of(db_url)
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()


def _raw_insert_refused(db: Database) -> None:
    """The raw-SQL door, as the application's own account: the trigger refuses an event
    at the first lost number (SQLSTATE 55000 on PostgreSQL), and nothing is written."""
    seq = last_seq(db) + 1
    engine = create_engine(db.url)
    try:
        with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO audit_event (seq, ts, actor, session_id, client_addr, action,"
                " target, purpose, outcome, severity, details, prev_hash, hash) VALUES"
                " (:seq, '2026-12-10T00:00:00.000000Z', 'intruder', '', '', 'x', '', '',"
                " 'success', 'info', '{}', :h, :h)"), {"seq": seq, "h": "0" * 64})
    finally:
        engine.dispose()
    assert HELD_MARK in str(refused.value.orig)
    if not db.is_sqlite:
        assert getattr(refused.value.orig, "sqlstate", None) == "55000"
    assert last_seq(db) == seq - 1


def _listed(output: str) -> list[tuple[str, str]]:
    """(action, target) of each state change ``juki audit recover`` lists."""
    rows = [line.strip().split("  ") for line in output.splitlines() if line.startswith("  #")]
    return [(r[3], r[4]) for r in rows]


def test_backup_loss_restore_recover_the_tail_then_drill(
    db: Database, db_url: str, settings: Settings, juki: Juki, juki_env: dict[str, str],
    tmp_path: Path, start_collector: Callable,  # noqa: F811
) -> None:
    keys = age_keys(tmp_path)
    _ok(juki("db", "seed", "--residents", "20"))
    _ok(juki("user", "add", "sato", "--name", "佐藤", "--role", "admin", input=PASSWORD))
    _ok(juki("db", "backup", "--recipient", keys.public))
    backup_file = next(settings.resolved_backup_dir.glob("*.age"))
    head_at_backup = last_seq(db)  # the db.backup event is the first after the copy

    # After the backup: rights given and taken, a read — all forwarded. (Each process
    # anchors its last event as it ends: the anchor file knows the head.)
    _ok(juki("user", "add", "tanaka", "--name", "田中", "--role", "clerk", "--role",
             "reviewer", input=PASSWORD))
    _ok(juki("user", "disable", "sato"))
    _ok(juki("user", "list"))
    collector = start_collector()
    forwarder = Juki(env=_forward_env(juki_env, collector.url), cwd=tmp_path)
    _ok(forwarder("audit", "forward", "--once"))
    before = events_after(db, 0, 10_000)
    n = before[-1]["seq"]
    assert n == last_seq(db) and n > head_at_backup

    _lose(db, db_url)

    restored = juki("db", "restore", str(backup_file), "--identity", str(keys.file))
    _ok(restored)
    assert f"操作ログ末尾 #{head_at_backup - 1} " in restored.stdout, restored.stdout
    assert last_seq(db) == head_at_backup - 1  # nothing written into the restored trail

    lost = juki("audit", "verify")
    assert lost.returncode == 1, lost.stdout + lost.stderr
    assert f"事象 #{head_at_backup}〜#{n} が失われています" in lost.stdout, lost.stdout
    assert "保留中" in lost.stdout, lost.stdout
    assert last_seq(db) == head_at_backup - 1

    # Held until recover: a stray command that would record is refused by the database
    # and writes nothing, so the lost events keep their numbers (docs/architecture.md §11).
    for stray in (("user", "list"), ("audit", "tail")):
        refused = juki(*stray)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert HELD in refused.stderr and "Traceback" not in refused.stderr, refused.stderr
    assert last_seq(db) == head_at_backup - 1
    _raw_insert_refused(db)

    recovered = juki("audit", "recover", "--from", str(collector.out))
    _ok(recovered)
    assert "保留も解きました" in recovered.stdout, recovered.stdout
    assert _listed(recovered.stdout) == [("user.add", "tanaka"), ("user.disable", "sato")]
    assert "再実行はしていません" in recovered.stdout

    clean = juki("audit", "verify")
    _ok(clean)
    after = events_after(db, 0, 10_000)
    assert after[:n] == before  # every event of before the loss, every field as it was
    assert [ev["action"] for ev in after[n:]] == ["audit.recover", "audit.verify"]
    counted = re.search(r"連鎖は正常です: (\d+) 件", clean.stdout)
    assert counted and int(counted[1]) == n + 1, clean.stdout  # the n, and the recovery

    drilled = juki("db", "drill", "--identity", str(keys.file), "--backup", str(backup_file))
    _ok(drilled)
    assert "RTO" in drilled.stdout and "RPO" in drilled.stdout and "合格" in drilled.stdout
    assert "[OK] 出所" in drilled.stdout  # the recovered trail holds the backup's own event

    # Work resumes: the forwarder carries on after what the collector already holds.
    _ok(forwarder("audit", "forward", "--once"))
    assert collector.acked() == last_seq(db)
    assert collector.stored()[:n] == before
