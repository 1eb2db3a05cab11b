"""The trail's identity and signed anchors (docs/architecture.md §10): each database's
trail has a name made by ``juki db init``; every anchor names it and is signed with the
audit signing key, so ``juki audit verify`` reads its own trail's anchors (another
database's in the same file are counted, not failed on) and finds a rewritten line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.db import Database
from core.settings import Settings
from logs.audit import events_after
from tests.conftest import Juki
from tests.logs.test_audit_anchor import _lines, _seed
from tests.logs.trail_setup import other_database_url


@pytest.fixture
def other_url(backend: str, tmp_path: Path) -> Iterator[str]:
    yield from other_database_url(backend, tmp_path)


def test_a_second_database_with_the_same_data_dir_verifies_its_own_trail(
    db: Database, juki: Callable, juki_env: dict[str, str], tmp_path: Path, other_url: str,
    settings: Settings,
) -> None:
    _seed(db, 3)
    assert juki("audit", "anchor").returncode == 0  # the first database anchors #4
    other = Juki(env={**juki_env, "JUKI_DATABASE_URL": other_url}, cwd=tmp_path)
    made = other("db", "init")
    assert made.returncode == 0, made.stdout + made.stderr
    # Its db.init (#1) was anchored when the command ended, beside the first one's #4.
    first = other("audit", "verify")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "差し替え" not in first.stdout
    assert "アンカー 1 件とも一致" in first.stdout, first.stdout
    assert re.search(r"別の操作ログ.*1 件", first.stdout), first.stdout
    again = other("audit", "verify")  # the first verify (#2) anchored at its end
    assert again.returncode == 0, again.stdout
    assert "アンカー 2 件とも一致" in again.stdout, again.stdout
    mine = juki("audit", "verify")  # and the first database is not upset by the second
    assert mine.returncode == 0, mine.stdout
    assert "アンカー 1 件とも一致" in mine.stdout, mine.stdout
    assert re.search(r"別の操作ログ.*3 件", mine.stdout), mine.stdout
    path = settings.resolved_audit_anchor
    assert path is not None
    trails = {a["trail"] for a in _lines(path)}
    assert len(trails) == 2


def test_a_rewritten_anchor_line_is_found_by_its_signature(
    db: Database, juki: Callable, settings: Settings,
) -> None:
    _seed(db, 3)
    assert juki("audit", "anchor").returncode == 0  # #4
    _seed(db, 2)
    assert juki("audit", "anchor").returncode == 0  # #7
    path = settings.resolved_audit_anchor
    assert path is not None
    lines = path.read_text("utf-8").splitlines()
    forged = json.loads(lines[1])
    forged["hash"] = "f" * 64  # as if the tail had been cut and written again
    lines[1] = json.dumps(forged, sort_keys=True)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    done = juki("audit", "verify")
    assert done.returncode == 1, done.stdout
    assert "2 行目" in done.stdout and "署名" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout + done.stderr

    del forged["sig"]  # a line with no signature at all
    lines[1] = json.dumps(forged, sort_keys=True)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    done = juki("audit", "verify")
    assert done.returncode == 1 and "2 行目" in done.stdout, done.stdout
    assert "署名がありません" in done.stdout, done.stdout


def test_anchors_from_before_the_name_are_read_as_legacy_up_to_the_upgrade(
    juki_env: dict[str, str], tmp_path: Path, other_url: str, settings: Settings,
) -> None:
    """A database at revision 0014 with unsigned anchors, then upgraded: they still
    count (said apart) for the events up to the head at the upgrade; an unsigned line
    written after it is refused, naming its line."""
    from alembic import command
    from alembic.config import Config

    from services.schema import MIGRATIONS

    old = Database(other_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with old.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0014")
    _seed(old, 3)
    path = settings.resolved_audit_anchor
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    hashes = [ev["hash"] for ev in events_after(old, 0)]
    with open(path, "w", encoding="utf-8") as fh:  # as the code before names wrote them
        for seq in (2, 3):
            fh.write(json.dumps({"hash": hashes[seq - 1], "seq": seq,
                                 "ts": "2026-01-05T01:00:00.000000Z"}, sort_keys=True) + "\n")
    old.dispose()
    other = Juki(env={**juki_env, "JUKI_DATABASE_URL": other_url}, cwd=tmp_path)
    assert other("db", "init").returncode == 0  # 0015: the trail named at #3
    done = other("audit", "verify")
    assert done.returncode == 0, done.stdout
    assert "アンカー 3 件とも一致" in done.stdout and "うち 2 件は署名のない旧形式" in done.stdout

    with open(path, "a", encoding="utf-8") as fh:  # unsigned, but written after the name
        fh.write(json.dumps({"hash": hashes[2], "seq": 3,
                             "ts": "2099-01-01T00:00:00.000000Z"}, sort_keys=True) + "\n")
    lines = len(path.read_text("utf-8").splitlines())
    done = other("audit", "verify")
    assert done.returncode == 1, done.stdout
    assert f"{lines} 行目のアンカーに署名がありません" in done.stdout, done.stdout


def test_the_trails_row_is_kept_by_the_database(db: Database, db_url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    from logs import trail

    named = trail.read(db)
    assert named is not None and named.signing_key.startswith("SHA256:")
    engine = create_engine(db_url)  # the application's own account, raw SQL
    for sql in ("DELETE FROM audit_trail",
                "UPDATE audit_trail SET trail_id = 'another'",
                "UPDATE audit_trail SET signing_key = 'SHA256:another'",
                "INSERT INTO audit_trail VALUES (2, 'x', 0, '', '')"):
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.exec_driver_sql(sql)
    engine.dispose()
    assert trail.read(db) == named


def test_another_key_in_the_place_of_the_recorded_one_is_refused(
    db: Database, juki: Callable, settings: Settings,
) -> None:
    from logs import signing

    assert juki("audit", "anchor").returncode == 0
    key = settings.resolved_audit_signing_key_file
    key.unlink()
    signing.public_path(key).unlink()
    signing.create_key_file(key)  # someone's own key, to sign rewritten lines with
    done = juki("audit", "verify")
    assert done.returncode == 1 and "指紋" in done.stdout, done.stdout
    init = juki("db", "init")
    assert init.returncode == 1 and "この操作ログの鍵" in init.stderr, init.stderr
    key.unlink()
    signing.public_path(key).unlink()
    init = juki("db", "init")  # a lost key is not silently replaced either
    assert init.returncode == 1 and "バックアップから戻して" in init.stderr, init.stderr
