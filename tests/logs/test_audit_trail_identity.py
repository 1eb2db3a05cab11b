"""The trail's identity and signed anchors (docs/architecture.md §9): each database's
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
