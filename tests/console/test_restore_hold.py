"""A restore whose backup was the newest state: nothing is lost, the trail is held all
the same until ``juki audit recover`` lifts it (docs/architecture.md §11, migration
0016), on SQLite and PostgreSQL.

No anchor file and no JSON-lines copy here (a new host's settings): the backup's own
``db.backup`` event is the last any witness could have seen, and none saw it, so verify
finds the chain clean — and says the trail is held. ``recover`` with a collector file
that holds nothing past the head lifts the hold and records ``audit.recover``; work
resumes. A collector file that does hold events past the head is refused: no hold is
lifted over a tail no witness vouches for.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from core.db import Database
from core.settings import Settings
from logs import hold
from logs.audit import events_after, last_seq
from tests.conftest import Juki
from tests.console.test_loss_and_recovery import HELD, PASSWORD, _lose
from tests.services.backup_kit import age_keys


def _ok(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_restore_with_nothing_lost_is_held_until_recover_lifts_it(
    db: Database, db_url: str, settings: Settings, juki_env: dict[str, str], tmp_path: Path,
) -> None:
    juki = Juki(env={**juki_env, "JUKI_AUDIT_ANCHOR": "-", "JUKI_AUDIT_JSONL": "-"},
                cwd=tmp_path)
    keys = age_keys(tmp_path)
    _ok(juki("user", "add", "sato", "--name", "佐藤", "--role", "admin", input=PASSWORD))
    _ok(juki("db", "backup", "--recipient", keys.public))
    backup_file = next(settings.resolved_backup_dir.glob("*.age"))
    _lose(db, db_url)
    _ok(juki("db", "restore", str(backup_file), "--identity", str(keys.file)))
    head = last_seq(db)
    assert hold.state(db) is True

    verified = juki("audit", "verify")
    assert verified.returncode == 1, verified.stdout + verified.stderr
    assert "連鎖は正常です" in verified.stdout and "保留中" in verified.stdout
    refused = juki("user", "list")
    assert refused.returncode == 1 and HELD in refused.stderr, refused.stderr
    assert last_seq(db) == head

    # A collector's file holding an event past the head: not lifted over it.
    past = tmp_path / "past.jsonl"
    past.write_text(json.dumps({**events_after(db, head - 1, 1)[0], "seq": head + 1}) + "\n",
                    encoding="utf-8")
    not_lifted = juki("audit", "recover", "--from", str(past))
    assert not_lifted.returncode == 1, not_lifted.stdout + not_lifted.stderr
    assert "保留は解いていません" in not_lifted.stderr, not_lifted.stderr
    assert hold.state(db) is True and last_seq(db) == head

    empty = tmp_path / "collected.jsonl"
    empty.write_text("", encoding="utf-8")
    dry = juki("audit", "recover", "--from", str(empty), "--dry-run")
    _ok(dry)
    assert hold.state(db) is True and last_seq(db) == head
    lifted = juki("audit", "recover", "--from", str(empty))
    _ok(lifted)
    assert "保留を解き" in lifted.stdout, lifted.stdout
    assert hold.state(db) is False
    [recovery] = events_after(db, head, 10)
    assert recovery["action"] == "audit.recover"
    assert json.loads(recovery["details"])["lifted"] is True

    _ok(juki("user", "list"))
    _ok(juki("audit", "verify"))
    again = juki("audit", "recover", "--from", str(empty))  # not held: nothing to do
    assert again.returncode == 1 and "失われた末尾はありません" in again.stderr, again.stderr
