"""``juki db backup|restore|drill`` as an operator runs them: the answer on stdout, the
progress on stderr, Japanese messages, exit codes 0/1/2, and every act recorded — on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from core.db import Database
from core.settings import Settings
from logs import audit
from services.backup.act import backup
from tests.conftest import Juki
from tests.factories import ADMIN
from tests.services.backup_kit import age_keys, members, rewrap, seeded


def _last(db: Database) -> dict[str, object]:
    ev = audit.events_after(db, audit.last_seq(db) - 1, 1)[0]
    return {**ev, "details": json.loads(ev["details"])}


def test_backup_then_drill_then_a_restore_over_live_data_refused(
        juki: Juki, db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded(db, 30)
    keys = age_keys(tmp_path)
    made = juki("db", "backup", "--recipient", keys.public)  # into backup_dir
    assert made.returncode == 0, made.stderr
    assert "バックアップを作りました" in made.stdout and "暗号化しています" in made.stderr
    assert "Traceback" not in made.stderr
    drilled = juki("db", "drill", "--identity", str(keys.file))  # the newest backup
    assert drilled.returncode == 0, drilled.stdout + drilled.stderr
    for said in ("RTO", "RPO", "[OK] 連鎖", "[OK] 照会", "[OK] 個人番号", "[OK] 出所", "合格"):
        assert said in drilled.stdout
    ev = _last(db)
    assert (ev["action"], ev["outcome"]) == ("db.drill", "success")
    assert {"rto_seconds", "rpo_seconds"} <= set(ev["details"])  # type: ignore[arg-type]
    backup_file = next(settings.resolved_backup_dir.glob("*.age"))
    over = juki("db", "restore", str(backup_file), "--identity", str(keys.file))
    assert over.returncode == 1 and "空ではありません" in over.stderr
    ev = _last(db)
    assert (ev["action"], ev["outcome"]) == ("db.restore", "refused")


def test_drill_refusals_are_said_in_japanese_and_recorded(
        juki: Juki, db: Database, settings: Settings, tmp_path: Path) -> None:
    seeded(db, 20)
    keys = age_keys(tmp_path)
    made = backup(db, settings, ADMIN, output=tmp_path / "b.age", recipients=(keys.public,))
    raw = made.path.read_bytes()
    corrupt = tmp_path / "corrupt.age"
    corrupt.write_bytes(raw[:-2000] + bytes([raw[-2000] ^ 0x40]) + raw[-1999:])
    parts = members(made.path, keys)
    body = bytearray(parts[made.manifest.payload_name])
    body[-1] ^= 1
    swapped = tmp_path / "swapped.age"
    rewrap(swapped, keys, {"manifest.json": parts["manifest.json"],
                           made.manifest.payload_name: bytes(body)})
    other = age_keys(tmp_path, "other.txt")
    for args, code, said, reason in [
        ((), 2, "--identity", "bad_input"),
        (("--identity", str(other.file)), 2, "開けません", "identity"),
        (("--identity", str(keys.file), "--backup", str(corrupt)), 1, "壊れているか", "damaged"),
        (("--identity", str(keys.file), "--backup", str(swapped)), 1, "SHA-256", "damaged"),
    ]:
        run = juki("db", "drill", *(args if "--backup" in args else (*args, "--backup",
                                                                     str(made.path))))
        assert (run.returncode, "Traceback" in run.stderr) == (code, False), run.stderr
        assert said in run.stderr, run.stderr
        ev = _last(db)
        assert (ev["action"], ev["outcome"]) == ("db.drill", "refused")
        assert ev["details"]["reason"] == reason  # type: ignore[index]
