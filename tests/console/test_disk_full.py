"""SQLite on a full disk: the act refused whole with a message, the chain intact.

The disk is a small tmpfs of the test's own (``small_disk``), holding the database, the
JSON-lines copy, the anchor file and the error log; ``fill()`` takes every free page, as
a disk that filled up would. A console's lookup and a command's act are refused with
「ディスクの空きがありません…」 (exit 1, no traceback, nothing in the error log), nothing
of theirs is written, and once space is freed the same console and command act again and
``juki audit verify`` is clean. A witness that cannot be written (the copy's line, an
anchor) leaves no half line behind: the act stands and says so (docs/architecture.md §12).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.app import JukiApp
from console.context import Context
from core.crashlog import NAME as ERROR_LOG
from core.db import DISK_FULL, Database
from core.settings import Settings
from logs import anchor, stream
from logs.audit import events_after, verify
from services.schema import init_schema
from tests.conftest import Juki
from tests.disks import SmallDisk
from tests.factories import screen_user
from tests.screens.drive import SIZE, painted
from tests.screens.test_lookup import (
    add_person,
    choose_purpose,
    message,
    open_workspace,
    search_for,
)

pytestmark = pytest.mark.slow

INCIDENT = ("assess", "incident", "add", "--date", "2024-04-01", "--summary")


@pytest.fixture
def settings(small_disk: SmallDisk) -> Settings:
    """Everything juki writes on the small disk."""
    on = small_disk.path
    return Settings(database_url=f"sqlite:///{on / 'juki.sqlite3'}", data_dir=str(on / "var"),
                    audit_jsonl=str(on / "audit.jsonl"), argon2_profile="test")


def stored(db: Database) -> tuple[int, int]:
    """(events, incidents) in the database."""
    with db.read() as s:
        incidents = s.connection().exec_driver_sql(
            "SELECT COUNT(*) FROM assessment_incident").scalar_one()
    return len(events_after(db, 0, 100_000)), int(incidents)


def quiet(done: object) -> str:
    """The command's stderr, checked for what must never reach the user."""
    err: str = done.stderr  # type: ignore[attr-defined]
    for never in ("Traceback", "予期しない", "Exception ignored"):
        assert never not in err, err
    return err


async def test_a_full_disk_refuses_the_act_whole_and_the_chain_stays_intact(
    db: Database, settings: Settings, juki: Juki, small_disk: SmallDisk,
) -> None:
    target = add_person(db, "鷹司", "美咲", "タカツカサ", "ミサキ")
    screen_user(db, settings, "clerk1")
    assert juki(*INCIDENT, "満杯の前").returncode == 0
    full = DISK_FULL.format(where=small_disk.path)
    app = JukiApp(Context(settings=settings, db=db))
    async with app.run_test(size=SIZE) as pilot:
        await open_workspace(pilot, "clerk1")
        await choose_purpose(pilot)
        before = stored(db)

        small_disk.fill()
        await search_for(pilot, name="鷹司 美咲")
        assert message(app) == full  # the lookup's event could not be written: no lookup
        refused = juki(*INCIDENT, "満杯")
        assert refused.returncode == 1 and full in quiet(refused)
        assert stored(db) == before  # nothing half-written: no row, no event
        assert verify(db).ok

        small_disk.free()
        await search_for(pilot, name="鷹司 美咲")  # the same console: no restart
        assert message(app) == ""
        assert [h.resident_id for h in app.screen.shown_rows()] == [target.id]  # type: ignore[attr-defined]
    again = juki(*INCIDENT, "空きができた後")
    assert again.returncode == 0, again.stderr
    assert stored(db)[1] == before[1] + 1
    checked = juki("audit", "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not (settings.resolved_data_dir / ERROR_LOG).exists()


SLACK = 16
"""Bytes left in the last page of each witness file: less than one line."""


def _leave_slack(path: Path) -> int:
    """Pad ``path`` with a blank line (read past by every reader) so that its last page
    holds ``SLACK`` more bytes; a line written into it on a full disk goes in part."""
    size = path.stat().st_size
    pad = (4096 - SLACK - size % 4096) % 4096 or 4096
    with open(path, "ab") as fh:
        fh.write(b" " * (pad - 1) + b"\n")
    return path.stat().st_size


def _whole_lines(path: Path) -> None:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    for line in data.splitlines():
        if line.strip():
            json.loads(line)


def test_a_witness_that_cannot_be_written_leaves_no_half_line(
    juki_env: dict[str, str], small_disk: SmallDisk, tmp_path: Path,
) -> None:
    """The database has room, the JSON-lines copy and the anchor file have none."""
    copy, anchors = small_disk.path / "audit.jsonl", small_disk.path / "anchors.jsonl"
    juki = Juki(env=dict(juki_env, JUKI_DATABASE_URL=f"sqlite:///{tmp_path / 'room.sqlite3'}",
                         JUKI_AUDIT_JSONL=str(copy), JUKI_AUDIT_ANCHOR=str(anchors)),
                cwd=tmp_path)
    assert juki("db", "init").returncode == 0
    assert juki(*INCIDENT, "前").returncode == 0
    sizes = {p: _leave_slack(p) for p in (copy, anchors)}

    small_disk.fill()
    done = juki(*INCIDENT, "写しに空きなし")
    assert done.returncode == 0, done.stderr  # committed: the act stands
    err = quiet(done)
    assert "操作ログの写し (JSON-lines)を書けませんでした (ディスクの空きがありません)" in err
    assert "操作ログのアンカーを書けませんでした (ディスクの空きがありません)" in err
    for path, size in sizes.items():
        assert path.stat().st_size == size  # the part that fitted was cut back
        _whole_lines(path)

    small_disk.free()
    assert juki(*INCIDENT, "後").returncode == 0
    for path in sizes:
        _whole_lines(path)
    checked = juki("audit", "verify")
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_a_console_says_when_the_copy_of_the_trail_cannot_be_written(
    small_disk: SmallDisk, tmp_path: Path,
) -> None:
    """The database has room and the lookup is done; the copy's line is not, and the
    console says so (on stderr nobody would see it under the console)."""
    copy = small_disk.path / "audit.jsonl"
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'room.sqlite3'}",
                        data_dir=str(tmp_path / "var"), audit_jsonl=str(copy),
                        audit_anchor=str(tmp_path / "anchors.jsonl"), argon2_profile="test")
    ctx = Context(settings=settings)
    try:
        init_schema(ctx.db)
        target = add_person(ctx.db, "鷹司", "美咲", "タカツカサ", "ミサキ")
        screen_user(ctx.db, settings, "clerk1")
        app = JukiApp(ctx)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await open_workspace(pilot, "clerk1")
            await choose_purpose(pilot)
            size = _leave_slack(copy)
            small_disk.fill()
            await search_for(pilot, name="鷹司 美咲")
            assert message(app) == ""  # the lookup is done and recorded
            assert [h.resident_id for h in app.screen.shown_rows()] == [target.id]  # type: ignore[attr-defined]
            await painted(pilot, "操作ログの写し", "ディスクの空き")
        assert events_after(ctx.db, 0, 1000)[-1]["action"] == "register.search"
        assert copy.stat().st_size == size
        _whole_lines(copy)
    finally:
        stream.configure(None)
        anchor.configure(None)
        ctx.db.dispose()
